"""The side-by-side page's HTTP side (``receiver.compare``) and the viewer's rates, without
processes: state, bad requests, and the SNR control fanned out to every route."""

from types import SimpleNamespace

import aiohttp
from aiohttp.test_utils import TestClient, TestServer

from channel_emulator.routes import Routes
from channel_emulator.server import ControlService
from m3e.media.preview import SourcePreview
from m3e.wire import link_pb2_grpc as rpc
from m3e.wire.grpc_util import create_server
from m3e.wire.messages import ChannelSettings, ReceiverStats, StreamHeader
from receiver.compare import ComparePage, Pane
from receiver.viewer import Viewer

WEBCAM = SourcePreview("webcam", 64, 48, 15.0)  # no preview: a webcam is the sender's alone
PANES = [Pane("H.265", "h265", "h265", 1), Pane("M3E", "m3e", "m3e", 2)]


async def test_page_state_and_bad_requests() -> None:
    page = ComparePage("127.0.0.1", 0, PANES, "127.0.0.1:1", WEBCAM, 20.0)
    async with TestClient(TestServer(page.app())) as client:
        assert "side by side" in await (await client.get("/")).text()
        state = await (await client.get("/api/demo")).json()
        assert [p["direction"] for p in state["panes"]] == ["h265", "m3e"]
        assert state["snr_db"] == 20 and state["preview"] is False
        assert (await client.get("/source")).status == 404  # a webcam is the senders'
        json_token = {"Content-Type": "application/json", "X-M3E-Token": page.token}
        assert (await client.post("/api/channel", data=b"not json", headers=json_token)).status == 400
        assert (await client.post("/api/channel", json={"snr": 3}, headers=json_token)).status == 400
        assert (await client.post("/api/channel", json={"snr_db": 3})).status == 401  # no token
        reply = await client.post("/api/channel", json={"snr_db": 3}, headers=json_token)  # no relay at 1
        assert reply.status == 502 and "relay" in (await reply.json())["error"]


async def test_one_snr_sets_every_route() -> None:
    routes = Routes(ChannelSettings(snr_db=20.0))
    for p in PANES:
        routes.add(p.direction, "127.0.0.1:1")
    service = ControlService(routes, "tok")
    server, port, _ = create_server(
        "127.0.0.1:0", [lambda s: rpc.add_ControlServicer_to_server(service, s)], None
    )
    await server.start()
    try:
        page = ComparePage("127.0.0.1", 0, PANES, f"127.0.0.1:{port}", WEBCAM, 20.0, token="tok")
        assert page.token == "tok"
        async with TestClient(TestServer(page.app())) as client:
            post = await client.post("/api/channel", json={"snr_db": 4}, headers={"X-M3E-Token": "tok"})
            reply = await post.json()
            assert {d: r["settings"]["snr_db"] for d, r in reply["routes"].items()} == {"h265": 4, "m3e": 4}
            assert (await (await client.get("/api/demo")).json())["snr_db"] == 4
        assert all(r.emulator.settings.snr_db == 4 for r in routes.values())
    finally:
        await server.stop(None)


def test_viewer_reports_the_rate_per_second_of_video() -> None:
    header = StreamHeader("s", 64, 48, 30.0, video_scheme="h265-equal-rate")
    stats = ReceiverStats(frames=60)
    session = SimpleNamespace(header=header, stats=stats, payload_bytes=2000, texts=[])
    viewer = Viewer()
    viewer.service = SimpleNamespace(sessions={"s": session})  # type: ignore[assignment]
    out = viewer.stats()
    assert out["video_scheme"] == "h265-equal-rate" and out["payload_bytes"] == 2000
    assert out["bitrate_kbps_mean"] == 8.0  # 16 kbit over 2 s of video
    stats.frames = 10
    assert viewer.stats()["bitrate_kbps_mean"] is None  # under a second: no mean yet


