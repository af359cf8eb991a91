import numpy as np
import pytest

from m3e.eval.metrics import word_error_rate
from m3e.eval.testset import speech_audio
from m3e.semantics.audio import SAMPLE_RATE, AudioRecognizer, log_mel
from m3e.semantics.fusion import fuse
from m3e.semantics.vision import Detection, ImageRecognizer
from m3e.semantics.vocabulary import AUDIO_EVENTS, imagenet_noun, label_of, yamnet_class_names


def test_vocabulary_maps_breeds_and_synonyms() -> None:
    assert {imagenet_noun(i) for i in range(151, 269)} == {"dog"}
    assert {imagenet_noun(i) for i in range(281, 286)} == {"cat"}
    names = {imagenet_noun(i) for i in range(1000)}
    assert {"airplane", "cup", "motorcycle", "rocket", "train", "car", "umbrella", "zebra"} <= names
    assert label_of("drilling rig") == "other" and label_of("cat") == "cat"
    assert set(AUDIO_EVENTS) <= set(yamnet_class_names())


@pytest.mark.parametrize(
    ("image", "noun"),
    [("chelsea", "cat"), ("coffee", "cup"), ("stereo_motorcycle", "motorcycle"), ("astronaut", "person")],
)
def test_image_recognition_names_the_object(natural: dict[str, np.ndarray], image: str, noun: str) -> None:
    found = ImageRecognizer()(natural[image])
    assert found and found[0].noun == noun


def test_person_detector_gives_a_box(natural: dict[str, np.ndarray]) -> None:
    person = next(d for d in ImageRecognizer()(natural["astronaut"]) if d.noun == "person")
    x, y, w, _h = person.box  # type: ignore[misc]
    assert 0 <= x < 512 and 0 <= y < 512 and w > 40


def test_degenerate_frames_recognise_nothing(rng: np.random.Generator) -> None:
    rec = ImageRecognizer()
    assert rec(np.zeros((480, 720, 3), np.uint8)) == []
    assert rec(np.full((8, 8, 3), 200, np.uint8)) == []
    assert isinstance(rec(rng.integers(0, 255, (2160, 3840, 3), dtype=np.uint8)), list)
    assert isinstance(rec(rng.integers(0, 255, (16, 16, 3), dtype=np.uint8)), list)


def test_log_mel_front_end() -> None:
    mel = log_mel(np.zeros(SAMPLE_RATE, np.float32))
    assert mel.shape == (98, 64) and np.allclose(mel, np.log(0.001))
    tone = np.sin(2 * np.pi * 1000 * np.arange(SAMPLE_RATE) / SAMPLE_RATE).astype(np.float32)
    # 1 kHz is the centre of HTK mel band 19 of 64 over 125–7500 Hz
    assert np.argmax(log_mel(tone).mean(0)) == 19


def test_speech_is_heard_and_transcribed() -> None:
    from scipy.signal import resample_poly

    text = "Please send the pictures of the rocket to the team."
    audio = resample_poly(speech_audio(text), 1, 3).astype(np.float32)
    events, transcript = AudioRecognizer()(audio)
    assert events[0][0].noun == "person" and events[0][1] == "speaking"
    assert word_error_rate(text, transcript) <= 0.2


def test_whisper_tiny_en_stays_selectable() -> None:
    from scipy.signal import resample_poly

    text = "Please send the pictures of the rocket to the team."
    audio = resample_poly(speech_audio(text), 1, 3).astype(np.float32)
    assert word_error_rate(text, AudioRecognizer(asr="whisper-tiny.en").transcript(audio)) <= 0.2


def test_moonshine_transcribes_whole_and_cut_speech() -> None:
    from scipy.signal import resample_poly

    text = "Please send the pictures of the rocket to the team."
    audio = resample_poly(speech_audio(text), 1, 3).astype(np.float32)
    events, transcript = AudioRecognizer(asr="moonshine-base")(audio)
    assert events[0][1] == "speaking"
    assert word_error_rate(text, transcript) <= 0.2
    # a keyframe boundary within speech: each piece still gets its words, none loops
    half = audio.size // 2
    pieces = [AudioRecognizer(asr="moonshine-base").transcript(a) for a in (audio[:half], audio[half:])]
    assert all(pieces) and word_error_rate(text, " ".join(pieces)) <= 0.5
    assert all(len(p.split()) <= 8 for p in pieces)


def test_unknown_asr_engine_is_refused() -> None:
    with pytest.raises(ValueError, match="moonshine-base"):
        AudioRecognizer(asr="whisper-large")


def test_silence_and_noise_give_no_transcript(rng: np.random.Generator) -> None:
    rec = AudioRecognizer()
    assert rec(np.zeros(SAMPLE_RATE, np.float32)) == ([], "")
    _events, transcript = rec((0.2 * rng.standard_normal(SAMPLE_RATE)).astype(np.float32))
    assert transcript == ""
    assert rec(np.zeros(10, np.float32)) == ([], "")


def test_fusion_agreement_and_sentences() -> None:
    both = fuse([Detection("cat", 0.6)], [(Detection("cat", 0.6), "meowing")])
    seen = fuse([Detection("cat", 0.6)], [])
    assert both.objects["cat"] > seen.objects["cat"]  # seen and heard: more confident
    assert both.text == "a cat is meowing"
    assert fuse([Detection("dog", 0.3)], [(Detection("cat", 0.9), "meowing")]).text.startswith("a cat")
    spoken = fuse([Detection("person", 0.8)], [(Detection("person", 0.99), "speaking")], "hello there")
    assert spoken.text == 'a person is speaking: "hello there"'
    assert fuse([], []).text == "nothing recognised"
    assert fuse([Detection("airplane", 0.9)], []).text == "an airplane"
