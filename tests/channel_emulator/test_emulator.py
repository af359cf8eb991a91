import asyncio
from collections.abc import AsyncIterator, Callable

import grpc
import numpy as np
import pytest

from channel_emulator.channel import ChannelEmulator, validate_settings
from channel_emulator.genie import GenieJudge
from channel_emulator.routes import Route, Routes
from channel_emulator.server import ControlService, LinkProxy
from m3e.wire import link_pb2 as pb
from m3e.wire import link_pb2_grpc as rpc
from m3e.wire.convert import burst_from_proto, burst_to_proto, feedback_to_proto, settings_to_proto
from m3e.wire.grpc_util import client_channel, create_server
from m3e.wire.messages import Burst, ChannelSettings, Feedback, FeedbackKind, Modality


def _header(direction: str = "") -> pb.Uplink:
    return pb.Uplink(
        header=pb.StreamHeader(
            session_id="s", width=320, height=240, fps=30, video_scheme="h265", direction=direction
        )
    )


def _routes(emu: ChannelEmulator, target: str, judge: GenieJudge | None = None) -> Routes:
    routes = Routes()
    routes[""] = Route(target, emu, judge or GenieJudge(emu.stats))
    return routes


def _burst(seq: int, n: int = 512) -> Burst:
    return Burst(
        "s",
        seq,
        seq / 30,
        Modality.VIDEO,
        "h265",
        "qpsk",
        0.5,
        10,
        np.ones(n, dtype=np.complex64),
        genie=b"clean reference",
    )


def test_apply_perturbs_symbols_with_the_set_snr_and_strips_the_genie() -> None:
    emu = ChannelEmulator(ChannelSettings(snr_db=10.0, fading="awgn"))
    stream = emu.open_stream()
    out = stream.apply(_burst(0, 200_000))
    assert out.genie == b""
    assert out.noise_var == pytest.approx(0.1)
    assert np.var(out.iq - 1) == pytest.approx(0.1, rel=0.02)
    assert emu.stats.bursts == stream.stats.bursts == 1 and emu.stats.symbols == 200_000


def test_streams_through_one_route_have_their_own_fades_and_air_time_and_its_settings() -> None:
    emu = ChannelEmulator(ChannelSettings(snr_db=40.0, fading="rayleigh", coherence=64, symbol_rate=1000.0))
    a, b = emu.open_stream(), emu.open_stream()
    ya, yb = a.apply(_burst(0, 4096)).iq, b.apply(_burst(0, 4096)).iq
    assert not np.allclose(np.abs(ya), np.abs(yb), rtol=0.1)  # independent realisations
    assert a.air_time(0.0, 500) == pytest.approx(0.5)
    assert b.air_time(0.0, 500) == pytest.approx(0.5)  # does not wait for a's symbols
    assert emu.stats.bursts == 2 and a.stats.bursts == b.stats.bursts == 1
    emu.configure(ChannelSettings(snr_db=0.0, fading="awgn"))  # reaches a live stream
    assert a.apply(_burst(1, 1000)).noise_var == pytest.approx(1.0)


def test_pacing_by_symbol_rate_and_delay() -> None:
    emu = ChannelEmulator(ChannelSettings(symbol_rate=1000.0, delay_ms=50.0))
    stream = emu.open_stream()
    assert stream.air_time(0.0, 500) == pytest.approx(0.55)  # 0.5 s on air + 50 ms
    assert stream.air_time(0.0, 500) == pytest.approx(1.05)  # waits for the first burst
    assert stream.air_time(10.0, 100) == pytest.approx(10.15)  # idle air: starts at once
    emu.configure(ChannelSettings(symbol_rate=1.0))
    stream.air_time(20.0, 10)
    assert stream.air_time(20.0, 10) is None  # more than the backlog limit: dropped


@pytest.mark.parametrize(
    "bad",
    [
        ChannelSettings(snr_db=float("nan")),
        ChannelSettings(fading="nakagami"),
        ChannelSettings(coherence=0),
        ChannelSettings(erasure_prob=2.0),
        ChannelSettings(delay_ms=-1.0),
    ],
)
def test_invalid_settings(bad: ChannelSettings) -> None:
    with pytest.raises(ValueError):
        validate_settings(bad)


