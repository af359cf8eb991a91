"""Sender: the stream header its schemes make, bad configurations, and what it does with
each kind of feedback (the streaming itself is tested end to end in tests/e2e)."""

import asyncio

import pytest

from m3e.media.sources import SourceConfig
from m3e.schemes.base import Outgoing
from m3e.wire.messages import Burst, Feedback, FeedbackKind, Modality
from sender.client import Sender, _Unacked
from sender.config import SenderConfig

MEDIA = SourceConfig(width=96, height=64, duration=0.2)


def test_header_of_a_traditional_stream() -> None:
    sender = Sender(SenderConfig(source="testsrc", media=MEDIA, video_scheme="jpeg", audio_scheme="opus"))
    h = sender.header
    assert (h.video_scheme, h.audio_scheme, h.text_scheme) == ("jpeg", "opus", "")
    assert (h.sample_rate, h.audio_channels) == (
        MEDIA.sample_rate,
        MEDIA.channels,
    ) and h.audio_config is not None


def test_m3e_brings_its_text_and_audio_schemes() -> None:
    sender = Sender(SenderConfig(source="testsrc", media=MEDIA, video_scheme="m3e", text_scheme="json"))
    h = sender.header
    assert (h.video_scheme, h.audio_scheme, h.text_scheme) == ("m3e", "m3e-audio", "m3e-text")
    assert (h.sample_rate, h.audio_channels) == (16000, 1)
    assert sender.config.text_scheme == "json"  # the config is not rewritten


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"video_scheme": "h265", "low_latency": True}, "--low-latency needs --scheme m3e"),
        ({"video_scheme": "m3e-no-diff", "low_latency": True}, "--low-latency needs --scheme m3e"),
        ({"video_scheme": "vp9"}, "unknown video scheme 'vp9'"),
        ({"video_scheme": "h265", "semantics": True, "text_scheme": "morse"}, "unknown text scheme"),
    ],
)
def test_bad_configurations(fields: dict[str, object], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        Sender(SenderConfig(source="testsrc", media=MEDIA, **fields))  # type: ignore[arg-type]


def _sent(sender: Sender, acked: list[int]) -> Burst:
    out = Outgoing(Modality.VIDEO, "h265", 0.0, b"x" * 50, 0.0, on_ack=lambda: acked.append(1))
    burst = sender.bursts.burst(out)
    sender._unacked[burst.seq] = _Unacked(burst, out.data, out.coding)
    assert out.on_ack is not None
    sender._on_ack[burst.seq] = out.on_ack
    return burst


def test_feedback_ack_nack_give_up() -> None:
    sender = Sender(SenderConfig(source="testsrc", media=MEDIA, video_scheme="h265"))
    retransmit: asyncio.Queue[Burst] = asyncio.Queue()
    acked: list[int] = []
    burst = _sent(sender, acked)
    sender._on_feedback(Feedback("s", burst.seq, FeedbackKind.NACK), retransmit)
    again = retransmit.get_nowait()
    assert (again.seq, again.attempt) == (burst.seq, 1) and sender.stats.retransmissions == 1
    sender._on_feedback(Feedback("s", burst.seq, FeedbackKind.ACK), retransmit)
    assert acked == [1] and burst.seq not in sender._unacked  # the encoder learns it arrived
    lost = _sent(sender, acked)
    sender._on_feedback(Feedback("s", lost.seq, FeedbackKind.GIVE_UP), retransmit)
    sender._on_feedback(Feedback("s", lost.seq, FeedbackKind.ACK), retransmit)  # late: ignored
    assert acked == [1] and sender.stats.given_up == 1 and retransmit.empty()
