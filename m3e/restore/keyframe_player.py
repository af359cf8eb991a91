"""M3E play-out at the receiver: keyframes rebuilt from text + side information + V′, and the
frames between them moved and interpolated (eq 10), in frame order: a keyframe interval's
frames all at once, when the later keyframe is ready (not paced at the frame rate: a page
watching skips to the newest; the low-latency decoder paces its frames).

A keyframe is rebuilt once both its sentence (after any retransmissions) and its video burst
(decoded or given up) are final; keyframes are played in index order. The frames after a
keyframe move it along the sender's global motion samples (``MotionTrack``); up to the next
keyframe of the same scene (eq 1 correlation of the two keyframes at or above the sender's cut
threshold) they are also interpolated into it (eq 10, ``frames_between``); across a cut the
earlier keyframe only moves. The frames between two keyframes exist only once the later one is
known, so this mode plays one keyframe interval behind; the low-latency mode below plays at
once.
"""

from __future__ import annotations

import functools
import time
from dataclasses import dataclass

from m3e.codecs.m3e_keyframe import KeyframeMessage, KeyframeReceiver
from m3e.codecs.prediction import Image, Prediction, estimate_motion
from m3e.restore.interpolation import IDENTITY, MotionTrack, MovingPicture, Warp, frames_between, same_warp
from m3e.restore.picture import LazyPicture, Picture, pixels
from m3e.restore.smoothing import PositionSmoother

MAX_ANCHORS, MAX_SAMPLES = 64, 1024  # keyframes waiting with motion, motion samples per keyframe
LATE_MS = 150.0  # low latency: a motion sample this late plays its own frame only
# low latency: a frame nothing moved this long after its capture holds the picture. Late motion
# and pictures move the frames after theirs, so this sets the latency of a still picture: 0.2 s
# gave the browser call p50 265 ms, 0.15 s 220 ms at the same frame rate (docs/call.md)
HOLD_AFTER_S = 0.15


@dataclass
class PlayedPicture:
    index: int  # frame number in the stream
    picture: Picture  # a frame between keyframes is made when first looked at (m3e.restore.picture)
    latency_ms: float | None  # capture to play-out, for keyframes

    @property
    def rgb(self) -> Image:
        return pixels(self.picture)


def same_scene(a: Image, b: Image) -> bool:
    from m3e.semantics.keyframes import KeyframeSelector, luma_thumbnail, shifted_ncc

    return shifted_ncc(luma_thumbnail(a), luma_thumbnail(b)) >= KeyframeSelector.threshold


class KeyframePlayer:
    def __init__(self, scheme: str, width: int, height: int, fps: float) -> None:
        self.receiver = KeyframeReceiver(scheme, (width, height))
        self.fps = fps
        self._texts: dict[int, tuple[str, float, float]] = {}  # index -> text, pts, capture time
        self._videos: dict[int, bytes | None] = {}
        self._next = 0
        self._last: tuple[int, Image] | None = None
        self._motion: dict[int, dict[int, Warp]] = {}  # keyframe frame -> {frame: warp from it}
        self.clock: float | None = None  # wall time frame 0 was captured, by the latest keyframe

    def text(self, index: int, text: str, pts: float, capture_time: float) -> None:
        self._texts.setdefault(index, (text, pts, capture_time))

    def video(self, index: int, payload: bytes | None) -> None:
        self._videos.setdefault(index, payload)

    def motion(self, payload: bytes, pts: float) -> None:
        """A motion sample: the frame at ``pts`` is its keyframe (named by frame number) moved
        by the warp. ValueError for a payload that is not a motion description."""
        prediction = Prediction.from_bytes(payload)
        anchor = prediction.reference
        frame = round(pts * self.fps)
        if anchor is None or anchor < 0 or frame <= anchor or (self._last and anchor < self._last[0]):
            return  # names no keyframe, or one whose frames have been played
        samples = self._motion.setdefault(anchor, {})
        if len(samples) < MAX_SAMPLES and len(self._motion) <= MAX_ANCHORS:  # memory is bounded
            samples[frame] = prediction.warp

    def flush(self, end_s: float = 0.0) -> list[PlayedPicture]:
        """At the end of the stream: what can still be played (a keyframe whose video burst
        never came is rebuilt from its text; one without its text is skipped), then the last
        keyframe held until ``end_s`` (the stream's last media time)."""
        out: list[PlayedPicture] = []
        for index in sorted(set(self._texts) | set(self._videos)):
            if index < self._next:
                continue
            self._next = index
            if index in self._texts:
                self._videos.setdefault(index, None)
                out += self.ready()
            else:
                self._videos.pop(index)
                self._next += 1
        if self._last is not None:
            last_frame = self._last[0]
            track = MotionTrack(last_frame, self._motion.pop(last_frame, {}))
            moved = frames_between(self._last[1], None, track, last_frame + 1, round(end_s * self.fps))
            out += [PlayedPicture(last_frame + 1 + i, picture, None) for i, picture in enumerate(moved)]
        return out

    def ready(self) -> list[PlayedPicture]:
        """Pictures that can be played now, in order."""
        out: list[PlayedPicture] = []
        while self._next in self._texts and self._next in self._videos:
            text, pts, captured = self._texts.pop(self._next)
            payload = self._videos.pop(self._next)
            image = self.receiver.decode(KeyframeMessage.from_payload(text, payload))
            if payload is not None:  # the sender learns it arrived: both may refer to it now
                self.receiver.remember(self._next, text, image)
            out += self.play(round(pts * self.fps), image, captured)
            self._next += 1
        return out

    def play(self, frame: int, image: Image, captured: float = 0.0) -> list[PlayedPicture]:
        """A decoded keyframe at ``frame``: the frames since the last one, then it."""
        out: list[PlayedPicture] = []
        if self._last is not None and frame > self._last[0] + 1:
            last_frame, last_image = self._last
            track = MotionTrack(last_frame, self._motion.pop(last_frame, {}))
            between = _between(last_image, image, track, last_frame + 1, frame - 1)
            out += [PlayedPicture(last_frame + 1 + i, picture, None) for i, picture in enumerate(between)]
        if captured:
            self.clock = captured - frame / self.fps
        if self._last is None or frame > self._last[0]:
            latency = (time.time() - captured) * 1000 if captured else None
            out.append(PlayedPicture(frame, image, latency))
            self._last = (frame, image)
            self._motion = {k: v for k, v in self._motion.items() if k >= frame}
        return out


