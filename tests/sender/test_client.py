"""Sender: the stream header its schemes make, bad configurations, and what it does with
each kind of feedback (the streaming itself is tested end to end in tests/e2e)."""

import asyncio
import time

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


async def test_lost_feedback_is_resent_by_the_timer_then_given_up() -> None:
    """A lost NACK meant no resend (498 of 600 frames froze at feedback loss 0.5): a
    transmission unanswered for the timer's RTO goes again with the next redundancy version,
    up to the retry limit, then it is given up here."""
    config = SenderConfig(
        source="testsrc", media=MEDIA, video_scheme="h265", feedback_timeout_ms=50, max_retries=2
    )
    sender = Sender(config)
    retransmit: asyncio.Queue[Burst] = asyncio.Queue()
    acked: list[int] = []
    burst = _sent(sender, acked)
    sender._unacked[burst.seq].sent_at = sender._unacked[burst.seq].first_sent = time.monotonic()
    timer = asyncio.create_task(sender._harq_timer(retransmit))
    try:
        again = await asyncio.wait_for(retransmit.get(), 1.0)
        assert (again.seq, again.attempt) == (burst.seq, 1) and again.rv != burst.rv
        assert sender.stats.timeouts == 1
        entry = sender._unacked[burst.seq]
        assert entry.queued  # no second copy while this one waits to go
        entry.queued, entry.sent_at = False, time.monotonic()  # sent; its answer is lost too
        assert (await asyncio.wait_for(retransmit.get(), 1.0)).attempt == 2
        entry.queued, entry.sent_at = False, time.monotonic()
        assert sender.timer.rto == pytest.approx(0.2)  # doubled after each expiry
        await asyncio.sleep(0.5)
        assert burst.seq not in sender._unacked and sender.stats.unanswered == 1  # given up
        assert retransmit.empty() and sender.stats.timeouts == 2
    finally:
        timer.cancel()


def test_feedback_timer_follows_the_feedback_delay() -> None:
    from sender.client import RTO_INITIAL_S, RTO_MAX_S, RTO_MIN_S, FeedbackTimer

    timer = FeedbackTimer()
    assert timer.rto == RTO_INITIAL_S
    for _ in range(20):
        timer.sample(0.03)
    assert timer.rto == RTO_MIN_S
    for _ in range(20):
        timer.sample(0.4)
    assert 0.4 < timer.rto < 1.0
    for _ in range(50):
        timer.sample(5.0)
    assert timer.rto == RTO_MAX_S
    assert FeedbackTimer(fixed_s=0.25).rto == 0.25


def test_the_sender_says_when_too_little_was_delivered() -> None:
    """What counts is what the receiver played with its own picture (its latest feedback): a
    frame acknowledged after its play-out time froze all the same."""
    sender = Sender(SenderConfig(source="testsrc", media=MEDIA, video_scheme="h265", min_delivered=0.5))
    sender.stats.source_frames = 300
    sender.stats.video_frames = sender.stats.video_delivered = 300  # every payload acknowledged
    sender.stats.last_receiver = {"frames": 299.0, "frames_frozen": 246.0}
    line = sender.shortfall()
    assert line is not None and "18%" in line and "53 of 300" in line and "\n" not in line
    sender.stats.last_receiver = {"frames": 290.0, "frames_frozen": 10.0}
    assert sender.shortfall() is None and sender.stats.delivered_fraction == pytest.approx(280 / 300)
    # a low-latency M3E receiver held its last picture while the stream stayed open
    sender.stats.last_receiver = {"frames": 312.0, "frames_frozen": 0.0}
    assert sender.stats.frames_delivered == 300 and sender.stats.delivered_fraction == 1.0


def test_a_late_ack_after_the_timer_gave_up_still_counts_as_acknowledged() -> None:
    sender = Sender(SenderConfig(source="testsrc", media=MEDIA, video_scheme="h265"))
    retransmit: asyncio.Queue[Burst] = asyncio.Queue()
    sender.stats.video_frames = 1
    sender._video_unconfirmed[7] = None
    sender._on_feedback(Feedback("s", 7, FeedbackKind.ACK), retransmit)
    sender._on_feedback(Feedback("s", 7, FeedbackKind.ACK), retransmit)  # a duplicate answer
    assert sender.stats.video_delivered == 1


async def test_a_refused_stream_is_one_line_not_a_reconnect_loop() -> None:
    """RESOURCE_EXHAUSTED / INVALID_ARGUMENT from the relay or the receiver are final."""
    import grpc

    from m3e.wire import link_pb2_grpc as rpc
    from m3e.wire.grpc_util import create_server

    class Refusing(rpc.LinkServicer):
        async def Stream(self, request_iterator, context):  # type: ignore[no-untyped-def]
            await anext(aiter(request_iterator))
            await context.abort(grpc.StatusCode.RESOURCE_EXHAUSTED, "this receiver has 16 live sessions")
            yield  # pragma: no cover

    server, port, _ = create_server("127.0.0.1:0", [lambda s: rpc.add_LinkServicer_to_server(Refusing(), s)])
    await server.start()
    try:
        sender = Sender(
            SenderConfig(target=f"127.0.0.1:{port}", source="testsrc", media=MEDIA, video_scheme="h265")
        )
        with pytest.raises(ConnectionError, match="RESOURCE_EXHAUSTED: this receiver has 16 live sessions"):
            await asyncio.wait_for(sender.run(), 30)
        # one reconnect at most: when the server aborts while a client write is in flight,
        # grpc.aio can report INTERNAL ("Internal error from Core") instead of the server's
        # status (grpc/grpc#36066), which the sender must treat as a dropped link; a loop would
        # reconnect with backoff until the 30 s were up
        assert sender.stats.reconnects <= 1
    finally:
        await server.stop(0)


