"""A keyframe's audio never cuts a sentence: the cut moves to the pause after it."""

import itertools

import numpy as np
import pytest

from m3e.eval.testset import _sound, speech_audio
from m3e.semantics.audio import AudioRecognizer
from m3e.semantics.extractor import SemanticExtractor
from m3e.semantics.speech_pauses import (
    MAX_HOLD_S,
    SAMPLE_RATE,
    UtteranceEnds,
    speech_probability,
    utterance_end,
)

SENTENCE = "I will send you the report tomorrow morning."


def _silence(seconds: float) -> np.ndarray:
    return np.zeros(int(seconds * SAMPLE_RATE), np.float32)


def test_speech_is_speech_and_a_hum_is_not() -> None:
    speech = speech_probability(speech_audio(SENTENCE, SAMPLE_RATE))
    hum = speech_probability(_sound("hum", 2 * 48000, np.random.default_rng(0))[::3])  # 48 -> 16 kHz
    assert np.mean(speech > 0.5) > 0.6
    assert hum.max() < 0.35
    assert speech_probability(np.zeros(0, np.float32)).shape == (0,)


def test_utterance_end_on_probabilities() -> None:
    talk, pause = np.full(40, 0.9, np.float32), np.full(20, 0.05, np.float32)
    speech = np.concatenate([talk, pause, talk])
    assert utterance_end(speech, 45, complete=False) == 45  # the cut is in a pause already
    assert utterance_end(speech, 20, complete=False) == 42  # the pause's start + 2 windows
    assert utterance_end(speech[:45], 20, complete=False) is None  # the pause has not come yet
    assert utterance_end(speech[:45], 20, complete=True) == 40  # the stream ended: least speech
    endless = np.full(400, 0.9, np.float32)
    endless[150] = 0.6
    assert utterance_end(endless, 100, complete=False) == 150  # no pause within MAX_HOLD_S
    assert MAX_HOLD_S < 400 * 0.032


def _intervals(audio: np.ndarray, keyframes: list[float]) -> list[tuple[float, float]]:
    ex = SemanticExtractor(audio=AudioRecognizer(transcribe=False), use_image=False)
    rgb = np.zeros((8, 8, 3), np.uint8)
    out = []
    chunk = SAMPLE_RATE // 20
    for i in range(0, audio.size, chunk):
        t = i / SAMPLE_RATE
        for kt in keyframes:
            if t <= kt < t + chunk / SAMPLE_RATE:
                out += ex.push_keyframe(rgb, int(kt * 10), kt, 1.0)
        out += ex.push_audio(audio[i : i + chunk])
    out += ex.finish()
    return [(k.audio_start_s, k.audio_start_s + len(k.audio) / SAMPLE_RATE) for k in out]  # type: ignore[arg-type]


@pytest.mark.slow
def test_a_sentence_across_cuts_goes_whole_to_one_keyframe() -> None:
    said = speech_audio(SENTENCE, SAMPLE_RATE)
    spoken_until = 0.5 + np.flatnonzero(np.abs(said) > 0.01)[-1] / SAMPLE_RATE  # espeak trails silence
    audio = np.concatenate([_silence(0.5), said, _silence(2.0)])
    intervals = _intervals(audio, [0.0, 1.0, 1.5, 2.0, 3.0])
    assert len(intervals) == 5
    first_end = intervals[0][1]
    assert spoken_until <= first_end <= spoken_until + 0.3  # not at 1.0: at the sentence's end
    for (_, end), (start, _) in itertools.pairwise(intervals):
        assert start == pytest.approx(end, abs=1e-3)  # the intervals tile: nothing twice, nothing lost


@pytest.mark.slow
def test_a_hum_at_the_cut_keeps_the_cut() -> None:
    hum = _sound("hum", 3 * 48000, np.random.default_rng(0))[::3]
    said = speech_audio(SENTENCE, SAMPLE_RATE)
    audio = np.concatenate([hum, said, _silence(1.0)])
    intervals = _intervals(audio, [0.0, 1.5, 3.0])
    assert intervals[0] == pytest.approx((0.0, 1.5), abs=0.01)
    assert intervals[1] == pytest.approx((1.5, 3.0), abs=0.01)  # the sentence stays in its own keyframe


def _ends(audio: np.ndarray) -> list[float]:
    """When ``UtteranceEnds`` said so, fed 20 ms at a time (s)."""
    ends, tracker, chunk = [], UtteranceEnds(), SAMPLE_RATE // 50
    for i in range(0, audio.size, chunk):
        if tracker.push(audio[i : i + chunk]):
            ends.append((i + chunk) / SAMPLE_RATE)
    return ends


def test_each_utterance_end_is_reported_once_soon_after() -> None:
    parts, spoken_ends, t = [_silence(0.5)], [], 0.5
    for sentence in (SENTENCE, "The bikes are racing down the hill."):
        said = speech_audio(sentence, SAMPLE_RATE)
        spoken_ends.append(t + np.flatnonzero(np.abs(said) > 0.01)[-1] / SAMPLE_RATE)
        parts += [said, _silence(1.0)]
        t += said.size / SAMPLE_RATE + 1.0
    ends = _ends(np.concatenate(parts))
    assert len(ends) == 2, (ends, spoken_ends)
    for said_end, reported in zip(spoken_ends, ends, strict=True):
        assert 0.2 <= reported - said_end <= 0.7  # the pause, then the next look


def test_a_hum_is_no_utterance() -> None:
    assert _ends(_sound("hum", 4 * 48000, np.random.default_rng(0))[::3]) == []
