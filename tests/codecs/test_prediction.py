import numpy as np
import pytest

from m3e.codecs.prediction import (
    BLANK,
    IDENTITY,
    KnowledgeBase,
    Memory,
    Prediction,
    apply_motion,
    embed,
    estimate_motion,
    generate,
    shows,
    text_classes,
)
from m3e.media.offline import picture, view

SIZE = (320, 240)


def _memory(key: int, text: str, image: np.ndarray) -> Memory:
    return Memory(key, text, embed([text])[0], image)


def test_prediction_side_information_round_trips() -> None:
    warp = np.array([[0.98, -0.05, 12.5], [0.05, 0.98, -7.25]], np.float32)
    back = Prediction.from_bytes(Prediction(3, warp).to_bytes())
    assert back.reference == 3 and np.allclose(back.warp, warp, atol=0.01)
    assert Prediction.from_bytes(Prediction(None, IDENTITY).to_bytes()).reference is None
    with pytest.raises(ValueError):
        Prediction.from_bytes(b"short")


def test_motion_is_estimated_and_undone() -> None:
    frame = view(picture("astronaut"), 0.0, "pan", SIZE)
    shifted = np.roll(frame, (6, -10), axis=(0, 1))
    warp = estimate_motion(frame, shifted)
    assert warp[0, 2] == pytest.approx(-10, abs=1.5) and warp[1, 2] == pytest.approx(6, abs=1.5)
    moved = apply_motion(frame, warp)
    inner = (slice(20, -20), slice(20, -20))
    assert np.abs(moved[inner].astype(int) - shifted[inner]).mean() < 8


def test_camera_motion_is_sent_only_when_it_brings_the_picture_closer(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    import m3e.codecs.prediction as prediction

    frame = view(picture("astronaut"), 0.0, "pan", SIZE)
    shifted = np.roll(frame, (6, -10), axis=(0, 1))
    assert prediction.camera_motion(frame, shifted)[0, 2] == pytest.approx(-10, abs=1.5)  # a pan
    wrong = np.array([[1, 0, 24], [0, 1, 0]], np.float32)  # features that moved with an object
    monkeypatch.setattr(prediction.MotionReference, "estimate", lambda self, real: wrong)
    assert np.array_equal(prediction.camera_motion(frame, frame), IDENTITY)  # holding is better


def test_a_motion_reference_kept_over_frames_measures_each_as_a_fresh_one() -> None:
    """The sender keeps its keyframe's features over the frames after it (computed once):
    every frame's motion is what a reference made for that frame alone gives."""
    from m3e.codecs.prediction import MotionReference, camera_motion

    for size in (SIZE, (720, 480)):  # features at full and at half size
        pan = [view(picture("astronaut"), p / 20, "pan", size) for p in range(5)]
        kept = MotionReference(pan[0])
        for frame in [*pan[1:], pan[2], np.roll(pan[0], 7, axis=1)]:
            assert np.array_equal(kept.camera_motion(frame), camera_motion(pan[0], frame))
            assert np.array_equal(kept.estimate(frame), estimate_motion(pan[0], frame))
        assert kept.estimate(pan[4])[0, 2] != 0  # it does measure the pan


def test_knowledge_base_finds_by_text_and_keeps_keyframes() -> None:
    cat = view(picture("chelsea"), 0.0, "pan", SIZE)
    cup = view(picture("coffee"), 0.0, "pan", SIZE)
    kb = KnowledgeBase(SIZE, [_memory(-1, "a cat", cat), _memory(-2, "a cup", cup)], capacity=2)
    assert kb.nearest("a cat is meowing").key == -1 and kb.nearest("a cup and a phone").key == -2
    kb.add(0, "a cup", cup)
    assert kb.nearest("a cup").key == 0  # a decoded keyframe beats the exemplar on a tie
    kb.add(1, "x", cup)
    kb.add(2, "y", cup)
    assert kb.get(0) is None and kb.get(2) is not None  # bounded memory
    assert kb.get(BLANK) is not None and kb.get(-9) is None


def test_text_only_yields_a_picture_the_classifier_names_as_the_text_does() -> None:
    horse = view(picture("horse"), 0.0, "pan", SIZE)  # a silhouette: the classifier sees no cat
    kb = KnowledgeBase(SIZE, [_memory(-1, "a horse", horse)])
    classes = text_classes("a cat is meowing")
    assert classes and not shows(horse, classes)
    assert shows(generate(kb, "a cat is meowing"), classes)
    assert "porcupine" not in str(text_classes("a cup"))  # whole words only


def test_a_named_keyframe_is_guided_only_when_no_difference_follows() -> None:
    horse = view(picture("horse"), 0.0, "pan", SIZE)
    kb = KnowledgeBase(SIZE, [])
    kb.add(0, "a horse", horse)
    named = Prediction(0, IDENTITY)
    assert np.array_equal(generate(kb, "a cat is meowing", named), horse)  # V′ will correct it
    assert shows(generate(kb, "a cat is meowing", named, final=True), text_classes("a cat"))