def _drain(q: asyncio.Queue[Burst]) -> list[Burst]:
    out = []
    while not q.empty():
        out.append(q.get_nowait())
    return out


def test_an_answer_to_a_later_transmission_means_earlier_answers_were_lost() -> None:
    """Answers come back in order: the answer to burst 2 while burst 1's is missing sends burst 1
    again at once (in time for its play-out), and a lost video payload asks for a keyframe."""
    sender = Sender(SenderConfig(source="testsrc", media=MEDIA, video_scheme="h265"))
    retransmit: asyncio.Queue[Burst] = asyncio.Queue()
    acked: list[int] = []
    first, second = _sent(sender, acked), _sent(sender, acked)
    for entry, t in ((sender._unacked[first.seq], 1.0), (sender._unacked[second.seq], 2.0)):
        entry.sent_at = t
        entry.outstanding.append(t)
    sender._on_feedback(Feedback("s", second.seq, FeedbackKind.ACK), retransmit)
    again = retransmit.get_nowait()
    assert (again.seq, again.attempt) == (first.seq, 1) and sender.stats.inferred_lost == 1
    entry = sender._unacked[first.seq]
    entry.queued, entry.sent_at = False, 3.5
    entry.outstanding.append(3.5)
    # the answer to a burst's first transmission (sent at 3.0) does not make the copy sent
    # at 3.5 lost... the answer to its second (sent at 4.0) does
    third = _sent(sender, acked)
    sender._unacked[third.seq].outstanding.extend([3.0, 4.0])
    sender._unacked[third.seq].sent_at = 4.0
    sender._on_feedback(Feedback("s", third.seq, FeedbackKind.NACK), retransmit)
    assert [b.seq for b in _drain(retransmit)] == [third.seq]  # NACKed: sent again, nothing else
    sender._on_feedback(Feedback("s", third.seq, FeedbackKind.NACK), retransmit)
    assert first.seq in [b.seq for b in _drain(retransmit)]
    # the relay's own answers (a burst it dropped) come before the receiver's: no inference
    fourth = _sent(sender, acked)
    sender._unacked[fourth.seq].outstanding.append(9.0)
    entry.queued, entry.sent_at = False, 5.0
    entry.outstanding.append(5.0)
    sender._on_feedback(Feedback("s", fourth.seq, FeedbackKind.GIVE_UP, status_code=8), retransmit)
    assert retransmit.empty()
    video = sender.encoders[0]
    assert video._force_keyframe.is_set()  # type: ignore[attr-defined]


async def test_the_timer_resends_one_transmission_per_rto_until_an_answer() -> None:
    """A stalled receiver (every answer late) is not flooded with copies of everything in flight."""
    config = SenderConfig(source="testsrc", media=MEDIA, video_scheme="h265", feedback_timeout_ms=50)
    sender = Sender(config)
    retransmit: asyncio.Queue[Burst] = asyncio.Queue()
    acked: list[int] = []
    now = time.monotonic()
    for _ in range(5):
        entry = sender._unacked[_sent(sender, acked).seq]
        entry.sent_at = entry.first_sent = now
    timer = asyncio.create_task(sender._harq_timer(retransmit))
    try:
        await asyncio.sleep(0.12)
        assert len(_drain(retransmit)) == 1 and sender.timer.backoff == 2
    finally:
        timer.cancel()


def test_a_keyframes_semantics_carry_the_keyframes_capture_time() -> None:
    """The sentence is ready seconds after its keyframe; its latency (and a benchmark's match
    of the keyframe to the camera frame) count from the camera, not from recognition."""
    from m3e.semantics.extractor import KeyframeSemantics

    sender = Sender(SenderConfig(source="testsrc", media=MEDIA, video_scheme="m3e", text_scheme="json"))
    got: list[tuple[int, float]] = []

    class Recording:
        def keyframe(self, k: KeyframeSemantics, index: int, captured: float) -> None:
            got.append((k.index, captured))

    sender.encoders = [Recording()]  # type: ignore[list-item]
    sender._keyframe_captured[30] = 1000.0  # what the producer saw when frame 30 became a keyframe
    sender._on_keyframe(KeyframeSemantics(30, 1.0, {}, "a cat", ""))
    sender._on_keyframe(KeyframeSemantics(60, 2.0, {}, "a dog", ""))  # not seen: now
    assert got[0] == (30, 1000.0) and abs(got[1][1] - time.time()) < 5
    assert 30 not in sender._keyframe_captured
