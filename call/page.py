"""The call page: both parties side by side (``/``) or one party's own view (``/?party=a``).

Per party: its local preview (what it sends), what it receives regenerated from the other side
(read by the page straight from that party's receiver viewer websocket: video, audio, the
decoded text per keyframe with ξ̂ and transmissions, fps, latency, bitrate), a scheme switch
for what it sends and an SNR control for what it receives. Closing the last page (or the
hang-up button) ends the call.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from aiohttp import WSMsgType, web

from call.orchestrator import DIRECTIONS, OTHER, Call
from m3e.media.preview import SourcePreview
from m3e.wire import auth

log = logging.getLogger("m3e.call")
PAGE = Path(__file__).parent / "static" / "call.html"
PREVIEW_FPS = 10.0
HANG_UP_GRACE_S = 3.0  # a reloaded page comes back within this


class CallPage:
    def __init__(self, call: Call, host: str, port: int, on_hang_up: Callable[[], None]) -> None:
        self.call, self.host, self.port = call, host, port
        self.on_hang_up = on_hang_up
        self.previews = {  # a party on another machine has its page (and preview) there
            name: SourcePreview(p.source, call.s.width, call.s.height, PREVIEW_FPS)
            for name, p in call.parties.items()
            if p in call.local()
        }
        for preview in self.previews.values():
            preview.start()
        self._pages = 0
        self._seen_page = False
        self._runner: web.AppRunner | None = None

    async def start(self) -> None:
        self._runner = web.AppRunner(self._app(), access_log=None, shutdown_timeout=2.0)
        await self._runner.setup()
        site = web.TCPSite(self._runner, self.host, self.port)
        await site.start()
        self.port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]

    @property
    def url(self) -> str:
        return auth.with_token(f"http://{self.host}:{self.port}/", self.call.token)

    @web.middleware
    async def _guard(self, request: web.Request, handler: Any) -> web.StreamResponse:
        """POSTs: same origin, JSON and the token; the presence socket: same origin."""
        if request.method == "POST":
            if (refused := auth.refusal_response(request, self.call.token)) is not None:
                log.warning("POST %s from %s refused: %s", request.path, request.remote, refused.text)
                return refused
        elif request.path == "/ws":
            origin = request.headers.get("Origin")
            if origin is not None and origin.partition("://")[2].lower() != request.host.lower():
                raise web.HTTPForbidden(text="cross-origin")
        return await handler(request)

    def _app(self) -> web.Application:
        app = web.Application(client_max_size=16 * 1024, middlewares=[self._guard])
        app.add_routes(
            [
                web.get("/", self._page),
                web.get("/api/call", self._state),
                web.post("/api/scheme", self._scheme),
                web.post("/api/channel", self._channel),
                web.post("/api/hangup", self._hang_up),
                web.post("/api/join", self._join),
                web.get("/preview/{party}", self._preview),
                web.get("/ws", self._presence),
            ]
        )
        return app

    async def stop(self) -> None:
        for p in self.previews.values():
            p.close()
        if self._runner:
            await self._runner.cleanup()

    # ------------------------------------------------------------ handlers
    async def _page(self, request: web.Request) -> web.StreamResponse:
        return web.FileResponse(PAGE)

    async def _state(self, request: web.Request) -> web.Response:
        c = self.call
        parties = {
            name: {
                "source": p.source,
                "scheme": p.scheme,
                "sends_on": p.direction,
                "receives_on": DIRECTIONS[OTHER[name]],
                "viewer": f"{self.host}:{p.viewer_port}",
                "preview": self.previews[name].available,
                "online": p.receiver is not None and p.receiver.poll() is None,
                "switches": p.switches,
            }
            for name, p in c.parties.items()
            if name in self.previews
        }
        state: dict[str, object] = {"parties": parties, "elapsed_s": time.time() - c.started}
        if c.s.remote:  # what the joining machine needs to reach the relay
            state["relay_port"] = int(c.relay_address.rsplit(":", 1)[1])
        return web.json_response(state)

    async def _scheme(self, request: web.Request) -> web.Response:
        body = await _json(request)
        party, scheme = str(body.get("party", "")), str(body.get("scheme", ""))
        if party not in self.call.parties:
            return web.json_response({"error": f"unknown party {party!r}"}, status=400)
        try:
            await asyncio.get_running_loop().run_in_executor(None, self.call.switch_scheme, party, scheme)
        except ValueError as exc:
            return web.json_response({"error": str(exc)}, status=400)
        return web.json_response({"party": party, "scheme": scheme})

    async def _channel(self, request: web.Request) -> web.Response:
        body = await _json(request)
        try:
            snr = float(body["snr_db"])
            stats = await asyncio.get_running_loop().run_in_executor(
                None, lambda: self.call.set_channel(str(body.get("direction", "")), snr_db=snr)
            )
        except (KeyError, TypeError, ValueError) as exc:
            return web.json_response({"error": f"expected {{direction, snr_db}}: {exc}"}, status=400)
        return web.json_response(stats)

    async def _join(self, request: web.Request) -> web.Response:
        """The remote party's receiver is at ``{"receiver": "HOST:PORT"}``: our party starts
        sending to it. The answer is the relay's port."""
        receiver = str((await _json(request)).get("receiver", ""))
        host, sep, port = receiver.rpartition(":")
        if not (host and sep and port.isdigit()):
            return web.json_response({"error": 'expected {"receiver": "HOST:PORT"}'}, status=400)
        if host.strip("[]") != request.remote:  # a route only back to the machine that asked
            return web.json_response(
                {"error": f"the receiver must be on the joining machine ({request.remote}), not {host}"},
                status=403,
            )
        try:
            relay_port = await asyncio.get_running_loop().run_in_executor(
                None, self.call.join_remote, receiver
            )
        except ValueError as exc:
            return web.json_response({"error": str(exc)}, status=409)
        return web.json_response({"relay_port": int(relay_port)})

    async def _hang_up(self, request: web.Request) -> web.Response:
        self.on_hang_up()
        return web.json_response({"ended": True})

    async def _preview(self, request: web.Request) -> web.StreamResponse:
        preview = self.previews.get(request.match_info["party"])
        if preview is None:
            raise web.HTTPNotFound()
        resp = web.StreamResponse(headers={"Content-Type": "multipart/x-mixed-replace; boundary=frame"})
        await resp.prepare(request)
        sent = b""
        with contextlib.suppress(ConnectionResetError, asyncio.CancelledError):
            while request.transport is not None and not request.transport.is_closing():
                if preview.jpeg is not sent and preview.jpeg:
                    sent = preview.jpeg
                    await resp.write(b"--frame\r\nContent-Type: image/jpeg\r\n\r\n" + sent + b"\r\n")
                await asyncio.sleep(1 / PREVIEW_FPS)
        return resp

    async def _presence(self, request: web.Request) -> web.WebSocketResponse:
        """Open while a call page is open; when the last one closes, the call ends."""
        ws = web.WebSocketResponse(heartbeat=5)
        await ws.prepare(request)
        self._pages += 1
        self._seen_page = True
        try:
            async for msg in ws:
                if msg.type in (WSMsgType.CLOSE, WSMsgType.ERROR):
                    break
        finally:
            self._pages -= 1
            asyncio.get_running_loop().call_later(HANG_UP_GRACE_S, self._hang_up_if_alone)
        return ws

    @property
    def watching(self) -> bool:
        """A call page is open."""
        return self._pages > 0

    def _hang_up_if_alone(self) -> None:
        if self._seen_page and self._pages == 0:
            log.info("the last call page closed: hanging up")
            self.on_hang_up()


async def _json(request: web.Request) -> dict[str, Any]:
    try:
        body = await request.json()
    except ValueError:
        return {}
    return body if isinstance(body, dict) else {}