def _between(a: Image, b: Image, track: MotionTrack, first: int, last: int) -> list[LazyPicture]:
    """Frames ``first``..``last`` between keyframes ``a`` and ``b``: interpolated into ``b``
    when it shows the same scene, else ``a`` moved along ``track``. Decided (a comparison and
    a motion estimate, ~20 ms) when the first of them is looked at."""

    @functools.cache
    def frames() -> list[LazyPicture]:
        if same_scene(a, b):
            return frames_between(a, b, track, first, last, estimate_motion(a, b))
        return frames_between(a, None, track, first, last)

    def frame(i: int) -> Image:
        return frames()[i].image()

    return [LazyPicture(functools.partial(frame, i)) for i in range(last - first + 1)]


class LowLatencyPlayer:
    """Low-latency M3E play-out: a keyframe's picture is shown as soon as its side information
    and V′ arrive (they name references that need no text), and every motion burst after it
    warps the picture forward to its frame, so the video runs live instead of one keyframe
    interval behind. The sentence arrives later and only names the picture."""

    def __init__(self, width: int, height: int, fps: float) -> None:
        self.receiver = KeyframeReceiver("m3e", (width, height))
        self.fps = fps
        self._last: tuple[int, Picture] | None = None  # the last frame played
        self._smoother = PositionSmoother(width)
        # (reference, frame, smoothed warp) of the last motion played
        self._track: tuple[int, int, Warp] | None = None
        self._clock: float | None = None  # wall-clock capture time of frame 0, from the last burst
        # each picture's frame -> the first frame played with it (later when it came late)
        self.first_shown: dict[int, int] = {}

    def picture(
        self, index: int, payload: bytes | None, pts: float, capture_time: float
    ) -> list[PlayedPicture]:
        """``decode`` then ``show``, on the caller's thread."""
        if payload is None:
            return []  # lost: the motion that follows refers to a picture we lack, so hold
        return self.show(index, self.decode(index, payload), pts, capture_time)

    def decode(self, index: int, payload: bytes) -> Image:
        """The picture from its side information and V′ (50–150 ms: x265 codes the reference
        again), remembered so that motion and the next picture can refer to it. Pictures must
        be decoded in order (one is coded against the one before); any thread, one at a time.
        ValueError for a payload that is not a picture."""
        image = self.receiver.decode(KeyframeMessage.from_payload("", payload))
        self.receiver.remember(index, "", image)
        return image

    def show(self, index: int, image: Image, pts: float, capture_time: float) -> list[PlayedPicture]:
        """The decoded picture ``index`` from its frame on, or from the next frame played when
        its frame has been played; nothing when a newer picture is shown."""
        latency = (time.time() - capture_time) * 1000 if capture_time else None
        frame = round(pts * self.fps)
        self._tick(frame, capture_time)
        if self._track is not None and index < self._track[0]:
            return []  # older than the picture shown
        self._smoother.reset()
        self._track = (index, frame, IDENTITY)
        if self._last is not None and frame <= self._last[0]:
            # late: its frame was played (held). The frames from the next on show it, as a late
            # motion sample moves them: dropped, the older picture held until the next cut
            self._last = (self._last[0], image)
            self.first_shown[frame] = self._last[0] + 1
            return []
        self.first_shown[frame] = frame
        return self._play(frame, image, latency)

    def motion(self, payload: bytes, pts: float, capture_time: float) -> list[PlayedPicture]:
        """ValueError for a payload that is not a motion description. Positions are smoothed
        across frames (``PositionSmoother``), from the reference picture on; the frames since
        the last one played move along the way (warp parameters interpolated)."""
        prediction = Prediction.from_bytes(payload)
        memory = self.receiver.kb.get(prediction.reference) if prediction.reference is not None else None
        if memory is None or prediction.reference is None or prediction.reference < 0:
            return []
        latency = (time.time() - capture_time) * 1000 if capture_time else None
        frame = round(pts * self.fps)
        self._tick(frame, capture_time)
        if self._last is not None and frame <= self._last[0]:
            self._late(prediction.reference, frame, prediction.warp, memory.image)
            return []
        restarted = self._track is None or self._track[0] != prediction.reference
        if restarted:
            self._smoother.reset()  # a picture we did not start the track from
            start = self._last[0] if self._last else frame - 1
            self._track = (prediction.reference, start, IDENTITY)
        assert self._track is not None
        _, since, before = self._track
        m = self._smoother(prediction.warp, (frame - since) / self.fps)
        self._track = (prediction.reference, frame, m)
        if self._last is not None and not restarted and same_warp(m, before):
            return self._play(frame, self._last[1], latency)  # still: the same picture, not a copy
        track = MotionTrack(since, {frame: m})
        track.warps[0] = before
        first = self._last[0] + 1 if self._last else frame
        if latency is not None and latency > LATE_MS:
            first = frame  # behind: the frames between are held, not warped (fewer, never later)
        moving = MovingPicture(memory.image)
        out = [PlayedPicture(f, _moved(moving, track(f)), None) for f in range(max(first, since + 1), frame)]
        self._last = (out[-1].index, out[-1].picture) if out else self._last
        return out + self._play(frame, _moved(moving, m), latency)

    def _late(self, reference: int, frame: int, warp: Warp, image: Image) -> None:
        """A motion sample whose frame has been played (held): the frames from the next on show
        the picture where it says, a little late, rather than stand still until a sample comes in
        time. On a busy machine most samples come after ``HOLD_AFTER_S``; dropping them made
        the video a slideshow of its pictures. One older than the last applied, or of another
        picture than the one shown, says nothing new."""
        if self._last is None or self._track is None:
            return
        if reference != self._track[0] or frame <= self._track[1]:
            return
        _, since, before = self._track
        m = self._smoother(warp, (frame - since) / self.fps)
        self._track = (reference, frame, m)
        if not same_warp(m, before):
            self._last = (self._last[0], _moved(MovingPicture(image), m))

    def hold(self, now: float) -> list[PlayedPicture]:
        """The frames up to wall-clock ``now`` whose capture was ``HOLD_AFTER_S`` ago and that
        no burst has moved: the picture held, so the video plays at its frame rate between
        motion samples (a still camera sends none) instead of jumping when the next arrives."""
        if self._last is None or self._clock is None:
            return []
        due = int((now - HOLD_AFTER_S - self._clock) * self.fps)
        first = max(self._last[0] + 1, due - round(2 * self.fps))  # a clock jump holds 2 s at most
        out = [PlayedPicture(i, self._last[1], None) for i in range(first, due + 1)]
        if out:
            self._last = (due, self._last[1])
        return out

    def due_at(self, frame: int) -> float:
        """Wall-clock time ``frame`` was captured (by the latest burst's clock; 0 before any)."""
        return 0.0 if self._clock is None else self._clock + frame / self.fps

    def _tick(self, frame: int, capture_time: float) -> None:
        if capture_time:
            self._clock = capture_time - frame / self.fps

    def flush(self, end_s: float) -> list[PlayedPicture]:
        """The last picture held until the stream's last media time."""
        if self._last is None:
            return []
        return self._play(round(end_s * self.fps), self._last[1], None, hold_only=True)

    def _play(
        self, frame: int, image: Picture, latency: float | None, hold_only: bool = False
    ) -> list[PlayedPicture]:
        """Frames up to ``frame``: the previous picture held over any gap, then this one."""
        first = 0 if self._last is None else self._last[0] + 1
        if frame < first:
            return []  # late: its frame has been played
        out = [PlayedPicture(i, self._last[1], None) for i in range(first, frame)] if self._last else []
        out.append(PlayedPicture(frame, image, None if hold_only else latency))
        self._last = (frame, image)
        return out


def _moved(moving: MovingPicture, m: Warp) -> LazyPicture:
    return LazyPicture(functools.partial(moving.at, m))
