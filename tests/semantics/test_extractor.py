"""The extractor on the labelled offline clip: the issue's acceptance numbers."""

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from m3e.eval.semantics import evaluate_clip
from m3e.semantics.extractor import SemanticExtractor

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def scores(testset: Path) -> dict:  # type: ignore[type-arg]
    return evaluate_clip(testset, SemanticExtractor())


def test_keyframes_at_the_cuts(scores: dict) -> None:  # type: ignore[type-arg]
    assert scores["cut_recall"] >= 0.9
    assert scores["spurious_per_static_second"] <= 1.0


def test_the_object_is_named_and_speech_transcribed(scores: dict) -> None:  # type: ignore[type-arg]
    assert scores["object_named"] >= 0.8
    assert scores["wer"] <= 0.2
    assert scores["top1_verified"] >= scores["top1_raw"]
    assert scores["flicker_verified"] <= scores["flicker_raw"]


def test_degenerate_input_gives_sensible_text() -> None:
    ex = SemanticExtractor()
    out = []
    for i in range(20):
        out += ex.push_audio(np.zeros(1600, np.float32))
        out += ex.push_frame(np.zeros((16, 16, 3), np.uint8), i, i / 10)
    out += ex.finish()
    assert [k.text for k in out] == ["nothing recognised"]
    assert out[0].transcript == ""


def test_describe_command(testset: Path) -> None:
    r = subprocess.run(
        [sys.executable, "-m", "m3e.cli", "describe", str(testset / "clip.mp4"), "--json"],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert r.returncode == 0, r.stderr
    items = json.loads(r.stdout)
    assert items[0]["time_s"] == 0 and "cat" in items[0]["objects"]
    assert set(items[0]) == {"time_s", "objects", "text", "transcript", "labels"}
    bad = subprocess.run(
        [sys.executable, "-m", "m3e.cli", "describe", "/no/such.mp4"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert bad.returncode == 2 and "no such file" in bad.stderr and "Traceback" not in bad.stderr
