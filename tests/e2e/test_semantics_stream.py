"""Keyframe semantics travel with the stream: extracted live at the sender, sent as TEXT
bursts through the emulated channel, shown and recorded by the receiver."""

import json

import pytest

from m3e.eval.testset import SCENES, make_clip
from tests.e2e.conftest import Link

pytestmark = pytest.mark.slow


def test_keyframe_texts_reach_the_receiver(link: Link) -> None:
    clip = make_clip(link.tmp / "clip", scenes=SCENES[:2])  # a cat, then a person speaking
    link.start_receiver("--stats-json", str(link.tmp / "rx.json"))
    link.start_relay("--snr", "20", "--fading", "rayleigh")
    sender = link.send("--source", str(clip), "--width", "320", "--height", "240", "--semantics")
    assert sender.returncode == 0, sender.stdout.read() if sender.stdout else ""
    assert link.procs[0].wait(timeout=60) == 0
    texts = json.loads((link.tmp / "rx.json").read_text())["texts"]
    assert any("cat" in t["objects"] for t in texts if t["time_s"] < 3)
    person = [t for t in texts if 3 <= t["time_s"] < 7]
    assert person and "person" in person[0]["objects"]
    assert "moon" in " ".join(t["transcript"] for t in person).lower()
