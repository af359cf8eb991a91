"""``m3e demo``: real processes on this machine streaming the embedded default input (or
``--source``) through the emulated channel.

Without ``--scheme`` it shows the project's main idea: the clip goes as M3E and as H.265
(``versus``) at the same time, through one channel emulator with a route (and a channel) per
scheme, to a receiver each; one page (``receiver.compare``) shows the source, H.265 and M3E
side by side with their measured kbit/s, and its SNR control moves both channels
(docs/equal_rate.md). With ``--scheme X``: one receiver, relay and sender for X, and the
receiver's own viewer.

The default input is the project's sample clip (``m3e.eval.testset.sample_clip``: natural
images with cuts, speech and sounds, made offline on first use), or PyAV's testsrc2 pattern
when espeak-ng is missing."""

from __future__ import annotations

import contextlib
import json
import os
import subprocess
import sys
import time
import urllib.request
import webbrowser
from pathlib import Path

from m3e import schemes
from m3e.config import Settings, settings_env
from m3e.launch import free_port, start_process
from m3e.wire import auth
from m3e.wire.grpc_util import TlsFiles

DEMO_SECONDS = 10.0
M3E_START_TIMEOUT_S = 300.0  # the M3E sender loads its models before its first burst


def run_demo(
    settings: Settings,
    open_browser: bool = True,
    semantics: bool = True,
    low_latency: bool = False,
    versus: str | None = None,
) -> int:
    """One pipeline for ``settings.scheme``, or with ``versus`` (a video scheme) M3E and
    ``versus`` side by side. Every process gets one control token (``M3E_CONTROL_TOKEN``);
    the page's URL carries it."""
    settings.control_token = auth.resolve_token(settings.control_token, settings.control_token_file)
    try:
        if versus is not None:
            return _side_by_side(settings, versus, open_browser, low_latency)
        return _alone(settings, open_browser, semantics, low_latency)
    except RuntimeError as exc:  # a process did not start (it printed why)
        raise ValueError(str(exc)) from None
    except OSError as exc:  # the page's port
        raise ValueError(f"cannot serve the page on {settings.host}:{settings.viewer_port}: {exc}") from None


def _alone(settings: Settings, open_browser: bool, semantics: bool, low_latency: bool) -> int:
    s = settings
    host = s.host
    relay, receiver = f"{host}:{free_port(host)}", f"{host}:{free_port(host)}"
    viewer_port = s.viewer_port or free_port(host)
    env = {**os.environ, **settings_env(s)}  # every setting reaches the processes this way
    receive_args = ["receive", "--port", receiver.rsplit(":", 1)[1], "--once", "--control", relay]
    receive_args += ["--viewer-port", str(viewer_port)]
    relay_args = ["relay", "--port", relay.rsplit(":", 1)[1], "--target", receiver]
    send_args = ["send", "--target", relay, *_duration(s)]
    if semantics:
        send_args.append("--semantics")
    if low_latency and s.scheme in schemes.low_latency_names():
        send_args.append("--low-latency")
    procs: list[subprocess.Popen[str]] = []
    try:
        procs.append(start_process(receive_args, receiver, env=env))
        procs.append(start_process(relay_args, relay, env=env))
        url = auth.with_token(f"http://{host}:{viewer_port}/", s.control_token)
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
        _stop(procs)


def _duration(s: Settings) -> list[str]:
    duration = s.duration or (DEMO_SECONDS if s.source == "testsrc" else None)
    return ["--duration", str(duration)] if duration else []


def recording(out: Path, scheme: str) -> Path:
    """Where the side-by-side demo records ``scheme``: ``received.mp4`` -> ``received-m3e.mp4``."""
    return out.with_name(f"{out.stem}-{scheme}{out.suffix or '.mp4'}")


