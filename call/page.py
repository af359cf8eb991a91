"""The call page: one party's own view (an invite link ``/?party=a&key=…``) or, with the
host's link, both parties side by side.

Per party: its local preview (its own camera in the browser for a ``browser`` party, else what
its sender reads), what it receives regenerated from the other side (the party's receiver viewer
websocket, relayed through this server: video with each frame's capture time, audio, the decoded
text per keyframe with ξ̂ and transmissions, fps, latency, bitrate), a scheme switch for what it
sends and an SNR control for what it receives. Closing the last page (or the hang-up button)
ends the call.

Only a holder of a link joins: every request carries the link's key (``?key=`` or the
``X-M3E-Token`` header), a party's key reaches only that party's controls, media and WebRTC
offer, and a POST from another origin, or not JSON, is refused. ``call/certificate.py`` says
when the page is HTTPS.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import secrets
import ssl
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import aiohttp
from aiohttp import WSMsgType, web

from call.orchestrator import DIRECTIONS, OTHER, Call
from call.webrtc import BrowserCapture
from m3e.media.preview import SourcePreview
from m3e.wire import auth

log = logging.getLogger("m3e.call")
PAGE = Path(__file__).parent / "static" / "call.html"
PREVIEW_FPS = 10.0
HANG_UP_GRACE_S = 3.0  # a reloaded page comes back within this
HOST = "host"  # the key that reaches both parties (the machine that started the call)
MAX_SDP = 64 * 1024
HOLDER = web.RequestKey("holder", str)  # whose link a request came with: a party or HOST


class CallPage:
    def __init__(
        self,
        call: Call,
        host: str,
        port: int,
        on_hang_up: Callable[[], None],
        tls: ssl.SSLContext | None = None,
    ) -> None:
        self.call, self.host, self.port = call, host, port
        self.on_hang_up = on_hang_up
        self.tls = tls
        # a party on another machine has its page (and preview) there
        self.parties = [p.name for p in call.local()]
        self.keys = {name: secrets.token_urlsafe(16) for name in [*call.parties, HOST]}
        self.previews = {
            p.name: SourcePreview(p.source, call.s.width, call.s.height, PREVIEW_FPS)
            for p in call.local()
            if not p.in_browser
        }
        for preview in self.previews.values():
            preview.start()
        self.captures = {
            p.name: BrowserCapture(p.feed, call.s.out / f"stamps-{p.name}.jsonl" if call.s.stamps else None)
            for p in call.local()
            if p.feed is not None
        }
        self._pages = 0
        self._seen_page = False
        self._runner: web.AppRunner | None = None

    async def start(self) -> None:
        self._runner = web.AppRunner(self._app(), access_log=None, shutdown_timeout=2.0)
        await self._runner.setup()
        site = web.TCPSite(self._runner, self.host, self.port, ssl_context=self.tls)
        await site.start()
        self.port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]

    def url(self, party: str = HOST) -> str:
        """The invite link of ``party`` (``HOST``: both parties' page)."""
        scheme = "https" if self.tls else "http"
        who = "" if party == HOST else f"party={party}&"
        return f"{scheme}://{self.host}:{self.port}/?{who}key={self.keys[party]}"

    def _app(self) -> web.Application:
        app = web.Application(client_max_size=MAX_SDP, middlewares=[self._guard])
        app.add_routes(
            [
                web.get("/", self._page),
                web.get("/api/call", self._state),
                web.post("/api/scheme", self._scheme),
                web.post("/api/channel", self._channel),
                web.post("/api/hangup", self._hang_up),
                web.post("/api/join", self._join),
                web.post("/api/offer", self._offer),
                web.get("/preview/{party}", self._preview),
                web.get("/party/{party}/ws", self._remote),
                web.get("/ws", self._presence),
            ]
        )
        return app

    async def stop(self) -> None:
        for p in self.previews.values():
            p.close()
        for c in self.captures.values():
            await c.close()
        if self._runner:
            await self._runner.cleanup()

    # ------------------------------------------------------------ who may
    @web.middleware
    async def _guard(self, request: web.Request, handler: Callable[..., Any]) -> web.StreamResponse:
        """Every request needs a link's key (``?key=`` or the ``X-M3E-Token`` header); a POST
        also comes from this page's own origin, as JSON, with the key in the header
        (``auth.browser_post_refusal``); the websockets come from this page's origin."""
        given = request.query.get("key") or request.headers.get(auth.HEADER) or ""
        holder = next((k for k, v in self.keys.items() if secrets.compare_digest(v, given)), None)
        if holder is None:
            return web.json_response({"error": "this call needs its invite link"}, status=403)
        if request.method == "POST":
            refused = auth.refusal_response(request, self.keys[holder])
            if refused is not None:
                log.warning("POST %s from %s refused: %s", request.path, request.remote, refused.text)
                return refused
        else:
            origin = request.headers.get("Origin")
            if origin is not None and origin.partition("://")[2].lower() != request.host.lower():
                return web.json_response({"error": "cross-origin request refused"}, status=403)
        request[HOLDER] = holder
        return await handler(request)

    @staticmethod
    def _may(request: web.Request, party: str) -> bool:
        return request[HOLDER] in (HOST, party)

    # ------------------------------------------------------------ handlers
    async def _page(self, request: web.Request) -> web.StreamResponse:
        return web.FileResponse(PAGE)

    async def _state(self, request: web.Request) -> web.Response:
        c = self.call
        parties = {
            name: {
                "source": p.source,
                "browser": p.in_browser,
                "scheme": p.scheme,
                "sends_on": p.direction,
                "receives_on": DIRECTIONS[OTHER[name]],
                "preview": name in self.previews and self.previews[name].available,
                "online": p.receiver is not None and p.receiver.poll() is None,
                "switches": p.switches,
            }
            for name, p in c.parties.items()
            if name in self.parties and self._may(request, name)
        }
        you = request[HOLDER]
        state: dict[str, object] = {"parties": parties, "elapsed_s": time.time() - c.started, "you": you}
        if c.s.remote and self._may(request, c.s.remote):  # what the joining machine needs
            state["relay_port"] = int(c.relay_address.rsplit(":", 1)[1])
            state["control_token"] = c.token  # its receiver steers its channel on our relay
        return web.json_response(state)

    async def _scheme(self, request: web.Request) -> web.Response:
        body = await _json(request)
        party, scheme = str(body.get("party", "")), str(body.get("scheme", ""))
        if party not in self.call.parties:
            return web.json_response({"error": f"unknown party {party!r}"}, status=400)
        if not self._may(request, party):
            return web.json_response({"error": f"this link is not party {party}'s"}, status=403)
        try:
            await asyncio.get_running_loop().run_in_executor(None, self.call.switch_scheme, party, scheme)
        except ValueError as exc:
            return web.json_response({"error": str(exc)}, status=400)
        return web.json_response({"party": party, "scheme": scheme})

    async def _channel(self, request: web.Request) -> web.Response:
        body = await _json(request)
        direction = str(body.get("direction", ""))
        receiver = next((p for p, d in DIRECTIONS.items() if d == direction), None)  # its sender
        if receiver is not None and not self._may(request, OTHER[receiver]):
            return web.json_response({"error": f"this link does not receive on {direction}"}, status=403)
        try:
            snr = float(body["snr_db"])
            stats = await asyncio.get_running_loop().run_in_executor(
                None, lambda: self.call.set_channel(direction, snr_db=snr)
            )
        except (KeyError, TypeError, ValueError) as exc:
            return web.json_response({"error": f"expected {{direction, snr_db}}: {exc}"}, status=400)
        return web.json_response(stats)

    async def _join(self, request: web.Request) -> web.Response:
        """The remote party's receiver is at ``{"receiver": "HOST:PORT"}``: our party starts
        sending to it. The answer is the relay's port."""
        if self.call.s.remote and not self._may(request, self.call.s.remote):
            return web.json_response({"error": "only the remote party's link joins"}, status=403)
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

    async def _offer(self, request: web.Request) -> web.Response:
        """A browser party's WebRTC offer ``{party, sdp, type}``; the answer as the same."""
        body = await _json(request)
        party = str(body.get("party", ""))
        capture = self.captures.get(party)
        if capture is None:
            return web.json_response({"error": f"party {party!r} does not send from a browser"}, status=400)
        if not self._may(request, party):
            return web.json_response({"error": f"this link is not party {party}'s"}, status=403)
        if body.get("type") != "offer" or not isinstance(body.get("sdp"), str):
            return web.json_response({"error": 'expected {"party", "sdp", "type": "offer"}'}, status=400)
        try:
            answer = await capture.answer(body["sdp"], "offer")
        except ValueError as exc:  # aiortc's word on an SDP it cannot use
            return web.json_response({"error": f"cannot answer this offer: {exc}"}, status=400)
        return web.json_response({"sdp": answer.sdp, "type": answer.type})

    async def _remote(self, request: web.Request) -> web.WebSocketResponse:
        """What ``party`` receives: its receiver viewer's websocket, relayed (the viewer listens
        on this machine only, and the page may be HTTPS)."""
        party = request.match_info["party"]
        if party not in self.parties or not self._may(request, party):
            raise web.HTTPNotFound()
        ws = web.WebSocketResponse(heartbeat=10, max_msg_size=4096)
        await ws.prepare(request)
        port = self.call.parties[party].viewer_port
        viewer = "127.0.0.1" if self.host in ("0.0.0.0", "::") else self.host
        with contextlib.suppress(aiohttp.ClientError, ConnectionResetError, asyncio.CancelledError):
            async with (
                aiohttp.ClientSession() as session,
                session.ws_connect(f"ws://{viewer}:{port}/ws", max_msg_size=8 * 1024 * 1024) as up,
            ):
                async for msg in up:
                    if ws.closed:
                        break
                    if msg.type == WSMsgType.BINARY:
                        await ws.send_bytes(msg.data)
                    elif msg.type == WSMsgType.TEXT:
                        await ws.send_str(msg.data)
        await ws.close()
        return ws

    async def _preview(self, request: web.Request) -> web.StreamResponse:
        party = request.match_info["party"]
        preview = self.previews.get(party)
        if preview is None or not self._may(request, party):
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
