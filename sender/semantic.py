"""Live semantic extraction beside the media pipeline: frames and audio are offered to a
worker thread running ``SemanticExtractor``; each keyframe's semantics come back as a JSON
payload for a MODALITY_TEXT burst. When the worker falls behind it drops frames rather than
slow the video down; audio is never dropped (a gap would garble the transcript).

``LiveWorker`` is the low-latency M3E path: every examined frame, on a thread of its own that
never waits for the semantic models, is tested for a keyframe and handed on at once."""

from __future__ import annotations

import json
import logging
import queue
import threading
from collections.abc import Callable
from fractions import Fraction

import numpy as np
import numpy.typing as npt
from scipy.signal import resample_poly

from m3e.semantics.extractor import KeyframeSemantics, SemanticExtractor

log = logging.getLogger("m3e.sender")
ANALYSIS_FPS = 10.0  # frames per second examined for keyframes
MAX_BACKLOG = 32  # items waiting before new frames are dropped


def examined(index: int, fps: float) -> bool:
    """Whether frame ``index`` is one of the ``ANALYSIS_FPS`` per second the workers examine.
    The producer converts those to RGB once for both workers: one ``av.VideoFrame`` converted
    on two threads at once deadlocks in swscale."""
    return index % max(1, round(fps / ANALYSIS_FPS)) == 0


def semantics_payload(k: KeyframeSemantics) -> bytes:
    """The TEXT payload of one keyframe: UTF-8 JSON {time_s, objects, text, transcript, labels}."""
    return json.dumps(k.to_json(), separators=(",", ":")).encode()


class SemanticWorker:
    """Args: fps and sample_rate of the media offered; ``emit`` gets each keyframe's payload
    (called on the worker thread)."""

    def __init__(
        self,
        fps: float,
        sample_rate: int,
        emit: Callable[[KeyframeSemantics], None],
    ) -> None:
        self.extractor = SemanticExtractor()
        ratio = Fraction(16000, sample_rate)
        self._up, self._down = ratio.numerator, ratio.denominator
        self.emit = emit
        self.dropped = 0
        self._inbox: queue.Queue[tuple[str, object, int, float] | None] = queue.Queue()
        self._thread = threading.Thread(target=self._run, name="semantics", daemon=True)
        self._thread.start()

    def offer_frame(self, rgb: npt.NDArray[np.uint8], index: int, time_s: float) -> None:
        """An examined frame (``examined(index, fps)``) as (H, W, 3) RGB."""
        if self._inbox.qsize() > MAX_BACKLOG:
            self.dropped += 1
        else:
            self._inbox.put(("frame", rgb, index, time_s))

    def offer_audio(self, samples: npt.NDArray[np.int16]) -> None:
        mono = samples.mean(axis=1) / 32768.0
        self._inbox.put(("audio", resample_poly(mono, self._up, self._down).astype(np.float32), 0, 0.0))

    def close(self) -> None:
        """Describe what is still pending, then stop the thread."""
        self._inbox.put(None)
        self._thread.join()

    def _run(self) -> None:
        from m3e.priority import run_in_background_priority

        run_in_background_priority(5)  # a sentence may come late; the pictures must not
        while (item := self._inbox.get()) is not None:
            kind, data, index, t = item
            try:
                if kind == "frame":
                    found = self.extractor.push_frame(data, index, t)  # type: ignore[arg-type]
                else:
                    found = self.extractor.push_audio(data)  # type: ignore[arg-type]
                for k in found:
                    self.emit(k)
            except Exception:  # a model failure must not stop the stream
                log.exception("semantic extraction failed")
        for k in self.extractor.finish():
            self.emit(k)


class LiveWorker:
    """Every examined frame: the extractor's keyframe test (its own selector, so a busy
    semantic worker never delays it) and ``on_frame(rgb, time, is_keyframe, captured)`` with
    the wall time the frame was captured. Only the newest frame is worked on: after a slow
    one (a keyframe's picture) the frames that waited meanwhile are stale, and showing them
    late would only delay the present."""

    def __init__(self, on_frame: Callable[[npt.NDArray[np.uint8], float, bool, float], None]) -> None:
        from m3e.semantics.keyframes import KeyframeSelector

        self.selector = KeyframeSelector()
        self.on_frame = on_frame
        self.dropped = 0
        self._waiting: tuple[npt.NDArray[np.uint8], float, float] | None = None  # the newest frame
        self._closed = False
        self._cond = threading.Condition()
        self._thread = threading.Thread(target=self._run, name="live", daemon=True)
        self._thread.start()

    def offer_frame(self, rgb: npt.NDArray[np.uint8], time_s: float, captured: float) -> None:
        with self._cond:
            self.dropped += self._waiting is not None  # a newer frame replaces it
            self._waiting = (rgb, time_s, captured)
            self._cond.notify()

    def close(self) -> None:
        """Work on the frame still waiting, then stop the thread."""
        with self._cond:
            self._closed = True
            self._cond.notify()
        self._thread.join()

    def _run(self) -> None:
        from m3e.semantics.keyframes import luma_thumbnail

        while True:
            with self._cond:
                self._cond.wait_for(lambda: self._waiting is not None or self._closed)
                if self._waiting is None:
                    return
                (rgb, t, captured), self._waiting = self._waiting, None
            try:
                self.on_frame(rgb, t, self.selector.update(luma_thumbnail(rgb), t), captured)
            except Exception:  # a failure on one frame must not stop the stream
                log.exception("live M3E frame failed")
