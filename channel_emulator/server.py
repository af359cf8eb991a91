"""The channel emulator's gRPC edge: a transparent proxy that is the physical channel.

``LinkProxy`` relays each sender's Link stream to the receiver of its route, every burst
through that route's channel (``channel_emulator.channel``: fading, noise, erasures, air
time, delay) and every text burst's clean sentence past its genie judge
(``channel_emulator.genie``); feedback travels back with the channel's delay and loss. The
emulator never decodes a payload. ``ControlService`` changes a route's channel while streams
run, reports its statistics and adds routes (``channel_emulator.routes``). Protobuf is
converted here and nowhere else in the emulator.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
from collections.abc import AsyncIterator

import grpc

from channel_emulator import genie
from channel_emulator.channel import MAX_BACKLOG_S
from channel_emulator.genie import MAX_RETRIES, RETRANSMIT_BY, XI_THRESHOLD
from channel_emulator.queue import MAX_AGE_S, MAX_STREAM_BYTES, MAX_TOTAL_BYTES, ByteBudget, DownlinkQueue
from channel_emulator.routes import Route, Routes
from m3e import memory
from m3e.config import Settings
from m3e.wire import auth
from m3e.wire import link_pb2 as pb
from m3e.wire import link_pb2_grpc as rpc
from m3e.wire.convert import (
    burst_from_proto,
    burst_to_proto,
    channel_stats_to_proto,
    feedback_from_proto,
    feedback_to_proto,
    header_from_proto,
    settings_from_proto,
)
from m3e.wire.grpc_util import (
    StreamRejected,
    TlsFiles,
    checked,
    client_channel,
    create_server,
    quoted,
    reject,
    set_serving,
)
from m3e.wire.messages import ChannelSettings, Feedback, FeedbackKind

log = logging.getLogger("m3e.relay")


# codes a receiver ends a stream with that a reconnect will not change: passed on to the sender
FINAL_CODES = (
    grpc.StatusCode.INVALID_ARGUMENT,
    grpc.StatusCode.FAILED_PRECONDITION,
    grpc.StatusCode.NOT_FOUND,
    grpc.StatusCode.RESOURCE_EXHAUSTED,
    grpc.StatusCode.PERMISSION_DENIED,
    grpc.StatusCode.UNAUTHENTICATED,
)
MAX_UPSTREAM = 4096  # feedback messages waiting for a sender that does not read them
# live streams at once: the relay's --max-sessions, the receiver's default too (bench.load
# measures what one core holds)
MAX_STREAMS: int = Settings.model_fields["max_sessions"].default


class LinkProxy(rpc.LinkServicer):
    """Link served to the sender, relayed over a Link stream to the receiver of the stream's
    route (its header's ``direction``). The queue toward the receiver is bounded
    (``channel_emulator.queue``): a burst dropped for backlog gets a GIVE_UP (RESOURCE_EXHAUSTED)
    back, so the sender knows."""

    def __init__(
        self,
        routes: dict[str, Route],
        tls: TlsFiles | None = None,
        queue_bytes: int = MAX_STREAM_BYTES,
        queue_age_s: float = MAX_AGE_S,
        budget: ByteBudget | None = None,
        max_streams: int = MAX_STREAMS,
    ) -> None:
        self.routes = routes
        self.max_streams = max_streams
        self.live = 0  # streams being relayed now
        self.tls = tls
        self.queue_bytes = queue_bytes
        self.queue_age_s = queue_age_s
        self.budget = budget or ByteBudget(max(MAX_TOTAL_BYTES, queue_bytes))

    async def Stream(
        self, request_iterator: AsyncIterator[pb.Uplink], context: grpc.aio.ServicerContext
    ) -> AsyncIterator[pb.Feedback]:
        messages = checked(request_iterator)
        try:
            first = await anext(messages, None)
            if first is None:
                return
            if not first.HasField("header"):
                raise StreamRejected(grpc.StatusCode.FAILED_PRECONDITION, "a stream starts with its header")
            try:
                header_from_proto(first.header)
            except ValueError as exc:
                raise StreamRejected(grpc.StatusCode.INVALID_ARGUMENT, f"stream header: {exc}") from None
            route = self.routes.get(first.header.direction)
            if route is None:
                known = ", ".join(quoted(name) for name in list(self.routes)[:8])
                raise StreamRejected(
                    grpc.StatusCode.INVALID_ARGUMENT,
                    f"no route for direction {quoted(first.header.direction)}; this emulator has {known}",
                )
            if self.live >= self.max_streams:  # refused at once: the streams it has stay real-time
                log.warning("stream %s refused: %d live streams", first.header.session_id, self.live)
                raise StreamRejected(
                    grpc.StatusCode.RESOURCE_EXHAUSTED,
                    f"this relay carries {self.live} live streams, its limit (--max-sessions); "
                    "try again later",
                )
            route.judge.stream_starts(first.header.text_scheme)
            self.live += 1
            try:
                async for fb in self._relay(first, messages, route, context):
                    yield fb
            finally:
                self.live -= 1
        except StreamRejected as exc:
            await reject(context, request_iterator, exc.code, exc.details)

    async def _relay(
        self,
        header: pb.Uplink,
        request_iterator: AsyncIterator[pb.Uplink],
        route: Route,
        context: grpc.aio.ServicerContext,
    ) -> AsyncIterator[pb.Feedback]:
        loop = asyncio.get_running_loop()
        upstream: asyncio.Queue[pb.Feedback | None] = asyncio.Queue()
        emulator, judge = route.emulator, route.judge
        radio = emulator.open_stream()  # this stream's own channel

        def to_sender(fb: pb.Feedback) -> None:
            if upstream.qsize() < MAX_UPSTREAM:
                upstream.put_nowait(fb)

        def dropped(msg: pb.Uplink, reason: str) -> None:
            radio.count(dropped=1)
            fb = Feedback(
                msg.burst.session_id,
                msg.burst.seq,
                FeedbackKind.GIVE_UP,
                reason=reason,
                status_code=grpc.StatusCode.RESOURCE_EXHAUSTED.value[0],
            )
            to_sender(feedback_to_proto(fb))

        downlink: DownlinkQueue[pb.Uplink] = DownlinkQueue(
            dropped, self.budget, self.queue_bytes, self.queue_age_s
        )
        downlink.put(loop.time(), header, droppable=False)
        radio.count(streams=1)

        async def downlink_messages() -> AsyncIterator[pb.Uplink]:
            while (m := await downlink.get()) is not None:
                yield m

        async with client_channel(route.target, self.tls) as channel:
            call = rpc.LinkStub(channel).Stream(downlink_messages())

            async def from_sender() -> None:
                try:
                    await relay_uplink()
                except BaseException:
                    upstream.put_nowait(None)  # the stream ends with what went wrong
                    raise

            async def relay_uplink() -> None:
                last_delivery = loop.time()
                async for msg in request_iterator:
                    kind = msg.WhichOneof("kind")
                    if kind == "header":
                        try:
                            header_from_proto(msg.header)
                        except ValueError as exc:
                            raise StreamRejected(
                                grpc.StatusCode.INVALID_ARGUMENT, f"stream header: {exc}"
                            ) from None
                        downlink.put(loop.time(), msg, droppable=False)
                        continue
                    if kind == "end":  # after the last burst has landed
                        downlink.put(max(last_delivery, loop.time()), msg, droppable=False)
                        continue
                    try:
                        if kind != "burst":
                            raise ValueError("an uplink message carries a header, a burst or the end")
                        burst = burst_from_proto(msg.burst)
                    except ValueError as exc:
                        radio.count(rejected=1)
                        to_sender(
                            feedback_to_proto(
                                Feedback(
                                    msg.burst.session_id,
                                    msg.burst.seq,
                                    FeedbackKind.REJECTED,
                                    reason=str(exc)[:200],
                                    status_code=grpc.StatusCode.INVALID_ARGUMENT.value[0],
                                )
                            )
                        )
                        continue
                    size = len(msg.burst.iq) + 128
                    if not downlink.fits(size):
                        dropped(msg, f"relay queue toward the receiver full ({downlink.bytes >> 20} MB)")
                        continue
                    at = radio.air_time(loop.time(), burst.iq.shape[0])
                    if at is None:
                        dropped(msg, f"more than {MAX_BACKLOG_S:g} s of symbols waiting for the air")
                        continue
                    judge.remember(burst)
                    out = pb.Uplink(burst=burst_to_proto(radio.apply(burst)))
                    downlink.put(at, out, size)
                    last_delivery = at
                downlink.close()  # ends the downlink once the last burst has landed

            async def from_receiver() -> None:
                try:
                    async for fb in call:
                        if judge.knows(fb.session_id, fb.seq):
                            judging = loop.run_in_executor(None, judge.judge, feedback_from_proto(fb))
                            if judge.genie_decides:  # its decision is the feedback
                                fb = feedback_to_proto(await judging)
                        delay = radio.feedback_delay()
                        if delay is not None:
                            loop.call_later(delay, to_sender, fb)
                finally:  # after the feedback still on its way back
                    delay_s = float(emulator.settings.delay_ms or 0.0) / 1000
                    loop.call_later(delay_s, upstream.put_nowait, None)

            tasks = [asyncio.create_task(from_sender()), asyncio.create_task(from_receiver())]
            try:
                while (fb := await upstream.get()) is not None:
                    yield fb
                for t in tasks:
                    if t.done() and t.exception() is not None:
                        raise t.exception()  # type: ignore[misc]
            except grpc.aio.AioRpcError as exc:
                if exc.code() in FINAL_CODES:  # the receiver's verdict on this stream
                    raise StreamRejected(exc.code(), exc.details() or exc.code().name) from None
                raise StreamRejected(
                    grpc.StatusCode.UNAVAILABLE, f"receiver at {route.target}: {exc.code().name}"
                ) from None
            finally:
                for t in tasks:
                    t.cancel()
                downlink.clear()
                st = radio.stats
                log.info(
                    "stream %s ended: %d bursts, %d symbols, %d dropped, %d rejected",
                    header.header.session_id,
                    st.bursts,
                    st.symbols,
                    st.dropped,
                    st.rejected,
                )


class ControlService(rpc.ControlServicer):
    """Settings and statistics of one route's channel (``direction``; unset: the default), and
    routes added while it runs.

    Every call carries the deployment's token (``x-m3e-token`` metadata; UNAUTHENTICATED
    without it) and ``SetRoute`` points a route only at a receiver the operator allowed
    (PERMISSION_DENIED otherwise). ``token`` None (in-process tests only) checks nothing;
    ``allowed`` None allows any receiver."""

    def __init__(
        self, routes: Routes, token: str | None = None, allowed: auth.RouteAllowList | None = None
    ) -> None:
        self.routes = routes
        self.token = token
        self.allowed = allowed

    async def _authorize(self, context: grpc.aio.ServicerContext) -> None:
        if self.token is None:
            return
        given = auth.token_of_metadata(context.invocation_metadata())
        if not auth.token_matches(given, self.token):
            log.warning("Control call from %s refused: %s token", context.peer(), "wrong" if given else "no")
            await context.abort(
                grpc.StatusCode.UNAUTHENTICATED,
                "Control needs the relay's control token (M3E_CONTROL_TOKEN or --control-token)",
            )

    async def SetRoute(self, request: pb.RouteRequest, context: grpc.aio.ServicerContext) -> pb.ChannelStats:
        await self._authorize(context)
        host, sep, port = request.target.rpartition(":")
        if not request.direction or not sep or not host or not port.isdigit():
            await context.abort(grpc.StatusCode.INVALID_ARGUMENT, "a route needs a direction and a HOST:PORT")
        if self.allowed is not None and not self.allowed.permits(request.target):
            log.warning("SetRoute to %s refused: not in the allow-list (%r)", request.target, self.allowed)
            await context.abort(
                grpc.StatusCode.PERMISSION_DENIED,
                f"{request.target} is not an allowed receiver (the relay's --allow-route)",
            )
        route = self.routes.add(request.direction, request.target)
        log.info("route %r -> %s", request.direction, request.target)
        return channel_stats_to_proto(route.emulator.snapshot())

    async def Configure(
        self, request: pb.ChannelSettings, context: grpc.aio.ServicerContext
    ) -> pb.ChannelStats:
        await self._authorize(context)
        try:
            settings = settings_from_proto(request)
            return channel_stats_to_proto(self._route(settings.direction or "").emulator.configure(settings))
        except ValueError as exc:
            await context.abort(grpc.StatusCode.INVALID_ARGUMENT, str(exc))
            raise

    async def Stats(self, request: pb.StatsRequest, context: grpc.aio.ServicerContext) -> pb.ChannelStats:
        await self._authorize(context)
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
    retransmit_by: str = RETRANSMIT_BY,
    xi_threshold: float = XI_THRESHOLD,
    max_retries: int = MAX_RETRIES,
    routes: dict[str, str] | None = None,
    *,
    control_token: str,
    allow_routes: list[str] | None = None,
    queue_mb: float = MAX_STREAM_BYTES / 2**20,
    queue_age_s: float = MAX_AGE_S,
    max_streams: int = MAX_STREAMS,
) -> None:
    """Run the emulator until cancelled. ``target`` is the default route's receiver;
    ``routes`` names more (direction -> receiver), each with a channel of its own;
    ``queue_mb`` / ``queue_age_s`` bound each stream's queue toward its receiver, and
    ``max_streams`` the live streams (more are refused with RESOURCE_EXHAUSTED).
    ``Control`` answers only calls with ``control_token``, and ``SetRoute`` points routes only
    at ``allow_routes`` (HOST or HOST:PORT, "*": anywhere) and the receivers named here."""
    memory.return_freed_memory()
    table = Routes(settings, seed, retransmit_by, xi_threshold, max_retries)
    allowed = auth.RouteAllowList(allow_routes or ())
    for name, address in {"": target, **(routes or {})}.items():
        if address:
            table.add(name, address)
            allowed.allow(address)
    server, port, health = create_server(
        listen,
        [
            lambda s: rpc.add_LinkServicer_to_server(
                LinkProxy(table, tls, int(queue_mb * 2**20), queue_age_s, max_streams=max_streams), s
            ),
            lambda s: rpc.add_ControlServicer_to_server(ControlService(table, control_token, allowed), s),
        ],
        tls,
    )
    if retransmit_by == "genie":  # the decisions wait on the judge's encoder: load it now
        genie.warm_up()
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
    trimming = asyncio.create_task(memory.trim_periodically())
    try:
        await server.wait_for_termination()
    finally:
        trimming.cancel()
        await server.stop(1.0)
