from pathlib import Path

import pytest

from m3e.eval import real_clips
from m3e.eval.audio_link import clip_audio
from m3e.eval.keyframes import clip_frames


def test_a_real_clip_is_written_as_the_sender_sees_it(tmp_path: Path) -> None:
    clip = real_clips.make_real_clip("talking-head", tmp_path / "th", seconds=1.0)
    frames = clip_frames(clip)
    assert len(frames) == 30 and frames[0].shape == (480, 720, 3)  # 29.97 fps source, 30 fps out
    assert clip_audio(clip).shape[0] == pytest.approx(16000, rel=0.1)  # silence where it had none
    assert (tmp_path / "th" / "labels.json").exists()


def test_a_missing_package_is_named(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(real_clips, "OPENCV_DOC", tmp_path / "nowhere")
    with pytest.raises(RuntimeError, match="opencv-doc"):
        real_clips.source_video("walking")
    with pytest.raises(ValueError, match="unknown real clip"):
        real_clips.source_video("sunset")
    assert real_clips.make_real_clips(tmp_path, ("walking",)) == []  # skipped, with a message


def test_clips_whose_results_would_mix_are_refused(tmp_path: Path) -> None:
    from m3e.eval.harness import main

    for parent in ("a", "b"):
        (tmp_path / parent / "cup").mkdir(parents=True)
        (tmp_path / parent / "cup" / "clip.mp4").write_bytes(b"")
    with pytest.raises(ValueError, match="same folder and file name"):
        main(["fig6", "--clips", str(tmp_path), "--out", str(tmp_path / "out")])
