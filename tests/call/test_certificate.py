"""The call page over HTTPS with a certificate made on first use."""

import ssl
import stat
import urllib.request
from pathlib import Path

from call.certificate import fingerprint, self_signed, server_context
from call.orchestrator import Call, CallSettings
from call.page import HOST, CallPage
from m3e.launch import free_port


def test_a_self_signed_certificate_is_made_once_and_kept(tmp_path: Path) -> None:
    cert, key = self_signed(tmp_path)
    assert stat.S_IMODE(key.stat().st_mode) == 0o600
    assert self_signed(tmp_path) == (cert, key) and cert.read_bytes() == self_signed(tmp_path)[0].read_bytes()
    assert len(fingerprint(cert).split(":")) == 32


async def test_the_page_is_served_over_https_to_a_client_that_trusts_its_certificate(tmp_path: Path) -> None:
    import asyncio

    cert, key = self_signed(tmp_path)
    call = Call(CallSettings(sources={"a": "browser", "b": "browser"}, out=tmp_path))
    page = CallPage(call, "127.0.0.1", free_port(), lambda: None, server_context(cert, key))
    await page.start()
    try:
        assert page.url("a").startswith("https://")
        request = urllib.request.Request(page.url(HOST).replace("/?", "/api/call?"))
        trusting = ssl.create_default_context(cafile=cert)
        reply = await asyncio.to_thread(urllib.request.urlopen, request, context=trusting, timeout=10)
        assert reply.status == 200
    finally:
        await page.stop()
        for p in call.parties.values():
            p.feed.close()
