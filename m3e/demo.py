"""``m3e demo``: receiver, relay and sender as three real processes on this machine,
streaming the embedded default input (or ``--source``) through the emulated channel.

The default input is the project's sample clip (``m3e.eval.testset``: natural images with
cuts, speech and sounds, made offline on first use), or PyAV's testsrc2 pattern when
espeak-ng is missing."""

from __future__ import annotations

import contextlib
import socket
import subprocess
import sys
import tempfile
import time
import webbrowser
from pathlib import Path
from typing import Any

DEMO_SECONDS = 10.0
SAMPLE_DIR = Path(tempfile.gettempdir()) / "m3e-sample-clip"


def sample_clip() -> Path | str:
    """The sample clip, made once per machine; "testsrc" when it cannot be made here."""
    from m3e.eval.testset import make_clip

    clip = SAMPLE_DIR / "clip.mp4"
    if not clip.exists():
        try:
            make_clip(SAMPLE_DIR)
        except (RuntimeError, OSError) as exc:
            print(f"demo: no sample clip ({exc}); streaming testsrc instead", flush=True)
            return "testsrc"
    return clip


def free_port(host: str = "127.0.0.1") -> int:
    with socket.socket() as s:
        s.bind((host, 0))
        return int(s.getsockname()[1])


def start_process(
    args: list[str], ready: str, timeout: float = 60.0, echo: bool = True, env: dict[str, str] | None = None
) -> tuple[subprocess.Popen[str], str]:
    """Start ``python -m m3e.cli ARGS``; wait until it prints a line containing ``ready``
    and return the process and that line."""
    cmd = [sys.executable, "-m", "m3e.cli", *args]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, text=True, env=env)
    assert proc.stdout is not None
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        line = proc.stdout.readline()
        if not line:
            raise RuntimeError(f"{args[0]} exited with code {proc.wait()}")
        if echo:
            print(f"  [{args[0]}] {line.rstrip()}", flush=True)
        if ready in line:
            return proc, line
    proc.kill()
    raise RuntimeError(f"{args[0]} did not start within {timeout:.0f} s")


def _flags(settings: Any, names: list[str]) -> list[str]:
    out = []
    for name in names:
        value = getattr(settings, name)
        if value is not None:
            out += [f"--{name.replace('_', '-').replace('snr-db', 'snr')}", str(value)]
    return out


RELAY_FLAGS = [
    "snr_db",
    "fading",
    "coherence",
    "k_factor",
    "symbol_rate",
    "delay_ms",
    "erasure_prob",
    "feedback_loss",
    "retransmit_by",
    "xi_threshold",
    "max_retries",
]
SEND_FLAGS = [
    "width",
    "height",
    "fps",
    "sample_rate",
    "scheme",
    "audio_scheme",
    "modulation",
    "code_rate",
    "pilot_spacing",
    "pilot_count",
    "crf",
    "gop",
    "text_scheme",
    "m3e_budget",
]


def run_demo(
    settings: Any, open_browser: bool = True, semantics: bool = True, low_latency: bool = False
) -> int:
    s = settings
    host = s.host
    relay, receiver = f"{host}:{free_port(host)}", f"{host}:{free_port(host)}"
    viewer_port = s.viewer_port or free_port(host)
    common = ["--host", host, "--seed", str(s.seed)]
    receive_args = [
        "receive",
        "--port",
        receiver.rsplit(":", 1)[1],
        "--once",
        "--control",
        relay,
        "--viewer-port",
        str(viewer_port),
        "--out",
        str(s.out),
        *_flags(s, ["max_retries", "xi_threshold", "playout_delay_ms"]),
        *common,
    ]
    relay_args = [
        "relay",
        "--port",
        relay.rsplit(":", 1)[1],
        "--target",
        receiver,
        *_flags(s, RELAY_FLAGS),
        *common,
    ]
    duration = s.duration or (DEMO_SECONDS if s.source == "testsrc" else None)
    send_args = ["send", "--target", relay, "--source", s.source, *_flags(s, SEND_FLAGS), *common]
    if duration:
        send_args += ["--duration", str(duration)]
    if semantics:
        send_args.append("--semantics")
    if low_latency:
        send_args.append("--low-latency")
    procs: list[subprocess.Popen[str]] = []
    try:
        procs.append(start_process(receive_args, "viewer:")[0])
        procs.append(start_process(relay_args, "listening")[0])
        url = f"http://{host}:{viewer_port}/"
        print(f"viewer: {url}", flush=True)
        if open_browser:
            webbrowser.open(url)
        sender = subprocess.run([sys.executable, "-m", "m3e.cli", *send_args], check=False)
        if sender.returncode != 0:
            return sender.returncode
        procs[0].wait(timeout=30)
        print(f"wrote {s.out}", flush=True)
        return 0
    except KeyboardInterrupt:
        return 130
    finally:
        for p in reversed(procs):
            if p.poll() is None:
                p.terminate()
        for p in procs:
            with contextlib.suppress(subprocess.TimeoutExpired):
                p.wait(timeout=10)
