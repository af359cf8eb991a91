"""The channel emulator: a transparent gRPC proxy that is the physical channel.

Every burst's symbols go through ``BlockFadingChannel`` (y = h·x + w, paper eq 6–7), take
``n / symbol_rate`` seconds on air one after another plus the propagation delay, and reach
the receiver with the noise variance attached (the receiver's SNR knowledge) and the genie
reference stripped. Feedback travels back with its own delay and loss. The emulator never
decodes a payload. ``Control`` changes the channel while streams run.

One emulator can carry several directions (a call: "a-b" and "b-a"): each route has its own
target, channel and statistics, picked by the stream header's ``direction`` and addressed in
``Control`` by the same name; "" is the default route (``--target``).

Semantic texts (m3e-text) carry the sender's clean sentence in the genie field: the emulator
keeps it, scores the receiver's decoded text against it (true ξ, eq 9: texts only) and, with
``retransmit_by="genie"``, makes the ACK/NACK decision itself (the paper's simulation).
"""

from __future__ import annotations

import asyncio
import collections
import dataclasses
import logging
import math
import threading
import time
from collections.abc import AsyncIterator

import grpc
import numpy as np

from m3e.phy.channels import FADINGS, BlockFadingChannel
from m3e.wire import link_pb2 as pb
from m3e.wire import link_pb2_grpc as rpc
from m3e.wire.convert import (
    burst_from_proto,
    burst_to_proto,
    channel_stats_to_proto,
    feedback_from_proto,
    feedback_to_proto,
    settings_from_proto,
)
from m3e.wire.grpc_util import TlsFiles, client_channel, create_server, set_serving
from m3e.wire.messages import Burst, ChannelSettings, ChannelStats, Feedback, FeedbackKind, Modality

log = logging.getLogger("m3e.relay")
MAX_BACKLOG_S = 2.0  # a burst that would wait longer than this for the air is dropped


def validate_settings(s: ChannelSettings) -> None:
    """Raise ValueError (one line) for a setting the channel cannot take."""
    if s.snr_db is not None and not math.isfinite(s.snr_db):
        raise ValueError(f"snr_db must be finite, got {s.snr_db}")
    if s.fading is not None and s.fading not in FADINGS:
        raise ValueError(f"unknown fading {s.fading!r}; expected one of {list(FADINGS)}")
    if s.coherence is not None and s.coherence < 1:
        raise ValueError("coherence must be >= 1 symbol")
    for name in ("k_factor", "symbol_rate", "delay_ms"):
        v = getattr(s, name)
        if v is not None and not (math.isfinite(v) and v >= 0):
            raise ValueError(f"{name} must be finite and >= 0, got {v}")
    for name in ("erasure_prob", "feedback_loss"):
        v = getattr(s, name)
        if v is not None and not 0 <= v <= 1:
            raise ValueError(f"{name} must lie in [0, 1], got {v}")


