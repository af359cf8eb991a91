"""Many sessions through one emulator and one receiver (issue 17): the most concurrent
real-time sessions, M3E and H.265 separately, with CPU and memory per session.

    python -m bench.load [--out results/load.json] [--m3e-receiver 1,2,4,...] [...]

The load is real traffic: one real sender streams the sample clip (``m3e send --source
sample``) once per scheme to a stand-in that ACKs every burst, and its uplink messages are
recorded with their send times (cached in ``~/.cache/m3e/load``). N copies of that stream,
each with a session id of its own and capture times of now, start spread over 3 s (about a
keyframe interval, as independent callers would be) and are replayed at the recorded pace
through one relay (``m3e relay``, 20 dB AWGN, pinned to core 0) to one receiver (``m3e
receive --no-record --no-viewer --no-sound``: nobody sees or hears it, so it makes no M3E
frame's pixels and no voice; statistics per session, pinned to core 1 beside this
replaying process); a burst the receiver asks for again is sent again. Relay and receiver
are fresh for every level and warmed up by a short session first (an M3E receiver loads its
models at its first session). The relay alone is measured the same way with a sink in this
process in place of the receiver (its latency: a burst's transit through the relay).

A level of N sessions is real-time when all N finished, each delivered at least the single
session's fraction less 0.05 with a latency p95 at most the single session's plus 250 ms or
25 % (the larger: an M3E session's own p95 varies by ±200 ms from run to run), and
neither process used more than 95 % of its core. The levels climb until one is not, or until
this process cannot send a level on time (its p95 lateness over 100 ms: the capacity is then
at least the last level, ``climb_ended_by`` says "replay"). Then M3E
at its maximum M (at least 1) plus one: with the relay started ``--max-sessions M``, and with
the receiver: ``refused_cleanly`` is true when the one past capacity ended RESOURCE_EXHAUSTED
both times and the others finished (``refusal_others_real_time``: whether they also stayed
real-time by the climb's rule).

Writes ``results/load.json`` (keys ``m3e_sessions_max``, ``h265_sessions_max``,
``refused_cleanly``, ``relay_only``, ``per_session`` and the levels) and ``results/load.png``;
prints a table.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import struct
import subprocess
import sys
import tempfile
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import grpc
import numpy as np

from m3e.launch import free_port, start_process, stop_processes
from m3e.wire import auth
from m3e.wire import link_pb2 as pb
from m3e.wire import link_pb2_grpc as rpc
from m3e.wire.grpc_util import client_channel, create_server

HOST = "127.0.0.1"
CACHE = Path.home() / ".cache" / "m3e" / "load"
RELAY_CPU, RECEIVER_CPU = {0}, {1}
SPREAD_S = 3.0  # session starts spread over about a keyframe interval: independent callers' phases
LATENCY_SLACK = (250.0, 0.25)  # ms, fraction: a level may add the larger of the two to one alone's p95
DELIVERY_SLACK = 0.05
CORE_BUSY = 0.95
CHANNEL = ["--snr", "20", "--fading", "awgn"]  # a channel one session crosses cleanly: CPU is measured
WARM_UP_S = 4.0
UNLIMITED = 1000
SESSION_TIMEOUT_S = 120.0
REPLAY_LATE_MS = 100.0
# session counts tried, (scheme, target) -> counts; the climb stops at the first not real-time
COUNTS = {
    ("m3e", "receiver"): [1, 2, 3, 4, 6, 8, 12, 16, 20, 25, 30],
    ("h265", "receiver"): [1, 2, 3, 4, 5, 6, 8],
    ("m3e", "sink"): [1, 10, 20, 30, 40, 60, 80],
    ("h265", "sink"): [1, 2, 4, 6, 8, 10, 12, 16],
}


# ------------------------------------------------------------------ the recording
class _Recorder(rpc.LinkServicer):
    """Stands in for relay and receiver while a real sender streams: keeps every uplink
    message with its arrival time and ACKs every burst."""

    def __init__(self) -> None:
        self.messages: list[tuple[float, bytes]] = []
        self.done = asyncio.Event()

    async def Stream(
        self, request_iterator: AsyncIterator[pb.Uplink], context: grpc.aio.ServicerContext
    ) -> AsyncIterator[pb.Feedback]:
        async for msg in request_iterator:
            self.messages.append((time.time(), msg.SerializeToString()))  # the capture times' clock
            if msg.WhichOneof("kind") == "burst":
                yield pb.Feedback(session_id=msg.burst.session_id, seq=msg.burst.seq, kind=pb.Feedback.ACK)
            elif msg.WhichOneof("kind") == "end":
                self.done.set()


def recording(scheme: str) -> list[tuple[float, bytes]]:
    """The sample clip's uplink as ``scheme`` (seconds after the first message, message),
    recorded once per machine."""
    path = CACHE / f"{scheme}.int16.bin"  # the wire format of the symbols is in the name
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        messages = asyncio.run(_record(scheme))
        tmp = path.with_suffix(".part")
        with tmp.open("wb") as f:
            for t, raw in messages:
                f.write(struct.pack("<dI", t, len(raw)) + raw)
        tmp.replace(path)
    data, out, at = path.read_bytes(), [], 0
    while at < len(data):
        t, n = struct.unpack_from("<dI", data, at)
        at += 12
        out.append((t, data[at : at + n]))
        at += n
    return out


async def _record(scheme: str) -> list[tuple[float, bytes]]:
    recorder = _Recorder()
    server, port, _ = create_server(f"{HOST}:0", [lambda s: rpc.add_LinkServicer_to_server(recorder, s)])
    await server.start()
    print(f"recording the sample clip's {scheme} stream once (a real sender)...", flush=True)
    cmd = [sys.executable, "-m", "m3e.cli", "send", "--target", f"{HOST}:{port}", "--source", "sample"]
    cmd += ["--scheme", scheme, "--min-delivered", "0"]
    sender = await asyncio.create_subprocess_exec(*cmd, stdout=subprocess.DEVNULL)
    try:
        if await sender.wait() != 0 or not recorder.done.is_set():
            raise RuntimeError(f"the {scheme} sender did not complete its stream")
    finally:
        await server.stop(0)
    # times from the first burst (a sender loading its models sends its header long before);
    # capture times on the same clock, so a replay keeps the sender's own lag
    t0 = next(t for t, raw in recorder.messages if pb.Uplink.FromString(raw).WhichOneof("kind") == "burst")
    out = []
    for t, raw in recorder.messages:
        msg = pb.Uplink.FromString(raw)
        if msg.WhichOneof("kind") == "burst":
            msg.burst.capture_time -= t0
        out.append((max(0.0, t - t0), msg.SerializeToString()))
    return out


# ------------------------------------------------------------------ the replay
@dataclass
class Replayed:
    """How one replayed session's stream ended."""

    code: str = "OK"
    acks: int = 0
    nacks: int = 0
    give_ups: int = 0
    late_ms: list[float] = field(default_factory=list)  # each message's send after its time


