import itertools
import subprocess
import sys
import time
from pathlib import Path

import av
import numpy as np
import pytest

from m3e.media.sinks import JpegEncoder, Mp4Recorder, SoundCard
from m3e.media.sources import AudioItem, MediaSource, SourceConfig, SourceError, VideoItem


def _write_clip(
    path: Path, video: bool = True, audio: bool = True, fps: int = 25, seconds: float = 2.0
) -> None:
    out = av.open(str(path), "w")
    vs = out.add_stream("libx264", rate=fps) if video else None
    if vs is not None:
        vs.width, vs.height, vs.pix_fmt = 320, 240, "yuv420p"
    aud = out.add_stream("aac", rate=44100) if audio else None
    if aud is not None:
        aud.layout = "mono"
    for i in range(int(seconds * fps)):
        if vs is not None:
            frame = av.VideoFrame.from_ndarray(np.full((240, 320, 3), i * 5 % 255, np.uint8), format="rgb24")
            for p in vs.encode(frame):
                out.mux(p)
    if aud is not None:
        n = int(44100 * seconds)
        tone = (np.sin(np.arange(n) / 20) * 5000).astype(np.int16)
        for i in range(0, n, 1024):
            f = av.AudioFrame.from_ndarray(tone[None, i : i + 1024].copy(), format="s16", layout="mono")
            f.sample_rate = 44100
            for p in aud.encode(f):
                out.mux(p)
    for s in (vs, aud):
        if s is not None:
            for p in s.encode(None):
                out.mux(p)
    out.close()


def test_testsrc_gives_frames_and_audio_at_the_configured_rates() -> None:
    items = list(
        MediaSource("testsrc", SourceConfig(width=320, height=240, fps=15, sample_rate=16000, duration=2))
    )
    video = [i for i in items if isinstance(i, VideoItem)]
    audio = [i for i in items if isinstance(i, AudioItem)]
    assert len(video) == 30 and video[0].frame.width == 320 and video[0].frame.format.name == "yuv420p"
    assert sum(a.samples.shape[0] for a in audio) == pytest.approx(32000, abs=1024)
    assert all(a.pts <= b.pts for a, b in itertools.pairwise(items))  # time order


def test_file_is_resampled_to_size_and_frame_rate(tmp_path: Path) -> None:
    clip = tmp_path / "clip.mp4"
    _write_clip(clip, fps=25)
    src = MediaSource(str(clip), SourceConfig(width=160, height=120, fps=30, sample_rate=48000))
    items = list(src)
    video = [i for i in items if isinstance(i, VideoItem)]
    assert len(video) == pytest.approx(60, abs=2)  # 2 s at 30 fps from a 25 fps file
    assert (video[0].frame.width, video[0].frame.height) == (160, 120)
    assert sum(i.samples.shape[0] for i in items if isinstance(i, AudioItem)) == pytest.approx(
        96000, rel=0.05
    )


def test_audio_only_and_video_only_files(tmp_path: Path) -> None:
    _write_clip(tmp_path / "a.m4a", video=False)
    _write_clip(tmp_path / "v.mp4", audio=False)
    a = MediaSource(str(tmp_path / "a.m4a"), SourceConfig())
    v = MediaSource(str(tmp_path / "v.mp4"), SourceConfig())
    assert (a.has_video, a.has_audio) == (False, True)
    assert (v.has_video, v.has_audio) == (True, False)


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ("/no/such/file.mp4", "no such file"),
        ("/etc/hostname", "cannot open"),
        ("/tmp", "cannot read"),
        ("webcam:/dev/video99", "no webcam"),
    ],
)
def test_bad_sources_raise_one_line_errors(spec: str, message: str) -> None:
    with pytest.raises(SourceError, match=message) as info:
        MediaSource(spec, SourceConfig())
    assert "\n" not in str(info.value)


def test_bad_source_config() -> None:
    with pytest.raises(SourceError, match="resolution"):
        SourceConfig(width=721)
    with pytest.raises(SourceError, match="frame rate"):
        SourceConfig(fps=0)


def test_recorder_writes_playable_mp4(tmp_path: Path) -> None:
    rec = Mp4Recorder(tmp_path / "r.mp4", 160, 120, 30, sample_rate=48000)
    for i in range(30):
        rec.write_video(np.full((120, 160, 3), i * 8, np.uint8))
    rec.write_audio(np.zeros((48000, 1), np.int16))
    rec.close()
    with av.open(str(tmp_path / "r.mp4")) as c:
        assert sum(1 for _ in c.decode(video=0)) == 30
        assert c.streams.audio


