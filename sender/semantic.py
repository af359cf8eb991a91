"""Live semantic extraction beside the media pipeline: frames and audio are offered to a
worker thread running ``SemanticExtractor``; each keyframe's semantics go to the schemes'
encoders. When the worker falls behind it drops frames rather than slow the video down;
audio is never dropped (a gap would garble the transcript)."""

from __future__ import annotations

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


class SemanticWorker:
    """Args: fps and sample_rate of the media offered; ``emit`` gets each keyframe's
    semantics (called on the worker thread)."""

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
