"""The sender's semantic worker: whether a cut becomes a keyframe must not depend on how busy
the machine is (the keyframe test runs on the producer thread; only the slow description
waits), and the M3E live worker never skips a keyframe."""

import threading
import time
from pathlib import Path

import numpy as np
import pytest

from bench.cpu_hog import one_core_busy
from m3e.eval.testset import Scene, make_clip
from m3e.media.sources import AudioItem, MediaSource, SourceConfig
from m3e.schemes.base import Examined
from m3e.schemes.m3e_video import LiveWorker
from m3e.semantics.extractor import KeyframeSemantics
from sender.semantic import SemanticWorker, examined

PICTURES = ("chelsea", "coffee", "rocket", "astronaut", "stereo_motorcycle", "chelsea")


@pytest.mark.slow
def test_every_cut_becomes_a_keyframe_with_one_core_busy(tmp_path: Path) -> None:
    scenes = tuple(Scene(p, "", 1.0, motion="zoom" if i % 2 else "pan") for i, p in enumerate(PICTURES))
    clip = make_clip(tmp_path, scenes, size=(320, 240))
    cuts = [float(i) for i in range(1, len(scenes))]
    found = []
    worker = SemanticWorker(30.0, 48000, found.append)
    with one_core_busy():
        start = time.monotonic()
        for item in MediaSource(str(clip), SourceConfig(width=320, height=240)):
            time.sleep(max(0.0, start + item.pts - time.monotonic()))  # paced as live
            if isinstance(item, AudioItem):
                worker.offer_audio(item.samples)
            elif examined(item.index, 30.0):
                worker.offer_frame(np.asarray(item.frame.to_ndarray(format="rgb24")), item.index, item.pts)
        worker.close()
    times = [k.time_s for k in found]
    missed = [c for c in cuts if not any(abs(t - c) <= 0.15 for t in times)]
    assert not missed, f"cuts at {missed} s were not keyframes ({times})"


def test_the_live_worker_never_skips_a_keyframe() -> None:
    seen: list[tuple[float, bool]] = []
    release = threading.Event()

    def slow(rgb: np.ndarray, t: float, is_keyframe: bool, captured: float) -> None:
        release.wait()
        seen.append((t, is_keyframe))

    worker = LiveWorker(slow)
    rgb = np.zeros((8, 8, 3), np.uint8)
    for i in range(10):  # the worker is stuck on frame 0 meanwhile
        worker.offer_frame(Examined(rgb, i in (0, 3, 6)), i / 10, 0.0)
    release.set()
    worker.close()
    assert [t for t, key in seen if key] == [0.0, 0.3, 0.6]
    assert seen[-1] == (0.9, False) and worker.dropped > 0  # of the others, only the newest


@pytest.mark.slow
def test_live_a_keyframe_follows_each_utterance_with_its_whole_sentence() -> None:
    """A still camera (no cut for 6 s) and two sentences: live, each sentence's text comes from
    a keyframe made where it ended, not at the next cut."""
    from m3e.eval.testset import speech_audio
    from m3e.media.offline import picture

    rate, fps = 48000, 30.0
    sentences = ("I will send you the report tomorrow morning.", "The bikes are racing down the hill.")
    parts, ends, t = [np.zeros(rate // 2, np.float32)], [], 0.5
    for s in sentences:
        said = speech_audio(s, rate)
        ends.append(t + np.flatnonzero(np.abs(said) > 0.01)[-1] / rate)
        parts += [said, np.zeros(rate, np.float32)]
        t += said.size / rate + 1.0
    audio = (np.concatenate(parts) * 32767).astype(np.int16).reshape(-1, 1)
    still = np.ascontiguousarray(picture("chelsea")[:240, :320])
    found: list[KeyframeSemantics] = []
    worker = SemanticWorker(fps, rate, found.append, keyframe_at_utterance_end=True)
    per_frame = int(rate / fps)
    for n in range(int(t * fps)):
        worker.offer_audio(audio[n * per_frame : (n + 1) * per_frame])
        if examined(n, fps):
            worker.offer_frame(still, n, n / fps)
    worker.close()
    times = [k.time_s for k in found]
    assert len(found) == 3, times  # the first frame, then after each sentence
    assert 0.2 <= times[1] - ends[0] <= 0.8 and 0.2 <= times[2] - ends[1] <= 0.8, (times, ends)
    assert "report" in found[0].transcript.lower() and "hill" in found[1].transcript.lower()
