"""Frames between two decoded keyframes (paper eq 10), moved as the camera moved.

Two parts:

- **Global motion** (``MotionTrack``): the sender describes every examined frame by a
  similarity warp from its scene's keyframe (12 bytes, 10 a second); the receiver interpolates
  the warp's parameters to every frame and moves the keyframe along it (``warp``). Border
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

import cv2
import numpy as np
import numpy.typing as npt

Image = npt.NDArray[np.uint8]
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


def warp(image: Image, m: Warp) -> tuple[Image, Mask]:
    """``image`` moved by ``m`` (output pixel x shows input pixel m⁻¹x), border pixels filled
    as ``soften_outside`` does, and the mask of pixels that came from inside the picture."""
    h, w = image.shape[:2]
    moved = cv2.warpAffine(image, m, (w, h), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REFLECT101)
    inside = np.asarray(
        cv2.warpAffine(np.ones((h, w), np.float32), m, (w, h), borderMode=cv2.BORDER_CONSTANT), np.float32
    )
    return soften_outside(np.asarray(moved, np.uint8), inside), inside


def soften_outside(image: Image, inside: Mask) -> Image:
    """Pixels no keyframe saw (``inside`` < 1): the picture mirrored there, then blurred to its
    colours (1/16 scale): sharp mirrored copies of what is near the border (a second cup
    entering upside down) look wrong, a replicated edge smears a stretched band, a soft
    continuation of the colours looks like a border out of focus."""
    if float(inside.min()) >= 0.999:
        return image
    h, w = image.shape[:2]
    small = cv2.resize(image, (max(1, w // 16), max(1, h // 16)), interpolation=cv2.INTER_AREA)
    soft = cv2.resize(small, (w, h), interpolation=cv2.INTER_LINEAR)
    weight = np.ascontiguousarray(inside, np.float32)
    return np.asarray(cv2.blendLinear(image, soft, weight, 1.0 - weight), np.uint8)


def compose(outer: Warp, inner: Warp) -> Warp:
    """The warp ``outer ∘ inner`` (first ``inner``, then ``outer``)."""
    full = np.vstack([outer, [0, 0, 1]]) @ np.vstack([inner, [0, 0, 1]])
    return np.asarray(full[:2], np.float32)


def invert(m: Warp) -> Warp:
    return np.asarray(cv2.invertAffineTransform(m), np.float32)


def blend(first: tuple[Image, Mask, float], second: tuple[Image, Mask, float]) -> Image:
    """(w₁·mask₁·image₁ + w₂·mask₂·image₂) / (w₁·mask₁ + w₂·mask₂); where neither is valid,
    the first image's pixels."""
    (a, mask_a, wa), (b, mask_b, wb) = first, second
    weight_a = np.asarray(mask_a * wa + 1e-6, np.float32)  # the first where neither is valid
    weight_b = np.asarray(mask_b * wb, np.float32)
    mixed = np.asarray(cv2.blendLinear(a, b, weight_a, weight_b), np.uint8)
    return soften_outside(mixed, np.maximum(mask_a, mask_b))


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
        h, w = a.shape[:2]
        self.gx, self.gy = np.meshgrid(np.arange(w, dtype=np.float32), np.arange(h, dtype=np.float32))

    def at(self, alpha: float, view: Warp = IDENTITY) -> Image:
        h, w = self.gx.shape
        b_view = compose(view, self.b_to_a)
        f = cv2.warpAffine(self.f, b_view, (w, h), borderMode=cv2.BORDER_CONSTANT)
        parts: list[tuple[Image, Mask, float]] = []
        # each keyframe sampled once: output x <- keyframe at (its view)⁻¹ (x + shift · F(x))
        for image, frame_view, shift, weight in (
            (self.b, b_view, 1 - alpha, alpha),
            (self.a, view, -alpha, 1 - alpha),
        ):
            back = invert(frame_view)
            px, py = self.gx + shift * f[..., 0], self.gy + shift * f[..., 1]
            mx = back[0, 0] * px + back[0, 1] * py + back[0, 2]
            my = back[1, 0] * px + back[1, 1] * py + back[1, 2]
            moved = cv2.remap(image, mx, my, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REFLECT101)
            inside = ((mx >= 0) & (mx <= w - 1) & (my >= 0) & (my <= h - 1)).astype(np.float32)
            parts.append((np.asarray(moved, np.uint8), inside, weight))
        return blend(parts[1], parts[0])  # a first: its pixels where neither is valid


def frames_between(
    a: Image, b: Image | None, track: MotionTrack, first: int, last: int, a_to_b: Warp | None = None
) -> list[Image]:
    """Frames ``first``..``last`` (inclusive) after keyframe ``a`` (at ``track``'s start) and
    before ``b`` (None across a cut: ``a`` moved along ``track`` alone). ``a_to_b``: the global
    warp from a onto b (b's frame is the track's end)."""
    start = track.frames[0]
    if b is None or a_to_b is None:
        return [warp(a, track(f))[0] for f in range(first, last + 1)]
    end = last + 1
    track.add(end, a_to_b)
    between = Interpolator(a, b, a_to_b)
    return [between.at((f - start) / (end - start), track(f)) for f in range(first, last + 1)]
