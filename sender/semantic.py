"""Live semantic extraction beside the media pipeline. The keyframe test (eq 1–2, 0.4 ms a
frame) runs on the caller's thread for every examined frame, so whether a cut is found never
depends on how busy the machine is; only keyframes and audio go to a worker thread running
``SemanticExtractor``, and each keyframe's semantics go to the schemes' encoders. Under load
the slow work (recognition) comes later, nothing is dropped: a missing keyframe would lose a
scene, a gap in the audio would garble the transcript."""

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
from m3e.semantics.keyframes import KeyframeSelector, luma_thumbnail
from m3e.semantics.speech_pauses import UtteranceEnds

log = logging.getLogger("m3e.sender")
ANALYSIS_FPS = 10.0  # frames per second examined for keyframes
UTTERANCE_KEYFRAME_S = 1.5


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
        keyframe_at_utterance_end: bool = False,
    ) -> None:
        self.extractor = SemanticExtractor()
        self.extractor.load()  # here, before the sender's clock starts: not at the first keyframe
        # a keyframe at least as often as the audio a keyframe's text can carry, so no speech
        # falls between two texts on a scene that never cuts (a talking head)
        self.selector = KeyframeSelector(max_interval_s=self.extractor.max_audio_s)
        # live: a keyframe also where an utterance ends (at least UTTERANCE_KEYFRAME_S after the
        # last), so a sentence's text, and the voice regenerated from it, need not wait for the
        # next cut (a talking head: up to max_audio_s, and the text came 9-16 s after capture)
        # It listens on the producer thread, beside the keyframe test: the worker, which also
        # runs the VAD (where a cut may end), can be seconds behind on a busy machine.
        self._utterances = UtteranceEnds() if keyframe_at_utterance_end else None
        self._utterance_ended = False
        self._key_t = -np.inf
        ratio = Fraction(16000, sample_rate)
        self._up, self._down = ratio.numerator, ratio.denominator
        self.emit = emit
        self._inbox: queue.Queue[tuple[str, object, int, float, float] | None] = queue.Queue()
        self._thread = threading.Thread(target=self._run, name="semantics", daemon=True)
        self._thread.start()

    def offer_frame(self, rgb: npt.NDArray[np.uint8], index: int, time_s: float) -> bool:
        """An examined frame (``examined(index, fps)``) as (H, W, 3) RGB; True when it is a
        keyframe (then it is described on the worker)."""
        force = self._utterance_ended and time_s - self._key_t >= UTTERANCE_KEYFRAME_S
        self._utterance_ended = False  # the audio before this frame said so: now or never
        if not self.selector.update(luma_thumbnail(rgb), time_s, force):
            return False
        self._key_t = time_s
        self._inbox.put(("keyframe", rgb, index, time_s, self.selector.continuity))
        return True

    def offer_audio(self, samples: npt.NDArray[np.int16]) -> None:
        """Audio as it comes, (n, channels) int16 at the media's rate; on the same thread as
        ``offer_frame``."""
        mono = resample_poly(samples.mean(axis=1) / 32768.0, self._up, self._down).astype(np.float32)
        if self._utterances is not None and self._utterances.push(mono):
            self._utterance_ended = True
        self._inbox.put(("audio", mono, 0, 0.0, 0.0))

    def close(self) -> None:
        """Describe what is still pending, then stop the thread."""
        self._inbox.put(None)
        self._thread.join()

    def _run(self) -> None:
        from m3e.priority import run_in_background_priority

        run_in_background_priority(5)  # a sentence may come late; the pictures must not
        while (item := self._inbox.get()) is not None:
            kind, data, index, t, continuity = item
            try:
                if kind == "keyframe":
                    found = self.extractor.push_keyframe(data, index, t, continuity)  # type: ignore[arg-type]
                else:
                    found = self.extractor.push_audio(data)  # type: ignore[arg-type]
                for k in found:
                    self.emit(k)
            except Exception:  # a model failure must not stop the stream
                log.exception("semantic extraction failed")
        for k in self.extractor.finish():
            self.emit(k)
