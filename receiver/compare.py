"""The side-by-side page of ``m3e demo``: the source, H.265 and M3E at once.

The demo streams one source twice through one channel emulator, each scheme on a route of its
own (same channel settings, independent fading) to a receiver of its own; this page shows
the source (decoded here, ``/source``), and reads each receiver's viewer websocket straight
from the browser (video, statistics with the measured kbit/s, M3E's texts). Its one SNR
control sets every route's channel (``/api/channel``), so both streams meet the same SNR; it
takes only same-origin JSON POSTs with the control token (the page reads it from its URL).
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import logging
import threading
import time
from pathlib import Path
from typing import Any

import grpc
from aiohttp import web

from m3e.media.preview import SourcePreview
from m3e.wire import auth
from m3e.wire import link_pb2_grpc as rpc
from m3e.wire.convert import channel_stats_from_proto, settings_to_proto
from m3e.wire.grpc_util import TlsFiles, client_channel
from m3e.wire.messages import ChannelSettings

log = logging.getLogger("m3e.compare")
PAGE = Path(__file__).parent / "static" / "compare.html"
PREVIEW_FPS = 15.0


@dataclasses.dataclass(frozen=True)
class Pane:
    """One received stream on the page: its title, scheme, emulator route and viewer port."""

    title: str
    scheme: str
    direction: str
    viewer_port: int


class ComparePage:
    """The page and its API on ``host:port`` (0: any free port), in a thread of its own so
    the demo's process bookkeeping stays plain blocking code."""

    def __init__(
        self,
        host: str,
        port: int,
        panes: list[Pane],
        relay: str,
        preview: SourcePreview,
        snr_db: float,
        tls: TlsFiles | None = None,
        token: str | None = None,
    ) -> None:
        self.host, self.port = host, port
        self.panes, self.relay, self.preview, self.tls = panes, relay, preview, tls
        self.token = token or auth.new_token()
        self._metadata = auth.grpc_metadata(token)
        self.snr_db = snr_db
        self.started = time.time()
        self._runner: web.AppRunner | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None

    # ------------------------------------------------------------ lifetime
    def start_in_thread(self) -> str:
        """Serve the page from a thread of its own; returns its URL."""
        loop = self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=loop.run_forever, name="compare page", daemon=True)
        self._thread.start()
        asyncio.run_coroutine_threadsafe(self.start(), loop).result(timeout=30)
        return auth.with_token(f"http://{self.host}:{self.port}/", self.token)

    def stop_thread(self) -> None:
        self.preview.close()
        if self._loop is None or self._thread is None:
            return
        with contextlib.suppress(Exception):
            asyncio.run_coroutine_threadsafe(self.stop(), self._loop).result(timeout=10)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(timeout=10)
        self._loop.close()

    async def start(self) -> None:
        self._runner = web.AppRunner(self.app(), access_log=None, shutdown_timeout=1.0)
        await self._runner.setup()
        site = web.TCPSite(self._runner, self.host, self.port)
        await site.start()
        self.port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]

    async def stop(self) -> None:
        if self._runner:
            await self._runner.cleanup()

    def app(self) -> web.Application:
        app = web.Application(client_max_size=16 * 1024)
        app.add_routes(
            [
                web.get("/", self._page),
                web.get("/api/demo", self._state),
                web.post("/api/channel", self._channel),
                web.get("/source", self._source),
            ]
        )
        return app

    # ------------------------------------------------------------ handlers
    async def _page(self, request: web.Request) -> web.StreamResponse:
        return web.FileResponse(PAGE)

    async def _state(self, request: web.Request) -> web.Response:
        return web.json_response(
            {
                "panes": [dataclasses.asdict(p) for p in self.panes],
                "source": Path(self.preview.source).name,
                "preview": self.preview.available,
                "source_pts": self.preview.pts,
                "snr_db": self.snr_db,
                "elapsed_s": time.time() - self.started,
            }
        )

    async def _channel(self, request: web.Request) -> web.Response:
        """``{"snr_db": x}``: every pane's route to x dB; the answer is each route's statistics."""
        if (refused := auth.refusal_response(request, self.token)) is not None:
            return refused
        try:
            body = await request.json()
            snr = float(body["snr_db"])
            settings = [ChannelSettings(snr_db=snr, direction=p.direction) for p in self.panes]
        except (ValueError, KeyError, TypeError):
            return web.json_response({"error": 'expected JSON {"snr_db": number}'}, status=400)
        out: dict[str, Any] = {}
        try:
            async with client_channel(self.relay, self.tls) as ch:
                stub = rpc.ControlStub(ch)
                for pane, s in zip(self.panes, settings, strict=True):
                    reply = await stub.Configure(
                        settings_to_proto(s), timeout=3, metadata=self._metadata, wait_for_ready=True
                    )
                    out[pane.direction] = dataclasses.asdict(channel_stats_from_proto(reply))
        except grpc.aio.AioRpcError as exc:
            return web.json_response({"error": f"relay: {exc.details()}"}, status=502)
        self.snr_db = snr
        return web.json_response({"snr_db": snr, "routes": out})

    async def _source(self, request: web.Request) -> web.StreamResponse:
        if not self.preview.available:
            raise web.HTTPNotFound(text="no preview of this source")
        resp = web.StreamResponse(headers={"Content-Type": "multipart/x-mixed-replace; boundary=frame"})
        await resp.prepare(request)
        sent = b""
        with contextlib.suppress(ConnectionResetError, asyncio.CancelledError):
            while request.transport is not None and not request.transport.is_closing():
                jpeg = self.preview.jpeg
                if jpeg is not sent and jpeg:
                    sent = jpeg
                    await resp.write(b"--frame\r\nContent-Type: image/jpeg\r\n\r\n" + jpeg + b"\r\n")
                await asyncio.sleep(1 / (2 * PREVIEW_FPS))
        return resp