def _side_by_side(s: Settings, versus: str, open_browser: bool, low_latency: bool) -> int:
    """M3E and ``versus`` through one relay (a route each, the same channel settings), a
    receiver each, and the page. The ``versus`` sender starts once M3E's first burst has
    arrived (M3E loads its models first) and the source preview once ``versus``'s has, so
    the panes show about the same moments of the clip (each behind by its own latency)."""
    from m3e.media.preview import SourcePreview
    from receiver.compare import PREVIEW_FPS, ComparePage, Pane

    if versus.startswith("m3e"):
        raise ValueError(
            f"--versus {versus}: expected a scheme to compare M3E with (h265, h265-equal-rate, jpeg)"
        )
    if s.source == "webcam" or s.source.startswith("webcam:"):
        raise ValueError("a webcam feeds one stream: add --scheme m3e (or h265) to stream it alone")
    host = s.host
    relay = f"{host}:{free_port(host)}"
    # five processes share the cores: one thread each for the math libraries, as in m3e call
    env = {**os.environ, **settings_env(s), "OMP_NUM_THREADS": "1"}
    titles = {"m3e": "M3E", "h265": "H.265", "h265-equal-rate": "H.265 at M3E's rate", "jpeg": "JPEG"}
    panes = [Pane(titles.get(scheme, scheme), scheme, scheme, free_port(host)) for scheme in (versus, "m3e")]
    ports = {p.direction: free_port(host) for p in panes}
    preview = SourcePreview(s.source, s.width, s.height, PREVIEW_FPS, delay_s=s.playout_delay_ms / 1000)
    tls = TlsFiles(s.tls_cert, s.tls_key, s.tls_ca) if any((s.tls_cert, s.tls_key, s.tls_ca)) else None
    page = ComparePage(host, s.viewer_port, panes, relay, preview, s.snr_db, tls, s.control_token)
    procs: list[subprocess.Popen[str]] = []
    receivers: dict[str, subprocess.Popen[str]] = {}
    try:
        url = page.start_in_thread()  # first: a port in use fails at once
        for p in panes:
            args = ["receive", "--port", str(ports[p.direction]), "--once", "--control", relay]
            args += ["--viewer-port", str(p.viewer_port), "--out", str(recording(s.out, p.scheme))]
            receivers[p.direction] = start_process(args, f"{host}:{ports[p.direction]}", env=env)
            procs.append(receivers[p.direction])
        routes = [a for p in panes for a in ("--route", f"{p.direction}={host}:{ports[p.direction]}")]
        relay_args = ["relay", "--port", relay.rsplit(":", 1)[1], "--target", "", *routes]
        procs.append(start_process(relay_args, relay, env=env))
        print(f"side by side (source | {panes[0].title} | M3E): {url}", flush=True)
        if open_browser:
            webbrowser.open(url)
        senders: dict[str, subprocess.Popen[str]] = {}

        def send(p: Pane) -> None:
            args = ["send", "--target", relay, "--direction", p.direction, "--scheme", p.scheme]
            # a scheme that collapses when the SNR control is moved down is what the page
            # shows, not a failure of the demo
            args += [*_duration(s), "--min-delivered", "0"]
            if p.scheme == "m3e" and low_latency:
                args.append("--low-latency")
            cmd = [sys.executable, "-m", "m3e.cli", *args]
            senders[p.direction] = subprocess.Popen(cmd, env=env, text=True)
            procs.append(senders[p.direction])

        m3e, other = panes[1], panes[0]
        send(m3e)
        code = _wait_for_first_burst(m3e.viewer_port, host, senders[m3e.direction])
        if code:
            return code
        send(other)
        code = _wait_for_first_burst(other.viewer_port, host, senders[other.direction])
        if code:
            return code
        preview.start()  # with the stream it stands beside
        codes = {d: p.wait() for d, p in senders.items()}
        failed = [c for c in codes.values() if c != 0]
        if failed:
            return failed[0]
        for p in panes:
            with contextlib.suppress(subprocess.TimeoutExpired):
                receivers[p.direction].wait(timeout=30)
            print(f"wrote {recording(s.out, p.scheme)} ({p.title})", flush=True)
        return 0
    except KeyboardInterrupt:
        return 130
    finally:
        page.stop_thread()
        _stop(procs)


def _wait_for_first_burst(viewer_port: int, host: str, sender: subprocess.Popen[str]) -> int:
    """Until the receiver behind ``viewer_port`` has a burst, the sender has ended, or
    ``M3E_START_TIMEOUT_S``: 0, or the sender's exit code when it failed."""
    url = f"http://{'127.0.0.1' if host in ('0.0.0.0', '') else host}:{viewer_port}/api/stats"
    deadline = time.monotonic() + M3E_START_TIMEOUT_S
    while time.monotonic() < deadline and sender.poll() is None:
        with contextlib.suppress(OSError, ValueError):
            with urllib.request.urlopen(url, timeout=2) as reply:
                if json.loads(reply.read()).get("receiver", {}).get("bursts", 0) > 0:
                    return 0
        time.sleep(0.25)
    return sender.poll() or 0


def _stop(procs: list[subprocess.Popen[str]]) -> None:
    for p in reversed(procs):
        if p.poll() is None:
            p.terminate()
    for p in procs:
        with contextlib.suppress(subprocess.TimeoutExpired):
            p.wait(timeout=10)