class _RecordingReceiver(rpc.LinkServicer):
    """Downstream end for these tests: records every burst it gets and answers ``answer(burst)``
    (an ACK by default)."""

    def __init__(self, answer: Callable[[Burst], Feedback] | None = None) -> None:
        self.bursts: list[Burst] = []
        self.answer = answer or (lambda b: Feedback(b.session_id, b.seq, FeedbackKind.ACK))

    async def Stream(self, request_iterator: AsyncIterator[pb.Uplink], context) -> AsyncIterator[pb.Feedback]:  # type: ignore[no-untyped-def]
        async for msg in request_iterator:
            if msg.HasField("burst"):
                b = burst_from_proto(msg.burst)
                self.bursts.append(b)
                yield feedback_to_proto(self.answer(b))


async def test_proxy_rejects_malformed_bursts_and_the_stream_goes_on() -> None:
    downstream = _RecordingReceiver()
    rx_server, rx_port, _ = create_server(
        "127.0.0.1:0", [lambda s: rpc.add_LinkServicer_to_server(downstream, s)]
    )
    await rx_server.start()
    emu = ChannelEmulator(ChannelSettings(snr_db=30.0, fading="awgn"))
    server, port, _ = create_server(
        "127.0.0.1:0",
        [
            lambda s: rpc.add_LinkServicer_to_server(LinkProxy(_routes(emu, f"127.0.0.1:{rx_port}")), s),
            lambda s: rpc.add_ControlServicer_to_server(ControlService(_routes(emu, "")), s),
        ],
    )
    await server.start()
    try:
        bad = burst_to_proto(_burst(1))
        bad.iq = b"\0" * 13  # ragged

        async def uplink() -> AsyncIterator[pb.Uplink]:
            yield _header()
            yield pb.Uplink(burst=burst_to_proto(_burst(0)))
            yield pb.Uplink(burst=bad)
            yield pb.Uplink(burst=burst_to_proto(_burst(2)))

        async with client_channel(f"127.0.0.1:{port}") as ch:
            feedback = [m async for m in rpc.LinkStub(ch).Stream(uplink())]
            kinds = {m.seq: m.kind for m in feedback}
            assert kinds == {0: pb.Feedback.ACK, 1: pb.Feedback.REJECTED, 2: pb.Feedback.ACK}
            rejected = next(m for m in feedback if m.seq == 1)
            assert rejected.status_code == grpc.StatusCode.INVALID_ARGUMENT.value[0]
            assert [b.seq for b in downstream.bursts] == [0, 2]
            assert all(b.genie == b"" and b.noise_var > 0 for b in downstream.bursts)

            control = rpc.ControlStub(ch)
            stats = await control.Configure(settings_to_proto(ChannelSettings(snr_db=3.0)))
            assert stats.settings.snr_db == 3.0 and stats.rejected == 1 and stats.bursts == 2
            with pytest.raises(grpc.aio.AioRpcError) as err:
                await control.Configure(settings_to_proto(ChannelSettings(fading="nakagami")))
            assert err.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    finally:
        await server.stop(0)
        await rx_server.stop(0)


async def test_proxy_reports_an_unreachable_receiver() -> None:
    emu = ChannelEmulator(ChannelSettings())
    server, port, _ = create_server(
        "127.0.0.1:0", [lambda s: rpc.add_LinkServicer_to_server(LinkProxy(_routes(emu, "127.0.0.1:1")), s)]
    )
    await server.start()
    try:

        async def uplink() -> AsyncIterator[pb.Uplink]:
            yield _header()
            yield pb.Uplink(burst=burst_to_proto(_burst(0)))
            await asyncio.sleep(0.5)

        async with client_channel(f"127.0.0.1:{port}") as ch:
            with pytest.raises(grpc.aio.AioRpcError) as err:
                _ = [m async for m in rpc.LinkStub(ch).Stream(uplink())]
            assert err.value.code() == grpc.StatusCode.UNAVAILABLE
    finally:
        await server.stop(0)