def _session_copy(
    messages: list[tuple[float, bytes]], sid: str, wall0: float
) -> list[tuple[float, bytes, int]]:
    """``messages`` as session ``sid`` whose first burst leaves at wall clock ``wall0``:
    (time, message, the burst's seq or -1)."""
    out = []
    for t, raw in messages:
        msg = pb.Uplink.FromString(raw)
        kind = msg.WhichOneof("kind")
        getattr(msg, kind).session_id = sid
        if kind == "burst":
            msg.burst.capture_time += wall0
        out.append((t, msg.SerializeToString(), msg.burst.seq if kind == "burst" else -1))
    return out


def first_seconds(messages: list[tuple[float, bytes]], seconds: float) -> list[tuple[float, bytes]]:
    """The recording's first ``seconds`` and its end (a short session to warm a receiver up)."""
    kept = [(t, raw) for t, raw in messages[:-1] if t < seconds]
    end = pb.Uplink.FromString(messages[-1][1])
    end.end.end_pts = seconds
    return [*kept, (seconds, end.SerializeToString())]


async def replay(
    messages: list[tuple[float, bytes]], relay: str, n: int, sent: dict[tuple[str, int], float] | None = None
) -> list[Replayed]:
    """``n`` copies of the recorded stream through ``relay`` at once, their starts spread over
    ``SPREAD_S``; a burst the receiver asks for again is sent again (``sent``: each burst's
    send time)."""
    start = time.monotonic() + 1.0 + 0.05 * n  # the copies are made before the clock starts
    wall = time.time() + (start - time.monotonic())
    offsets = [i * SPREAD_S / n for i in range(n)]
    copies = [_session_copy(messages, f"load-{i}", wall + offsets[i]) for i in range(n)]
    async with client_channel(relay) as channel:
        link = channel.stream_stream(
            "/m3e.v1.Link/Stream",
            request_serializer=lambda b: b,
            response_deserializer=pb.Feedback.FromString,
        )

        async def one(i: int) -> Replayed:
            result = Replayed()
            again: asyncio.Queue[bytes] = asyncio.Queue()
            bursts: dict[int, bytes] = {}

            async def uplink() -> AsyncIterator[bytes]:
                sid = f"load-{i}"
                for t, raw, seq in copies[i]:
                    due = start + offsets[i] + t
                    while (wait := due - time.monotonic()) > 0:
                        try:
                            yield await asyncio.wait_for(again.get(), wait)
                        except TimeoutError:
                            break
                    result.late_ms.append(1000 * (time.monotonic() - due))
                    if seq >= 0:
                        bursts[seq] = raw
                        if sent is not None:
                            sent[(sid, seq)] = time.monotonic()
                    yield raw

            try:
                async for fb in link(uplink()):
                    result.acks += fb.kind == pb.Feedback.ACK
                    result.give_ups += fb.kind == pb.Feedback.GIVE_UP
                    if fb.kind == pb.Feedback.NACK and fb.seq in bursts:
                        result.nacks += 1
                        msg = pb.Uplink.FromString(bursts[fb.seq])
                        msg.burst.attempt += 1
                        again.put_nowait(msg.SerializeToString())
            except grpc.aio.AioRpcError as exc:
                result.code = exc.code().name
            return result

        return list(await asyncio.gather(*(one(i) for i in range(n))))


