"""The traditional baselines' points are pinned for a fixed seed: a change to the codecs, the
physical layer or the scores that moves them shows here. Regenerate on purpose only:

    M3E_UPDATE_GOLDEN=1 .venv/bin/python -m pytest tests/eval/test_golden.py
"""

import dataclasses
import json
import os
from pathlib import Path

import pytest

from m3e.eval.audio_link import clip_audio
from m3e.eval.keyframes import clip_frames, h265_arm, h265_packets, jpeg_arm
from m3e.eval.testset import CLASS_SCENES, make_clip

pytestmark = pytest.mark.slow
GOLDEN = Path(__file__).with_name("golden_traditional.json")
KEYS = ("symbols_per_gop", "bits_per_gop", "ssim", "agreement_top5", "timbre")


def _points(tmp: Path) -> list[dict]:
    scenes = tuple(dataclasses.replace(CLASS_SCENES[c], seconds=1.0) for c in ("cat", "motorcycle"))
    clip = make_clip(tmp, scenes, size=(320, 240))
    frames, audio = clip_frames(clip), clip_audio(clip)
    keyframes = [(0, "a cat"), (30, "a motorcycle")]
    packets = h265_packets(frames)
    points = []
    for snr in (0.0, 8.0):
        rows = [h265_arm(m, packets, frames, keyframes, audio, snr, seed=0) for m in ("qpsk", "16qam")]
        rows.append(jpeg_arm(frames, keyframes, audio, snr, seed=0))
        points += [{"snr_db": snr, "scheme": r["scheme"], **{k: r[k] for k in KEYS}} for r in rows]
    return points


def test_traditional_baselines_match_their_golden_points(tmp_path: Path) -> None:
    points = _points(tmp_path)
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