class ChannelEmulator:
    """Channel state shared by every stream through this emulator."""

    def __init__(self, settings: ChannelSettings, seed: int = 0, direction: str = "") -> None:
        full = ChannelSettings(
            snr_db=20.0,
            fading="rayleigh",
            coherence=1024,
            k_factor=0.0,
            symbol_rate=0.0,
            delay_ms=0.0,
            erasure_prob=0.0,
            feedback_loss=0.0,
            direction=direction,
        )
        self.settings = full
        self.stats = ChannelStats(settings=full)
        self._seed = seed
        self._rng = np.random.default_rng(seed + 1)
        self._air_free = 0.0
        self._recent: collections.deque[tuple[float, int]] = collections.deque()
        self.configure(settings)

    def configure(self, update: ChannelSettings) -> ChannelStats:
        validate_settings(update)
        changes = {k: v for k, v in dataclasses.asdict(update).items() if v is not None and k != "direction"}
        self.settings = dataclasses.replace(self.settings, **changes)
        s = self.settings
        self._seed += 1
        self.channel = BlockFadingChannel(
            str(s.fading),
            coherence=int(s.coherence or 1),
            k_factor=float(s.k_factor or 0),
            erasure_prob=float(s.erasure_prob or 0),
            seed=self._seed,
        )
        if changes:
            log.info("channel: %s", ", ".join(f"{k}={v}" for k, v in changes.items()))
        return self.snapshot()

    def snapshot(self) -> ChannelStats:
        now = time.monotonic()
        while self._recent and self._recent[0][0] < now - 5.0:
            self._recent.popleft()
        span = max(1.0, now - self._recent[0][0]) if self._recent else 1.0
        self.stats.symbols_per_s = sum(n for _, n in self._recent) / span
        self.stats.settings = self.settings
        return dataclasses.replace(self.stats)

    def apply(self, burst: Burst) -> Burst:
        """The channel acting on one burst: new symbols, noise variance, genie removed."""
        out = self.channel(burst.iq, float(self.settings.snr_db or 0.0))
        erased_blocks = int(np.count_nonzero(out.erased[:: self.channel.coherence]))
        self.stats.erased_blocks += erased_blocks
        self.stats.bursts += 1
        self.stats.symbols += burst.iq.shape[0]
        self._recent.append((time.monotonic(), burst.iq.shape[0]))
        return dataclasses.replace(burst, iq=out.y, noise_var=out.no, genie=b"")

    def air_time(self, loop_now: float, n_symbols: int) -> float | None:
        """When a burst of n symbols has fully arrived (loop clock), or None to drop it."""
        rate = float(self.settings.symbol_rate or 0.0)
        start = max(loop_now, self._air_free)
        if start - loop_now > MAX_BACKLOG_S:
            return None
        self._air_free = start + (n_symbols / rate if rate > 0 else 0.0)
        return self._air_free + float(self.settings.delay_ms or 0.0) / 1000

    def feedback_delay(self) -> float | None:
        """Seconds until feedback arrives upstream, or None when it is lost."""
        if self._rng.random() < float(self.settings.feedback_loss or 0.0):
            self.stats.feedback_dropped += 1
            return None
        self.stats.feedback_forwarded += 1
        return float(self.settings.delay_ms or 0.0) / 1000


def _load_sentence_encoder() -> None:
    from m3e.semantics.similarity import sentence_encoder

    sentence_encoder()


class GenieJudge:
    """True ξ of every decoded sentence against the sender's genie text, and in genie mode the
    retransmission decision: NACK while ξ < threshold and retransmissions remain."""

    MAX_KEPT = 1024  # sentences remembered per emulator

    def __init__(
        self,
        stats: ChannelStats,
        retransmit_by: str = "receiver",
        xi_threshold: float = 0.6,
        max_retries: int = 2,
    ) -> None:
        if retransmit_by not in ("receiver", "genie"):
            raise ValueError(f"retransmit_by must be 'receiver' or 'genie', got {retransmit_by!r}")
        self.stats, self.genie_decides = stats, retransmit_by == "genie"
        self.xi_threshold, self.max_retries = xi_threshold, max_retries
        stats.retransmit_by = retransmit_by
        self._texts: collections.OrderedDict[tuple[str, int], tuple[str, int]] = collections.OrderedDict()

    def remember(self, burst: Burst) -> None:
        """Keep the clean sentence of a text burst (before the channel strips it)."""
        if burst.modality == Modality.TEXT and burst.genie:
            self._texts[(burst.session_id, burst.seq)] = (burst.genie.decode(errors="replace"), burst.attempt)
            while len(self._texts) > self.MAX_KEPT:
                self._texts.popitem(last=False)

    def knows(self, session_id: str, seq: int) -> bool:
        return (session_id, seq) in self._texts

    def judge(self, fb: Feedback) -> Feedback:
        """The receiver's answer about a remembered sentence, with the true ξ (and the genie's
        decision in genie mode). Runs the sentence encoder: call it off the event loop. In
        receiver mode the answer is forwarded without waiting and only the statistics use it."""
        entry = self._texts.get((fb.session_id, fb.seq))
        if entry is None or fb.kind not in (FeedbackKind.ACK, FeedbackKind.NACK, FeedbackKind.GIVE_UP):
            return fb
        from m3e.semantics.similarity import xi

        reference, attempt = entry
        true_xi = float(xi([reference], [fb.decoded_text])[0])
        damaged = true_xi < self.xi_threshold
        s = self.stats
        s.texts_judged += 1
        s.true_xi_mean += (true_xi - s.true_xi_mean) / s.texts_judged
        s.true_damaged += damaged
        s.receiver_nacks += fb.kind == FeedbackKind.NACK
        receiver_low = fb.xi is not None and fb.xi < self.xi_threshold
        s.decisions_agreed += receiver_low == damaged
        fb = dataclasses.replace(fb, true_xi=true_xi)
        if not self.genie_decides:
            return fb
        if damaged and attempt < self.max_retries:
            s.genie_nacks += 1
            kind = FeedbackKind.NACK
        else:
            kind = FeedbackKind.GIVE_UP if damaged else FeedbackKind.ACK
        return dataclasses.replace(fb, kind=kind, from_emulator=True)


