"""``m3e demo``: receiver, relay and sender as three real processes on this machine,
streaming the embedded default input (or ``--source``) through the emulated channel."""

from __future__ import annotations

import contextlib
import socket
import subprocess
import sys
import time
import webbrowser
from typing import Any

DEMO_SECONDS = 10.0


def free_port(host: str = "127.0.0.1") -> int:
    with socket.socket() as s:
        s.bind((host, 0))
        return int(s.getsockname()[1])


def _start(args: list[str], ready: str, timeout: float = 60.0) -> subprocess.Popen[str]:
    """Start ``python -m m3e.cli ARGS`` and wait until it prints ``ready``."""
    proc = subprocess.Popen([sys.executable, "-m", "m3e.cli", *args], stdout=subprocess.PIPE, text=True)
    assert proc.stdout is not None
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        line = proc.stdout.readline()
        if not line:
            raise RuntimeError(f"{args[0]} exited with code {proc.wait()}")
        print(f"  [{args[0]}] {line.rstrip()}", flush=True)
        if ready in line:
            return proc
    proc.kill()
    raise RuntimeError(f"{args[0]} did not start within {timeout:.0f} s")


def _flags(settings: Any, names: list[str]) -> list[str]:
    out = []
    for name in names:
        value = getattr(settings, name)
        if value is not None:
            out += [f"--{name.replace('_', '-').replace('snr-db', 'snr')}", str(value)]
    return out


def run_demo(settings: Any, open_browser: bool = True) -> int:
    s = settings
    host = s.host
    relay_port, receiver_port = free_port(host), free_port(host)
    viewer_port = s.viewer_port or free_port(host)
    common = ["--host", host, "--seed", str(s.seed)]
    procs: list[subprocess.Popen[str]] = []
    try:
        procs.append(
            _start(
                [
                    "receive",
                    "--port",
                    str(receiver_port),
                    "--once",
                    "--control",
                    f"{host}:{relay_port}",
                    "--viewer-port",
                    str(viewer_port),
                    "--out",
                    str(s.out),
                    *_flags(s, ["max_retries", "playout_delay_ms"]),
                    *common,
                ],
                "viewer:",
            )
        )
        procs.append(
            _start(
                [
                    "relay",
                    "--port",
                    str(relay_port),
                    "--target",
                    f"{host}:{receiver_port}",
                    *_flags(
                        s,
                        [
                            "snr_db",
                            "fading",
                            "coherence",
                            "k_factor",
                            "symbol_rate",
                            "delay_ms",
                            "erasure_prob",
                            "feedback_loss",
                        ],
                    ),
                    *common,
                ],
                "listening",
            )
        )
        url = f"http://{host}:{viewer_port}/"
        print(f"viewer: {url}", flush=True)
        if open_browser:
            webbrowser.open(url)
        duration = s.duration or (DEMO_SECONDS if s.source == "testsrc" else None)
        send = [
            "send",
            "--target",
            f"{host}:{relay_port}",
            "--source",
            s.source,
            *_flags(
                s,
                [
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
                ],
            ),
            *common,
        ]
        if duration:
            send += ["--duration", str(duration)]
        sender = subprocess.run([sys.executable, "-m", "m3e.cli", *send], check=False)
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
