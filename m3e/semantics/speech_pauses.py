"""Where a keyframe's audio may end without cutting a sentence.

A keyframe's text holds the speech of its interval, which nominally ends at the next keyframe.
A panning camera makes keyframes every 0.5–1 s, so a sentence was split over several texts
and the words at each cut were misheard. Here a cut that falls while someone is speaking
moves to the first pause after it (at most ``MAX_HOLD_S`` later); the next keyframe's audio
then begins where this one's ended, so no word is heard twice or lost.

Speech is detected by Silero VAD v6 (MIT; the ONNX file shipped inside faster-whisper, run by
onnxruntime on one thread): a speech probability per 32 ms window. An energy test was tried
first and failed: a hum counts as speech to it (``docs/call.md``). Silero gives a 60 Hz hum
≤ 0.02; within the project's seven espeak sentences at least 92 % of windows are ≥ 0.5 and no
run below ``SILENCE`` lasts over 64 ms, so ``PAUSE_S`` falls between sentences, not words.
Silero was trained on people's speech; the project has no recording of a person to measure it
on (``docs/semantics.md``).
"""

from __future__ import annotations

import functools

import numpy as np
import numpy.typing as npt

SAMPLE_RATE = 16000
WINDOW = 512  # samples per VAD window (32 ms), what Silero takes at 16 kHz
WINDOW_S = WINDOW / SAMPLE_RATE
SPEECH, SILENCE = 0.5, 0.35  # Silero's usual hysteresis: speech at or above, silence below
PAUSE_S = 0.25  # silence this long ends an utterance
MAX_HOLD_S = 4.0  # a keyframe's audio runs at most this far past its cut
CONTEXT_S = 0.5  # audio before the cut the detector sees (its state settles in ~0.1 s)


@functools.cache
def _silero():  # type: ignore[no-untyped-def]
    from faster_whisper.vad import get_vad_model

    return get_vad_model()


def speech_probability(audio: npt.NDArray[np.float32]) -> npt.NDArray[np.float32]:
    """(n,) 16 kHz audio -> (ceil(n / 512),) speech probability of each 32 ms window."""
    audio = np.asarray(audio, dtype=np.float32).reshape(-1)
    if audio.size == 0:
        return np.zeros(0, np.float32)
    padded = np.pad(audio, (0, -audio.size % WINDOW))
    return np.asarray(_silero()(padded), dtype=np.float32).reshape(-1)


def utterance_end(speech: npt.NDArray[np.float32], cut: int, complete: bool) -> int | None:
    """The window at which to end the audio nominally ending at window ``cut``.

    ``speech``: (n,) probabilities from ``speech_probability``, window 0 being the start of
    the audio looked at. At ``cut`` when nobody speaks in the 4 windows before it; else at the
    first window of the first ``PAUSE_S`` of silence after it (plus 2 windows, so a trailing
    consonant is kept), or, with no pause within ``MAX_HOLD_S``, at its least speech-like
    window. None while the audio seen cannot decide yet (more will come unless ``complete``).
    """
    if speech[max(0, cut - 4) : cut].max(initial=0.0) < SPEECH:
        return cut
    pause, hold = round(PAUSE_S / WINDOW_S), round(MAX_HOLD_S / WINDOW_S)
    quiet = 0
    for i in range(cut, min(len(speech), cut + hold)):
        quiet = quiet + 1 if speech[i] < SILENCE else 0
        if quiet == pause:
            return i - pause + 3  # its first window + 2
    if len(speech) >= cut + hold or complete:
        window = speech[cut : cut + hold]
        return cut + int(np.argmin(window)) if window.size else cut
    return None


class UtteranceEnds:
    """Streaming: ``push`` 16 kHz audio as it comes; True once each time an utterance has
    just ended (speech, then ``PAUSE_S`` of silence). It looks at the last second every
    ``CHECK_S`` of new audio (about 1 ms of VAD each time)."""

    CHECK_S, LOOK_S = 0.2, 1.0

    def __init__(self) -> None:
        self._tail = np.zeros(0, np.float32)  # the last LOOK_S, less what an ended utterance had
        self._new = 0  # samples since the last look

    def push(self, samples: npt.NDArray[np.float32]) -> bool:
        look = int(self.LOOK_S * SAMPLE_RATE)
        self._tail = np.concatenate([self._tail, np.asarray(samples, np.float32).reshape(-1)])[-look:]
        self._new += samples.size
        if self._new < self.CHECK_S * SAMPLE_RATE:
            return False
        self._new = 0
        speech, pause = speech_probability(self._tail), round(PAUSE_S / WINDOW_S)
        if len(speech) <= pause or speech[:-pause].max() < SPEECH or (speech[-pause:] >= SILENCE).any():
            return False
        self._tail = np.zeros(0, np.float32)  # that utterance is reported: once
        return True
