"""The receiver process: the Link servicer around ``ReceiverSession``, and the viewer."""

from __future__ import annotations

import asyncio
import dataclasses
import json
import logging
import time
from collections.abc import AsyncIterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import av
import grpc

from m3e import memory
from m3e.phy.estimation import PilotLayout
from m3e.phy.link import TransportCoder
from m3e.wire import link_pb2 as pb
from m3e.wire import link_pb2_grpc as rpc
from m3e.wire.convert import burst_from_proto, feedback_to_proto, header_from_proto
from m3e.wire.grpc_util import StreamRejected, TlsFiles, checked, create_server, reject, set_serving
from m3e.wire.messages import Burst, Feedback, FeedbackKind, StatusCode, StreamHeader
from receiver.config import ReceiverConfig
from receiver.session import ReceiverSession
from receiver.viewer import Viewer

log = logging.getLogger("m3e.receiver")

PLAY_OUT_HZ = 60.0  # how often due frames are looked for between bursts (twice the frame rate)
# a finished stream's paced frames (M3E interpolation: a keyframe interval plus a sentence
# behind) play out before the session closes, for at most this long
PLAY_OUT_AFTER_END_S = 30.0


class ReceiverService(rpc.LinkServicer):
    """Keeps one session per session id, so a stream that reconnects carries on. A session no
    stream has touched for ``config.session_idle_s`` is closed (``expire_idle``); at most
    ``config.max_sessions`` live at once, a new one beyond them is refused (RESOURCE_EXHAUSTED)."""

    def __init__(self, config: ReceiverConfig, viewer: Viewer | None = None) -> None:
        self.config = config
        self.viewer = viewer
        self.sessions: dict[str, ReceiverSession] = {}
        self._streams: dict[str, int] = {}  # open streams per session id
        self._seen: dict[str, float] = {}  # monotonic time of each session's latest message
        # a worker thread per session with media (from its first burst): its bursts decode in
        # arrival order off the event loop, and a keyframe taking a second to regenerate does
        # not queue the other sessions' bursts behind it (the OS shares the core between them;
        # docs/capacity.md). Set-up, and sessions without media, use the shared one.
        self.workers: dict[str, ThreadPoolExecutor] = {}
        self.worker = ThreadPoolExecutor(1, thread_name_prefix="decode")
        self.text_worker = ThreadPoolExecutor(1, thread_name_prefix="sentences")
        self.finished = asyncio.Event()
        self._started = 0  # sessions started by this process
        self._opening = 0  # sessions whose decoders are being set up
        self._clock: asyncio.Task[None] | None = None
        self._finishing: set[str] = set()  # sessions playing out their last frames

    async def Stream(
        self, request_iterator: AsyncIterator[pb.Uplink], context: grpc.aio.ServicerContext
    ) -> AsyncIterator[pb.Feedback]:
        """Feedback for every burst as soon as it is decoded. Sentences decode on a thread of
        their own: a video burst never waits behind a sentence's transformer decoders (the
        low-latency pictures did, by up to a second on a busy CPU)."""
        if self._clock is None:
            self._clock = asyncio.create_task(self._play_out())
        out: asyncio.Queue[pb.Feedback | None] = asyncio.Queue()
        reader = asyncio.create_task(self._read(checked(request_iterator), out))
        reader.add_done_callback(lambda _: out.put_nowait(None))  # however it ended
        try:
            while (fb := await out.get()) is not None:
                yield fb
            await reader  # its exception, if it had one
        except StreamRejected as exc:
            await reject(context, request_iterator, exc.code, exc.details)
        finally:
            reader.cancel()

    async def _read(
        self, request_iterator: AsyncIterator[pb.Uplink], out: asyncio.Queue[pb.Feedback | None]
    ) -> None:
        """Every message of one stream, its feedback into ``out``."""
        loop = asyncio.get_running_loop()
        session: ReceiverSession | None = None
        completed = False
        sentences: set[asyncio.Task[None]] = set()

        async def sentence(session: ReceiverSession, burst: Burst) -> None:
            decoded = await loop.run_in_executor(self.text_worker, session.decode_sentence, burst)
            fb = await loop.run_in_executor(self._worker(session), session.on_sentence, burst, decoded)
            out.put_nowait(feedback_to_proto(fb))

        def refuse(session_id: str, seq: int, reason: str, code: int) -> None:
            fb = Feedback(session_id, seq, FeedbackKind.REJECTED, reason=reason, status_code=code)
            out.put_nowait(feedback_to_proto(fb))

        try:
            async for msg in request_iterator:
                kind = msg.WhichOneof("kind")
                if session is not None:
                    self._seen[session.header.session_id] = time.monotonic()
                if kind == "end":
                    completed = True
                    if session is not None:
                        session.end_at(msg.end.end_pts)
                    continue
                if kind == "header":
                    try:
                        header = header_from_proto(msg.header)
                    except ValueError as exc:
                        raise StreamRejected(
                            grpc.StatusCode.INVALID_ARGUMENT, f"stream header: {exc}"
                        ) from None
                    if session is None or header.session_id != session.header.session_id:
                        if session is not None:  # the stream goes on with another session
                            self._left(session)
                        session = None
                        session = await self._open(header)
                    continue
                if session is None:
                    refuse(
                        msg.burst.session_id,
                        msg.burst.seq,
                        "no stream header yet",
                        StatusCode.FAILED_PRECONDITION,
                    )
                    continue
                try:
                    if kind != "burst":
                        raise ValueError("an uplink message carries a header, a burst or the end")
                    burst = burst_from_proto(msg.burst)
                except ValueError as exc:
                    session.stats.rejected += 1
                    refuse(msg.burst.session_id, msg.burst.seq, str(exc)[:200], StatusCode.INVALID_ARGUMENT)
                    continue
                if session.decodes_sentences(burst):
                    task = asyncio.create_task(sentence(session, burst))
                    sentences.add(task)
                    task.add_done_callback(sentences.discard)
                    continue
                fb = await loop.run_in_executor(self._worker(session), self._on_burst, session, burst)
                out.put_nowait(feedback_to_proto(fb))
            await asyncio.gather(*sentences)
        finally:
            if session is not None:
                self._left(session)
        # Only a stream the sender completed ends the session; a cut one may come back (until
        # it has been idle for config.session_idle_s).
        if session is not None and completed:
            await self._finish(session, "finished")

    async def _open(self, header: StreamHeader) -> ReceiverSession:
        """The session of ``header`` (resumed, or new when there is room for one)."""
        sid = header.session_id
        session = self.sessions.get(sid)
        if session is None:
            # sessions being set up count: two headers arriving while the first one's decoders
            # (and models) load must not both pass the limit
            if len(self.sessions) + self._opening >= self.config.max_sessions:
                raise StreamRejected(
                    grpc.StatusCode.RESOURCE_EXHAUSTED,
                    f"this receiver has {len(self.sessions) + self._opening} live sessions, "
                    "its limit (--max-sessions); try again later",
                )
            self._opening += 1
            try:
                session = await asyncio.get_running_loop().run_in_executor(
                    self.worker, self._new_session, header
                )
            except (ValueError, OverflowError, av.error.FFmpegError) as exc:  # decoder set-up
                raise StreamRejected(
                    grpc.StatusCode.INVALID_ARGUMENT, f"stream header: {str(exc)[:160]}"
                ) from None
            finally:
                self._opening -= 1
            self.sessions[sid] = session
            log.info(
                "session %s: %dx%d @ %g fps, %s + %s",
                sid,
                header.width,
                header.height,
                header.fps,
                header.video_scheme,
                header.audio_scheme or "no audio",
            )
        else:
            log.info("session %s resumed", sid)
        self._streams[sid] = self._streams.get(sid, 0) + 1
        self._seen[sid] = time.monotonic()
        return session

    def _left(self, session: ReceiverSession) -> None:
        """A stream of ``session`` ended: its idle time starts."""
        sid = session.header.session_id
        if sid in self._streams:
            self._streams[sid] -= 1
            self._seen[sid] = time.monotonic()

    def _on_burst(self, session: ReceiverSession, burst: Burst) -> Feedback:
        """``session.on_burst``; a decoder failing on what a burst carries rejects that burst
        (the stream goes on) instead of ending the stream UNKNOWN."""
        try:
            return session.on_burst(burst)
        except (ValueError, OverflowError, av.error.FFmpegError) as exc:
            log.warning("session %s: burst %d: %s", burst.session_id, burst.seq, exc)
            session.stats.rejected += 1
            return Feedback(
                burst.session_id,
                burst.seq,
                FeedbackKind.REJECTED,
                reason=str(exc)[:200],
                status_code=StatusCode.INVALID_ARGUMENT,
            )

    async def _finish(self, session: ReceiverSession, why: str) -> None:
        sid = session.header.session_id
        if self.sessions.get(sid) is not session or sid in self._finishing:
            return  # closed already, or closing
        self._finishing.add(sid)
        try:
            if why == "finished":
                await self._play_out_rest(session)
        finally:
            self._finishing.discard(sid)
        self.sessions.pop(sid, None)
        self._streams.pop(sid, None)
        self._seen.pop(sid, None)
        worker = self.workers.pop(sid, None)
        await asyncio.get_running_loop().run_in_executor(worker or self.worker, self._close, session)
        if worker is not None:
            worker.shutdown(wait=False)
        log.info("session %s %s: %s", sid, why, session.stats)
        if session.has_media:
            self.finished.set()

    async def _play_out_rest(self, session: ReceiverSession) -> None:
        """Until the session's paced frames have played (the frame clock plays them), at most
        ``PLAY_OUT_AFTER_END_S``: a page watching sees the end of the stream, not a jump to it."""
        loop = asyncio.get_running_loop()
        end = loop.time() + PLAY_OUT_AFTER_END_S
        while session.waiting() and loop.time() < end:
            await asyncio.sleep(1 / PLAY_OUT_HZ)

    async def _play_out(self) -> None:
        """The frame clock: what is due plays between bursts too (the low-latency picture held
        at its frame rate, M3E's paced frames), on the decode worker like the bursts. Other
        schemes play as their bursts come (a frame per burst) and leave the worker to them."""
        loop = asyncio.get_running_loop()
        period, tick = 1 / PLAY_OUT_HZ, loop.time()
        while True:
            # on a steady clock, not a sleep after each tick's work: ticks that drift past the
            # frame period play two frames at once (the frame rate halved on the page, measured)
            tick = max(tick + period, loop.time() - period)
            await asyncio.sleep(tick - loop.time())
            live = [s for sid, s in self.sessions.items() if s.clocked and sid in self.workers]
            await asyncio.gather(*(loop.run_in_executor(self._worker(s), s.tick) for s in live))

    async def expire_idle(self) -> int:
        """Close every session that no open stream carries and that has been idle for
        ``config.session_idle_s``; returns how many."""
        now = time.monotonic()
        idle = [
            s
            for sid, s in list(self.sessions.items())
            if self._streams.get(sid, 0) <= 0 and now - self._seen.get(sid, now) > self.config.session_idle_s
        ]
        for s in idle:
            await self._finish(s, f"expired after {self.config.session_idle_s:g} s idle")
        return len(idle)

    async def expire_periodically(self) -> None:
        """Until cancelled: ``expire_idle`` a few times per idle timeout."""
        while True:
            await asyncio.sleep(min(5.0, max(0.1, self.config.session_idle_s / 4)))
            await self.expire_idle()

    def _new_session(self, header: StreamHeader) -> ReceiverSession:
        if self.viewer is None:
            return ReceiverSession(header, self.config, on_start=self._numbering)
        on_frame, on_audio, shown = self.viewer.sinks(header.session_id)
        return ReceiverSession(
            header, self.config, on_frame, on_audio, on_start=self._numbering, watched=shown
        )

    def _numbering(self, session: ReceiverSession) -> None:
        """A session's first media: a later one (a call that switched its scheme) records beside
        the first, never over it: ``received.2.mp4``, ``rx.2.json``. Sessions without media
        (a header and nothing else) take no number and write nothing."""
        self._started += 1
        if self._started > 1:
            config = self.config
            session.config = dataclasses.replace(
                config,
                out=_numbered(config.out, self._started),
                stats_path=_numbered(config.stats_path, self._started),
            )

    def _close(self, session: ReceiverSession) -> None:
        """Finish the session; its summary goes where the config says (if it had media)."""
        summary = session.close()
        if session.config.stats_path and session.has_media:
            Path(session.config.stats_path).write_text(json.dumps(summary))

    def _worker(self, session: ReceiverSession) -> ThreadPoolExecutor:
        """The session's own worker, started at its first burst (a straggler of a session
        closed already: the shared one)."""
        sid = session.header.session_id
        if self.sessions.get(sid) is not session:
            return self.worker
        if sid not in self.workers:
            self.workers[sid] = ThreadPoolExecutor(1, thread_name_prefix=f"decode-{sid[:8]}")
        return self.workers[sid]

    def close_all(self) -> None:
        """Close every session on its own worker (after the bursts it is decoding); blocks."""
        closing = [
            self.workers.get(sid, self.worker).submit(self._close, s) for sid, s in self.sessions.items()
        ]
        for done in closing:
            done.result()
        for worker in self.workers.values():
            worker.shutdown(wait=False)
        self.sessions.clear()
        self.workers.clear()