class _Sink(rpc.LinkServicer):
    """The relay's receiver when the relay alone is measured: ACKs every burst and keeps how
    long each took from the replay's send to here (``sent``: the replay's send times)."""

    def __init__(self, sent: dict[tuple[str, int], float]) -> None:
        self.sent = sent
        self.delays_ms: list[float] = []
        self.streams = 0

    async def Stream(
        self, request_iterator: AsyncIterator[pb.Uplink], context: grpc.aio.ServicerContext
    ) -> AsyncIterator[pb.Feedback]:
        self.streams += 1
        async for msg in request_iterator:
            if msg.WhichOneof("kind") == "burst":
                b = msg.burst
                if (b.session_id, b.seq) in self.sent:
                    self.delays_ms.append(1000 * (time.monotonic() - self.sent[(b.session_id, b.seq)]))
                yield pb.Feedback(session_id=b.session_id, seq=b.seq, kind=pb.Feedback.ACK)


# ------------------------------------------------------------------ one level
def _cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


@dataclass
class Level:
    """One run: ``sessions`` at once through the relay, to the receiver (``target``
    "receiver") or to a sink in this process (``target`` "sink": the relay alone)."""

    scheme: str
    sessions: int
    target: str = "receiver"
    relay_limit: int = UNLIMITED
    receiver_limit: int = UNLIMITED
    seconds: float = 0.0
    relay_cpu: float = 0.0  # fraction of its core
    receiver_cpu: float = 0.0
    relay_rss_mb: float = 0.0
    receiver_rss_mb: float = 0.0
    codes: dict[str, int] = field(default_factory=dict)
    nacks: int = 0
    finished: int = 0  # sessions the receiver finished with media (sink: streams it saw)
    delivered_min: float = 0.0  # worst session's frames played with their picture
    latency_p95_max_ms: float = 0.0  # worst session's play latency (sink: relay transit) p95
    replay_late_p95_ms: float = 0.0  # the replay's own lateness: a level it could not drive is no level
    real_time: bool = False

    @property
    def limited(self) -> bool:
        return min(self.relay_limit, self.receiver_limit) < UNLIMITED


def run_level(messages: list[tuple[float, bytes]], level: Level) -> Level:
    """Relay and receiver (or sink) fresh, then ``level.sessions`` replayed; fills in ``level``."""
    return asyncio.run(_run_level(messages, level))


