"""Helpers for end-to-end tests: the three real processes on ephemeral ports."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import av
import numpy as np
import pytest
from skimage.metrics import structural_similarity

from m3e.launch import free_port, start_process, stop_processes
from m3e.media.sources import MediaSource, SourceConfig, VideoItem
from m3e.wire.auth import new_token
from m3e.wire.grpc_util import TlsFiles


def tls_of(flags: tuple[str, ...]) -> TlsFiles | None:
    """The TLS files named by ``--tls-cert/--tls-key/--tls-ca`` flags (the health probe of a
    TLS server needs them), or None."""
    given = {name: Path(flags[i + 1]) for i, name in enumerate(flags[:-1]) if name.startswith("--tls-")}
    if not given:
        return None
    return TlsFiles(given.get("--tls-cert"), given.get("--tls-key"), given.get("--tls-ca"))


@dataclass
class Link:
    """A receiver and a relay, started for one test and stopped after it."""

    tmp: Path
    procs: list[subprocess.Popen[str]] = field(default_factory=list)
    receiver_port: int = 0
    relay_port: int = 0
    viewer_port: int = 0
    token: str = field(default_factory=new_token)  # the control token relay and receiver share

    @property
    def env(self) -> dict[str, str]:
        return {**os.environ, "M3E_CONTROL_TOKEN": self.token}

    def start_receiver(self, *extra: str, viewer: bool = False) -> None:
        self.receiver_port = port = free_port()
        args = ["receive", "--port", str(port), "--once", "--out", str(self.tmp / "received.mp4"), *extra]
        self.viewer_port = free_port() if viewer else 0
        args += ["--viewer-port", str(self.viewer_port)] if viewer else ["--no-viewer"]
        proc = start_process(args, port, echo=False, tls=tls_of(extra), env=self.env)
        self.procs.append(proc)

    def start_relay(self, *extra: str, port: int = 0) -> subprocess.Popen[str]:
        self.relay_port = port = port or free_port()
        args = ["relay", "--port", str(port), "--target", f"127.0.0.1:{self.receiver_port}", *extra]
        proc = start_process(args, port, echo=False, tls=tls_of(extra), env=self.env)
        self.procs.append(proc)
        return proc

    def send(self, *extra: str, background: bool = False) -> subprocess.Popen[str]:
        args = [sys.executable, "-m", "m3e.cli", "send", "--target", f"127.0.0.1:{self.relay_port}", *extra]
        proc = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        self.procs.append(proc)
        if not background:
            proc.wait(timeout=120)
        return proc

    def stop(self) -> None:
        stop_processes(self.procs, timeout=10)


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
