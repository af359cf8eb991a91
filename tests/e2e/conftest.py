"""Helpers for end-to-end tests: the three real processes on ephemeral ports."""

from __future__ import annotations

import re
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import av
import numpy as np
import pytest
from skimage.metrics import structural_similarity

from m3e.demo import start_process
from m3e.media.sources import MediaSource, SourceConfig, VideoItem


def port_of(line: str) -> int:
    return int(re.search(r"port (\d+)", line).group(1))  # type: ignore[union-attr]


@dataclass
class Link:
    """A receiver and a relay, started for one test and stopped after it."""

    tmp: Path
    procs: list[subprocess.Popen[str]] = field(default_factory=list)
    receiver_port: int = 0
    relay_port: int = 0
    viewer_port: int = 0

    def start_receiver(self, *extra: str, viewer: bool = False) -> None:
        args = ["receive", "--port", "0", "--once", "--out", str(self.tmp / "received.mp4"), *extra]
        args += ["--viewer-port", "0"] if viewer else ["--no-viewer"]
        proc, line = start_process(args, "viewer:" if viewer else "receiver: listening", echo=False)
        self.procs.append(proc)
        if viewer:  # the viewer's line comes first, then the receiver's
            self.viewer_port = int(re.search(r":(\d+)/", line).group(1))  # type: ignore[union-attr]
            line = proc.stdout.readline()  # type: ignore[union-attr]
        self.receiver_port = port_of(line)

    def start_relay(self, *extra: str, port: int = 0) -> subprocess.Popen[str]:
        args = ["relay", "--port", str(port), "--target", f"127.0.0.1:{self.receiver_port}", *extra]
        proc, line = start_process(args, "listening", echo=False)
        self.procs.append(proc)
        self.relay_port = port_of(line)
        return proc

    def send(self, *extra: str, background: bool = False) -> subprocess.Popen[str]:
        args = [sys.executable, "-m", "m3e.cli", "send", "--target", f"127.0.0.1:{self.relay_port}", *extra]
        proc = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        self.procs.append(proc)
        if not background:
            proc.wait(timeout=120)
        return proc

    def stop(self) -> None:
        for p in self.procs:
            if p.poll() is None:
                p.terminate()
        for p in self.procs:
            try:
                p.wait(timeout=10)
            except subprocess.TimeoutExpired:
                p.kill()


@pytest.fixture
def link(tmp_path: Path) -> Iterator[Link]:
    lk = Link(tmp_path)
    yield lk
    lk.stop()


def recorded_frames(path: Path) -> list[np.ndarray]:
    with av.open(str(path)) as c:
        return [f.to_ndarray(format="rgb24") for f in c.decode(video=0)]


def recorded_audio(path: Path) -> tuple[np.ndarray, int]:
    """The first audio track as (n,) float32 mono and its sample rate."""
    with av.open(str(path)) as c:
        rate = c.streams.audio[0].rate
        mono = av.AudioResampler(format="flt", layout="mono", rate=rate)
        parts = [f.to_ndarray().reshape(-1) for fr in c.decode(audio=0) for f in mono.resample(fr)]
    return np.concatenate(parts), rate


def has_audio(path: Path) -> bool:
    with av.open(str(path)) as c:
        return bool(c.streams.audio) and sum(f.samples for f in c.decode(audio=0)) > 0


def mean_ssim_against_testsrc(
    frames: list[np.ndarray], width: int, height: int, fps: float, first: int = 0
) -> float:
    """Mean SSIM of recorded frames[first:] against the source frames with the same index."""
    config = SourceConfig(width=width, height=height, fps=fps, duration=len(frames) / fps)
    reference = [
        it.frame.to_ndarray(format="rgb24")
        for it in MediaSource("testsrc", config)
        if isinstance(it, VideoItem)
    ]
    pairs = zip(reference[first:], frames[first:], strict=False)
    return float(np.mean([structural_similarity(a, b, channel_axis=2) for a, b in pairs]))