def test_recording_survives_an_abrupt_exit(tmp_path: Path) -> None:
    """Fragmented MP4: what was written before a crash (no close) still plays."""
    path = tmp_path / "crash.mp4"
    code = (
        "import os, time, numpy as np\n"
        "from m3e.media.sinks import Mp4Recorder\n"
        f"r = Mp4Recorder({str(path)!r}, 160, 120, 30)\n"
        "for i in range(90): r.write_video(np.full((120, 160, 3), i, np.uint8))\n"
        "while r.pending: time.sleep(0.01)\n"  # written (on the recorder's thread), never closed
        "os._exit(0)\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True)
    with av.open(str(path)) as c:
        assert sum(1 for _ in c.decode(video=0)) >= 30


def test_sound_card_falls_back_quietly() -> None:
    card = SoundCard(48000)
    card.play(np.zeros((480, 1), np.int16))  # no device here: a no-op, never an exception
    card.close()


def test_absent_microphone_is_a_one_line_error() -> None:
    with pytest.raises(SourceError, match="no microphone") as info:
        MediaSource("mic", SourceConfig())
    assert "\n" not in str(info.value)


def test_a_killed_recording_holds_all_but_the_last_second(tmp_path: Path) -> None:
    """SIGKILL mid-stream (video and audio in real time): the file holds every frame handed
    to the recorder until a second before the kill (a SIGKILLed receiver once kept 60 of ~200)."""
    path = tmp_path / "killed.mp4"
    code = (
        "import sys, time, numpy as np\n"
        "from m3e.media.sinks import Mp4Recorder\n"
        f"r = Mp4Recorder({str(path)!r}, 160, 120, 30, sample_rate=48000)\n"
        "t0 = time.monotonic()\n"
        "for i in range(100000):\n"
        "    r.write_video(np.full((120, 160, 3), i % 250, np.uint8))\n"
        "    if i % 60 == 59: r.write_audio(np.zeros((96000, 1), np.int16))\n"  # audio 2 s late
        "    while r.pending: time.sleep(0.002)\n"
        "    print(r.frames, flush=True)\n"
        "    time.sleep(max(0.0, t0 + (i + 1) / 30 - time.monotonic()))\n"
    )
    proc = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True)
    assert proc.stdout is not None
    written = 0
    while written < 90:  # three seconds in
        written = int(proc.stdout.readline())
    time.sleep(1.0)
    proc.kill()
    proc.wait()
    with av.open(str(path)) as c:
        kept = sum(1 for _ in c.decode(video=0))
    assert kept >= written, (kept, written)


@pytest.mark.parametrize(("seconds", "at"), [(4.0, 0.5), (6.0, 0.5), (6.0, 0.7)])
def test_a_damaged_stretch_mid_file_is_skipped_not_fatal(
    tmp_path: Path, caplog: pytest.LogCaptureFixture, seconds: float, at: float
) -> None:
    """3 kB of garbage in the middle of a clip once ended the stream (exit 2): now the
    damaged packets are skipped with a log line and the rest of the file plays."""
    path = tmp_path / "damaged.mp4"
    _write_clip(path, seconds=seconds)
    data = bytearray(path.read_bytes())
    middle = int(len(data) * at)
    data[middle : middle + 3000] = np.random.default_rng(0).integers(0, 256, 3000, dtype=np.uint8).tobytes()
    path.write_bytes(bytes(data))
    src = MediaSource(str(path), SourceConfig(320, 240, 25))
    items = list(src)
    src.close()
    video = [it for it in items if isinstance(it, VideoItem)]
    audio = [it for it in items if isinstance(it, AudioItem)]
    assert len(video) >= 25 * seconds - 5 and video[-1].pts >= seconds - 0.1  # on to the end
    assert audio[-1].pts >= seconds - 0.5
    skipped = [r for r in caplog.records if "skipped a damaged" in r.getMessage()]
    assert 1 <= len(skipped) <= 2 and all("\n" not in r.getMessage() for r in skipped)  # a line per stream


def test_jpeg_frames_decode_to_the_picture_in_its_colours() -> None:
    import cv2

    from m3e.media.offline import picture, view

    rgb = view(picture("astronaut"), 0.0, "pan", (320, 240))
    jpeg = JpegEncoder().encode(rgb)
    back = cv2.cvtColor(cv2.imdecode(np.frombuffer(jpeg, np.uint8), cv2.IMREAD_COLOR), cv2.COLOR_BGR2RGB)
    assert jpeg[:2] == b"\xff\xd8" and back.shape == rgb.shape
    mse = np.mean((back.astype(float) - rgb) ** 2)
    assert 10 * np.log10(255**2 / mse) > 28  # red stays red: channels in the right order
    swapped = np.mean((back[..., ::-1].astype(float) - rgb) ** 2)
    assert swapped > 4 * mse
