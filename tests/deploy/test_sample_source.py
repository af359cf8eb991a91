"""``m3e send --source sample`` streams the sample clip that ``m3e demo`` streams (how the
containers name it: the sender's command line has no path on this machine to give)."""

from pathlib import Path
from typing import Any

import pytest

import m3e.eval.testset
import sender.client
from m3e.cli import main
from sender.config import SenderStats


def test_sample_names_the_sample_clip(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    seen: list[Any] = []

    class FakeSender:
        def __init__(self, config: Any) -> None:
            seen.append(config)

        async def run(self) -> SenderStats:
            return SenderStats()

        def shortfall(self) -> str | None:
            return None

    monkeypatch.setattr(m3e.eval.testset, "sample_clip", lambda: tmp_path / "clip.mp4")
    monkeypatch.setattr(sender.client, "Sender", FakeSender)
    assert main(["send", "--source", "sample", "--scheme", "m3e"]) == 0
    assert main(["send", "--source", "testsrc"]) == 0
    assert [c.source for c in seen] == [str(tmp_path / "clip.mp4"), "testsrc"]
