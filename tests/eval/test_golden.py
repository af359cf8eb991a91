"""The traditional baselines' points are pinned for a fixed seed: a change to the codecs, the
physical layer or the scores that moves them shows here. Regenerate on purpose only:

    M3E_UPDATE_GOLDEN=1 .venv/bin/python -m pytest tests/eval/test_golden.py
"""

import json
import os
from pathlib import Path

import numpy as np
import pytest

from m3e.codecs.audio_semantic import RATE
from m3e.eval.keyframes import h265_arm, h265_packets, jpeg_arm
from m3e.media.offline import picture, view

pytestmark = pytest.mark.slow
GOLDEN = Path(__file__).with_name("golden_traditional.json")
KEYS = ("symbols_per_gop", "bits_per_gop", "ssim", "agreement_top5", "timbre")


def _points() -> list[dict]:
    """A cat panned for 1 s, then a motorcycle, made in process (an encoded clip would add x264's
    own run-to-run variation), with a 440 Hz tone in beeps as the audio."""
    frames = [
        view(picture(image), i / 29, "pan", (320, 240))
        for image in ("chelsea", "stereo_motorcycle")
        for i in range(30)
    ]
    t = np.arange(2 * RATE) / RATE
    audio = (0.3 * np.sin(2 * np.pi * 440 * t) * ((t % 0.5) < 0.25)).astype(np.float32)
    keyframes = [(0, "a cat"), (30, "a motorcycle")]
    packets = h265_packets(frames)
    points = []
    for snr in (0.0, 8.0):
        rows = [h265_arm(m, packets, frames, keyframes, audio, snr, seed=0)[0] for m in ("qpsk", "16qam")]
        rows.append(jpeg_arm(frames, keyframes, audio, snr, seed=0))
        points += [{"snr_db": snr, "scheme": r["scheme"], **{k: r[k] for k in KEYS}} for r in rows]
    return points


def test_traditional_baselines_match_their_golden_points() -> None:
    points = _points()
    if os.environ.get("M3E_UPDATE_GOLDEN"):
        GOLDEN.write_text(json.dumps(points, indent=1) + "\n")
    golden = json.loads(GOLDEN.read_text())
    assert [(p["scheme"], p["snr_db"]) for p in points] == [(p["scheme"], p["snr_db"]) for p in golden]
    for got, want in zip(points, golden, strict=True):
        for key in KEYS:
            assert got[key] == pytest.approx(want[key], rel=1e-6, abs=1e-9), (
                got["scheme"],
                got["snr_db"],
                key,
            )
    # physically sensible: 16-QAM falls off its cliff at 0 dB Rayleigh, and nothing improves as SNR drops
    by = {(p["scheme"], p["snr_db"]): p for p in golden}
    assert by[("h265-16qam", 0.0)]["ssim"] < 0.5 < by[("h265-16qam", 8.0)]["ssim"]
    for scheme in ("h265-qpsk", "h265-16qam", "jpeg-16qam"):
        assert by[(scheme, 0.0)]["ssim"] <= by[(scheme, 8.0)]["ssim"] + 1e-9
        assert by[(scheme, 0.0)]["symbols_per_gop"] >= by[(scheme, 8.0)]["symbols_per_gop"]
