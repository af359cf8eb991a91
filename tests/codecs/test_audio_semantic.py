import numpy as np
import pytest

from m3e.codecs.audio_semantic import RATE, encode_difference, regenerate, speak, timbre

TEXT = "Please send the pictures of the rocket to the team."


def _other_voice(text: str) -> np.ndarray:
    """The 'original': another voice, pitch and pace than the receiver's synthesiser."""
    return speak(text, 120, "en-us+f3", 75)


def test_difference_makes_the_synthetic_speech_sound_like_the_original() -> None:
    original = _other_voice(TEXT)
    difference = encode_difference(original)
    seconds = original.shape[0] / RATE
    assert len(difference) < 40 * seconds  # a few hundred bits per second
    rebuilt = regenerate(TEXT, difference)
    assert abs(rebuilt.shape[0] - original.shape[0]) <= RATE // 100  # the segment's length
    assert timbre(original, rebuilt) > timbre(original, speak(TEXT)) + 0.2
    assert rebuilt[0] == 0 and rebuilt[-1] == 0  # faded: segments join without clicks


def test_timbre_separates_speech_from_noise_and_rejects_bad_differences() -> None:
    speech = speak(TEXT)
    noise = np.random.default_rng(0).normal(0, 0.1, 2 * RATE).astype(np.float32)
    assert timbre(speech, speech) == pytest.approx(1.0)
    assert timbre(speech, noise) < 0.5
    with pytest.raises(ValueError):
        regenerate(TEXT, b"\x01")
    assert regenerate("", None).shape == (0,)