@dataclasses.dataclass
class Route:
    """One direction through the emulator: where it goes and the channel on the way."""

    target: str
    emulator: ChannelEmulator
    judge: GenieJudge


class Routes(dict[str, Route]):
    """The emulator's routes by direction; ``add`` makes one with a channel of its own (or
    points an existing one at a new receiver: a party that rejoins keeps its channel)."""

    def __init__(
        self,
        settings: ChannelSettings | None = None,
        seed: int = 0,
        retransmit_by: str = "receiver",
        xi_threshold: float = 0.6,
        max_retries: int = 2,
    ) -> None:
        super().__init__()
        self.settings, self.seed = settings or ChannelSettings(), seed
        self.judging = (retransmit_by, xi_threshold, max_retries)

    def add(self, direction: str, target: str) -> Route:
        if direction in self:
            self[direction].target = target
        else:
            emulator = ChannelEmulator(self.settings, self.seed + 1000 * len(self), direction)
            self[direction] = Route(target, emulator, GenieJudge(emulator.stats, *self.judging))
        return self[direction]


class LinkProxy(rpc.LinkServicer):
    """Link served to the sender, relayed over a Link stream to the receiver of the stream's
    route (its header's ``direction``)."""

    def __init__(self, routes: dict[str, Route], tls: TlsFiles | None = None) -> None:
        self.routes = routes
        self.tls = tls

    async def Stream(
        self, request_iterator: AsyncIterator[pb.Uplink], context: grpc.aio.ServicerContext
    ) -> AsyncIterator[pb.Feedback]:
        first = await anext(aiter(request_iterator), None)
        if first is None:
            return
        if not first.HasField("header"):
            await context.abort(grpc.StatusCode.FAILED_PRECONDITION, "a stream starts with its header")
        route = self.routes.get(first.header.direction)
        if route is None:
            known = ", ".join(repr(name) for name in self.routes)
            await context.abort(
                grpc.StatusCode.INVALID_ARGUMENT,
                f"no route for direction {first.header.direction!r}; this emulator has {known}",
            )
            return
        async for fb in self._relay(first, request_iterator, route, context):
            yield fb

    async def _relay(
        self,
        header: pb.Uplink,
        request_iterator: AsyncIterator[pb.Uplink],
        route: Route,
        context: grpc.aio.ServicerContext,
    ) -> AsyncIterator[pb.Feedback]:
        loop = asyncio.get_running_loop()
        downlink: asyncio.Queue[pb.Uplink | None] = asyncio.Queue()
        downlink.put_nowait(header)
        upstream: asyncio.Queue[pb.Feedback | None] = asyncio.Queue()
        emulator, judge = route.emulator, route.judge
        emulator.stats.streams += 1

        async def downlink_messages() -> AsyncIterator[pb.Uplink]:
            while (m := await downlink.get()) is not None:
                yield m

        async with client_channel(route.target, self.tls) as channel:
            call = rpc.LinkStub(channel).Stream(downlink_messages())

            async def from_sender() -> None:
                last_delivery = loop.time()
                async for msg in request_iterator:
                    if msg.HasField("header"):
                        downlink.put_nowait(msg)
                        continue
                    if msg.HasField("end"):  # after the last burst has landed
                        loop.call_at(max(last_delivery, loop.time()), downlink.put_nowait, msg)
                        continue
                    try:
                        burst = burst_from_proto(msg.burst)
                    except ValueError as exc:
                        emulator.stats.rejected += 1
                        upstream.put_nowait(
                            feedback_to_proto(
                                Feedback(
                                    msg.burst.session_id,
                                    msg.burst.seq,
                                    FeedbackKind.REJECTED,
                                    reason=str(exc),
                                    status_code=grpc.StatusCode.INVALID_ARGUMENT.value[0],
                                )
                            )
                        )
                        continue
                    at = emulator.air_time(loop.time(), burst.iq.shape[0])
                    if at is None:
                        continue  # queue overflow: the burst never makes it on air
                    judge.remember(burst)
                    out = pb.Uplink(burst=burst_to_proto(emulator.apply(burst)))
                    loop.call_at(at, downlink.put_nowait, out)
                    last_delivery = at
                # end the downlink only after the last burst has landed
                await asyncio.sleep(max(0.0, last_delivery - loop.time()) + 0.01)
                downlink.put_nowait(None)

            async def from_receiver() -> None:
                try:
                    async for fb in call:
                        if judge.knows(fb.session_id, fb.seq):
                            judging = loop.run_in_executor(None, judge.judge, feedback_from_proto(fb))
                            if judge.genie_decides:  # its decision is the feedback
                                fb = feedback_to_proto(await judging)
                        delay = emulator.feedback_delay()
                        if delay is not None:
                            loop.call_later(delay, upstream.put_nowait, fb)
                finally:
                    upstream.put_nowait(None)

            tasks = [asyncio.create_task(from_sender()), asyncio.create_task(from_receiver())]
            try:
                while (fb := await upstream.get()) is not None:
                    yield fb
                for t in tasks:
                    if t.done() and t.exception() is not None:
                        raise t.exception()  # type: ignore[misc]
            except grpc.aio.AioRpcError as exc:
                await context.abort(
                    grpc.StatusCode.UNAVAILABLE, f"receiver at {route.target}: {exc.code().name}"
                )
            finally:
                for t in tasks:
                    t.cancel()


