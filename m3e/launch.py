"""Start the project's processes (``python -m m3e.cli ARGS``) and wait until they serve.

A process is ready when the standard gRPC health service (``grpc.health.v1``), which every
server registers and sets to SERVING once it listens (``m3e.wire.grpc_util``), answers
SERVING at the address it was told to listen on; a TLS server is asked over TLS with the same
files. The child's stdout is echoed line by line, prefixed with its command, for as long as it
runs (``echo=False``: discarded).
"""

from __future__ import annotations

import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterable
from typing import Any

import grpc
from grpc_health.v1 import health_pb2, health_pb2_grpc

from m3e.wire.grpc_util import TlsFiles

WILDCARDS = ("", "0.0.0.0", "::", "[::]")  # a server listening on all interfaces is asked locally
POLL_S = 0.05
# a channel to a port nobody listens on yet backs off (1 s, 1.6 s, ... by default): keep the
# retries short so a process is seen serving within a poll of when it is
_PROBE_OPTIONS = [
    ("grpc.initial_reconnect_backoff_ms", 50),
    ("grpc.min_reconnect_backoff_ms", 50),
    ("grpc.max_reconnect_backoff_ms", 250),
]


def free_port(host: str = "127.0.0.1") -> int:
    """A port nobody listens on now (the OS's choice), for a process to be told to use."""
    with socket.socket() as s:
        s.bind((host, 0))
        return int(s.getsockname()[1])


def port_in_use(host: str, port: int) -> bool:
    """Whether a server listens on ``host:port`` already (bind as a server would, with
    SO_REUSEADDR, so a port only in TIME_WAIT counts as free)."""
    family = socket.AF_INET6 if ":" in host.strip("[]") else socket.AF_INET
    with socket.socket(family) as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind((host.strip("[]"), port))
        except OSError:
            return True
    return False


def probe_address(address: str | int) -> str:
    """``HOST:PORT`` to ask for a server told to listen on ``address`` (a bare port: this
    machine's loopback; a wildcard host: the loopback too)."""
    if isinstance(address, int):
        return f"127.0.0.1:{address}"
    host, sep, port = address.rpartition(":")
    if not sep or not port.isdigit():
        raise ValueError(f"expected HOST:PORT or a port, got {address!r}")
    return f"127.0.0.1:{port}" if host in WILDCARDS else address


def is_serving(address: str | int, tls: TlsFiles | None = None, timeout: float = 1.0) -> bool:
    """Whether the gRPC server at ``address`` answers its health check with SERVING."""
    with _probe_channel(probe_address(address), tls) as channel:
        return _check(health_pb2_grpc.HealthStub(channel), timeout)


def _probe_channel(target: str, tls: TlsFiles | None) -> grpc.Channel:
    """A blocking channel for health checks, over TLS when the server uses it (same files)."""
    if tls is not None and tls.enabled:
        return grpc.secure_channel(target, tls.channel_credentials(), options=_PROBE_OPTIONS)
    return grpc.insecure_channel(target, options=_PROBE_OPTIONS)


def _check(stub: health_pb2_grpc.HealthStub, timeout: float) -> bool:
    try:
        reply = stub.Check(health_pb2.HealthCheckRequest(service=""), timeout=timeout)
    except grpc.RpcError:  # not listening yet (UNAVAILABLE), or not serving yet (NOT_FOUND)
        return False
    return bool(reply.status == health_pb2.HealthCheckResponse.SERVING)


def start_process(
    args: list[str],
    address: str | int,
    timeout: float = 60.0,
    echo: bool = True,
    env: dict[str, str] | None = None,
    tls: TlsFiles | None = None,
    cpus: set[int] | None = None,
    quiet: bool = False,
) -> subprocess.Popen[str]:
    """Start ``python -m m3e.cli ARGS`` (on the cores ``cpus`` only, when given: every thread
    it starts inherits them; ``quiet``: its log too is discarded) and return it once its gRPC
    server at ``address`` (``HOST:PORT`` or a port on this machine; the one ARGS tell it to
    listen on) is serving.
    A process reports SERVING only when all it serves is up (a receiver's viewer too).

    Raises RuntimeError when the process exits first (with its exit code) or is not ready
    within ``timeout`` seconds (it is killed then)."""
    name = args[0] if args else "m3e"
    target = probe_address(address)
    cmd = [sys.executable, "-m", "m3e.cli", *args]
    if cpus:  # taskset execs the command in its place (same pid); a preexec_fn would fork a gRPC process
        cmd = ["taskset", "--cpu-list", ",".join(map(str, sorted(cpus))), *cmd]
    out = subprocess.PIPE if echo else subprocess.DEVNULL
    err = subprocess.DEVNULL if quiet else None
    proc = subprocess.Popen(cmd, stdout=out, stderr=err, text=True, env=env)
    if echo:
        threading.Thread(target=_echo, args=(proc, name), name=f"echo {name}", daemon=True).start()
    deadline = time.monotonic() + timeout
    try:
        with _probe_channel(target, tls) as channel:
            stub = health_pb2_grpc.HealthStub(channel)
            while time.monotonic() < deadline:
                if proc.poll() is not None:
                    raise RuntimeError(f"{name} exited with code {proc.returncode} before it was serving")
                if _check(stub, max(0.05, min(1.0, deadline - time.monotonic()))):
                    return proc
                time.sleep(POLL_S)
    except BaseException:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        raise
    proc.kill()
    proc.wait()
    raise RuntimeError(f"{name} did not start serving at {target} within {timeout:.0f} s")


def _echo(proc: subprocess.Popen[str], name: str) -> None:
    """The child's stdout, line by line, until it closes it."""
    assert proc.stdout is not None
    for line in proc.stdout:
        print(f"  [{name}] {line.rstrip()}", flush=True)


def stop_processes(procs: Iterable[subprocess.Popen[Any]], timeout: float = 15.0) -> None:
    """SIGTERM all (they finish cleanly on it) at once, then SIGKILL whichever is still running
    after ``timeout``."""
    procs = list(procs)
    for p in procs:
        if p.poll() is None:
            p.terminate()
    for p in procs:
        try:
            p.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            p.kill()
            p.wait()