async def test_viewer_steers_only_for_its_own_page_with_the_token() -> None:
    """A cross-site ``text/plain`` POST once set the relay to -25 dB: now the viewer asks for
    same-origin JSON with the token, and hands the token on to the relay's Control."""
    routes = Routes(ChannelSettings(snr_db=20.0))
    routes.add("", "127.0.0.1:1")
    service = ControlService(routes, "tok")
    server, port, _ = create_server("127.0.0.1:0", [lambda s: rpc.add_ControlServicer_to_server(service, s)])
    await server.start()
    viewer = Viewer("127.0.0.1", 0, f"127.0.0.1:{port}", token="tok")
    try:
        await viewer.start()
        assert viewer.url.endswith("/?token=tok")
        base = f"http://127.0.0.1:{viewer.port}"
        async with aiohttp.ClientSession() as http:
            hostile = [
                ({"Content-Type": "text/plain", "Origin": "http://evil.example"}, '{"snr_db": -25}'),
                ({"Content-Type": "text/plain", "X-M3E-Token": "tok"}, '{"snr_db": -25}'),
                (
                    {
                        "Content-Type": "application/json",
                        "Origin": "http://evil.example",
                        "X-M3E-Token": "tok",
                    },
                    None,
                ),
                ({"Content-Type": "application/json"}, None),
                ({"Content-Type": "application/json", "X-M3E-Token": "guess"}, None),
            ]
            for headers, text in hostile:
                body = text if text is not None else '{"snr_db": -25}'
                async with http.post(f"{base}/api/channel", data=body, headers=headers) as reply:
                    assert reply.status in (401, 403, 415), headers
            assert routes[""].emulator.settings.snr_db == 20.0
            ok = {"Content-Type": "application/json", "X-M3E-Token": "tok", "Origin": base}
            async with http.post(f"{base}/api/channel", json={"snr_db": 5}, headers=ok) as reply:
                assert reply.status == 200, await reply.text()
            assert routes[""].emulator.settings.snr_db == 5.0
    finally:
        await viewer.stop()
        await server.stop(None)


async def test_viewer_sends_a_held_picture_once() -> None:
    """Frames that hold the picture before them (M3E between motion) go as ``R``: the page has
    the picture, and nothing is encoded, sent or decoded again; a new picture goes as JPEG."""
    import asyncio

    import numpy as np

    from m3e.schemes.base import PlayedFrame

    viewer = Viewer("127.0.0.1", 0)
    held = np.full((48, 64, 3), 90, np.uint8)
    await viewer.start()
    try:
        async with (
            aiohttp.ClientSession() as http,
            http.ws_connect(f"http://127.0.0.1:{viewer.port}/ws") as ws,
        ):
            tags = []
            for index, rgb in enumerate((held, held, held, held.copy())):
                viewer.on_frame(PlayedFrame(index, rgb, False, None))
                while True:
                    msg = await asyncio.wait_for(ws.receive(), 5)
                    if msg.type == aiohttp.WSMsgType.BINARY and msg.data[:1] in (b"V", b"R"):
                        tags.append(msg.data[:1])
                        break
            assert tags == [b"V", b"R", b"R", b"V"]
    finally:
        await viewer.stop()


async def test_viewer_spreads_frames_played_together_and_never_queues() -> None:
    """Frames played at once (a late motion burst brings several) reach the page one by one,
    ``MIN_FRAME_GAP_S`` apart, rather than only the last; a page further behind skips to the
    frame before the newest; a new session's frames (numbered from 0 again) are sent too."""
    import asyncio
    import struct
    import time

    import numpy as np

    from m3e.schemes.base import PlayedFrame
    from receiver.viewer import MIN_FRAME_GAP_S

    viewer = Viewer("127.0.0.1", 0)
    await viewer.start()

    async def received(ws: aiohttp.ClientWebSocketResponse, n: int) -> list[tuple[int, float]]:
        out: list[tuple[int, float]] = []
        while len(out) < n:
            msg = await asyncio.wait_for(ws.receive(), 5)
            if msg.type == aiohttp.WSMsgType.BINARY and msg.data[:1] == b"T":
                out.append((struct.unpack("<dq", msg.data[1:])[1], time.monotonic()))
        return out

    def play(indices: range) -> None:
        for i in indices:
            viewer.on_frame(PlayedFrame(i, np.full((48, 64, 3), i, np.uint8), False, None))

    try:
        async with (
            aiohttp.ClientSession() as http,
            http.ws_connect(f"http://127.0.0.1:{viewer.port}/ws") as ws,
        ):
            play(range(0, 1))
            await received(ws, 1)
            play(range(1, 3))  # together
            got = await received(ws, 2)
            assert [i for i, _ in got] == [1, 2] and got[1][1] - got[0][1] >= 0.8 * MIN_FRAME_GAP_S
            play(range(3, 13))  # far behind: 4 kept, the page gets the last two
            assert [i for i, _ in await received(ws, 2)] == [11, 12]
            play(range(0, 2))  # a new session
            assert [i for i, _ in await received(ws, 2)] == [0, 1]
    finally:
        await viewer.stop()
