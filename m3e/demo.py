"""``m3e demo``: receiver, relay and sender as three real processes on this machine,
streaming the embedded default input (or ``--source``) through the emulated channel.

The default input is the project's sample clip (``m3e.eval.testset.sample_clip``: natural
images with cuts, speech and sounds, made offline on first use), or PyAV's testsrc2 pattern
when espeak-ng is missing."""

from __future__ import annotations

import contextlib
import subprocess
import sys
import webbrowser
from typing import Any

from m3e.launch import free_port, start_process

DEMO_SECONDS = 10.0


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
        procs.append(start_process(receive_args, receiver, also_listening=[viewer_port]))
        procs.append(start_process(relay_args, relay))
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
