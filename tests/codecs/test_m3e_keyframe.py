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


def test_picture_refresh_keeps_to_its_rate_and_level() -> None:
    """A new picture between cuts only when the motion leaves at least ``level`` unshown, and
    on average within ``kbps`` (at most one second's worth saved up)."""
    from m3e.codecs.m3e_keyframe import PictureRefresh

    policy = PictureRefresh(kbps=4.0, level=6.0)
    assert not policy.wants(5.9, 0.0)  # motion shows it well enough
    assert policy.wants(6.0, 0.1)
    policy.spent(1000, 0.1)  # 8000 bits: two seconds at 4 kbit/s (0.1 s saved before)
    assert not policy.wants(50.0, 1.0) and not policy.wants(50.0, 1.95)
    assert policy.wants(50.0, 2.05)
    sent, t = 0, 2.2
    while t < 62.2:  # a minute of frames that all want a picture, 10 a second
        if policy.wants(50.0, t):
            policy.spent(500, t)
            sent += 500
        t += 0.1
    assert 8 * sent / 60 <= 4000 * 1.1  # the rate, give or take one picture
    assert not PictureRefresh(kbps=0.0).wants(99.0, 0.0)  # off


def test_low_latency_sends_a_new_picture_when_motion_cannot_show_the_change() -> None:
    """A talking face or a moving hand, not a cut: the sender (low latency) sends a new picture
    within its refresh rate; with the rate at 0, motion only."""
    import time

    from m3e.media.sources import SourceConfig
    from m3e.schemes.base import EncoderOptions
    from m3e.schemes.m3e_video import M3EVideoEncoder
    from m3e.wire.messages import Modality

    still = view(picture("astronaut"), 0.0, "pan", SIZE)
    changed = still.copy()
    changed[60:180, 100:220] = 255 - changed[60:180, 100:220]  # something moved inside, camera still
    # the pictures, then the motion of a still camera once (the same warp is not sent again)
    for kbps, pictures in ((4.0, 2), (0.0, 1)):
        sent = []
        options = EncoderOptions(SourceConfig(*SIZE), low_latency=True, m3e_refresh_kbps=kbps)
        encoder = M3EVideoEncoder("m3e", options, sent.append)
        encoder.open()
        encoder._picture_or_motion(still, 0.0, True, time.time())
        for i in range(1, 4):
            encoder._picture_or_motion(changed, i / 10, False, time.time())
        encoder.close()
        assert all(o.modality == Modality.VIDEO for o in sent) and len(sent) == pictures + 1
        assert sum(o.keyframe for o in sent) == pictures, kbps
        assert sent[1].keyframe == (pictures == 2) and len(sent[1].data) <= 700 + 64
