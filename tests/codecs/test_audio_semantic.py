import numpy as np
import pytest

from m3e.codecs.audio_semantic import (
    EVENT_RECIPES,
    RATE,
    encode_difference,
    regenerate,
    regenerate_segment,
    sound_events,
    speak,
    timbre,
    transcript_of,
)

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


def test_sentence_names_its_transcript_and_sound_events() -> None:
    text = 'a cat is meowing and a phone is ringing and a person is speaking: "it is raining"'
    assert transcript_of(text) == "it is raining"
    assert sound_events(text) == ["meowing", "ringing"]  # speech is the transcript's
    assert sound_events("a cup") == [] and transcript_of("a cup") == ""


def test_sound_event_from_its_label_is_heard_as_that_event() -> None:
    from m3e.semantics.audio import AudioRecognizer

    ring = regenerate_segment("a phone is ringing", None)
    heard, _ = AudioRecognizer()(ring)
    assert ("phone", "ringing") in [(d.noun, verb) for d, verb in heard]


def test_difference_gives_events_and_silence_the_original_loudness() -> None:
    """T′ carries the envelope: a ring that stops halfway is rebuilt ringing, then quiet."""
    original = 0.2 * EVENT_RECIPES["ringing"](2 * RATE, np.random.default_rng(1))
    original[RATE:] = 0.0
    rebuilt = regenerate_segment("a phone is ringing", encode_difference(original))
    assert rebuilt.shape[0] == original.shape[0]
    loud, quiet = (float(np.sqrt(np.mean(x**2))) for x in (rebuilt[: RATE // 2], rebuilt[RATE + 1600 :]))
    assert loud > 0.03 and quiet < 0.01 * loud / 0.03
    silence = regenerate_segment("a cup", encode_difference(np.zeros(RATE, np.float32)))
    assert silence.shape[0] == RATE and np.abs(silence).max() < 1e-3


def test_speech_is_placed_where_the_original_speaks() -> None:
    """T′'s envelope tells where in the interval the words are: silence stays silence."""
    words = _other_voice("The moon is bright.")
    original = np.concatenate([np.zeros(RATE, np.float32), words, np.zeros(RATE, np.float32)])
    text = 'a person is speaking: "The moon is bright."'
    rebuilt = regenerate_segment(text, encode_difference(original))
    assert abs(rebuilt.shape[0] - original.shape[0]) <= RATE // 100  # T′ keeps the length in 10 ms
    rms = [
        float(np.sqrt(np.mean(x**2)))
        for x in (rebuilt[: 4 * RATE // 5], rebuilt[RATE : RATE + words.shape[0]])
    ]
    assert rms[0] < 0.05 * rms[1], rms
    assert timbre(original, rebuilt) > timbre(original, regenerate_segment(text, None)) + 0.3


def test_t_prime_judges_a_named_event_kept_when_it_fits_dropped_when_it_does_not() -> None:
    """A synthesised ring that sounds unlike the original's sound would pull the timbre away
    from it: T′'s spectrum decides whether the event is played."""
    rng = np.random.default_rng(3)
    ring = 0.3 * EVENT_RECIPES["ringing"](2 * RATE, rng).astype(np.float32)
    hiss = (0.05 * rng.standard_normal(2 * RATE)).astype(np.float32)
    for original, kept in ((ring, True), (hiss, False)):
        named = regenerate("", encode_difference(original), ["ringing"])
        plain = regenerate("", encode_difference(original), [])
        assert (not np.array_equal(named, plain)) == kept
        assert timbre(original, named) >= timbre(original, plain)