async def _run_level(messages: list[tuple[float, bytes]], level: Level) -> Level:
    env = {**os.environ, "M3E_CONTROL_TOKEN": auth.new_token(), "OMP_NUM_THREADS": "1"}
    sent: dict[tuple[str, int], float] = {}
    sink = _Sink(sent)
    sink_server, sink_port, _ = create_server(
        f"{HOST}:0", [lambda s: rpc.add_LinkServicer_to_server(sink, s)]
    )
    await sink_server.start()
    procs: list[subprocess.Popen[str]] = []
    with tempfile.TemporaryDirectory() as tmp:
        stats = Path(tmp)
        try:
            rx_port = sink_port if level.target == "sink" else free_port()
            if level.target == "receiver":
                args = ["receive", "--port", str(rx_port), "--no-viewer", "--no-record", "--no-sound"]
                args += ["--stats-json", str(stats / "rx.json"), "--max-sessions", str(level.receiver_limit)]
                procs.append(start_process(args, rx_port, echo=False, quiet=True, env=env, cpus=RECEIVER_CPU))
            relay_port = free_port()
            args = ["relay", "--port", str(relay_port), "--target", f"{HOST}:{rx_port}"]
            args += [*CHANNEL, "--max-sessions", str(level.relay_limit)]
            relay = start_process(args, relay_port, echo=False, quiet=True, env=env, cpus=RELAY_CPU)
            procs.append(relay)
            address = f"{HOST}:{relay_port}"
            # an M3E receiver (and the relay's judge) load their models at the first session
            await replay(first_seconds(messages, WARM_UP_S), address, 1)
            if level.target == "receiver":
                await _until(lambda: (stats / "rx.json").exists())
                (stats / "rx.json").rename(stats / "warm-up.json")
            cpu0 = {p.pid: _cpu_seconds(p.pid) for p in procs}
            t0 = time.monotonic()
            results = await replay(messages, address, level.sessions, sent)
            level.seconds = time.monotonic() - t0
            level.relay_cpu = (_cpu_seconds(relay.pid) - cpu0[relay.pid]) / level.seconds
            level.relay_rss_mb = _rss_mb(relay.pid)
            if level.target == "receiver":
                receiver = procs[0]
                level.receiver_cpu = (_cpu_seconds(receiver.pid) - cpu0[receiver.pid]) / level.seconds
                level.receiver_rss_mb = _rss_mb(receiver.pid)
                accepted = sum(r.code == "OK" for r in results)
                await _until(lambda: len(list(stats.glob("rx*.json"))) >= accepted)
                summaries = [json.loads(p.read_text()) for p in stats.glob("rx*.json")]
        finally:
            stop_processes(procs)
            await sink_server.stop(0)
    for r in results:
        level.codes[r.code] = level.codes.get(r.code, 0) + 1
        level.nacks += r.nacks
    late = [ms for r in results for ms in r.late_ms]
    level.replay_late_p95_ms = float(np.percentile(late, 95)) if late else 0.0
    if level.target == "receiver":
        level.finished = len(summaries)
        if summaries:
            level.delivered_min = min(s["delivered_fraction"] for s in summaries)
            level.latency_p95_max_ms = max(s["latency_ms_p95"] for s in summaries)
    else:
        level.finished = sink.streams - 1  # less the warm-up
        level.delivered_min = len(sink.delays_ms) / max(1, sum(r.acks for r in results))
        level.latency_p95_max_ms = float(np.percentile(sink.delays_ms, 95)) if sink.delays_ms else 0.0
    return level


async def _until(done: Callable[[], bool], timeout: float = SESSION_TIMEOUT_S) -> None:
    """Until ``done()`` (the receiver closes a session after its last frame), or the timeout."""
    deadline = time.monotonic() + timeout
    while not done() and time.monotonic() < deadline:
        await asyncio.sleep(0.2)


def judge(level: Level, alone: Level, expected: int) -> bool:
    """Real-time: ``expected`` sessions finished, each as good as one alone (within the
    slack), and neither process saturated its core."""
    return (
        level.finished == expected
        and level.delivered_min >= alone.delivered_min - DELIVERY_SLACK
        and level.latency_p95_max_ms
        <= alone.latency_p95_max_ms + max(LATENCY_SLACK[0], LATENCY_SLACK[1] * alone.latency_p95_max_ms)
        and max(level.relay_cpu, level.receiver_cpu) <= CORE_BUSY
    )


