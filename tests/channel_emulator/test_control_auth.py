"""Who may steer the channel: ``Control`` answers only calls with the relay's token, and
``SetRoute`` points routes only at receivers the operator allowed."""

import grpc
import pytest

from channel_emulator.routes import Routes
from channel_emulator.server import ControlService
from m3e.wire import link_pb2 as pb
from m3e.wire import link_pb2_grpc as rpc
from m3e.wire.auth import RouteAllowList, grpc_metadata
from m3e.wire.convert import settings_to_proto
from m3e.wire.grpc_util import client_channel, create_server
from m3e.wire.messages import ChannelSettings

TOKEN = "the-relay-token"


async def _control(routes: Routes, allowed: RouteAllowList) -> tuple[grpc.aio.Server, int]:
    service = ControlService(routes, TOKEN, allowed)
    server, port, _ = create_server("127.0.0.1:0", [lambda s: rpc.add_ControlServicer_to_server(service, s)])
    await server.start()
    return server, port


async def test_control_needs_the_token() -> None:
    routes = Routes(ChannelSettings(snr_db=20.0))
    routes.add("", "127.0.0.1:1")
    server, port = await _control(routes, RouteAllowList(["127.0.0.1:1"]))
    try:
        async with client_channel(f"127.0.0.1:{port}") as ch:
            stub = rpc.ControlStub(ch)
            hostile = settings_to_proto(ChannelSettings(snr_db=-25.0))
            for metadata in ((), grpc_metadata("wrong"), grpc_metadata(TOKEN[:-1])):
                for call in (
                    stub.Configure(hostile, metadata=metadata),
                    stub.SetRoute(pb.RouteRequest(direction="x", target="127.0.0.1:1"), metadata=metadata),
                    stub.Stats(pb.StatsRequest(), metadata=metadata),
                ):
                    with pytest.raises(grpc.aio.AioRpcError) as err:
                        await call
                    assert err.value.code() == grpc.StatusCode.UNAUTHENTICATED
            assert routes[""].emulator.settings.snr_db == 20.0 and list(routes) == [""]
            reply = await stub.Configure(hostile, metadata=grpc_metadata(TOKEN))
            assert reply.settings.snr_db == -25.0
    finally:
        await server.stop(None)


async def test_set_route_only_to_allowed_receivers() -> None:
    routes = Routes()
    routes.add("", "127.0.0.1:7000")
    server, port = await _control(routes, RouteAllowList(["127.0.0.1:7000", "10.0.0.5"]))
    ok = grpc_metadata(TOKEN)
    try:
        async with client_channel(f"127.0.0.1:{port}") as ch:
            stub = rpc.ControlStub(ch)
            for target in ("169.254.169.254:80", "127.0.0.1:7001", "10.0.0.6:5000"):
                with pytest.raises(grpc.aio.AioRpcError) as err:
                    await stub.SetRoute(pb.RouteRequest(direction="x", target=target), metadata=ok)
                assert err.value.code() == grpc.StatusCode.PERMISSION_DENIED, target
            assert list(routes) == [""]
            await stub.SetRoute(pb.RouteRequest(direction="a-b", target="10.0.0.5:5000"), metadata=ok)
            await stub.SetRoute(pb.RouteRequest(direction="b-a", target="127.0.0.1:7000"), metadata=ok)
            assert {d: r.target for d, r in routes.items()} == {
                "": "127.0.0.1:7000",
                "a-b": "10.0.0.5:5000",
                "b-a": "127.0.0.1:7000",
            }
    finally:
        await server.stop(None)


def test_allow_list_entries() -> None:
    allowed = RouteAllowList(["Receiver:50052", "10.0.0.5", "[::1]:9000"])
    assert allowed.permits("receiver:50052") and not allowed.permits("receiver:50053")
    assert allowed.permits("10.0.0.5:1") and allowed.permits("[::1]:9000")
    assert not allowed.permits("10.0.0.50:1") and not allowed.permits("no-port")
    assert RouteAllowList(["*"]).permits("anywhere:1") and not RouteAllowList().permits("a:1")
    with pytest.raises(ValueError):
        RouteAllowList(["http://x/"])
