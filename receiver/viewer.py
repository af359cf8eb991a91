"""The web viewer: live video, audio, statistics charts and an SNR control, on aiohttp.

A WebSocket carries binary messages tagged by their first byte (``V`` + JPEG frame,
``A`` + little-endian int16 PCM, ``T`` + little-endian float64 and int64: the capture time,
wall clock (NaN when unknown), and the stream's frame number of the frame that follows, ``R``:
the frame that follows shows the picture sent before it, as a held picture does) and
JSON text messages with the statistics; ``/mjpeg`` is the fallback for clients without
WebSocket. The SNR control goes to the emulator's ``Control`` service when the receiver knows
its address; it takes only same-origin JSON POSTs that carry the control token (the page
reads it from its URL, ``?token=``; docs/security.md).
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import dataclasses
import json
import logging
import struct
import threading
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

import grpc
import numpy as np
import numpy.typing as npt
from aiohttp import WSMsgType, web

from m3e.media.sinks import JpegEncoder
from m3e.restore.picture import Picture, pixels
from m3e.wire import auth
from m3e.wire import link_pb2 as pb
from m3e.wire import link_pb2_grpc as rpc
from m3e.wire.convert import channel_stats_from_proto, settings_to_proto
from m3e.wire.grpc_util import TlsFiles, client_channel
from m3e.wire.messages import ChannelSettings

if TYPE_CHECKING:
    from m3e.schemes.base import PlayedFrame
    from receiver.session import ReceiverSession

log = logging.getLogger("m3e.viewer")
PAGE = Path(__file__).parent / "static" / "viewer.html"
MIN_FRAME_GAP_S = 0.02  # frames to a page at most 50 a second (the stream's are 1/30 s apart)
_Frame = tuple[int, int, Picture, float]  # see Viewer._frames


class SessionSource(Protocol):
    """What the viewer reads of the receiver (``receiver.server.ReceiverService``): its
    sessions by id, oldest first."""

    @property
    def sessions(self) -> Mapping[str, ReceiverSession]: ...


class Viewer:
    def __init__(
        self,
        host: str = "127.0.0.1",
        port: int = 8080,
        control: str | None = None,
        tls: TlsFiles | None = None,
        token: str | None = None,
    ) -> None:
        """``token``: the deployment's control token, asked of the page's POSTs and shown to
        the relay's ``Control``; without one the page gets a token of its own and the relay
        will refuse the SNR control."""
        self.host, self.port = host, port
        self.control = control
        self.tls = tls
        self.token = token or auth.new_token()
        self._metadata = auth.grpc_metadata(token)
        self.service: SessionSource | None = None
        self._lock = threading.Lock()
        self._jpeg = b""
        self._jpeg_picture: Picture | None = None  # the picture self._jpeg shows
        # the last frames played: (number of frames played before it, index, picture, wall-clock
        # capture time of its source or NaN), made and encoded when sent
        self._frames: collections.deque[_Frame] = collections.deque(maxlen=4)
        self._played = 0
        self._frame_index = -1
        self._clients = 0
        self._audio: collections.deque[bytes] = collections.deque(maxlen=200)
        self._encoder = JpegEncoder()
        self._channel: dict[str, Any] = {}
        self._bitrate = _Rate()
        self._runner: web.AppRunner | None = None
        self._poller: asyncio.Task[None] | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._waiting: set[asyncio.Event] = set()  # one per websocket: something new to send

    def _wake(self) -> None:
        """From any thread: every websocket has something new to send."""
        if self._loop is not None:
            for event in list(self._waiting):
                self._loop.call_soon_threadsafe(event.set)

    def sinks(
        self, session_id: str
    ) -> tuple[Callable[[PlayedFrame], None], Callable[[npt.NDArray[np.int16]], None], Callable[[], bool]]:
        """What session ``session_id`` plays to the page (``on_frame``, ``on_audio``), taken
        only while the page shows it (the newest session with media), and whether it does: the
        frames and voices of the sessions not shown are never made (docs/capacity.md)."""

        def shown() -> bool:
            session = self._session()
            return session is not None and session.header.session_id == session_id

        def frame(f: PlayedFrame) -> None:
            if shown():
                self.on_frame(f)

        def audio(samples: npt.NDArray[np.int16]) -> None:
            if shown():
                self.on_audio(samples)

        return frame, audio, shown

    # ---- called from the decode worker thread
    def on_frame(self, frame: PlayedFrame) -> None:
        captured = float("nan") if frame.latency_ms is None else time.time() - frame.latency_ms / 1000
        with self._lock:
            self._frames.append((self._played, frame.index, frame.picture, captured))
            self._played += 1
            self._frame_index = frame.index
        self._wake()

    def _frame_after(self, sent: int) -> tuple[int, bytes, int, float] | None:
        """The frame to send a page that has the ``sent``-th frame played: the next one, unless
        the page is more than a frame behind (then the one before the newest: frames skipped,
        never queued), as ``_encoded``; None when there is nothing newer."""
        with self._lock:
            pending = [f for f in self._frames if f[0] > sent]
            return self._encoded(pending[max(0, len(pending) - 2)]) if pending else None

    def _newest(self) -> tuple[int, bytes, int, float]:
        with self._lock:
            return self._encoded(self._frames[-1]) if self._frames else (-1, b"", -1, float("nan"))

    def _encoded(self, frame: _Frame) -> tuple[int, bytes, int, float]:
        """(its number among the frames played, JPEG, index, capture time): encoded once per
        picture sent: frames played faster than a page takes them are never encoded, and a
        picture held over frames (M3E holds its pictures between motion) once. Under ``_lock``."""
        played, index, picture, captured = frame
        if picture is not self._jpeg_picture:  # an M3E frame's pixels are made here, if at all
            self._jpeg, self._jpeg_picture = self._encoder.encode(pixels(picture)), picture
        return played, self._jpeg, index, captured

    def on_audio(self, samples: npt.NDArray[np.int16]) -> None:
        if self._clients:
            self._audio.append(samples.astype("<i2").tobytes())
            self._wake()

    # ---- HTTP
    async def start(self) -> None:
        self._loop = asyncio.get_running_loop()
        app = web.Application(client_max_size=64 * 1024)
        app.add_routes(
            [
                web.get("/", self._page),
                web.get("/ws", self._ws),
                web.get("/mjpeg", self._mjpeg),
                web.get("/api/stats", self._stats_handler),
                web.post("/api/channel", self._set_channel),
            ]
        )
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, self.host, self.port)
        try:
            await site.start()
        except OSError as exc:  # one line for the user, not a traceback
            await self._runner.cleanup()
            raise ValueError(f"cannot serve the viewer on {self.host}:{self.port}: {exc.strerror}") from None
        self.port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
        self._poller = asyncio.create_task(self._poll_channel())
        print(f"viewer: {self.url}", flush=True)

    @property
    def url(self) -> str:
        """The page's address with its token (what a browser needs to steer the channel)."""
        return auth.with_token(f"http://{self.host}:{self.port}/", self.token)

    async def stop(self) -> None:
        if self._poller:
            self._poller.cancel()
        if self._runner:
            await self._runner.cleanup()

    def _session(self) -> ReceiverSession | None:
        """The newest session (a call that switched its scheme started a new one)."""
        sessions = list(self.service.sessions.values()) if self.service else []
        playing = [s for s in sessions if getattr(s, "has_media", True)]  # a header alone: not shown
        return (playing or sessions)[-1] if sessions else None

    def _direction(self) -> str:
        """The emulator route feeding this receiver, which the SNR control addresses."""
        s = self._session()
        return s.header.direction if s else ""

    def stats(self) -> dict[str, Any]:
        out: dict[str, Any] = {"frame": self._frame_index, "channel": self._channel, "time": time.time()}
        out["sessions"] = len(self.service.sessions) if self.service else 0  # live, with media or not
        s = self._session()
        if s is not None:
            played_s = s.stats.frames / s.header.fps if s.header.fps else 0.0
            out.update(
                session=s.header.session_id,
                video_scheme=s.header.video_scheme,
                width=s.header.width,
                height=s.header.height,
                fps_source=s.header.fps,
                sample_rate=s.header.sample_rate,
                receiver=dataclasses.asdict(s.stats),
                # decoded payload bits (video, audio, digital text) over the last seconds, and
                # per second of video played so far (M3E's analog sentences are symbols, not
                # bits: the channel's symbols_per_s counts them)
                bitrate_kbps=self._bitrate.update(s.payload_bytes * 8) / 1000,
                payload_bytes=s.payload_bytes,
                bitrate_kbps_mean=s.payload_bytes * 8 / 1000 / played_s if played_s >= 1 else None,
                texts=s.texts[-5:],
            )
        return out

    async def _page(self, request: web.Request) -> web.StreamResponse:
        return web.FileResponse(PAGE)

    async def _stats_handler(self, request: web.Request) -> web.Response:
        return web.json_response(self.stats())

    async def _ws(self, request: web.Request) -> web.WebSocketResponse:
        """Each frame as it is played, at least ``MIN_FRAME_GAP_S`` apart (frames played
        together, as a late motion burst brings them, are spread out rather than all but the
        last lost on the page; a page more than a frame behind skips frames), ``R`` for one
        that holds the picture before it; the audio; the statistics twice a second."""
        ws = web.WebSocketResponse(heartbeat=10, max_msg_size=4096)
        await ws.prepare(request)
        self._clients += 1
        news = asyncio.Event()
        self._waiting.add(news)
        closed = asyncio.create_task(_until_closed(ws))
        sent, sent_jpeg, last_stats, next_at = -1, b"", 0.0, 0.0
        try:
            while not ws.closed and not closed.done():
                news.clear()
                wait = 0.5
                # made (an M3E frame's pixels) and encoded off the event loop
                if (frame := await asyncio.to_thread(self._frame_after, sent)) is not None:
                    if (now := time.monotonic()) >= next_at:
                        sent, jpeg, index, captured = frame
                        await ws.send_bytes(b"T" + struct.pack("<dq", captured, index))
                        # a held picture: the page has it (nothing to send, decode or draw)
                        await ws.send_bytes(b"R" if jpeg is sent_jpeg else b"V" + jpeg)
                        sent_jpeg, next_at = jpeg, now + MIN_FRAME_GAP_S
                    wait = max(0.0, next_at - time.monotonic())
                while self._audio:
                    await ws.send_bytes(b"A" + self._audio.popleft())
                if time.monotonic() - last_stats > 0.5:
                    await ws.send_str(json.dumps(self.stats()))
                    last_stats = time.monotonic()
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(news.wait(), wait)
        except (ConnectionResetError, RuntimeError):
            pass
        finally:
            self._waiting.discard(news)
            self._clients -= 1
            closed.cancel()
        return ws

    async def _mjpeg(self, request: web.Request) -> web.StreamResponse:
        resp = web.StreamResponse(headers={"Content-Type": "multipart/x-mixed-replace; boundary=frame"})
        await resp.prepare(request)
        self._clients += 1
        sent = -1
        try:
            while True:
                played, jpeg, _, _ = await asyncio.to_thread(self._newest)
                if played != sent and jpeg:
                    await resp.write(b"--frame\r\nContent-Type: image/jpeg\r\n\r\n" + jpeg + b"\r\n")
                    sent = played
                await asyncio.sleep(1 / 60)
        except (ConnectionResetError, asyncio.CancelledError):
            pass
        finally:
            self._clients -= 1
        return resp

    async def _set_channel(self, request: web.Request) -> web.Response:
        if (refused := auth.refusal_response(request, self.token)) is not None:
            log.warning("POST /api/channel from %s refused: %s", request.remote, refused.text)
            return refused
        if not self.control:
            return web.json_response({"error": "this receiver was started without --control"}, status=409)
        try:
            body = await request.json()
            settings = ChannelSettings(snr_db=float(body["snr_db"]), direction=self._direction())
        except (ValueError, KeyError, TypeError):
            return web.json_response({"error": 'expected JSON {"snr_db": number}'}, status=400)
        try:
            async with client_channel(self.control, self.tls) as ch:
                reply = await rpc.ControlStub(ch).Configure(
                    settings_to_proto(settings), timeout=3, metadata=self._metadata, wait_for_ready=True
                )
        except grpc.aio.AioRpcError as exc:
            return web.json_response({"error": f"relay: {exc.details()}"}, status=502)
        self._channel = dataclasses.asdict(channel_stats_from_proto(reply))
        return web.json_response(self._channel)

    async def _poll_channel(self) -> None:
        if not self.control:
            return
        async with client_channel(self.control, self.tls) as ch:
            stub = rpc.ControlStub(ch)
            while True:
                try:
                    self._channel = dataclasses.asdict(
                        channel_stats_from_proto(
                            await stub.Stats(
                                pb.StatsRequest(direction=self._direction()),
                                timeout=2,
                                metadata=self._metadata,
                            )
                        )
                    )
                except Exception:
                    self._channel = {}
                await asyncio.sleep(1.0)


async def _until_closed(ws: web.WebSocketResponse) -> None:
    """Read (and ignore) what the client sends until it closes."""
    async for msg in ws:
        if msg.type in (WSMsgType.CLOSE, WSMsgType.CLOSING, WSMsgType.CLOSED, WSMsgType.ERROR):
            break


class _Rate:
    """Rate of a growing counter over the last few seconds."""

    def __init__(self) -> None:
        self._samples: collections.deque[tuple[float, int]] = collections.deque(maxlen=20)

    def update(self, total: int) -> float:
        now = time.monotonic()
        self._samples.append((now, total))
        t0, v0 = self._samples[0]
        return (total - v0) / (now - t0) if now > t0 else 0.0
