"""The command line on bad input: one clear line on stderr and exit 2, checked before
anything starts; and the help of every subcommand (issue 18)."""

from __future__ import annotations

import socket
import subprocess
import sys
import time
from pathlib import Path

import av
import numpy as np
import pytest

from tests.e2e.conftest import Link


def _m3e(*args: str, timeout: float = 90) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "m3e.cli", *args], capture_output=True, text=True, timeout=timeout
    )


def _one_line_error(r: subprocess.CompletedProcess[str], command: str, *words: str) -> None:
    assert r.returncode == 2, (r.returncode, r.stderr[-2000:])
    assert "Traceback" not in r.stderr, r.stderr[-3000:]
    errors = [line for line in r.stderr.splitlines() if ": error:" in line]
    assert len(errors) == 1 and errors[0].startswith(f"m3e {command}: error:"), r.stderr[-2000:]
    assert all(w in errors[0] for w in words), errors[0]


def test_help_of_eval_and_train() -> None:
    r = _m3e("eval", "--help")
    assert r.returncode == 0 and r.stdout.startswith("usage: m3e eval"), r.stderr
    description = " ".join(_m3e("eval", "fig4", "--help").stdout.split())
    assert "decoders the processes run)." in description  # the whole first paragraph
    r = _m3e("train", "vq", "--help")
    assert r.returncode == 0 and r.stdout.startswith("usage: m3e train vq"), r.stdout[:200]


def _audio_only(path: Path) -> Path:
    with av.open(str(path), "w") as out:
        stream = out.add_stream("pcm_s16le", rate=16000)
        stream.layout = "mono"
        frame = av.AudioFrame.from_ndarray(np.zeros((1, 16000), np.int16), format="s16", layout="mono")
        frame.sample_rate = 16000
        for p in [*stream.encode(frame), *stream.encode(None)]:
            out.mux(p)
    return path


def test_describe_an_audio_only_file(tmp_path: Path) -> None:
    _one_line_error(_m3e("describe", str(_audio_only(tmp_path / "a.wav"))), "describe", "no video")


def test_a_port_in_use_is_one_line_before_anything_starts() -> None:
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = str(busy.getsockname()[1])
        _one_line_error(_m3e("receive", "--port", "0", "--viewer-port", port), "receive", port, "in use")
        _one_line_error(_m3e("relay", "--port", port), "relay", "in use")


def test_demo_checks_its_input_before_starting_processes(tmp_path: Path) -> None:
    t0 = time.monotonic()
    r = _m3e("demo", "--no-browser", "--scheme", "h265", "--source", str(tmp_path / "missing.mp4"))
    _one_line_error(r, "demo", "no such file")
    assert "relay" not in r.stdout and "receiver" not in r.stdout and time.monotonic() - t0 < 30
    r = _m3e("demo", "--no-browser", "--scheme", "h265", "--source", str(_audio_only(tmp_path / "a.wav")))
    _one_line_error(r, "demo", "no video")


@pytest.mark.skipif(Path("/dev/video0").exists(), reason="this machine has a webcam")
def test_call_with_an_absent_webcam(tmp_path: Path) -> None:
    r = _m3e("call", "--a", "webcam", "--no-browser", "--out", str(tmp_path))
    _one_line_error(r, "call", "party a", "no webcam")


def test_relay_rejects_a_malformed_allowed_route() -> None:
    _one_line_error(_m3e("relay", "--port", "0", "--allow-route", "http://x/"), "relay", "allow-route")


@pytest.mark.slow
def test_send_on_an_unknown_direction(link: Link) -> None:
    link.start_receiver()
    link.start_relay()
    sender = link.send("--direction", "nowhere", "--duration", "1", "--width", "320", "--height", "240")
    out = sender.stdout.read() if sender.stdout else ""
    assert sender.returncode == 2 and "Traceback" not in out, out[-3000:]
    assert "INVALID_ARGUMENT" in out and "nowhere" in out