def climb(scheme: str, target: str, counts: list[int]) -> tuple[int, list[Level], str]:
    """The most sessions of ``scheme`` that stay real-time, every level run, and what ended
    the climb: "real time" (a level was not), "replay" (this process could not send a level
    on time: the capacity is at least the maximum) or "counts" (every count was)."""
    messages = recording(scheme)
    runs: list[Level] = []
    limit = "counts"
    for n in counts:
        level = run_level(messages, Level(scheme, n, target))
        level.real_time = judge(level, runs[0] if runs else level, n)
        runs.append(level)
        print(_row(level), flush=True)
        if level.replay_late_p95_ms > REPLAY_LATE_MS:
            limit = "replay"
            print(
                f"  the replay fell {level.replay_late_p95_ms:.0f} ms behind (p95): not a level", flush=True
            )
            break
        if not level.real_time:
            limit = "real time"
            break
    valid = [r.sessions for r in runs if r.real_time and r.replay_late_p95_ms <= REPLAY_LATE_MS]
    return max(valid, default=0), runs, limit


def refusal(m: int, alone: Level) -> tuple[bool, list[Level]]:
    """``m + 1`` M3E sessions at a relay limited to ``m``, then at a receiver limited to ``m``:
    whether the one past capacity was refused RESOURCE_EXHAUSTED and the others finished."""
    runs = []
    for relay_limit, receiver_limit in ((m, UNLIMITED), (UNLIMITED, m)):
        level = run_level(recording("m3e"), Level("m3e", m + 1, "receiver", relay_limit, receiver_limit))
        level.real_time = judge(level, alone, m)
        runs.append(level)
        print(_row(level), flush=True)
    return all(r.codes.get("RESOURCE_EXHAUSTED") == 1 and r.finished == m for r in runs), runs


def per_session(runs: list[Level], attr: str) -> float:
    """Slope of ``attr`` over the number of sessions (least squares over the levels)."""
    xs = [r.sessions for r in runs]
    ys = [getattr(r, attr) for r in runs]
    return float(np.polyfit(xs, ys, 1)[0]) if len(set(xs)) > 1 else 0.0


def _row(r: Level) -> str:
    limits = f"relay≤{r.relay_limit} " if r.relay_limit < UNLIMITED else ""
    limits += f"rx≤{r.receiver_limit}" if r.receiver_limit < UNLIMITED else ""
    verdict = "real-time" if r.real_time else "NOT real-time"
    return (
        f"{r.scheme:5s} {r.sessions:3d} → {r.target:8s} {limits:16s} relay {r.relay_cpu:4.0%} "
        f"{r.relay_rss_mb:4.0f} MB  receiver {r.receiver_cpu:4.0%} {r.receiver_rss_mb:4.0f} MB  "
        f"finished {r.finished:3d}  delivered ≥{r.delivered_min:.2f}  p95 ≤{r.latency_p95_max_ms:5.0f} ms  "
        f"{verdict}  {r.codes}  (replay late p95 {r.replay_late_p95_ms:.0f} ms)"
    )


