"""The receiver process: the Link servicer around ``ReceiverSession``, and the viewer."""

from __future__ import annotations

import asyncio
import dataclasses
import json
import logging
from collections.abc import AsyncIterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import grpc

from m3e.phy.estimation import PilotLayout
from m3e.phy.link import TransportCoder
from m3e.wire import link_pb2 as pb
from m3e.wire import link_pb2_grpc as rpc
from m3e.wire.convert import burst_from_proto, feedback_to_proto, header_from_proto
from m3e.wire.grpc_util import TlsFiles, create_server, set_serving
from m3e.wire.messages import Burst, Feedback, FeedbackKind, StatusCode, StreamHeader
from receiver.config import ReceiverConfig
from receiver.session import ReceiverSession
from receiver.viewer import Viewer

log = logging.getLogger("m3e.receiver")

PLAY_OUT_HZ = 30.0  # how often due frames are looked for between bursts


class ReceiverService(rpc.LinkServicer):
    """Keeps one session per session id, so a stream that reconnects carries on."""

    def __init__(self, config: ReceiverConfig, viewer: Viewer | None = None) -> None:
        self.config = config
        self.viewer = viewer
        self.sessions: dict[str, ReceiverSession] = {}
        # one worker: bursts of a session are decoded in arrival order, off the event loop
        self.worker = ThreadPoolExecutor(1, thread_name_prefix="decode")
        self.text_worker = ThreadPoolExecutor(1, thread_name_prefix="sentences")
        self.finished = asyncio.Event()
        self._started = 0  # sessions started by this process
        self._clock: asyncio.Task[None] | None = None

    async def Stream(
        self, request_iterator: AsyncIterator[pb.Uplink], context: grpc.aio.ServicerContext
    ) -> AsyncIterator[pb.Feedback]:
        """Feedback for every burst as soon as it is decoded. Sentences decode on a thread of
        their own: a video burst never waits behind a sentence's transformer decoders (the
        low-latency pictures did, by up to a second on a busy CPU)."""
        if self._clock is None:
            self._clock = asyncio.create_task(self._play_out())
        out: asyncio.Queue[pb.Feedback | None] = asyncio.Queue()
        reader = asyncio.create_task(self._read(request_iterator, out))
        reader.add_done_callback(lambda _: out.put_nowait(None))  # however it ended
        try:
            while (fb := await out.get()) is not None:
                yield fb
            await reader  # its exception, if it had one
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
            fb = await loop.run_in_executor(self.worker, session.on_sentence, burst, decoded)
            out.put_nowait(feedback_to_proto(fb))

        def reject(session_id: str, seq: int, reason: str, code: int) -> None:
            fb = Feedback(session_id, seq, FeedbackKind.REJECTED, reason=reason, status_code=code)
            out.put_nowait(feedback_to_proto(fb))

        async for msg in request_iterator:
            if msg.HasField("end"):
                completed = True
                if session is not None:
                    session.end_at(msg.end.end_pts)
                continue
            if msg.HasField("header"):
                try:
                    header = header_from_proto(msg.header)
                    session = self.sessions.get(header.session_id)
                    if session is None:
                        session = await loop.run_in_executor(self.worker, self._new_session, header)
                        self.sessions[header.session_id] = session
                        log.info(
                            "session %s: %dx%d @ %g fps, %s + %s",
                            header.session_id,
                            header.width,
                            header.height,
                            header.fps,
                            header.video_scheme,
                            header.audio_scheme or "no audio",
                        )
                    else:
                        log.info("session %s resumed", header.session_id)
                except ValueError as exc:
                    reject(msg.header.session_id, 0, str(exc), StatusCode.INVALID_ARGUMENT)
                continue
            if session is None:
                reject(
                    msg.burst.session_id,
                    msg.burst.seq,
                    "no stream header yet",
                    StatusCode.FAILED_PRECONDITION,
                )
                continue
            try:
                burst = burst_from_proto(msg.burst)
            except ValueError as exc:
                session.stats.rejected += 1
                reject(msg.burst.session_id, msg.burst.seq, str(exc), StatusCode.INVALID_ARGUMENT)
                continue
            if session.decodes_sentences(burst):
                task = asyncio.create_task(sentence(session, burst))
                sentences.add(task)
                task.add_done_callback(sentences.discard)
                continue
            fb = await loop.run_in_executor(self.worker, session.on_burst, burst)
            out.put_nowait(feedback_to_proto(fb))
        await asyncio.gather(*sentences)
        # Only a stream the sender completed ends the session; a cut one may come back.
        if session is not None and completed:
            await loop.run_in_executor(self.worker, self._close, session)
            self.sessions.pop(session.header.session_id, None)
            log.info("session %s finished: %s", session.header.session_id, session.stats)
            self.finished.set()

    async def _play_out(self) -> None:
        """The frame clock: what is due plays between bursts too (a held low-latency picture
        at its frame rate), on the decode worker like the bursts."""
        loop = asyncio.get_running_loop()
        while True:
            await asyncio.sleep(1 / PLAY_OUT_HZ)
            for session in list(self.sessions.values()):
                await loop.run_in_executor(self.worker, session.tick)

    def _new_session(self, header: StreamHeader) -> ReceiverSession:
        """A later session (a call that switched its scheme) records beside the first one,
        never over it: ``received.2.mp4``, ``rx.2.json``."""
        v = self.viewer
        self._started += 1
        config = self.config
        if self._started > 1:
            config = dataclasses.replace(
                config,
                out=_numbered(config.out, self._started),
                stats_path=_numbered(config.stats_path, self._started),
            )
        return ReceiverSession(
            header, config, on_frame=v.on_frame if v else None, on_audio=v.on_audio if v else None
        )

    def _close(self, session: ReceiverSession) -> None:
        """Finish the session; its summary goes where the config says."""
        summary = session.close()
        if session.config.stats_path:
            Path(session.config.stats_path).write_text(json.dumps(summary))

    def close_all(self) -> None:
        for s in self.sessions.values():
            self._close(s)
        self.sessions.clear()


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
    TransportCoder(pilots=PilotLayout()).warm_up()
    service = ReceiverService(config, viewer)
    server, port, health = create_server(listen, [lambda s: rpc.add_LinkServicer_to_server(service, s)], tls)
    await server.start()
    if viewer is not None:
        viewer.service = service
        await viewer.start()
    await set_serving(health)  # SERVING once everything is up, the viewer too
    print(f"receiver: listening on port {port}", flush=True)
    try:
        if exit_after_session:
            await service.finished.wait()
        else:
            await server.wait_for_termination()
    finally:
        # sessions close first (recordings finished, statistics written): a cancelled server's
        # stop may raise again, and whatever is submitted here completes before the exit
        closing = asyncio.get_running_loop().run_in_executor(service.worker, service.close_all)
        try:
            await server.stop(1.0)
        finally:
            await asyncio.shield(closing)
        if viewer is not None:
            await viewer.stop()
