"""M3E video: ``m3e``, ``m3e-no-diff`` and ``m3e-text-only`` (paper Sec. III). No video stream
goes: per keyframe the sentence (the m3e-text scheme) plus side information and V′ in a video
burst with the sentence's index; between keyframes, per examined frame (10 a second), 12 bytes
of global motion from the scene's keyframe, so the receiver moves the regenerated keyframe as
the camera moved and interpolates between keyframes (eq 10; docs/m3e.md).

Low latency (``m3e`` only): a keyframe's picture goes at once (against references that need no
text), every other examined frame as 12 bytes of motion from the latest picture, which the
receiver warps forward, or as a new picture when the frame changed in ways motion cannot show
(``PictureRefresh``, within ``m3e_refresh_kbps``).

Keyframes are decided on the producer thread (``Examined``); motion is estimated on a thread of
its own (``LiveWorker``) that works on the newest frame and never skips a keyframe.
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import TYPE_CHECKING

import numpy as np
import numpy.typing as npt

from m3e.media.sources import VideoItem
from m3e.schemes.base import (
    DecoderOptions,
    Emit,
    EncoderOptions,
    Examined,
    Outgoing,
    PlayedFrame,
    SchemeEncoder,
    VideoSchemeDecoder,
)
from m3e.wire.messages import Burst, Modality, StreamHeader

if TYPE_CHECKING:
    from m3e.codecs.m3e_keyframe import KeyframeSender, PictureRefresh
    from m3e.codecs.prediction import MotionReference
    from m3e.restore.keyframe_player import KeyframePlayer, LowLatencyPlayer, PlayedPicture
    from m3e.semantics.extractor import KeyframeSemantics

log = logging.getLogger("m3e.sender")
# low latency: motion within STILL_PX pixels of the last sample sent goes at most every
# RESEND_STILL_S (a talking head's still camera sent 10 identical samples a second)
STILL_PX, RESEND_STILL_S = 0.5, 1.0
Image = npt.NDArray[np.uint8]


class M3EVideoEncoder(SchemeEncoder):
    """The knowledge base is owned by one thread (the semantic worker, or the live worker in
    low latency): keyframes the receiver confirmed join it there, before the next prediction."""

    def __init__(self, scheme: str, options: EncoderOptions, emit: Emit) -> None:
        super().__init__(scheme, options, emit)
        self._confirmed: queue.SimpleQueue[tuple[int, str, Image]] = queue.SimpleQueue()
        self._keyframes: KeyframeSender | None = None
        self._refresh: PictureRefresh | None = None
        self._live: LiveWorker | None = None
        self._pictures = 0  # low latency: pictures sent
        self._motions = 0  # motion samples sent
        self._last_motion: tuple[int, npt.NDArray[np.float32], float] | None = None  # (picture, warp, t)
        self._anchor: tuple[int, MotionReference] | None = None  # what motion refers to: (index, picture)

    def open(self) -> None:
        from m3e.codecs.m3e_keyframe import KeyframeSender, PictureRefresh

        m = self.options.media
        self._keyframes = KeyframeSender(self.scheme, (m.width, m.height))
        on_frame = self._picture_or_motion if self.options.low_latency else self._motion
        self._refresh = PictureRefresh(self.options.m3e_refresh_kbps)
        self._live = LiveWorker(on_frame)

    def video(self, item: VideoItem, examined: Examined | None, captured: float) -> None:
        if self._live is not None and examined is not None:
            self._live.offer_frame(examined, item.pts, captured)

    def keyframe(self, k: KeyframeSemantics, index: int, captured: float) -> None:
        """Side information and V′ of keyframe ``index``, after its sentence."""
        if self.options.low_latency or k.rgb is None:
            return
        keyframes = self._learn_confirmed()
        message, rebuilt = keyframes.encode(k.rgb, k.text, self.options.m3e_budget)
        self.emit(
            Outgoing(
                Modality.VIDEO,
                self.scheme,
                k.time_s,
                message.payload(),
                captured,
                index=index,
                on_ack=self._on_ack(index, k.text, rebuilt),
            )
        )

    def close(self) -> None:
        if self._live is not None:
            self._live.close()
            live = self._live
            log.info(
                "m3e video: %d examined frames worked on in %.1f s (%d dropped while busy): "
                "%d pictures, %d motion samples sent",
                live.worked, live.busy_s, live.dropped, self._pictures, self._motions,
            )  # fmt: skip

    def _motion(self, rgb: Image, t: float, is_keyframe: bool, captured: float) -> None:
        """Between keyframes, every examined frame: its global motion from the scene's keyframe
        (named by frame number: the keyframe's index is given only when its sentence is ready).
        It is played one keyframe interval later, so it goes like the side information (LDPC
        1/3 + QPSK with HARQ) rather than stale-when-late."""
        from m3e.codecs.prediction import MotionReference, Prediction

        frame = round(t * self.options.media.fps)
        if is_keyframe:
            self._anchor = (frame, MotionReference(rgb))
        elif self._anchor is not None:
            anchor, picture = self._anchor
            payload = Prediction(anchor, picture.camera_motion(rgb)).to_bytes()
            self._motions += 1
            self.emit(
                Outgoing(Modality.VIDEO, self.scheme, t, payload, captured, keyframe=False, coding="small")
            )

    def _picture_or_motion(self, rgb: Image, t: float, is_keyframe: bool, captured: float) -> None:
        """Low latency, every examined frame: a keyframe's picture, else motion from the latest,
        or a new picture when the motion leaves too much unshown (``PictureRefresh``). Both are
        stale when late: robust coding, no time for a retransmission (docs/m3e.md). A still
        camera's motion goes once a second."""
        from m3e.codecs.prediction import MotionReference, Prediction
        from m3e.restore.interpolation import same_warp

        keyframes, policy = self._learn_confirmed(), self._refresh
        assert policy is not None, "open() first"
        on_ack = None
        anchor = self._anchor[1] if self._anchor is not None else None
        budget, warp = policy.choose(anchor, rgb, is_keyframe, t, self.options.m3e_budget)
        if budget is not None:
            message, rebuilt = keyframes.encode(rgb, None, budget)
            index, payload = self._pictures, message.payload()
            if not is_keyframe:
                policy.spent(len(payload), t)
            self._pictures += 1
            self._anchor = (index, MotionReference(rebuilt))
            on_ack = self._on_ack(index, "", rebuilt)
        elif self._anchor is not None and warp is not None:  # motion
            index, last = self._anchor[0], self._last_motion
            if (
                last
                and last[0] == index
                and t - last[2] < RESEND_STILL_S
                and same_warp(warp, last[1], STILL_PX)
            ):
                return  # the camera stands still: the receiver holds the picture where it is
            self._last_motion = (index, warp, t)
            self._motions += 1
            payload = Prediction(index, warp).to_bytes()
        else:
            return
        self.emit(
            Outgoing(
                Modality.VIDEO,
                self.scheme,
                t,
                payload,
                captured,
                keyframe=on_ack is not None,  # a picture
                coding="robust",
                index=index,
                on_ack=on_ack,
            )
        )

    def _on_ack(self, index: int, text: str, rebuilt: Image) -> Callable[[], None]:
        """The receiver has keyframe ``index``: both may refer to it from now on."""
        return lambda: self._confirmed.put((index, text, rebuilt))

    def _learn_confirmed(self) -> KeyframeSender:
        assert self._keyframes is not None, "open() first"
        while not self._confirmed.empty():
            self._keyframes.remember(*self._confirmed.get_nowait())
        return self._keyframes


class LiveWorker:
    """Every examined frame, ``on_frame(rgb, time, is_keyframe, captured)`` with the wall time
    the frame was captured, on a thread of its own. A keyframe is always worked on; of the
    other frames only the newest: after a slow one (a keyframe's picture) the frames that
    waited meanwhile are stale, and showing them late would only delay the present."""

    def __init__(self, on_frame: Callable[[Image, float, bool, float], None]) -> None:
        self.on_frame = on_frame
        self.dropped = 0
        self.worked = 0
        self.busy_s = 0.0  # time spent in on_frame
        self._waiting: list[tuple[Examined, float, float]] = []  # keyframes, then the newest frame
        self._closed = False
        self._cond = threading.Condition()
        self._thread = threading.Thread(target=self._run, name="live", daemon=True)
        self._thread.start()

    def offer_frame(self, examined: Examined, time_s: float, captured: float) -> None:
        with self._cond:
            if self._waiting and not self._waiting[-1][0].keyframe:
                self._waiting.pop()  # a newer frame replaces it
                self.dropped += 1
            self._waiting.append((examined, time_s, captured))
            self._cond.notify()

    def close(self) -> None:
        """Work on the frames still waiting, then stop the thread."""
        with self._cond:
            self._closed = True
            self._cond.notify()
        self._thread.join()

    def _run(self) -> None:
        while True:
            with self._cond:
                self._cond.wait_for(lambda: bool(self._waiting) or self._closed)
                if not self._waiting:
                    return
                examined, t, captured = self._waiting.pop(0)
            start = time.perf_counter()
            try:
                self.on_frame(examined.rgb, t, examined.keyframe, captured)
            except Exception:  # a failure on one frame must not stop the stream
                log.exception("M3E motion failed on a frame")
            self.worked += 1
            self.busy_s += time.perf_counter() - start


class M3EVideoDecoder(VideoSchemeDecoder):
    """A keyframe plays when both its sentence and its video burst (or its loss) are in;
    the frames between two keyframes are interpolated (``KeyframePlayer``). They come a
    keyframe interval at a time and play at the frame rate, each as late as the latest batch
    of the last seconds came (``PacedPlayout``); every frame's latency is its own."""

    def __init__(self, header: StreamHeader, options: DecoderOptions) -> None:
        from m3e.restore.keyframe_player import KeyframePlayer
        from m3e.restore.playout import PacedPlayout

        super().__init__(header, options)
        self.player: KeyframePlayer = KeyframePlayer(
            header.video_scheme, header.width, header.height, header.fps
        )
        self._paced = PacedPlayout[PlayedFrame](header.fps)

    def payload(self, burst: Burst, payload: bytes, now: float) -> None:
        if burst.keyframe:
            self.player.video(burst.index, payload)
            return
        try:
            self.player.motion(payload, burst.pts)
        except ValueError as exc:  # a damaged description: the keyframe holds still
            log.debug("M3E motion burst %d not used: %s", burst.seq, exc)

    def lost(self, burst: Burst) -> None:
        if burst.keyframe:
            self.player.video(burst.index, None)  # the keyframe from its text alone

    def sentence(self, index: int, text: str, pts: float, capture_time: float) -> None:
        self.player.text(index, text, pts, capture_time)

    def ready(self, now: float) -> list[PlayedFrame]:
        wall = time.time()
        self._paced.put([(f.index, f) for f in _played(self.player.ready())], self.player.clock, wall)
        captured = self._paced.captured
        return [
            PlayedFrame(f.index, f.picture, f.frozen, (wall - captured(i)) * 1000 if captured(i) else None)
            for i, f in self._paced.due(wall)
        ]

    def waiting(self) -> int:
        return len(self._paced)

    def flush(self, end_pts: float) -> list[PlayedFrame]:
        """What waits to be played, then the rest of the stream, at once (the stream is over)."""
        return [f for _, f in self._paced.rest()] + _played(self.player.flush(end_pts) + self.player.ready())


PACE_S = 0.1  # low latency: frames play this long after capture (motion comes 10 times a second)


class LowLatencyDecoder(VideoSchemeDecoder):
    """Low-latency M3E: a picture plays as soon as it arrives and motion warps it forward
    (``LowLatencyPlayer``); the sentence only names the picture.

    Pictures are decoded on a thread of their own, in order: a V′ takes 50–150 ms (x265 codes
    the reference again), and on the session's thread the frames due meanwhile stood still;
    in a two-browser call the play-out stalled at every picture. The latest motion sample for
    a picture still being decoded waits for it."""

    def __init__(self, header: StreamHeader, options: DecoderOptions) -> None:
        from m3e.restore.keyframe_player import LowLatencyPlayer

        super().__init__(header, options)
        self.player: LowLatencyPlayer = LowLatencyPlayer(header.width, header.height, header.fps)
        self._due: list[PlayedFrame] = []
        self._pictures = ThreadPoolExecutor(1, thread_name_prefix="m3e-pictures")
        self._decoded: queue.SimpleQueue[tuple[Burst, Image | None]] = queue.SimpleQueue()
        # each picture being decoded -> the latest motion sample that refers to it (its burst
        # and payload); touched on the session's thread only
        self._decoding: dict[int, tuple[Burst, bytes] | None] = {}

    def payload(self, burst: Burst, payload: bytes, now: float) -> None:
        if burst.keyframe:
            self._decoding[burst.index] = None
            self._pictures.submit(self._decode, burst, payload)
            return
        self._show_decoded()
        if burst.index in self._decoding:
            self._decoding[burst.index] = (burst, payload)
        else:
            self._motion(burst, payload)

    def _motion(self, burst: Burst, payload: bytes) -> None:
        try:
            pictures = self.player.motion(payload, burst.pts, burst.capture_time)
        except ValueError as exc:  # a damaged description: the picture holds
            log.debug("M3E burst %d not used: %s", burst.seq, exc)
            return
        self._due += _played(pictures)

    def _decode(self, burst: Burst, payload: bytes) -> None:
        image = None
        try:
            image = self.player.decode(burst.index, payload)
        except ValueError as exc:  # a damaged picture: the one before holds
            log.debug("M3E picture %d not used: %s", burst.seq, exc)
        except Exception:  # one bad picture must not stop the pictures after it
            log.exception("M3E picture %d failed", burst.seq)
        self._decoded.put((burst, image))

    def _show_decoded(self) -> None:
        while not self._decoded.empty():
            burst, image = self._decoded.get_nowait()
            waiting = self._decoding.pop(burst.index, None)
            if image is not None:
                self._due += _played(self.player.show(burst.index, image, burst.pts, burst.capture_time))
                if waiting is not None:
                    self._motion(*waiting)

    def first_shown(self) -> dict[int, int]:
        return self.player.first_shown

    def ready(self, now: float) -> list[PlayedFrame]:
        """The frames whose time has come: a motion sample brings the frames since the last one
        at once, and they play ``PACE_S`` after their capture at the frame rate, not as a burst."""
        self._show_decoded()
        wall = time.time()
        n = next((i for i, f in enumerate(self._due) if self.player.due_at(f.index) + PACE_S > wall), None)
        due, self._due = (self._due, []) if n is None else (self._due[:n], self._due[n:])
        # a frame moved or held stands for its own capture time: the latency is the video's delay
        return [
            f
            if f.latency_ms is not None
            else PlayedFrame(f.index, f.picture, f.frozen, (wall - self.player.due_at(f.index)) * 1000)
            for f in due + _played(self.player.hold(wall))
        ]

    def flush(self, end_pts: float) -> list[PlayedFrame]:
        self._pictures.shutdown(wait=True)
        self._show_decoded()
        held = [PlayedFrame(p.index, p.picture, True, None) for p in self.player.flush(end_pts)]
        due, self._due = self._due, []
        return due + held


def decoder(header: StreamHeader, options: DecoderOptions) -> VideoSchemeDecoder:
    """The decoder for an M3E header: low latency or keyframes with interpolation."""
    return (LowLatencyDecoder if header.low_latency else M3EVideoDecoder)(header, options)


def _played(pictures: list[PlayedPicture]) -> list[PlayedFrame]:
    return [PlayedFrame(p.index, p.picture, False, p.latency_ms) for p in pictures]
