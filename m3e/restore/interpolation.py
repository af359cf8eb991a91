"""Frames between two decoded keyframes (paper eq 10), moved as the camera moved.

Two parts:

- **Global motion** (``MotionTrack``): the sender describes every examined frame by a
  similarity warp from its scene's keyframe (12 bytes, 10 a second); the receiver interpolates
  the warp's parameters to every frame and moves the keyframe along it (``MovingPicture``). Border
  pixels the warp brings in from outside the picture are mirrored from inside it (a plain
  edge replication smears a stretched band along the border) and marked invalid, so that
  where the next keyframe covers them it is used instead.
- **Local motion** (``Interpolator``, eq 10): between two keyframes of one scene, dense optical
  flow (OpenCV DIS, no weights) between the first keyframe aligned onto the second and the
  second; at fraction α a pixel x is taken from A at x − α·F(x) and from B at x + (1 − α)·F(x)
  (backward warping with the forward flow, a standard approximation for smooth motion) and
  blended (1 − α)·A′ + α·B′, each side weighted by where it has valid pixels (occlusions at
  the border: what one side never saw comes from the other).

Images are (H, W, 3) uint8; warps (2, 3) float32 affine matrices.
"""

from __future__ import annotations

import bisect
import functools

import cv2
import numpy as np
import numpy.typing as npt

from m3e.restore.picture import Image, LazyPicture

Warp = npt.NDArray[np.float32]
Mask = npt.NDArray[np.float32]  # (H, W), 1 where a warped pixel came from inside the picture
IDENTITY: Warp = np.array([[1, 0, 0], [0, 1, 0]], np.float32)