class ControlService(rpc.ControlServicer):
    """Settings and statistics of one route's channel (``direction``; unset: the default), and
    routes added while it runs."""

    def __init__(self, routes: Routes) -> None:
        self.routes = routes

    async def SetRoute(self, request: pb.RouteRequest, context: grpc.aio.ServicerContext) -> pb.ChannelStats:
        host, sep, port = request.target.rpartition(":")
        if not request.direction or not sep or not host or not port.isdigit():
            await context.abort(grpc.StatusCode.INVALID_ARGUMENT, "a route needs a direction and a HOST:PORT")
        route = self.routes.add(request.direction, request.target)
        log.info("route %r -> %s", request.direction, request.target)
        return channel_stats_to_proto(route.emulator.snapshot())

    async def Configure(
        self, request: pb.ChannelSettings, context: grpc.aio.ServicerContext
    ) -> pb.ChannelStats:
        try:
            settings = settings_from_proto(request)
            return channel_stats_to_proto(self._route(settings.direction or "").emulator.configure(settings))
        except ValueError as exc:
            await context.abort(grpc.StatusCode.INVALID_ARGUMENT, str(exc))
            raise

    async def Stats(self, request: pb.StatsRequest, context: grpc.aio.ServicerContext) -> pb.ChannelStats:
        try:
            return channel_stats_to_proto(self._route(request.direction).emulator.snapshot())
        except ValueError as exc:
            await context.abort(grpc.StatusCode.INVALID_ARGUMENT, str(exc))
            raise

    def _route(self, direction: str) -> Route:
        if direction not in self.routes:
            raise ValueError(f"no route for direction {direction!r}; this emulator has {list(self.routes)}")
        return self.routes[direction]


async def serve(
    listen: str,
    target: str,
    settings: ChannelSettings,
    seed: int = 0,
    tls: TlsFiles | None = None,
    ready: asyncio.Event | None = None,
    retransmit_by: str = "receiver",
    xi_threshold: float = 0.6,
    max_retries: int = 2,
    routes: dict[str, str] | None = None,
) -> None:
    """Run the emulator until cancelled. ``target`` is the default route's receiver;
    ``routes`` names more (direction -> receiver), each with a channel of its own."""
    table = Routes(settings, seed, retransmit_by, xi_threshold, max_retries)
    for name, address in {"": target, **(routes or {})}.items():
        if address:
            table.add(name, address)
    server, port, health = create_server(
        listen,
        [
            lambda s: rpc.add_LinkServicer_to_server(LinkProxy(table, tls), s),
            lambda s: rpc.add_ControlServicer_to_server(ControlService(table), s),
        ],
        tls,
    )
    # The judge's sentence encoder loads now, while the processes around start up: loading it
    # when the first sentence came (transformers' imports hold the GIL for seconds) stalled
    # the relaying of every stream by seconds.
    threading.Thread(target=_load_sentence_encoder, name="judge-loader", daemon=True).start()
    await server.start()
    await set_serving(health)
    for name, route in table.items():
        log.info(
            "relay listening on %s:%d, %s -> %s (%s)",
            listen.rsplit(":", 1)[0],
            port,
            repr(name) if name else "default route",
            route.target,
            ", ".join(f"{k}={v}" for k, v in dataclasses.asdict(route.emulator.settings).items()),
        )
    print(f"relay: listening on port {port}", flush=True)
    try:
        await server.wait_for_termination()
    finally:
        await server.stop(1.0)
