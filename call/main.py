"""``m3e call``: start a call, serve its page, end it on hang-up, Ctrl-C, the last page
closing, or when both sources have been sent and no page is open."""

from __future__ import annotations

import asyncio
import contextlib
import signal
import ssl
import sys
import time
import webbrowser
from pathlib import Path

from call.certificate import fingerprint, self_signed, server_context
from call.orchestrator import BROWSER, Call, CallSettings
from call.page import HOST, CallPage

LINGER_S = 30.0  # after our sources are sent, how long the other side's stream may still run


def default_sources(host: str = "127.0.0.1") -> dict[str, str]:
    """A call hosted for other machines (``--host`` not loopback): both parties in their
    browsers. Otherwise party A: the webcam (and microphone) when there is one, else the sample
    clip; party B: the sample clip's scenes in reverse order (26 s), so the call works on any
    machine."""
    from m3e.eval.testset import SAMPLE_DIR, SCENES, clip_is_valid, make_clip, sample_clip

    if not is_loopback(host):
        return {"a": BROWSER, "b": BROWSER}
    a = "webcam" if Path("/dev/video0").exists() else str(sample_clip())
    b = SAMPLE_DIR / "reversed" / "clip.mp4"
    if not clip_is_valid(b, sum(s.seconds for s in SCENES)):
        make_clip(b.parent, tuple(reversed(SCENES)))
    return {"a": a, "b": str(b)}


def is_loopback(host: str) -> bool:
    return host in ("localhost", "::1") or host.startswith("127.")


def page_tls(settings: CallSettings) -> tuple[ssl.SSLContext | None, str]:
    """The page's TLS context and a line about it: the call's own certificate when given, a
    self-signed one when the page is for other machines (browsers give the camera only to
    secure pages away from localhost), none on loopback."""
    tls = settings.tls
    if tls is not None and tls.cert and tls.key:
        cert, key = Path(tls.cert), Path(tls.key)
    elif is_loopback(settings.host):
        return None, ""
    else:
        cert, key = self_signed()
    return server_context(cert, key), f"page certificate {cert} SHA-256 {fingerprint(cert)}"


def run_call(settings: CallSettings, page_port: int = 0, open_browser: bool = True) -> int:
    call = Call(settings)
    context, certificate = page_tls(settings)

    failed: dict[str, int] = {}  # a sender that ended by itself with an error (not hung up)

    def note_failures() -> None:
        for p in call.local():
            if p.sender is not None and p.sender.poll() not in (None, 0, 130, -15):
                failed.setdefault(p.name, p.sender.returncode)

    async def main() -> None:
        loop = asyncio.get_running_loop()
        ended = asyncio.Event()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, ended.set)
        await loop.run_in_executor(None, call.start)

        def hang_up() -> None:
            loop.call_soon_threadsafe(ended.set)

        page = CallPage(call, settings.host, page_port, hang_up, context)
        await page.start()
        if certificate:
            print(certificate, flush=True)
        for party in page.parties:  # each party's invite: only its holder joins as that party
            print(f"party {party}'s link: {page.url(party)}", flush=True)
        if settings.remote:
            invite = page.url(settings.remote)
            print(f"party {settings.remote} joins with: m3e call --join '{invite}'", flush=True)
        print(f"call page: {page.url(HOST)}", flush=True)
        if open_browser:
            webbrowser.open(page.url(HOST))
        sent_at: float | None = None
        try:
            while not ended.is_set():
                note_failures()
                senders = [p.sender for p in call.local()]
                if sent_at is None and all(s is not None and s.poll() is not None for s in senders):
                    sent_at = time.monotonic()
                # the other side's stream ended too (its receiver wrote its summary), or it is late
                received = all(call.stats_path(p.name).exists() for p in call.local())
                if sent_at and (received or time.monotonic() > sent_at + LINGER_S) and not page.watching:
                    break  # everything sent and received, and nobody is looking at the last pictures
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(ended.wait(), 0.5)
        finally:
            await page.stop()

    try:
        asyncio.run(main())
    finally:
        call.hang_up()
    for name in call.parties:
        print(f"party {name} received: {call.recording(name)}", flush=True)
    for name, code in failed.items():
        print(
            f"m3e call: error: party {name}'s sender failed (exit {code}): the call was one-way",
            file=sys.stderr,
        )
    return 2 if failed else 0