def flow(a: Image, b: Image) -> npt.NDArray[np.float32]:
    """Dense flow (H, W, 2) from a to b, computed on half-size grey images."""
    h, w = a.shape[:2]
    ga, gb = (cv2.cvtColor(cv2.resize(im, (w // 2, h // 2)), cv2.COLOR_RGB2GRAY) for im in (a, b))
    dis = cv2.DISOpticalFlow.create(cv2.DISOPTICAL_FLOW_PRESET_FAST)
    f = dis.calc(ga, gb, np.zeros((h // 2, w // 2, 2), np.float32))
    return np.asarray(cv2.resize(f, (w, h)) * 2.0, np.float32)


class MovingPicture:
    """A keyframe moved by the camera's warps, frame after frame: ``at(m)`` is the picture with
    output pixel x showing input pixel m⁻¹x, border pixels filled as ``soften_outside`` does.
    Only the bands outside ``kept_rect(m)`` get a mask and softening, from the keyframe's
    blurred colours made once: for a camera's small motions they are a few pixels wide, and
    a frame costs one ``warpAffine`` of the picture."""

    def __init__(self, image: Image) -> None:
        self.image = image
        self.small = _small(image)

    def at(self, m: Warp) -> Image:
        h, w = self.image.shape[:2]
        return self._at(m, _band_masks(m, w, h))

    def _at(self, m: Warp, bands: list[Band]) -> Image:
        h, w = self.image.shape[:2]
        flags, border = cv2.INTER_LINEAR, cv2.BORDER_REFLECT101
        moved = np.asarray(cv2.warpAffine(self.image, m, (w, h), flags=flags, borderMode=border), np.uint8)
        if bands:
            to_small = _to_small(self.small, w, h)
            m_small = compose(to_small, compose(m, invert(to_small)))  # the warp in the small picture
            sh, sw = self.small.shape[:2]
            # BORDER_REFLECT repeats the edge block: at full size the mirror shows the last pixels
            small = cv2.warpAffine(self.small, m_small, (sw, sh), flags=flags, borderMode=cv2.BORDER_REFLECT)
            _soften_bands(moved, np.asarray(small, np.uint8), bands)
        return moved


def warp(image: Image, m: Warp) -> tuple[Image, Mask]:
    """``image`` moved by ``m`` (``MovingPicture.at``) and the mask of pixels that came from
    inside the picture."""
    h, w = image.shape[:2]
    bands = _band_masks(m, w, h)
    inside = np.ones((h, w), np.float32)
    for rows, cols, band in bands:
        inside[rows, cols] = band
    return MovingPicture(image)._at(m, bands), inside


Rect = tuple[int, int, int, int]  # rows [top, bottom) × columns [left, right)
NO_RECT: Rect = (0, 0, 0, 0)
Band = tuple[slice, slice, Mask]  # rows, columns and the mask there


def kept_rect(m: Warp, w: int, h: int) -> Rect:
    """A rectangle of output pixels that ``m`` fills from at least a pixel inside the (w, h)
    picture: their mask is 1. The warp maps the picture onto a parallelogram; any point right
    of both left corners, left of both right corners, below both top corners and above both
    bottom ones lies inside it, provided the corners keep their order (no turn past 45°, no
    mirror; else the rectangle is empty)."""
    corners = np.array([[0, 0, 1], [w - 1, 0, 1], [0, h - 1, 1], [w - 1, h - 1, 1]], np.float64)
    tl, tr, bl, br = corners @ np.asarray(m, np.float64).T
    if not (tl[0] < tr[0] and bl[0] < br[0] and tl[1] < bl[1] and tr[1] < br[1]):
        return NO_RECT
    top, bottom = _clip(np.ceil(max(tl[1], tr[1])) + 1, h), _clip(np.floor(min(bl[1], br[1])), h)
    left, right = _clip(np.ceil(max(tl[0], bl[0])) + 1, w), _clip(np.floor(min(tr[0], br[0])), w)
    return (top, bottom, left, right) if top < bottom and left < right else NO_RECT


def shrunk(rect: Rect, margin: int) -> Rect:
    top, bottom, left, right = rect[0] + margin, rect[1] - margin, rect[2] + margin, rect[3] - margin
    return (top, bottom, left, right) if top < bottom and left < right else NO_RECT


def _area(rect: Rect) -> int:
    return (rect[1] - rect[0]) * (rect[3] - rect[2])


def _clip(x: float, n: int) -> int:
    return int(min(max(x, 0), n))


def _bands(keep: Rect, w: int, h: int) -> list[tuple[slice, slice]]:
    """The (rows, columns) bands around ``keep`` that cover the rest of an (h, w) image."""
    top, bottom, left, right = keep
    if top >= bottom or left >= right:
        return [(slice(0, h), slice(0, w))]
    bands = [
        (slice(0, top), slice(0, w)),
        (slice(bottom, h), slice(0, w)),
        (slice(top, bottom), slice(0, left)),
        (slice(top, bottom), slice(right, w)),
    ]
    return [(r, c) for r, c in bands if r.stop > r.start and c.stop > c.start]


def _band_masks(m: Warp, w: int, h: int) -> list[Band]:
    """The bands outside ``kept_rect(m)`` where some pixel came from outside the picture, with
    their masks (each band warped on its own: the warp shifted to the band's corner)."""
    out = []
    for rows, cols in _bands(kept_rect(m, w, h), w, h):
        shifted = np.array(m, np.float32)
        shifted[:, 2] -= (cols.start, rows.start)
        size = (cols.stop - cols.start, rows.stop - rows.start)
        band = np.asarray(
            cv2.warpAffine(_ones(h, w), shifted, size, borderMode=cv2.BORDER_CONSTANT), np.float32
        )
        if float(band.min()) < 0.999:
            out.append((rows, cols, band))
    return out


@functools.lru_cache(maxsize=4)
def _ones(h: int, w: int) -> Mask:
    """The picture's mask before warping (shared: read, never written)."""
    ones = np.ones((h, w), np.float32)
    ones.flags.writeable = False
    return ones


def _small(image: Image) -> Image:
    h, w = image.shape[:2]
    small = cv2.resize(image, (max(1, w // 16), max(1, h // 16)), interpolation=cv2.INTER_AREA)
    return np.asarray(small, np.uint8)


def _to_small(small: Image, w: int, h: int) -> Warp:
    """Full-size pixel coordinates to ``small``'s (cv2.resize's pixel centres)."""
    sx, sy = small.shape[1] / w, small.shape[0] / h
    return np.array([[sx, 0, 0.5 * sx - 0.5], [0, sy, 0.5 * sy - 0.5]], np.float32)


def _soften_bands(image: Image, small: Image, bands: list[Band]) -> None:
    """In place: each band blended with ``small`` scaled up, by its mask."""
    h, w = image.shape[:2]
    to_small = _to_small(small, w, h)
    flags = cv2.INTER_LINEAR | cv2.WARP_INVERSE_MAP
    for rows, cols, inside in bands:
        corner = np.array([[1, 0, cols.start], [0, 1, rows.start]], np.float32)
        size = (cols.stop - cols.start, rows.stop - rows.start)
        to_band = compose(to_small, corner)
        soft = cv2.warpAffine(small, to_band, size, flags=flags, borderMode=cv2.BORDER_REPLICATE)
        image[rows, cols] = cv2.blendLinear(image[rows, cols], soft, inside, 1.0 - inside)


def soften_outside(image: Image, inside: Mask, keep: Rect = NO_RECT) -> Image:
    """Pixels no keyframe saw (``inside`` < 1): the picture mirrored there, then blurred to its
    colours (1/16 scale): sharp mirrored copies of what is near the border (a second cup
    entering upside down) look wrong, a replicated edge smears a stretched band, a soft
    continuation of the colours looks like a border out of focus. ``keep``: a rectangle known
    to be all inside, left as it is. ``image`` is changed in place and returned."""
    h, w = image.shape[:2]
    bands = [(r, c, np.ascontiguousarray(inside[r, c])) for r, c in _bands(keep, w, h)]
    bands = [b for b in bands if float(b[2].min()) < 0.999]
    if bands:
        _soften_bands(image, _small(image), bands)
    return image


def same_warp(a: Warp, b: Warp, pixels: float = 0.05) -> bool:
    """Whether two warps move no pixel of a picture (up to 1000 wide) ``pixels`` apart: a
    still camera's motion samples say nothing new."""
    shift, linear = np.abs(a[:, 2] - b[:, 2]).max(), np.abs(a[:, :2] - b[:, :2]).max()
    return bool(shift < pixels and linear * 1000 < pixels)


def compose(outer: Warp, inner: Warp) -> Warp:
    """The warp ``outer ∘ inner`` (first ``inner``, then ``outer``)."""
    full = np.vstack([outer, [0, 0, 1]]) @ np.vstack([inner, [0, 0, 1]])
    return np.asarray(full[:2], np.float32)


def invert(m: Warp) -> Warp:
    return np.asarray(cv2.invertAffineTransform(m), np.float32)


def blend(first: tuple[Image, Mask, float], second: tuple[Image, Mask, float], keep: Rect = NO_RECT) -> Image:
    """(w₁·mask₁·image₁ + w₂·mask₂·image₂) / (w₁·mask₁ + w₂·mask₂); where neither is valid,
    the first image's pixels. ``keep``: a rectangle where one of the masks is all 1."""
    (a, mask_a, wa), (b, mask_b, wb) = first, second
    weight_a = np.asarray(mask_a * wa + 1e-6, np.float32)  # the first where neither is valid
    weight_b = np.asarray(mask_b * wb, np.float32)
    mixed = np.asarray(cv2.blendLinear(a, b, weight_a, weight_b), np.uint8)
    return soften_outside(mixed, np.maximum(mask_a, mask_b), keep)


class MotionTrack:
    """The warp from a keyframe (at frame ``start``, where it is ``at_start``) to every later
    frame of its scene, linearly interpolated between the sender's samples (parameters of the
    similarity warp); held after the last sample."""

    def __init__(self, start: int, samples: dict[int, Warp], at_start: Warp = IDENTITY) -> None:
        points = {start: at_start, **{f: m for f, m in samples.items() if f > start}}
        self.frames = sorted(points)
        self.warps = [points[f] for f in self.frames]

    def add(self, frame: int, m: Warp) -> None:
        i = bisect.bisect_left(self.frames, frame)
        if i < len(self.frames) and self.frames[i] == frame:
            self.warps[i] = m
        else:
            self.frames.insert(i, frame)
            self.warps.insert(i, m)

    def __call__(self, frame: int) -> Warp:
        i = bisect.bisect_right(self.frames, frame)
        if i == 0:
            return self.warps[0]
        if i == len(self.frames):
            return self.warps[-1]
        f0, f1 = self.frames[i - 1], self.frames[i]
        t = (frame - f0) / (f1 - f0)
        return np.asarray((1 - t) * self.warps[i - 1] + t * self.warps[i], np.float32)


class Interpolator:
    """Eq 10 between keyframes ``a`` and ``b`` of one scene, ``a_to_b`` the global warp taking
    a onto b: ``at(α, view)`` is the picture at fraction α in the framing ``view`` (the global
    warp from a to that frame), both keyframes moved there and blended where each is valid,
    the local flow (computed once, in b's framing) moved along."""

    def __init__(self, a: Image, b: Image, a_to_b: Warp = IDENTITY) -> None:
        if a.shape != b.shape:
            raise ValueError(f"keyframes of different sizes: {a.shape} and {b.shape}")
        self.a, self.b, self.b_to_a = a, b, invert(a_to_b)
        a_in_b, inside = warp(a, a_to_b)
        # where b shows what a never saw, the flow matches mirrored pixels: no local motion there
        self.f = flow(a_in_b, b) * (inside > 0.999)[..., None]
        self.reach = float(np.abs(self.f).max(initial=0.0)) * np.sqrt(2)  # the longest flow vector, at most
        h, w = a.shape[:2]
        self.grid = np.dstack(np.meshgrid(np.arange(w, dtype=np.float32), np.arange(h, dtype=np.float32)))

    def at(self, alpha: float, view: Warp = IDENTITY) -> Image:
        h, w = self.grid.shape[:2]
        b_view = compose(view, self.b_to_a)
        f = cv2.warpAffine(self.f, b_view, (w, h), borderMode=cv2.BORDER_CONSTANT)
        parts: list[tuple[Image, Mask, float]] = []
        keep = NO_RECT  # the larger of the two sides' rectangles all inside
        # each keyframe sampled once: output x <- keyframe at (its view)⁻¹ (x + shift · F(x))
        for image, frame_view, shift, weight in (
            (self.b, b_view, 1 - alpha, alpha),
            (self.a, view, -alpha, 1 - alpha),
        ):
            where = cv2.transform(cv2.scaleAdd(f, shift, self.grid), invert(frame_view))  # (H, W, 2)
            moved = cv2.remap(image, where, None, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REFLECT101)  # type: ignore[call-overload]
            inside = np.asarray(cv2.inRange(where, (0.0, 0.0), (w - 1.0, h - 1.0)), np.float32)
            inside *= 1 / 255
            parts.append((np.asarray(moved, np.uint8), inside, weight))
            # x + shift·F(x) stays inside the view's rectangle when x is |shift|·reach within it
            side = shrunk(kept_rect(frame_view, w, h), int(np.ceil(abs(shift) * self.reach)))
            keep = side if _area(side) > _area(keep) else keep
        return blend(parts[1], parts[0], keep)  # a first: its pixels where neither is valid


def frames_between(
    a: Image, b: Image | None, track: MotionTrack, first: int, last: int, a_to_b: Warp | None = None
) -> list[LazyPicture]:
    """Frames ``first``..``last`` (inclusive) after keyframe ``a`` (at ``track``'s start) and
    before ``b`` (None across a cut: ``a`` moved along ``track`` alone). ``a_to_b``: the global
    warp from a onto b (b's frame is the track's end). Each is made when first looked at; the
    flow between a and b once, for the first of them (``m3e.restore.picture``)."""
    start = track.frames[0]
    if b is None or a_to_b is None:
        moving = MovingPicture(a)
        return [LazyPicture(functools.partial(moving.at, track(f))) for f in range(first, last + 1)]
    end = last + 1
    track.add(end, a_to_b)
    between = functools.cache(lambda: Interpolator(a, b, a_to_b))

    def frame(f: int) -> Image:
        return between().at((f - start) / (end - start), track(f))

    return [LazyPicture(functools.partial(frame, f)) for f in range(first, last + 1)]
