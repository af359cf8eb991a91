"""The call page's HTTP side, around a stand-in for the call's processes."""

from pathlib import Path

import aiohttp
import pytest
from aiohttp.test_utils import TestClient, TestServer

from call.orchestrator import Call, CallSettings
from call.page import HOST, CallPage


class _Call(Call):
    """The real bookkeeping without processes: what the page asks for is recorded."""

    def __init__(self) -> None:
        super().__init__(CallSettings(sources={"a": "webcam", "b": "webcam"}, out=Path("/nonexistent")))
        self.asked: list[tuple[str, ...]] = []

    def switch_scheme(self, party: str, scheme: str) -> None:
        if scheme not in ("m3e", "h265"):
            raise ValueError(f"unknown scheme {scheme!r}")
        self.asked.append(("scheme", party, scheme))

    def set_channel(self, direction: str, snr_db: float | None = None, fading: str | None = None) -> dict:
        if direction not in ("a-b", "b-a"):
            raise ValueError(f"unknown direction {direction!r}")
        self.asked.append(("channel", direction, str(snr_db)))
        return {"settings": {"snr_db": snr_db, "direction": direction}}


async def test_page_reports_the_call_and_forwards_controls() -> None:
    call, hung_up = _Call(), []
    page = CallPage(call, "127.0.0.1", 0, lambda: hung_up.append(True))
    async with TestClient(TestServer(page._app()), headers={"X-M3E-Token": page.keys[HOST]}) as client:
        state = await (await client.get("/api/call")).json()
        assert state["parties"]["a"]["sends_on"] == "a-b" and state["parties"]["a"]["receives_on"] == "b-a"
        assert state["parties"]["a"]["preview"] is False  # a webcam belongs to the sender

        assert (await client.post("/api/scheme", json={"party": "b", "scheme": "h265"})).status == 200
        assert (await client.post("/api/scheme", json={"party": "b", "scheme": "mpeg2"})).status == 400
        assert (await client.post("/api/scheme", json={"party": "c", "scheme": "h265"})).status == 400
        reply = await client.post("/api/channel", json={"direction": "a-b", "snr_db": 3})
        assert (await reply.json())["settings"]["snr_db"] == 3
        assert (await client.post("/api/channel", json={"direction": "x-y", "snr_db": 3})).status == 400
        assert (
            await client.post("/api/channel", data=b"not json", headers={"Content-Type": "application/json"})
        ).status == 400
        assert call.asked == [("scheme", "b", "h265"), ("channel", "a-b", "3.0")]

        assert (await client.get("/preview/z")).status == 404
        await client.post("/api/hangup", json={})
        assert hung_up == [True]
    await page.stop()


class _HostCall(_Call):
    """A host whose party B joins from another machine (``m3e call --remote b``)."""

    def __init__(self) -> None:
        super().__init__()
        self.s.remote = "b"
        self.relay_address = "127.0.0.1:50051"

    def join_remote(self, receiver: str) -> str:
        self.asked.append(("join", receiver))
        return "50051"


async def test_page_lets_the_remote_party_join() -> None:
    call = _HostCall()
    page = CallPage(call, "127.0.0.1", 0, lambda: None)
    async with TestClient(TestServer(page._app()), headers={"X-M3E-Token": page.keys["b"]}) as client:
        state = await (await client.get("/api/call")).json()
        assert state["relay_port"] == 50051 and state["parties"] == {}  # B has its own page
        assert state["control_token"] == call.token  # B's receiver steers its channel on our relay
        assert (await client.post("/api/join", json={"receiver": "no-port"})).status == 400
        # a route only back to the machine that joins (this test's client is on the loopback)
        reply = await client.post("/api/join", json={"receiver": "10.1.2.3:6000"})
        assert reply.status == 403 and "joining machine" in (await reply.json())["error"]
        reply = await client.post("/api/join", json={"receiver": "127.0.0.1:6000"})
        assert reply.status == 200 and (await reply.json())["relay_port"] == 50051
        assert call.asked == [("join", "127.0.0.1:6000")]
    await page.stop()


