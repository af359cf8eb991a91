import numpy as np
import pytest
from skimage.metrics import structural_similarity

from m3e.codecs.m3e_keyframe import KeyframeMessage, KeyframeReceiver, KeyframeSender
from m3e.codecs.prediction import Memory, embed, generate, shows, text_classes
from m3e.media.offline import picture, view

SIZE = (320, 240)


@pytest.fixture(scope="module")
def exemplars() -> list[Memory]:
    pictures = {"a clock": "clock", "a person and a ball": "coins"}
    return [
        Memory(-1 - i, text, embed([text])[0], view(picture(name), 0.0, "pan", SIZE))
        for i, (text, name) in enumerate(pictures.items())
    ]


def _ssim(a: np.ndarray, b: np.ndarray) -> float:
    return float(structural_similarity(a, b, channel_axis=2))


def test_both_ends_rebuild_the_same_keyframe_within_the_budget(exemplars: list[Memory]) -> None:
    sender = KeyframeSender("m3e", SIZE, exemplars=exemplars)
    receiver = KeyframeReceiver("m3e", SIZE, exemplars=exemplars)
    frame = view(picture("coffee"), 0.0, "pan", SIZE)
    message, expected = sender.encode(frame, "a cup", budget_bytes=1500)
    assert len(message.side) == 12 and 0 < len(message.difference) <= 1500
    rebuilt = receiver.decode(message)
    assert np.array_equal(rebuilt, expected)
    assert _ssim(frame, rebuilt) > 0.6


def test_a_scene_seen_before_costs_almost_nothing(exemplars: list[Memory]) -> None:
    sender = KeyframeSender("m3e", SIZE, exemplars=exemplars)
    receiver = KeyframeReceiver("m3e", SIZE, exemplars=exemplars)
    first = view(picture("chelsea"), 0.0, "pan", SIZE)
    message, expected = sender.encode(first, "a cat", budget_bytes=6000)
    sender.remember(0, "a cat", expected)
    receiver.remember(0, "a cat", receiver.decode(message))
    later = view(picture("chelsea"), 0.3, "pan", SIZE)  # the camera moved on
    message, expected = sender.encode(later, "a cat is meowing", budget_bytes=0)
    assert len(message.side) + len(message.difference) == 12  # the reference and its motion
    assert _ssim(later, receiver.decode(message)) > 0.75


def test_lost_or_damaged_differences_leave_the_text_generated_keyframe(exemplars: list[Memory]) -> None:
    sender = KeyframeSender("m3e", SIZE, exemplars=exemplars)
    receiver = KeyframeReceiver("m3e", SIZE, exemplars=exemplars)
    frame = view(picture("coffee"), 0.0, "pan", SIZE)
    message, _ = sender.encode(frame, "a cup", budget_bytes=1500)
    without = receiver.decode(KeyframeMessage(message.text, message.side, b""))
    damaged = receiver.decode(KeyframeMessage(message.text, message.side, b"\x09" + message.difference[1:]))
    no_side = receiver.decode(KeyframeMessage(message.text, b"\x01\x02", b"garbage"))
    assert np.array_equal(without, damaged)
    assert without.shape == no_side.shape == frame.shape


def test_text_only_shows_what_the_text_says(exemplars: list[Memory]) -> None:
    receiver = KeyframeReceiver("m3e-text-only", SIZE, exemplars=exemplars)
    image = receiver.decode(KeyframeMessage("a cat is meowing", b"", b""))
    assert shows(image, text_classes("a cat is meowing"))
    assert np.array_equal(image, generate(receiver.kb, "a cat is meowing"))
    with pytest.raises(ValueError, match="unknown M3E scheme"):
        KeyframeSender("m3e-plus", SIZE, exemplars=exemplars)
