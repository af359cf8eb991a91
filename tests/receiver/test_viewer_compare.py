"""The side-by-side page's HTTP side (``receiver.compare``) and the viewer's rates, without
processes: state, bad requests, and the SNR control fanned out to every route."""

from types import SimpleNamespace

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
        assert (await client.post("/api/channel", data=b"not json")).status == 400
        assert (await client.post("/api/channel", json={"snr": 3})).status == 400
        reply = await client.post("/api/channel", json={"snr_db": 3})  # no relay at port 1
        assert reply.status == 502 and "relay" in (await reply.json())["error"]


async def test_one_snr_sets_every_route() -> None:
    routes = Routes(ChannelSettings(snr_db=20.0))
    for p in PANES:
        routes.add(p.direction, "127.0.0.1:1")
    server, port, _ = create_server(
        "127.0.0.1:0", [lambda s: rpc.add_ControlServicer_to_server(ControlService(routes), s)], None
    )
    await server.start()
    try:
        page = ComparePage("127.0.0.1", 0, PANES, f"127.0.0.1:{port}", WEBCAM, 20.0)
        async with TestClient(TestServer(page.app())) as client:
            reply = await (await client.post("/api/channel", json={"snr_db": 4})).json()
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
