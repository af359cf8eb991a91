"""Two measurements of issue 18 on real processes (loopback only), for ``bench.robust``:

- ``unauthenticated_control_attempts()``: a relay and a receiver with its viewer; Control's
  Configure / SetRoute / Stats without a token and with a wrong one, SetRoute with the token to
  a receiver nobody allowed, and the viewer's ``POST /api/channel`` as a cross-site page would
  send it (``text/plain``, a foreign ``Origin``), without a token and with a wrong one. Returns
  how many were accepted (target 0), and checks the legitimate path still works.
- ``killed_receiver_frames_kept_fraction()``: a stream through relay and receiver, the receiver
  SIGKILLed mid-stream; the frames in its MP4 over the frames it had played one second before
  the kill (its viewer's statistics, polled every 0.1 s); 1.0 when nothing older than a second
  was lost (``killed_receiver_recording()`` gives the counts).

    python -m bench.robust_control      # both, as JSON on stdout
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import signal
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

import av
import grpc

from m3e.launch import free_port, start_process, stop_processes
from m3e.wire import auth
from m3e.wire import link_pb2 as pb
from m3e.wire import link_pb2_grpc as rpc
from m3e.wire.convert import settings_to_proto
from m3e.wire.grpc_util import client_channel
from m3e.wire.messages import ChannelSettings

HOST = "127.0.0.1"


class _Processes:
    """A receiver (with its viewer and ``--control``) and a relay, sharing a control token."""

    def __init__(self, tmp: Path, token: str, *receiver_args: str) -> None:
        self.token = token
        self.env = {**os.environ, "M3E_CONTROL_TOKEN": token, "OMP_NUM_THREADS": "1"}
        self.receiver_port, self.relay_port, self.viewer_port = free_port(), free_port(), free_port()
        self.out = tmp / "received.mp4"
        self.procs: list[subprocess.Popen[str]] = []
        rx = ["receive", "--port", str(self.receiver_port), "--viewer-port", str(self.viewer_port)]
        rx += ["--control", f"{HOST}:{self.relay_port}", "--out", str(self.out), *receiver_args]
        self.receiver = self._start(rx, self.receiver_port)
        relay = ["relay", "--port", str(self.relay_port), "--target", f"{HOST}:{self.receiver_port}"]
        self.relay = self._start([*relay, "--snr", "20", "--fading", "awgn"], self.relay_port)

    def _start(self, args: list[str], port: int) -> subprocess.Popen[str]:
        proc = start_process(args, port, timeout=120, echo=False, env=self.env)
        self.procs.append(proc)
        return proc

    def send(self, *args: str) -> subprocess.Popen[str]:
        cmd = [sys.executable, "-m", "m3e.cli", "send", "--target", f"{HOST}:{self.relay_port}", *args]
        proc = subprocess.Popen(
            cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=self.env, text=True
        )
        self.procs.append(proc)
        return proc

    def stop(self) -> None:
        stop_processes(self.procs)


# ---------------------------------------------------------------- who may steer the channel
async def _grpc_attempts(relay: str, token: str) -> tuple[list[dict[str, Any]], float, bool]:
    """Each hostile Control call and whether it was accepted; then the relay's SNR and whether
    the legitimate call (with the token) still works."""
    hostile = settings_to_proto(ChannelSettings(snr_db=-25.0))
    rows: list[dict[str, Any]] = []
    async with client_channel(relay) as ch:
        stub = rpc.ControlStub(ch)
        attempts = [
            (f"{method} {who}", method, metadata)
            for who, metadata in (
                ("without a token", ()),
                ("with a wrong token", auth.grpc_metadata("wrong")),
            )
            for method in ("Configure", "SetRoute", "Stats")
        ]
        attempts.append(
            ("SetRoute with the token to a receiver not allowed", "SetRoute", auth.grpc_metadata(token))
        )
        for what, method, metadata in attempts:
            request: Any = {
                "Configure": hostile,
                "SetRoute": pb.RouteRequest(direction="evil", target="169.254.169.254:80"),
                "Stats": pb.StatsRequest(),
            }[method]
            try:
                await getattr(stub, method)(request, metadata=metadata, timeout=5)
                rows.append({"attempt": what, "accepted": True})
            except grpc.aio.AioRpcError as exc:
                rows.append({"attempt": what, "accepted": False, "answer": exc.code().name})
        stats = await stub.Stats(pb.StatsRequest(), metadata=auth.grpc_metadata(token), timeout=5)
        legit = await stub.Configure(
            settings_to_proto(ChannelSettings(snr_db=21.0)), metadata=auth.grpc_metadata(token), timeout=5
        )
    return rows, float(stats.settings.snr_db), abs(legit.settings.snr_db - 21.0) < 1e-6


def _post(url: str, body: bytes, headers: dict[str, str]) -> int:
    request = urllib.request.Request(url, body, headers, method="POST")
    try:
        with urllib.request.urlopen(request, timeout=10) as reply:
            return int(reply.status)
    except urllib.error.HTTPError as exc:
        return int(exc.code)


def _viewer_attempts(viewer: str, token: str) -> tuple[list[dict[str, Any]], bool]:
    url = f"http://{viewer}/api/channel"
    body = json.dumps({"snr_db": -25}).encode()
    evil = {"Origin": "http://evil.example"}
    attempts = [
        ("cross-site text/plain, no token", {**evil, "Content-Type": "text/plain"}),
        ("cross-site form, no token", {**evil, "Content-Type": "application/x-www-form-urlencoded"}),
        ("cross-site JSON with the token", {**evil, "Content-Type": "application/json", auth.HEADER: token}),
        ("same-origin text/plain with the token", {"Content-Type": "text/plain", auth.HEADER: token}),
        ("JSON without a token", {"Content-Type": "application/json"}),
        ("JSON with a wrong token", {"Content-Type": "application/json", auth.HEADER: "wrong"}),
    ]
    rows = []
    for what, headers in attempts:
        status = _post(url, body, headers)
        rows.append(
            {
                "attempt": f"viewer POST /api/channel: {what}",
                "accepted": 200 <= status < 300,
                "answer": status,
            }
        )
    legit = {"Content-Type": "application/json", auth.HEADER: token, "Origin": f"http://{viewer}"}
    ok = _post(url, json.dumps({"snr_db": 22}).encode(), legit) == 200
    return rows, ok


def unauthenticated_control_attempts() -> dict[str, Any]:
    """Hostile control attempts on a real relay and receiver viewer: ``accepted`` (target 0)
    of ``attempts``, each attempt's answer, the relay's SNR after them (20: untouched) and
    whether the legitimate calls (with the token, from the page's own origin) still work."""
    token = auth.new_token()
    with tempfile.TemporaryDirectory(prefix="m3e-robust-control-") as tmp:
        procs = _Processes(Path(tmp), token)
        try:
            relay = f"{HOST}:{procs.relay_port}"
            grpc_rows, snr_after, grpc_ok = asyncio.run(_grpc_attempts(relay, token))
            http_rows, http_ok = _viewer_attempts(f"{HOST}:{procs.viewer_port}", token)
        finally:
            procs.stop()
    rows = grpc_rows + http_rows
    return {
        "attempts": len(rows),
        "accepted": sum(r["accepted"] for r in rows),
        "snr_db_after_hostile_attempts": snr_after,
        "legitimate_control_works": grpc_ok and http_ok,
        "details": rows,
    }


# ---------------------------------------------------------------- a killed receiver's recording
def _played(viewer_port: int) -> int:
    with contextlib.suppress(OSError, ValueError):
        with urllib.request.urlopen(f"http://{HOST}:{viewer_port}/api/stats", timeout=2) as reply:
            return int(json.loads(reply.read()).get("receiver", {}).get("frames", 0))
    return -1


def _frames_in(path: Path) -> int:
    """Frames that decode from a recording cut off anywhere."""
    n = 0
    with contextlib.suppress(av.error.FFmpegError, OSError):
        with av.open(str(path)) as c:
            for _ in c.decode(video=0):
                n += 1
    return n


def killed_receiver_recording(
    play_s: float = 6.0,
    fps: float = 30.0,
    source: str = "testsrc",
    size: tuple[int, int] = (320, 240),
    scheme: str = "h265",
) -> dict[str, Any]:
    """Stream ``source`` (``scheme`` + AAC) through relay and receiver; SIGKILL the receiver once it
    has played ``play_s`` seconds of video. The counts: frames in its MP4, frames it had played
    at the kill and one second before it."""
    with tempfile.TemporaryDirectory(prefix="m3e-robust-kill-") as tmp:
        procs = _Processes(Path(tmp), auth.new_token())
        try:
            sender = procs.send(
                "--source", source, "--width", str(size[0]), "--height", str(size[1]), "--fps", str(fps),
                "--scheme", scheme,
                "--duration", str(play_s + 30),
            )  # fmt: skip
            history: list[tuple[float, int]] = []
            deadline = time.monotonic() + 180 + play_s
            while time.monotonic() < deadline and sender.poll() is None:
                played = _played(procs.viewer_port)
                history.append((time.monotonic(), played))
                if played >= play_s * fps:
                    break
                time.sleep(0.1)
            killed_at = time.monotonic()
            procs.receiver.send_signal(signal.SIGKILL)
            procs.receiver.wait()
            at_kill = max(p for _, p in history) if history else 0
            second_before = max((p for t, p in history if t <= killed_at - 1.0), default=0)
            kept = _frames_in(procs.out)
        finally:
            procs.stop()
    return {
        "frames_in_recording": kept,
        "frames_played_at_kill": at_kill,
        "frames_played_1s_before_kill": second_before,
        "kept_fraction_of_played_at_kill": kept / at_kill if at_kill > 0 else 0.0,
    }


def killed_receiver_frames_kept_fraction() -> float:
    """Frames in a SIGKILLed receiver's MP4 over the frames it had played a second before the
    kill, at most 1.0 (the target: everything played until 1 s before the kill is kept)."""
    r = killed_receiver_recording()
    before = r["frames_played_1s_before_kill"]
    return min(1.0, r["frames_in_recording"] / before) if before > 0 else 0.0


if __name__ == "__main__":
    control = unauthenticated_control_attempts()
    kill = killed_receiver_recording()
    print(json.dumps({"control": control, "killed_receiver": kill}, indent=2))
