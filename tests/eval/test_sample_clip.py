"""The demo's embedded input: made atomically, checked before use, and made without
espeak-ng too (a fresh machine once got a 48-byte stub that broke every later demo)."""

import shutil
from pathlib import Path

import av
import numpy as np
import pytest

from m3e.eval import testset
from m3e.eval.testset import Scene

SHORT = (
    Scene("chelsea", "cat", 1.0, sound="beep"),
    Scene("astronaut", "person", 4.0, speech="The astronaut is talking about the mission to the moon."),
)


@pytest.fixture
def sample_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setattr(testset, "SAMPLE_DIR", tmp_path / "sample")
    monkeypatch.setattr(testset, "SCENES", SHORT)
    return tmp_path / "sample"


def test_a_stub_is_replaced_and_no_espeak_is_needed(
    sample_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    sample_dir.mkdir()
    (sample_dir / "clip.mp4").write_bytes(b"\0\0\0\x20ftypisom" + b"\0" * 36)  # what a failed run left
    which = shutil.which
    monkeypatch.setattr(shutil, "which", lambda name: None if name == "espeak-ng" else which(name))
    clip = testset.sample_clip()
    assert clip == sample_dir / "clip.mp4" and testset.clip_is_valid(clip, 5.0)
    with av.open(str(clip)) as c:
        pcm = np.concatenate([f.to_ndarray().reshape(-1) for f in c.decode(audio=0)])
    rate = 48000
    speech = pcm[int(1.3 * rate) : int(4.5 * rate)]  # the astronaut speaks, from the shipped recording
    assert np.sqrt(np.mean(speech**2)) > 0.01
    assert [p.name for p in sample_dir.iterdir() if p.name.startswith(".")] == []


def test_a_failed_run_leaves_no_clip(sample_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    def no_speech(text: str, rate: int = 48000) -> np.ndarray:  # fails after the first scene's video
        raise RuntimeError("speech synthesis needs espeak-ng")

    monkeypatch.setattr(testset, "speech_audio", no_speech)
    assert testset.sample_clip() == "testsrc"
    assert list(sample_dir.iterdir()) == []  # no stub, no partial file


def test_every_shipped_sentence_is_there() -> None:
    spoken = {s.speech for s in (*testset.SCENES, *testset.CLASS_SCENES.values()) if s.speech}
    assert all(testset._shipped_speech(text).is_file() for text in spoken)
