"""The viewer page in headless Chromium: frames advance, the canvas shows video, the
statistics arrive, and the SNR control reaches the emulator."""

import asyncio
from pathlib import Path

import pytest

from bench.cdp import Browser, chromium_binary
from m3e.launch import free_port
from tests.e2e.conftest import Link

pytestmark = [pytest.mark.slow, pytest.mark.skipif(chromium_binary() is None, reason="needs chromium")]

# the page may still be loading when the first question comes: no element yet reads as frame 0
FRAME = "+(document.getElementById('frame') || {}).textContent || 0"
CANVAS_SUM = """(() => {
  const c = document.getElementById('video');
  const d = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;
  let s = 0; for (let i = 0; i < d.length; i += 4) s += d[i] + d[i + 1] + d[i + 2];
  return s / (d.length / 4);
})()"""


async def test_viewer_shows_live_video_and_controls_the_channel(link: Link, tmp_path: Path) -> None:
    relay_port = free_port()
    link.start_receiver("--control", f"127.0.0.1:{relay_port}", viewer=True)
    link.start_relay("--snr", "25", "--fading", "awgn", port=relay_port)
    link.send("--duration", "8", "--width", "320", "--height", "240", background=True)
    browser = Browser(f"http://127.0.0.1:{link.viewer_port}/?token={link.token}", tmp_path / "profile")
    try:
        await browser.connect()
        counts = []
        for _ in range(40):
            await asyncio.sleep(0.25)
            counts.append(int(await browser.evaluate(FRAME)))
            if counts[-1] > 10:
                break
        await asyncio.sleep(1.0)
        later = int(await browser.evaluate(FRAME))
        assert counts[-1] > 0 and later > counts[-1], (counts, later)  # the counter advances
        assert await browser.evaluate(CANVAS_SUM) > 10  # not a blank canvas
        assert "bler" in await browser.evaluate("document.getElementById('stats').textContent")
        snr = "document.getElementById('snr').value"
        assert await browser.evaluate(snr) == "25"  # the control shows the channel's setting
        reply = await browser.evaluate(
            "fetch('/api/channel', {method: 'POST', body: JSON.stringify({snr_db: 7}),"
            " headers: {'Content-Type': 'application/json', 'X-M3E-Token': TOKEN}}).then(r => r.json())"
        )
        assert reply["settings"]["snr_db"] == 7
        await asyncio.sleep(1.5)
        assert await browser.evaluate(snr) == "7"
    finally:
        await browser.close()
