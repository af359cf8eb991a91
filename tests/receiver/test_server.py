"""The receiver's Link edge: sessions that are abandoned expire, their number is bounded,
nothing is written before media, and every header field is checked before decoders are set up."""

import asyncio
import threading
from collections.abc import AsyncIterator
from pathlib import Path

import grpc
import pytest

from m3e.wire import link_pb2 as pb
from m3e.wire import link_pb2_grpc as rpc
from m3e.wire.grpc_util import client_channel, create_server
from receiver.config import ReceiverConfig
from receiver.server import ReceiverService


def _header(session_id: str, **fields: object) -> pb.Uplink:
    h = pb.StreamHeader(session_id=session_id, width=160, height=120, fps=30, video_scheme="h265")
    for k, v in fields.items():
        setattr(h, k, v)
    return pb.Uplink(header=h)


async def _serve(service: ReceiverService) -> tuple[grpc.aio.Server, str]:
    server, port, _ = create_server("127.0.0.1:0", [lambda s: rpc.add_LinkServicer_to_server(service, s)])
    await server.start()
    return server, f"127.0.0.1:{port}"


async def _stream(address: str, *messages: pb.Uplink) -> list[pb.Feedback]:
    async def uplink() -> AsyncIterator[pb.Uplink]:
        for m in messages:
            yield m

    async with client_channel(address) as ch:
        return [m async for m in rpc.LinkStub(ch).Stream(uplink())]


async def test_abandoned_header_only_sessions_expire_and_write_nothing(tmp_path: Path) -> None:
    config = ReceiverConfig(out=str(tmp_path / "rx.mp4"), sound_card=False, session_idle_s=0.3)
    service = ReceiverService(config)
    server, address = await _serve(service)
    threads = threading.active_count()
    try:
        for i in range(10):  # a header, then the stream is cut: the session waits for a reconnect
            assert await _stream(address, _header(f"s{i}")) == []
        assert len(service.sessions) == 10
        assert list(tmp_path.iterdir()) == []  # no recording opened without media
        assert threading.active_count() <= threads + 2  # no recorder thread per session
        await asyncio.sleep(0.5)
        assert await service.expire_idle() == 10
        assert service.sessions == {} and list(tmp_path.iterdir()) == []
        assert not service.finished.is_set()  # a session without media is no finished stream
    finally:
        await server.stop(0)


async def test_a_session_beyond_the_limit_is_refused(tmp_path: Path) -> None:
    service = ReceiverService(ReceiverConfig(out=None, sound_card=False, max_sessions=2))
    server, address = await _serve(service)
    try:
        await _stream(address, _header("a"))
        await _stream(address, _header("b"))
        await _stream(address, _header("a"))  # a known session resumes
        with pytest.raises(grpc.aio.AioRpcError) as err:
            await _stream(address, _header("c"))
        assert err.value.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
        assert "2 live sessions" in (err.value.details() or "")
        await service.expire_idle()  # not idle long enough: both stay
        assert set(service.sessions) == {"a", "b"}
    finally:
        await server.stop(0)


async def test_headers_arriving_while_a_session_is_set_up_count_against_the_limit(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    service = ReceiverService(ReceiverConfig(out=None, sound_card=False, max_sessions=1))
    slow_setup = service._new_session

    def new_session(header: object) -> object:
        threading.Event().wait(0.5)  # an M3E session loading its models
        return slow_setup(header)  # type: ignore[arg-type]

    monkeypatch.setattr(service, "_new_session", new_session)
    server, address = await _serve(service)
    try:
        results = await asyncio.gather(
            _stream(address, _header("a")), _stream(address, _header("b")), return_exceptions=True
        )
        refused = [r for r in results if isinstance(r, grpc.aio.AioRpcError)]
        assert len(refused) == 1 and refused[0].code() == grpc.StatusCode.RESOURCE_EXHAUSTED
        assert len(service.sessions) == 1
    finally:
        await server.stop(0)


@pytest.mark.parametrize(
    "fields",
    [
        {"audio_scheme": "aac", "sample_rate": 2**32 - 1, "audio_channels": 1},
        {"audio_scheme": "aac", "sample_rate": 48000, "audio_channels": 2**32 - 1},
        {"audio_scheme": "opus", "sample_rate": 48000, "audio_channels": 1, "audio_config": b"\0" * 5000},
        {"width": 2**32 - 1},
        {"fps": float("nan")},
        {"video_scheme": "v" * 20_000},
        {"text_scheme": "morse"},
    ],
)
async def test_bad_header_fields_end_the_stream_invalid_argument(fields: dict[str, object]) -> None:
    service = ReceiverService(ReceiverConfig(out=None, sound_card=False))
    server, address = await _serve(service)
    try:
        with pytest.raises(grpc.aio.AioRpcError) as err:
            await _stream(address, _header("s", **fields), pb.Uplink(burst=pb.Burst(session_id="s")))
        assert err.value.code() == grpc.StatusCode.INVALID_ARGUMENT
        assert len(err.value.details() or "") <= 200 and service.sessions == {}
    finally:
        await server.stop(0)


async def test_decoder_set_up_errors_are_invalid_argument(monkeypatch: pytest.MonkeyPatch) -> None:
    """An error PyAV raises while the decoders are set up (an ArgumentError was seen) ends the
    stream INVALID_ARGUMENT, not UNKNOWN."""
    import av

    from receiver import server as receiver_server

    def fails(*args: object, **kwargs: object) -> None:
        raise av.error.ArgumentError(22, "Invalid argument")

    monkeypatch.setattr(receiver_server, "ReceiverSession", fails)
    service = ReceiverService(ReceiverConfig(out=None, sound_card=False))
    server, address = await _serve(service)
    try:
        with pytest.raises(grpc.aio.AioRpcError) as err:
            await _stream(address, _header("s"))
        assert err.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    finally:
        await server.stop(0)