def _numbered(path: str | None, n: int) -> str | None:
    return None if path is None else str(Path(path).with_suffix(f".{n}{Path(path).suffix}"))


async def serve(
    listen: str,
    config: ReceiverConfig,
    viewer: Viewer | None = None,
    tls: TlsFiles | None = None,
    exit_after_session: bool = False,
) -> None:
    """Run the receiver until cancelled (or after one complete session)."""
    memory.return_freed_memory()
    TransportCoder(pilots=PilotLayout()).warm_up()
    service = ReceiverService(config, viewer)
    server, port, health = create_server(listen, [lambda s: rpc.add_LinkServicer_to_server(service, s)], tls)
    await server.start()
    if viewer is not None:
        viewer.service = service
        await viewer.start()
    await set_serving(health)  # SERVING once everything is up, the viewer too
    print(f"receiver: listening on port {port}", flush=True)
    housekeeping = [
        asyncio.create_task(service.expire_periodically()),
        asyncio.create_task(memory.trim_periodically()),
    ]
    try:
        if exit_after_session:
            await service.finished.wait()
        else:
            await server.wait_for_termination()
    finally:
        for task in housekeeping:
            task.cancel()
        # sessions close first (recordings finished, statistics written): a cancelled server's
        # stop may raise again, and whatever is submitted here completes before the exit
        closing = asyncio.get_running_loop().run_in_executor(None, service.close_all)
        try:
            await server.stop(1.0)
        finally:
            await asyncio.shield(closing)
        if viewer is not None:
            await viewer.stop()