async def test_a_relay_at_its_limit_refuses_the_next_stream_and_keeps_the_others() -> None:
    downstream = _RecordingReceiver()
    serve_downstream = [lambda s: rpc.add_LinkServicer_to_server(downstream, s)]
    rx_server, rx_port, _ = create_server("127.0.0.1:0", serve_downstream)
    await rx_server.start()
    emu = ChannelEmulator(ChannelSettings(snr_db=30.0, fading="awgn"))
    proxy = LinkProxy(_routes(emu, f"127.0.0.1:{rx_port}"), max_streams=1)
    server, port, _ = create_server("127.0.0.1:0", [lambda s: rpc.add_LinkServicer_to_server(proxy, s)])
    await server.start()
    second_done = asyncio.Event()

    async def first() -> AsyncIterator[pb.Uplink]:
        yield _header()
        yield pb.Uplink(burst=burst_to_proto(_burst(0)))
        await second_done.wait()  # still live while the second one asks
        yield pb.Uplink(burst=burst_to_proto(_burst(1)))

    async def second() -> AsyncIterator[pb.Uplink]:
        yield _header()
        yield pb.Uplink(burst=burst_to_proto(_burst(0)))

    try:
        async with client_channel(f"127.0.0.1:{port}") as ch:
            stub = rpc.LinkStub(ch)
            kept = asyncio.create_task(_collect(stub.Stream(first())))
            while proxy.live < 1:
                await asyncio.sleep(0.01)
            with pytest.raises(grpc.aio.AioRpcError) as err:
                _ = [m async for m in stub.Stream(second())]
            second_done.set()
            assert err.value.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
            assert "limit" in (err.value.details() or "")
            assert [m.kind for m in await kept] == [pb.Feedback.ACK, pb.Feedback.ACK]
            assert proxy.live == 0
    finally:
        await server.stop(0)
        await rx_server.stop(0)


async def _collect(call: AsyncIterator[pb.Feedback]) -> list[pb.Feedback]:
    return [m async for m in call]


def _text_burst(seq: int, attempt: int = 0, genie: str = "a cat is sitting on a sofa") -> Burst:
    return Burst(
        "s", seq, 0.0, Modality.TEXT, "m3e-text", "analog", 0.0, 3, np.ones(64, np.complex64),
        attempt=attempt, genie=genie.encode(),
    )  # fmt: skip


def _answer(kind: FeedbackKind, text: str, xi: float = 0.9) -> Feedback:
    return Feedback("s", 0, kind, xi=xi, decoded_text=text)


def test_judge_scores_decoded_text_and_leaves_the_decision_to_the_receiver() -> None:
    stats = ChannelEmulator(ChannelSettings()).stats
    judge = GenieJudge(stats)
    judge.remember(_text_burst(0))
    out = judge.judge(_answer(FeedbackKind.ACK, "an airplane is flying over a train"))
    assert out.kind == FeedbackKind.ACK and not out.from_emulator
    assert out.true_xi is not None and out.true_xi < 0.6
    assert stats.texts_judged == 1 and stats.true_damaged == 1 and stats.decisions_agreed == 0
    unknown = judge.judge(Feedback("s", 7, FeedbackKind.ACK, decoded_text="a cat"))
    assert unknown.true_xi is None  # no genie text kept for it


def test_genie_decides_by_true_xi_within_the_retry_limit() -> None:
    stats = ChannelEmulator(ChannelSettings()).stats
    judge = GenieJudge(stats, "genie", xi_threshold=0.6, max_retries=1)
    judge.remember(_text_burst(0))
    wrong = judge.judge(_answer(FeedbackKind.ACK, "an airplane is flying over a train"))
    assert wrong.kind == FeedbackKind.NACK and wrong.from_emulator
    judge.remember(_text_burst(0, attempt=1))
    assert judge.judge(_answer(FeedbackKind.ACK, "a dog")).kind == FeedbackKind.GIVE_UP  # limit reached
    right = judge.judge(_answer(FeedbackKind.NACK, "a cat is sitting on a sofa", xi=0.3))
    assert right.kind == FeedbackKind.ACK and right.true_xi == pytest.approx(1.0, abs=1e-5)
    assert stats.genie_nacks == 1 and stats.receiver_nacks == 1 and stats.retransmit_by == "genie"
    with pytest.raises(ValueError, match="retransmit_by"):
        GenieJudge(stats, "oracle")


