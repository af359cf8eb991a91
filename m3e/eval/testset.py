"""Labelled test clips the project makes offline: scenes built from scikit-image's natural
images, slowly panned and zoomed, with scene cuts at known times, synthetic speech
(espeak-ng) on some scenes and simple sound effects on others.

``make_clip`` writes the demo's 26 s clip (``SCENES``); ``make_eval_set`` the evaluation set:
one 10 s clip per test class, each the class's scene, another class, then the first scene
again (so a scene the receiver has seen comes back, as in a call).

    python -m m3e.eval.testset OUT_DIR     # writes clip.mp4 and labels.json
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os
import sys
import tempfile
from dataclasses import asdict, dataclass
from pathlib import Path

import av
import numpy as np
import numpy.typing as npt

from m3e.media.offline import picture, view

SAMPLE_RATE = 48000
SAMPLE_DIR = Path(tempfile.gettempdir()) / "m3e-sample-clip"  # the sample clip, made once per machine


@dataclass(frozen=True)
class Scene:
    image: str  # skimage.data function name
    label: str  # the noun the text should contain
    seconds: float
    speech: str = ""  # spoken with espeak-ng (en-us)
    sound: str = ""  # "beep", "noise", "hum" or ""
    motion: str = "pan"  # "pan" or "zoom"


SCENES: tuple[Scene, ...] = (
    Scene("chelsea", "cat", 3.0, sound="beep"),
    Scene("astronaut", "person", 4.0, speech="The astronaut is talking about the mission to the moon."),
    Scene("coffee", "cup", 3.0, motion="zoom"),
    Scene("stereo_motorcycle", "motorcycle", 3.0, sound="hum"),
    Scene("rocket", "rocket", 3.0, sound="noise", motion="zoom"),
    Scene("chelsea", "cat", 3.0, motion="zoom", speech="A cat is sitting on the sofa near the window."),
    Scene("coffee", "cup", 3.0, sound="beep"),
    Scene(
        "astronaut",
        "person",
        4.0,
        motion="zoom",
        speech="Please send the pictures of the rocket to the team.",
    ),
)


# one scene per class of the offline test pictures, as the eval set uses them
CLASS_SCENES: dict[str, Scene] = {
    "cat": Scene("chelsea", "cat", 4.0, sound="beep"),
    "person": Scene(
        "astronaut", "person", 4.0, speech="The astronaut is talking about the mission to the moon."
    ),
    "cup": Scene("coffee", "cup", 4.0, motion="zoom"),
    "motorcycle": Scene("stereo_motorcycle", "motorcycle", 4.0, sound="hum"),
    "rocket": Scene("rocket", "rocket", 4.0, sound="noise", motion="zoom"),
}
EVAL_CLASSES = tuple(CLASS_SCENES)


def eval_scenes(k: int) -> tuple[Scene, ...]:
    """Clip k of the eval set (10 s): class k for 4 s, class k+1 for 3 s, class k again for 3 s."""
    first = CLASS_SCENES[EVAL_CLASSES[k % len(EVAL_CLASSES)]]
    second = CLASS_SCENES[EVAL_CLASSES[(k + 1) % len(EVAL_CLASSES)]]
    again = dataclasses.replace(first, seconds=3.0, motion="zoom" if first.motion == "pan" else "pan")
    return (first, dataclasses.replace(second, seconds=3.0), again)


def make_eval_set(
    out_dir: Path, n_clips: int = len(EVAL_CLASSES), size: tuple[int, int] = (720, 480)
) -> list[Path]:
    """``out_dir/<class>/clip.mp4`` with its ``labels.json`` for the first ``n_clips`` classes
    (clips already there are kept); returns the clips."""
    clips = []
    for k in range(n_clips):
        folder = out_dir / EVAL_CLASSES[k % len(EVAL_CLASSES)]
        clip = folder / "clip.mp4"
        if not (clip.exists() and (folder / "labels.json").exists()):
            make_clip(folder, eval_scenes(k), size=size, seed=k)
        clips.append(clip)
    return clips


SHIPPED_SPEECH = Path(__file__).parent / "data" / "speech"  # the clips' sentences, spoken already


def _shipped_speech(text: str) -> Path:
    return SHIPPED_SPEECH / f"{hashlib.sha1(text.encode()).hexdigest()[:12]}.ogg"


def speech_audio(text: str, rate: int = SAMPLE_RATE) -> npt.NDArray[np.float32]:
    """Synthesised speech (espeak-ng, en-us, 140 words/min) as float32 mono at ``rate``.
    Without espeak-ng, the sentences of the project's own clips come from recordings of it
    shipped with the package (Opus), so the sample clip can be made on any machine."""
    import shutil

    from m3e.codecs.audio_semantic import speak

    shipped = _shipped_speech(text)
    if shutil.which("espeak-ng") is None and shipped.is_file():
        with av.open(str(shipped)) as c:
            resampler = av.AudioResampler(format="flt", layout="mono", rate=rate)
            parts = [f.to_ndarray().reshape(-1) for fr in c.decode(audio=0) for f in resampler.resample(fr)]
        return np.concatenate(parts).astype(np.float32)
    return speak(text, 140, rate=rate)


def _sound(kind: str, n: int, rng: np.random.Generator) -> npt.NDArray[np.float32]:
    t = np.arange(n) / SAMPLE_RATE
    if kind == "beep":
        return (0.3 * np.sin(2 * np.pi * 880 * t) * ((t % 1.0) < 0.25)).astype(np.float32)
    if kind == "hum":
        return (0.3 * np.sign(np.sin(2 * np.pi * 60 * t)) * (0.6 + 0.4 * np.sin(2 * np.pi * 3 * t))).astype(
            np.float32
        )
    if kind == "noise":
        return (0.2 * rng.standard_normal(n)).astype(np.float32)
    return np.zeros(n, dtype=np.float32)


def make_clip(
    out_dir: Path,
    scenes: tuple[Scene, ...] = SCENES,
    size: tuple[int, int] = (720, 480),
    fps: int = 30,
    seed: int = 0,
) -> Path:
    """Write ``clip.mp4`` (H.264 + AAC) and ``labels.json`` into ``out_dir``; returns the clip.

    Both are written to temporary files and renamed into place once complete: a run that
    fails half-way (or is killed) leaves no half-written clip behind."""
    out_dir.mkdir(parents=True, exist_ok=True)
    clip = out_dir / "clip.mp4"
    partial = out_dir / f".clip.{os.getpid()}.mp4.partial"
    try:
        labels = _write_clip(partial, scenes, size, fps, seed)
        text = out_dir / f".labels.{os.getpid()}.json.partial"
        text.write_text(json.dumps(labels, indent=2))
        os.replace(text, out_dir / "labels.json")
        os.replace(partial, clip)  # last: a clip.mp4 that exists is complete
    finally:
        partial.unlink(missing_ok=True)
    return clip


def _write_clip(
    path: Path, scenes: tuple[Scene, ...], size: tuple[int, int], fps: int, seed: int
) -> dict[str, object]:
    """The clip into ``path``; returns its labels."""
    rng = np.random.default_rng(seed)
    container = av.open(str(path), "w", format="mp4")
    video = container.add_stream("libx264", rate=fps)
    video.width, video.height, video.pix_fmt = size[0], size[1], "yuv420p"
    video.options = {"crf": "18", "preset": "veryfast"}
    audio = container.add_stream("aac", rate=SAMPLE_RATE)
    audio.layout = "mono"
    labels: list[dict[str, object]] = []
    t = 0.0
    sound_parts = []
    for scene in scenes:
        img = picture(scene.image)
        n_frames = round(scene.seconds * fps)
        for i in range(n_frames):
            frame = av.VideoFrame.from_ndarray(
                view(img, i / max(1, n_frames - 1), scene.motion, size), format="rgb24"
            )
            for packet in video.encode(frame):
                container.mux(packet)
        n = int(scene.seconds * SAMPLE_RATE)
        track = _sound(scene.sound, n, rng)
        if scene.speech:
            words = speech_audio(scene.speech)[: n - SAMPLE_RATE // 4]
            track[SAMPLE_RATE // 4 : SAMPLE_RATE // 4 + words.shape[0]] += words
        sound_parts.append(track)
        labels.append({**asdict(scene), "start": t, "end": t + scene.seconds})
        t += scene.seconds
    pcm = (np.clip(np.concatenate(sound_parts), -1, 1) * 32767).astype(np.int16)
    for i in range(0, pcm.shape[0], 1024):
        chunk = av.AudioFrame.from_ndarray(pcm[None, i : i + 1024].copy(), format="s16", layout="mono")
        chunk.sample_rate = SAMPLE_RATE
        for packet in audio.encode(chunk):
            container.mux(packet)
    for stream in (video, audio):
        for packet in stream.encode(None):
            container.mux(packet)
    container.close()
    cuts = [s["start"] for s in labels[1:]]
    return {"scenes": labels, "cuts": cuts, "duration": t}


def clip_is_valid(clip: Path, duration: float | None = None) -> bool:
    """Whether ``clip`` opens with a video and an audio stream and (given ``duration``) is
    about that long: a stub or a truncated file is not used."""
    try:
        with av.open(str(clip)) as c:
            if not (c.streams.video and c.streams.audio):
                return False
            length = c.duration / 1e6 if c.duration else 0.0
            next(c.decode(video=0))
    except (av.error.FFmpegError, OSError, StopIteration):
        return False
    return duration is None or length >= duration - 0.5


def sample_clip() -> Path | str:
    """The sample clip (``SCENES``, the demo's default input), made once per machine in
    ``SAMPLE_DIR`` and checked before each use (one that is broken is made again);
    "testsrc" when it cannot be made here."""
    clip = SAMPLE_DIR / "clip.mp4"
    if clip_is_valid(clip, sum(s.seconds for s in SCENES)):
        return clip
    if clip.exists():
        print(f"demo: {clip} is incomplete; making the sample clip again", flush=True)
    else:
        print("demo: making the sample clip (once per machine, about 20 s)", flush=True)
    try:
        make_clip(SAMPLE_DIR, SCENES)
    except (RuntimeError, OSError, av.error.FFmpegError) as exc:
        print(f"demo: no sample clip ({exc}); streaming testsrc instead", flush=True)
        return "testsrc"
    return clip


if __name__ == "__main__":
    target = Path(sys.argv[1] if len(sys.argv) > 1 else "testset")
    print(make_clip(target))
