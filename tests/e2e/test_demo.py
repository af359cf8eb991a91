"""``m3e demo`` without ``--scheme``: the sample clip as M3E and as H.265 at once through one
emulator, and the side-by-side page (source | H.265 | M3E, in headless Chromium when there
is one): both pipelines deliver frames, each pane shows its kbit/s, the one SNR control
moves both channels, and both recordings are written."""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
import threading
import time
import urllib.request
from pathlib import Path
from typing import Any

import pytest

from bench.cdp import Browser, chromium_binary
from m3e.launch import free_port
from tests.e2e.conftest import recorded_frames

pytestmark = pytest.mark.slow
# what the pages send with a POST: JSON, and the control token they read from their URL
HEADERS = "{'Content-Type': 'application/json', 'X-M3E-Token': TOKEN}"


def _get(url: str, body: dict[str, Any] | None = None, token: str = "") -> Any:
    data = None if body is None else json.dumps(body).encode()
    headers = {"Content-Type": "application/json", "X-M3E-Token": token}
    with urllib.request.urlopen(urllib.request.Request(url, data, headers), timeout=5) as reply:
        return json.loads(reply.read())


class _Demo:
    """``m3e demo`` in the background, its output collected line by line."""

    def __init__(self, *args: str) -> None:
        cmd = [sys.executable, "-m", "m3e.cli", "demo", "--no-browser", *args]
        self.proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        self.lines: list[str] = []
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            self.lines.append(line.rstrip())

    def wait_for(self, text: str, timeout: float) -> str:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            for line in self.lines:
                if text in line:
                    return line
            assert self.proc.poll() is None, "\n".join(self.lines[-30:])
            time.sleep(0.2)
        raise AssertionError(f"no {text!r} in:\n" + "\n".join(self.lines[-30:]))

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            self.proc.wait(timeout=30)


async def _frames(browser: Browser, key: str) -> int:
    return int(await browser.evaluate(f"+(document.getElementById('frame-{key}') || {{}}).textContent || 0"))


async def test_demo_streams_m3e_and_h265_side_by_side(tmp_path: Path) -> None:
    port = free_port()
    demo = _Demo("--duration", "8", "--viewer-port", str(port), "--out", str(tmp_path / "received.mp4"))
    browser = None
    try:
        page_url = demo.wait_for("side by side", 120).split()[-1]
        url, _, token = page_url.partition("?token=")  # the page reads its control token from its URL
        assert url == f"http://127.0.0.1:{port}/" and len(token) >= 32
        state = _get(url + "api/demo")
        assert [(p["scheme"], p["direction"]) for p in state["panes"]] == [("h265", "h265"), ("m3e", "m3e")]
        assert state["preview"] and state["snr_db"] == 20
        with urllib.request.urlopen(url, timeout=5) as page:
            assert b"side by side" in page.read()
        viewers = {p["direction"]: f"http://127.0.0.1:{p['viewer_port']}/api/stats" for p in state["panes"]}
        if chromium_binary() is not None:
            browser = Browser(page_url, tmp_path / "profile")
            await browser.connect()
        # both pipelines deliver frames (M3E first loads its models)
        deadline = time.monotonic() + 240
        seen: dict[str, int] = {}
        while time.monotonic() < deadline:
            stats = {d: _get(v) for d, v in viewers.items()}
            seen = {d: s["receiver"]["frames"] for d, s in stats.items() if "receiver" in s}
            shown = {d: await _frames(browser, d) for d in viewers} if browser else {"h265": 1, "m3e": 1}
            if len(seen) == 2 and min(seen.values()) >= 30 and min(shown.values()) > 0:
                break
            assert demo.proc.poll() is None, "\n".join(demo.lines[-30:])
            await asyncio.sleep(0.5)
        assert len(seen) == 2 and min(seen.values()) >= 30, seen
        assert {s["video_scheme"] for s in stats.values()} == {"h265", "m3e"}
        # the one SNR control sets both routes
        reply = _get(url + "api/channel", {"snr_db": 15}, token)
        assert {d: r["settings"]["snr_db"] for d, r in reply["routes"].items()} == {"h265": 15, "m3e": 15}
        if browser is not None:
            await asyncio.sleep(1.5)  # statistics every 0.5 s, the source at 15 fps
            for key in ("h265", "m3e"):
                assert await _frames(browser, key) > 0
                assert "kbit/s" in await browser.evaluate(
                    f"document.getElementById('pane-{key}').textContent"
                )
                assert "now" in await browser.evaluate(f"document.getElementById('kbps-{key}').textContent")
            assert await browser.evaluate("document.getElementById('source').naturalWidth") == 720
            post = f"{{method: 'POST', body: JSON.stringify({{snr_db: 12}}), headers: {HEADERS}}}"
            reply = await browser.evaluate(f"fetch('/api/channel', {post}).then(r => r.json())")
            assert reply["snr_db"] == 12 and set(reply["routes"]) == {"h265", "m3e"}
        assert demo.proc.wait(timeout=240) == 0, "\n".join(demo.lines[-30:])
    finally:
        if browser is not None:
            await browser.close()
        demo.stop()
    h265 = recorded_frames(tmp_path / "received-h265.mp4")
    assert abs(len(h265) - 240) <= 12 and h265[0].shape == (480, 720, 3)
    assert len(recorded_frames(tmp_path / "received-m3e.mp4")) > 0


def test_demo_flags_in_one_line(tmp_path: Path) -> None:
    r = subprocess.run(
        [sys.executable, "-m", "m3e.cli", "demo", "--no-browser", "--scheme", "jpeg", "--versus", "h265"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert r.returncode == 2 and "Traceback" not in r.stderr and "give one" in r.stderr
    r = subprocess.run(
        [sys.executable, "-m", "m3e.cli", "demo", "--no-browser", "--versus", "vp9"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert r.returncode == 2 and "Traceback" not in r.stderr and "unknown video scheme" in r.stderr