def plot(result: dict[str, Any], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 3, figsize=(14, 4))
    for level_set, style in (("receiver", "-"), ("sink", ":")):
        for scheme, marker in (("m3e", "o"), ("h265", "s")):
            runs = [
                Level(**r) for r in result["levels"] if r["scheme"] == scheme and r["target"] == level_set
            ]
            runs = [r for r in runs if not r.limited]
            n = [r.sessions for r in runs]
            label = f"{scheme} → {level_set}"
            axes[0].plot(
                n, [100 * r.relay_cpu for r in runs], ls=style, marker=marker, label=f"relay, {label}"
            )
            if level_set == "receiver":
                receiver_cpu = [100 * r.receiver_cpu for r in runs]
                axes[0].plot(n, receiver_cpu, ls="--", marker=marker, label=f"receiver, {scheme}")
            axes[1].plot(n, [r.latency_p95_max_ms for r in runs], ls=style, marker=marker, label=label)
            axes[2].plot(n, [r.delivered_min for r in runs], ls=style, marker=marker, label=label)
    axes[0].axhline(100, color="grey", lw=0.8)
    axes[0].set(
        xlabel="concurrent sessions", ylabel="% of one core", title="CPU (relay: core 0, receiver: core 1)"
    )
    axes[1].set(xlabel="concurrent sessions", ylabel="ms", title="worst session's latency p95")
    axes[2].set(xlabel="concurrent sessions", ylabel="fraction", title="worst session's delivered fraction")
    for ax in axes:
        ax.set_xscale("log")
        ax.grid(alpha=0.3)
        ax.legend(fontsize=7)
    m3e, h265 = result["m3e_sessions_max"], result["h265_sessions_max"]
    relay = result["relay_only"]
    fig.suptitle(
        f"bench.load: real-time sessions through one relay to one receiver: M3E {m3e}, H.265 {h265}; "
        f"through the relay alone: M3E {relay['m3e_sessions_max']}, H.265 {relay['h265_sessions_max']}"
    )
    fig.tight_layout()
    fig.savefig(path, dpi=110)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m bench.load", description=__doc__.split("\n\n")[0])
    ap.add_argument("--out", type=Path, default=Path("results/load.json"))
    for scheme, target in COUNTS:
        flag = f"--{scheme}-{target}"
        ap.add_argument(
            flag, default=",".join(map(str, COUNTS[(scheme, target)])), help="session counts to try"
        )
    args = ap.parse_args(argv)
    if len(os.sched_getaffinity(0)) < 2:
        print("bench.load: needs 2 cores (the relay on one, the receiver on the other)", file=sys.stderr)
        return 2
    os.sched_setaffinity(0, RECEIVER_CPU)  # the replay shares the receiver's core, not the relay's
    t0 = time.time()
    best: dict[tuple[str, str], int] = {}
    limits: dict[str, str] = {}  # what ended each climb
    runs: list[Level] = []
    for scheme, target in COUNTS:
        counts = [int(x) for x in getattr(args, f"{scheme}_{target}").split(",")]
        best[(scheme, target)], climbed, limits[f"{scheme} → {target}"] = climb(scheme, target, counts)
        runs += climbed
    alone = next(r for r in runs if r.scheme == "m3e" and r.target == "receiver")
    clean, refused = refusal(max(1, best[("m3e", "receiver")]), alone)
    result: dict[str, Any] = {
        "m3e_sessions_max": best[("m3e", "receiver")],
        "h265_sessions_max": best[("h265", "receiver")],
        "refused_cleanly": clean,
        "refusal_others_real_time": all(r.real_time for r in refused),
        "relay_only": {
            "m3e_sessions_max": best[("m3e", "sink")],
            "h265_sessions_max": best[("h265", "sink")],
        },
        "climb_ended_by": limits,
        "per_session": {
            f"{scheme} → {target}": {
                attr: round(
                    per_session([r for r in runs if (r.scheme, r.target) == (scheme, target)], attr), 4
                )
                for attr in ("relay_cpu", "receiver_cpu", "relay_rss_mb", "receiver_rss_mb")
            }
            for scheme, target in COUNTS
        },
        "targets": {"m3e_sessions_max": 20, "h265_sessions_max": 4, "refused_cleanly": True},
        "setup": {
            "channel": " ".join(CHANNEL),
            "relay_cores": sorted(RELAY_CPU),
            "receiver_and_replay_cores": sorted(RECEIVER_CPU),
            "spread_s": SPREAD_S,
            "latency_slack_ms_or_fraction": LATENCY_SLACK,
            "delivery_slack": DELIVERY_SLACK,
            "core_busy": CORE_BUSY,
            "runtime_s": round(time.time() - t0),
            "command": "python -m bench.load",
        },
        "levels": [asdict(r) for r in runs + refused],
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=1))
    plot(result, args.out.with_suffix(".png"))
    relay = result["relay_only"]
    print(
        f"\nreal-time sessions, relay + receiver: M3E {result['m3e_sessions_max']} (target ≥ 20), "
        f"H.265 {result['h265_sessions_max']} (target ≥ 4); relay alone: M3E {relay['m3e_sessions_max']}, "
        f"H.265 {relay['h265_sessions_max']}; refused cleanly: {clean}"
    )
    for name, p in result["per_session"].items():
        print(
            f"  per session, {name}: relay {100 * p['relay_cpu']:.1f} % of a core, "
            f"{p['relay_rss_mb']:.1f} MB; "
            f"receiver {100 * p['receiver_cpu']:.1f} %, {p['receiver_rss_mb']:.1f} MB"
        )
    print(f"wrote {args.out} and {args.out.with_suffix('.png')}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