def _wrong_then_right(b: Burst) -> Feedback:
    """Decodes every text burst wrongly until its third transmission."""
    text = "a cat is sitting on a sofa" if b.attempt >= 2 else "an airplane is flying over a train"
    return Feedback(b.session_id, b.seq, FeedbackKind.ACK, xi=0.9, decoded_text=text)


async def test_genie_mode_through_the_proxy_and_the_genie_never_reaches_the_receiver() -> None:
    downstream = _RecordingReceiver(_wrong_then_right)
    rx_server, rx_port, _ = create_server(
        "127.0.0.1:0", [lambda s: rpc.add_LinkServicer_to_server(downstream, s)]
    )
    await rx_server.start()
    emu = ChannelEmulator(ChannelSettings(snr_db=30.0, fading="awgn"))
    judge = GenieJudge(emu.stats, "genie", max_retries=2)
    server, port, _ = create_server(
        "127.0.0.1:0",
        [lambda s: rpc.add_LinkServicer_to_server(LinkProxy(_routes(emu, f"127.0.0.1:{rx_port}", judge)), s)],
    )
    await server.start()
    outgoing: asyncio.Queue[pb.Uplink | None] = asyncio.Queue()

    async def uplink() -> AsyncIterator[pb.Uplink]:
        while (m := await outgoing.get()) is not None:
            yield m

    try:
        outgoing.put_nowait(_header())
        outgoing.put_nowait(pb.Uplink(burst=burst_to_proto(_text_burst(0))))
        answers = []
        async with client_channel(f"127.0.0.1:{port}") as ch:
            async for fb in rpc.LinkStub(ch).Stream(uplink()):
                answers.append(fb)
                if fb.kind == pb.Feedback.NACK:  # the sender sends the sentence again
                    outgoing.put_nowait(pb.Uplink(burst=burst_to_proto(_text_burst(0, len(answers)))))
                else:
                    outgoing.put_nowait(None)
        assert [a.kind for a in answers] == [pb.Feedback.NACK, pb.Feedback.NACK, pb.Feedback.ACK]
        assert all(a.from_emulator and a.has_true_xi for a in answers)
        assert answers[0].true_xi < 0.6 and answers[-1].true_xi > 0.99
        assert [b.attempt for b in downstream.bursts] == [0, 1, 2]
        assert all(b.genie == b"" for b in downstream.bursts)
        assert emu.stats.genie_nacks == 2 and emu.stats.texts_judged == 3
    finally:
        await server.stop(0)
        await rx_server.stop(0)


