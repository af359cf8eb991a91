"""``m3e demo``: receiver, relay and sender as three real processes on this machine,
streaming the embedded default input (or ``--source``) through the emulated channel.

The default input is the project's sample clip (``m3e.eval.testset.sample_clip``: natural
images with cuts, speech and sounds, made offline on first use), or PyAV's testsrc2 pattern
when espeak-ng is missing."""

from __future__ import annotations

import contextlib
import os
import subprocess
import sys
import webbrowser

from m3e.config import Settings, settings_env
from m3e.launch import free_port, start_process

DEMO_SECONDS = 10.0


def run_demo(
    settings: Settings, open_browser: bool = True, semantics: bool = True, low_latency: bool = False
) -> int:
    s = settings
    host = s.host
    relay, receiver = f"{host}:{free_port(host)}", f"{host}:{free_port(host)}"
    viewer_port = s.viewer_port or free_port(host)
    env = {**os.environ, **settings_env(s)}  # every setting reaches the processes this way
    receive_args = ["receive", "--port", receiver.rsplit(":", 1)[1], "--once", "--control", relay]
    receive_args += ["--viewer-port", str(viewer_port)]
    relay_args = ["relay", "--port", relay.rsplit(":", 1)[1], "--target", receiver]
    duration = s.duration or (DEMO_SECONDS if s.source == "testsrc" else None)
    send_args = ["send", "--target", relay]
    if duration:
        send_args += ["--duration", str(duration)]
    if semantics:
        send_args.append("--semantics")
    if low_latency:
        send_args.append("--low-latency")
    procs: list[subprocess.Popen[str]] = []
    try:
        procs.append(start_process(receive_args, receiver, env=env))
        procs.append(start_process(relay_args, relay, env=env))
        url = f"http://{host}:{viewer_port}/"
        print(f"viewer: {url}", flush=True)
        if open_browser:
            webbrowser.open(url)
        sender = subprocess.run([sys.executable, "-m", "m3e.cli", *send_args], check=False, env=env)
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