async def test_a_call_without_a_remote_party_refuses_a_join() -> None:
    page = CallPage(_Call(), "127.0.0.1", 0, lambda: None)
    async with TestClient(TestServer(page._app()), headers={"X-M3E-Token": page.keys[HOST]}) as client:
        assert "relay_port" not in await (await client.get("/api/call")).json()
        reply = await client.post("/api/join", json={"receiver": "127.0.0.1:6000"})
        assert reply.status == 409 and "--remote" in (await reply.json())["error"]
    await page.stop()


async def test_only_a_link_holder_joins_and_a_party_link_reaches_only_its_party() -> None:
    call = _Call()
    page = CallPage(call, "127.0.0.1", 0, lambda: None)
    async with TestClient(TestServer(page._app())) as client:
        for path in ("/", "/api/call", "/ws", "/preview/a", "/party/a/ws"):
            assert (await client.get(path)).status == 403, path
        assert (await client.get("/api/call", params={"key": "guess"})).status == 403
        assert (await client.post("/api/hangup")).status == 403

        a = {"X-M3E-Token": page.keys["a"]}
        state = await (await client.get("/api/call", headers=a)).json()
        assert list(state["parties"]) == ["a"] and state["you"] == "a"
        assert (await client.get("/", params={"key": page.keys["a"], "party": "a"})).status == 200
        assert (
            await client.post("/api/scheme", json={"party": "b", "scheme": "h265"}, headers=a)
        ).status == 403
        reply = await client.post("/api/channel", json={"direction": "a-b", "snr_db": 3}, headers=a)
        assert reply.status == 403  # A receives on b-a: a-b is B's to set
        assert (
            await client.post("/api/channel", json={"direction": "b-a", "snr_db": 3}, headers=a)
        ).status == 200
        foreign = {**a, "Origin": "https://evil.example"}
        assert (
            await client.post("/api/scheme", json={"party": "a", "scheme": "h265"}, headers=foreign)
        ).status == 403
        assert (
            await client.post("/api/scheme", json={"party": "a", "scheme": "h265"}, headers=a)
        ).status == 200
        assert call.asked == [("channel", "b-a", "3.0"), ("scheme", "a", "h265")]
    await page.stop()


def test_invite_links_name_the_party_and_the_scheme_the_page_is_served_with() -> None:
    page = CallPage(_Call(), "10.0.0.5", 8443, lambda: None)
    assert page.url("a") == f"http://10.0.0.5:8443/?party=a&key={page.keys['a']}"
    assert page.url(HOST) == f"http://10.0.0.5:8443/?key={page.keys[HOST]}"
    assert len({page.keys["a"], page.keys["b"], page.keys[HOST]}) == 3


async def test_only_the_page_itself_steers_the_call() -> None:
    """Cross-site pages and plain-text POSTs change nothing, even with a link's key."""
    call, hung_up = _Call(), []
    page = CallPage(call, "127.0.0.1", 0, lambda: hung_up.append(True))
    key = {"X-M3E-Token": page.keys[HOST]}
    async with TestClient(TestServer(page._app())) as client:
        body = {"direction": "a-b", "snr_db": -25}
        for path in ("/api/channel", "/api/scheme", "/api/hangup", "/api/join"):
            assert (await client.post(path, json=body, params={"key": page.keys[HOST]})).status == 401
            evil = {**key, "Origin": "http://evil.example"}
            assert (await client.post(path, json=body, headers=evil)).status == 403
            plain = {**key, "Content-Type": "text/plain"}
            assert (await client.post(path, data='{"snr_db": -25}', headers=plain)).status == 415
        same_origin = {**key, "Origin": f"http://{client.host}:{client.port}"}
        assert (await client.post("/api/channel", json=body, headers=same_origin)).status == 200
        assert call.asked == [("channel", "a-b", "-25.0")] and hung_up == []
        # the presence socket: a cross-site page cannot open it (and hang up by closing it)
        with pytest.raises(aiohttp.WSServerHandshakeError):
            await client.ws_connect("/ws", headers={"Origin": "http://evil.example", **key})
    await page.stop()