async def test_each_direction_has_its_own_receiver_and_channel() -> None:
    """A call: "a-b" goes to B at 30 dB, "b-a" to A at 0 dB; Control addresses each by name."""
    receivers = {"a-b": _RecordingReceiver(), "b-a": _RecordingReceiver()}
    servers, routes = [], Routes()
    for name, snr in (("a-b", 30.0), ("b-a", 0.0)):
        rx_server, rx_port, _ = create_server(
            "127.0.0.1:0", [lambda s, r=receivers[name]: rpc.add_LinkServicer_to_server(r, s)]
        )
        await rx_server.start()
        servers.append(rx_server)
        emu = ChannelEmulator(ChannelSettings(snr_db=snr, fading="awgn"), direction=name)
        routes[name] = Route(f"127.0.0.1:{rx_port}", emu, GenieJudge(emu.stats))
    server, port, _ = create_server(
        "127.0.0.1:0",
        [
            lambda s: rpc.add_LinkServicer_to_server(LinkProxy(routes), s),
            lambda s: rpc.add_ControlServicer_to_server(ControlService(routes), s),
        ],
    )
    await server.start()
    servers.append(server)
    try:
        async with client_channel(f"127.0.0.1:{port}") as ch:
            for name in routes:

                async def uplink(direction: str = name) -> AsyncIterator[pb.Uplink]:
                    yield _header(direction)
                    yield pb.Uplink(burst=burst_to_proto(_burst(0)))

                assert [m.kind async for m in rpc.LinkStub(ch).Stream(uplink())] == [pb.Feedback.ACK]
            (to_b,), (to_a,) = receivers["a-b"].bursts, receivers["b-a"].bursts
            assert to_b.noise_var == pytest.approx(1e-3) and to_a.noise_var == pytest.approx(1.0)

            control = rpc.ControlStub(ch)
            stats = await control.Configure(settings_to_proto(ChannelSettings(snr_db=5.0, direction="b-a")))
            assert stats.settings.snr_db == 5.0 and stats.settings.direction == "b-a"
            other = await control.Stats(pb.StatsRequest(direction="a-b"))
            assert other.settings.snr_db == 30.0 and other.bursts == 1

            async def nowhere() -> AsyncIterator[pb.Uplink]:
                yield _header("c-d")

            with pytest.raises(grpc.aio.AioRpcError) as err:
                _ = [m async for m in rpc.LinkStub(ch).Stream(nowhere())]
            assert err.value.code() == grpc.StatusCode.INVALID_ARGUMENT and "a-b" in (
                err.value.details() or ""
            )
            with pytest.raises(grpc.aio.AioRpcError) as err:
                await control.Stats(pb.StatsRequest())  # this emulator has no default route
            assert err.value.code() == grpc.StatusCode.INVALID_ARGUMENT

            # a party joining from elsewhere: a route added while the emulator runs
            added = await control.SetRoute(pb.RouteRequest(direction="c-d", target=routes["a-b"].target))
            assert added.settings.direction == "c-d"

            async def to_d() -> AsyncIterator[pb.Uplink]:
                yield _header("c-d")
                yield pb.Uplink(burst=burst_to_proto(_burst(5)))

            assert [m.kind async for m in rpc.LinkStub(ch).Stream(to_d())] == [pb.Feedback.ACK]
            assert [b.seq for b in receivers["a-b"].bursts] == [0, 5]
            with pytest.raises(grpc.aio.AioRpcError) as err:
                await control.SetRoute(pb.RouteRequest(direction="e-f", target="nowhere"))
            assert err.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    finally:
        for s in servers:
            await s.stop(0)


async def test_downlink_queue_is_bounded_in_bytes_and_age() -> None:
    from channel_emulator.queue import ByteBudget, DownlinkQueue

    dropped: list[tuple[int, str]] = []
    budget = ByteBudget(limit=250)
    q: DownlinkQueue[int] = DownlinkQueue(lambda item, why: dropped.append((item, why)), budget, 200, 0.05)
    now = asyncio.get_running_loop().time()
    assert q.put(now, 1, 100) and q.put(now, 2, 100)
    assert not q.put(now, 3, 100)  # over the stream's 200 bytes: refused
    other: DownlinkQueue[int] = DownlinkQueue(lambda *_: None, budget, 200, 0.05)
    assert not other.put(now, 9, 100)  # over the relay's 250 bytes
    assert await q.get() == 1 and q.bytes == 100
    await asyncio.sleep(0.1)
    assert q.put(now + 0.1, 4, 100, droppable=False)  # the old one expires first: room again
    assert dropped and dropped[0][0] == 2 and "waited" in dropped[0][1]
    q.close()
    assert await q.get() == 4 and await q.get() is None
    assert q.bytes == 0 and budget.used == 0


class _StalledReceiver(rpc.LinkServicer):
    """A receiver that does not read for ``stall_s`` (a slow decoder, a flood)."""

    def __init__(self, stall_s: float) -> None:
        self.stall_s = stall_s
        self.received = 0

    async def Stream(self, request_iterator: AsyncIterator[pb.Uplink], context) -> AsyncIterator[pb.Feedback]:  # type: ignore[no-untyped-def]
        await asyncio.sleep(self.stall_s)
        async for msg in request_iterator:
            if msg.HasField("burst"):
                self.received += 1
                yield feedback_to_proto(Feedback("s", msg.burst.seq, FeedbackKind.ACK))


