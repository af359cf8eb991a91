"""``m3e send --scheme h265-equal-rate`` through the three real processes: the recording has
the stream's size and every frame, at a fraction of H.265's usual bits."""

import json

import pytest

from tests.e2e.conftest import Link, recorded_frames

pytestmark = pytest.mark.slow


def test_equal_rate_stream_plays_at_the_stream_size_and_rate(link: Link) -> None:
    link.start_receiver("--stats-json", str(link.tmp / "rx.json"))
    link.start_relay("--snr", "20", "--fading", "awgn")
    sender = link.send(
        "--duration",
        "3",
        "--width",
        "320",
        "--height",
        "240",
        "--scheme",
        "h265-equal-rate",
        "--audio-scheme",
        "none",
    )
    assert sender.returncode == 0, sender.stdout.read() if sender.stdout else ""
    assert link.procs[0].wait(timeout=60) == 0
    frames = recorded_frames(link.tmp / "received.mp4")
    assert abs(len(frames) - 90) <= 3 and frames[0].shape == (240, 320, 3)
    summary = json.loads((link.tmp / "rx.json").read_text())
    assert summary["payload_bytes"] * 8 / 3 / 1000 < 20  # 8 kbit/s and a first intra picture
