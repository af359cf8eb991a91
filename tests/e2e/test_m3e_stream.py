"""The M3E scheme across the real processes: keyframes leave the sender as text + side
information + V′, and the receiver regenerates and records the video from them."""

import json

import numpy as np
import pytest
from skimage.metrics import structural_similarity

from m3e.eval.testset import SCENES, make_clip
from tests.e2e.conftest import Link, recorded_audio, recorded_frames

pytestmark = pytest.mark.slow


@pytest.mark.parametrize("mode", [[], ["--low-latency"]], ids=["interpolated", "low-latency"])
def test_m3e_stream_is_regenerated_from_keyframes(link: Link, mode: list[str]) -> None:
    clip = make_clip(link.tmp / "clip", scenes=SCENES[2:4], size=(320, 240))  # a cup, then a motorcycle
    link.start_receiver("--stats-json", str(link.tmp / "rx.json"))
    link.start_relay("--snr", "15", "--fading", "rayleigh")
    sender = link.send("--source", str(clip), "--width", "320", "--height", "240", "--scheme", "m3e", *mode)
    out = sender.stdout.read() if sender.stdout else ""
    assert sender.returncode == 0 and "Traceback" not in out, out
    assert link.procs[0].wait(timeout=60) == 0
    stats = json.loads((link.tmp / "rx.json").read_text())
    assert len(stats["texts"]) >= 2 and all("xi_hat" in t for t in stats["texts"])
    frames = recorded_frames(link.tmp / "received.mp4")
    source = recorded_frames(clip)
    assert len(frames) >= 0.95 * len(source)  # keyframes, frames between them, the last one held
    keyframes = [round(t["time_s"] * 30) for t in stats["texts"]]
    scores = [
        structural_similarity(source[i], frames[i], channel_axis=2) for i in keyframes if i < len(frames)
    ]
    assert len(scores) >= 2 and np.mean(scores) > 0.6, scores
    # the audio is regenerated from the sentences and T′: silent over the cup, loud over the
    # motorcycle's hum, on one track as long as the clip
    audio, rate = recorded_audio(link.tmp / "received.mp4")
    assert audio.shape[0] >= 0.9 * len(source) / 30 * rate
    cup, motorcycle = (
        float(np.sqrt(np.mean(audio[int(a * rate) : int(b * rate)] ** 2)))
        for a, b in ((0.5, 2.5), (3.5, 5.5))
    )
    assert motorcycle > 3 * cup, (cup, motorcycle)
    if mode:  # live: each keyframe is shown as soon as its picture arrives, not a scene later
        assert stats["latency_ms_p50"] < 1500, stats["latency_ms_p50"]
    else:  # paced: every frame up to the last keyframe played at its time (with its latency),
        # none left for the close (the frames after it exist only once the stream has ended)
        timed = [p for p in stats["played"] if p[1] is not None]
        assert len(timed) >= max(keyframes) + 1, (len(timed), keyframes)