async def test_a_flood_toward_a_stalled_receiver_is_dropped_with_feedback() -> None:
    """At symbol rate 0 the relay queued everything (1 GB took 1 GB); now each stream's queue
    is bounded and the sender hears of every burst dropped."""
    downstream = _StalledReceiver(1.5)
    rx_server, rx_port, _ = create_server(
        "127.0.0.1:0", [lambda s: rpc.add_LinkServicer_to_server(downstream, s)]
    )
    await rx_server.start()
    emu = ChannelEmulator(ChannelSettings(snr_db=30.0, fading="awgn"))
    proxy = LinkProxy(_routes(emu, f"127.0.0.1:{rx_port}"), queue_bytes=2 * 2**20, queue_age_s=0.5)
    server, port, _ = create_server("127.0.0.1:0", [lambda s: rpc.add_LinkServicer_to_server(proxy, s)])
    await server.start()
    n = 60  # 60 bursts of 0.5 MB
    try:

        async def uplink() -> AsyncIterator[pb.Uplink]:
            yield _header()
            for seq in range(n):
                yield pb.Uplink(burst=burst_to_proto(_burst(seq, 65_536)))

        async with client_channel(f"127.0.0.1:{port}") as ch:
            feedback = [m async for m in rpc.LinkStub(ch).Stream(uplink())]
        kinds = [m.kind for m in feedback]
        given_up = [m for m in feedback if m.kind == pb.Feedback.GIVE_UP]
        assert len(feedback) == n  # every burst answered: delivered (ACK) or dropped (GIVE_UP)
        assert given_up and kinds.count(pb.Feedback.ACK) == downstream.received
        assert all(m.status_code == grpc.StatusCode.RESOURCE_EXHAUSTED.value[0] for m in given_up)
        assert all("relay" in m.reason for m in given_up)
        assert emu.stats.dropped == len(given_up) and proxy.budget.used == 0
    finally:
        await server.stop(0)
        await rx_server.stop(0)


async def test_streams_the_relay_cuts_off_end_with_a_proper_code() -> None:
    """No header first, an unknown or a 16 KB direction, bytes that do not parse, bad header
    fields: INVALID_ARGUMENT or FAILED_PRECONDITION with a short message, never INTERNAL,
    UNKNOWN or RESOURCE_EXHAUSTED, also while the client is still sending."""
    emu = ChannelEmulator(ChannelSettings())
    server, port, _ = create_server(
        "127.0.0.1:0", [lambda s: rpc.add_LinkServicer_to_server(LinkProxy(_routes(emu, "127.0.0.1:1")), s)]
    )
    await server.start()
    big = pb.Uplink(burst=burst_to_proto(_burst(0, 100_000))).SerializeToString()

    def header(**fields: object) -> bytes:
        h = _header()
        for k, v in fields.items():
            setattr(h.header, k, v)
        return h.SerializeToString()

    cases = {
        "no header": ([big] * 20, grpc.StatusCode.FAILED_PRECONDITION),
        "unknown direction": ([header(direction="nowhere"), *[big] * 20], grpc.StatusCode.INVALID_ARGUMENT),
        "16 KB direction": ([header(direction="d" * 16_384)], grpc.StatusCode.INVALID_ARGUMENT),
        "garbage": ([b"\xff" * 64], grpc.StatusCode.INVALID_ARGUMENT),
        "garbage after the header": ([header(), b"\xff" * 64], grpc.StatusCode.INVALID_ARGUMENT),
        "channels 2^32-1": (
            [header(audio_scheme="aac", sample_rate=48000, audio_channels=2**32 - 1), big],
            grpc.StatusCode.INVALID_ARGUMENT,
        ),
    }
    try:
        async with client_channel(f"127.0.0.1:{port}") as ch:
            raw = ch.stream_stream(
                "/m3e.v1.Link/Stream", request_serializer=lambda b: b, response_deserializer=lambda b: b
            )
            for name, (messages, code) in cases.items():
                for _ in range(3):

                    async def uplink(ms: list[bytes] = messages) -> AsyncIterator[bytes]:
                        for m in ms:
                            yield m

                    with pytest.raises(grpc.aio.AioRpcError) as err:
                        _ = [m async for m in raw(uplink())]
                    assert err.value.code() == code, (name, err.value.code(), err.value.details())
                    assert len(err.value.details() or "") <= 200, name
    finally:
        await server.stop(0)
