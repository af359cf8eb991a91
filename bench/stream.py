"""Streaming benchmark: the three real processes, 720x480 @ 30 fps H.265 + AAC through
Rayleigh fading, and what a viewer would feel.

    python -m bench.stream [--seconds 20] [--snr 20] [--symbol-rate 2e6] [--out results/stream.json]
    python -m bench.stream --snr 0 --modulation qpsk --code-rate 0.25 --pilot-count 16 \
        --symbol-rate 0 --out results/stream_0db.json   # the cliff: can the receiver keep up?

At the cliff the link is configured for it: rate 1/4 (base graph 2) with 16 pilots per 256
symbols needs 2.3 symbols a bit where rate 0.34 with the default 4 pilots needs 3.0 (the
channel estimate from 4 pilots at 0 dB loses most first transmissions; docs/phy.md).
``--no-record``: the receiver plays without writing the MP4.

Measures at the receiver: achieved fps, glass-to-glass latency (source capture to
play-out, same clock) p50/p95 and whether it grows (backlog), and per process CPU and
peak RSS from /proc. Compares the symbols spent per GOP with the Shannon limit for the
same delivered bits over the same channel (the reference, in the same run). Before the
stream, ``codec_cores`` measures what the source coding alone costs on this machine: x265
encoding the same test pattern at the same settings, and decoding it (cores at 30 fps), the
part of the budget no channel coding can give back.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

from m3e.launch import free_port, start_process
from m3e.phy.theory import shannon_symbols

CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / CLOCK_TICKS  # utime + stime


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


def codec_cores(crf: int, frames: int = 90) -> dict[str, float]:
    """Cores that H.265 encoding (the sender's x265, thread pool included) and decoding of the
    720x480 test pattern need at 30 fps: CPU seconds per frame of this process times 30."""
    import av

    from m3e.codecs.traditional import VideoDecoder, VideoEncoder

    with av.open("testsrc2=size=720x480:rate=30", format="lavfi") as src:
        pictures = [f for _, f in zip(range(frames), src.decode(video=0), strict=False)]
    encoder, decoder = VideoEncoder("h265", 720, 480, 30.0, crf=crf), VideoDecoder("h265")

    def cpu() -> float:
        r = resource.getrusage(resource.RUSAGE_SELF)
        return r.ru_utime + r.ru_stime

    t0 = cpu()
    packets = [p.data for f in pictures for p in encoder.encode(f)] + [p.data for p in encoder.flush()]
    t1 = cpu()
    for data in packets:
        decoder.decode(data)
    t2 = cpu()
    return {"h265_encode": (t1 - t0) / frames * 30, "h265_decode": (t2 - t1) / frames * 30}


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--seconds", type=float, default=20.0)
    p.add_argument("--snr", type=float, default=20.0)
    p.add_argument("--fading", default="rayleigh")
    p.add_argument("--symbol-rate", type=float, default=2e6, help="symbols/s on air")
    p.add_argument("--scheme", default="h265")
    p.add_argument("--crf", type=int, default=28)
    p.add_argument("--modulation", default="16qam")
    p.add_argument("--code-rate", type=float, default=0.75)
    p.add_argument("--pilot-count", type=int, default=4, help="pilots per 256 symbols")
    p.add_argument("--out", type=Path, default=Path("results/stream.json"))
    p.add_argument("--no-record", action="store_true", help="the receiver records no MP4 (play-out only)")
    args = p.parse_args(argv)

    codec = codec_cores(args.crf)
    tmp = Path(tempfile.mkdtemp(prefix="m3e-bench-"))
    relay_port, rx_port = free_port(), free_port()
    procs: dict[str, subprocess.Popen[str]] = {}
    try:
        procs["receiver"] = start_process(
            [
                "receive",
                "--port",
                str(rx_port),
                "--once",
                "--no-viewer",
                *(["--no-record"] if args.no_record else ["--out", str(tmp / "rx.mp4")]),
                "--stats-json",
                str(tmp / "rx.json"),
            ],
            rx_port,
            echo=False,
        )
        procs["relay"] = start_process(
            [
                "relay",
                "--port",
                str(relay_port),
                "--target",
                f"127.0.0.1:{rx_port}",
                "--snr",
                str(args.snr),
                "--fading",
                args.fading,
                "--symbol-rate",
                str(args.symbol_rate),
            ],
            relay_port,
            echo=False,
        )
        start = time.time()
        procs["sender"] = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "m3e.cli",
                "send",
                "--target",
                f"127.0.0.1:{relay_port}",
                "--source",
                "testsrc",
                "--duration",
                str(args.seconds),
                "--scheme",
                args.scheme,
                "--crf",
                str(args.crf),
                "--modulation",
                args.modulation,
                "--code-rate",
                str(args.code_rate),
                "--pilot-count",
                str(args.pilot_count),
                "--stats-json",
                str(tmp / "tx.json"),
            ],
            stdout=subprocess.PIPE,
            text=True,
        )
        peak = {name: 0.0 for name in procs}
        cpu_start = {name: cpu_seconds(p.pid) for name, p in procs.items()}
        cpu_end = dict(cpu_start)
        while procs["sender"].poll() is None:
            for name, proc in procs.items():
                if proc.poll() is None:  # /proc of a finished process is gone
                    peak[name] = max(peak[name], rss_mb(proc.pid))
                    cpu_end[name] = cpu_seconds(proc.pid)
            time.sleep(0.5)
        wall = time.time() - start
        cpu = {name: 100 * (cpu_end[name] - cpu_start[name]) / wall for name in procs}
        procs["receiver"].wait(timeout=60)
        if procs["sender"].returncode != 0:
            raise SystemExit("the sender failed")
        rx = json.loads((tmp / "rx.json").read_text())
        tx = json.loads((tmp / "tx.json").read_text())
    finally:
        for proc in procs.values():
            if proc.poll() is None:
                proc.terminate()

    played = rx["played"]
    t = np.array([p[0] for p in played])
    lat = np.array([p[1] for p in played if p[1] is not None])
    steady = t >= t[0] + 2.0  # the first seconds include process warm-up (numba, x265)
    fps = (steady.sum() - 1) / (t[steady][-1] - t[steady][0])
    lat_t = np.array([p[0] for p in played if p[1] is not None])
    first, last = lat[lat_t < lat_t[0] + 5], lat[lat_t > lat_t[-1] - 5]
    gops = len(played) / 30
    delivered_bits = rx["payload_bytes"] * 8
    result: dict[str, Any] = {
        "setup": {
            "seconds": args.seconds,
            "resolution": "720x480",
            "fps_source": 30,
            "scheme": args.scheme,
            "crf": args.crf,
            "modulation": args.modulation,
            "code_rate": args.code_rate,
            "pilots_per_256": args.pilot_count,
            "snr_db": args.snr,
            "fading": args.fading,
            "symbol_rate": args.symbol_rate,
            "cores": os.cpu_count(),
            "recorder": not args.no_record,
        },
        "sender_wall_s": wall,  # from its start (imports, models) to its end
        "codec_cores": codec,  # source coding alone, measured before the stream
        "frames_played": len(played),
        "frames_frozen": int(sum(p[2] for p in played)),
        "fps": float(fps),
        "latency_ms_p50": float(np.percentile(lat, 50)),
        "latency_ms_p95": float(np.percentile(lat, 95)),
        "latency_ms_p50_first_5s": float(np.median(first)),
        "latency_ms_p50_last_5s": float(np.median(last)),
        "cpu_percent": cpu,
        "rss_mb": peak,
        "bitrate_mbps": delivered_bits / args.seconds / 1e6,
        "symbols_per_gop": tx["symbols"] / gops,
        "shannon_symbols_per_gop": shannon_symbols(delivered_bits / gops, args.snr, args.fading),
        "retransmissions": tx["retransmissions"],
        "bler": rx["bler"],
    }
    result["symbols_vs_shannon"] = result["symbols_per_gop"] / result["shannon_symbols_per_gop"]
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2))
    r = result
    rows = [
        ("fps at receiver", f"{r['fps']:.1f} (played {len(played)}, frozen {r['frames_frozen']})"),
        ("sender wall time (s)", f"{wall:.1f} for {args.seconds:.0f} s of source"),
        ("cores for H.265 alone", f"encode {codec['h265_encode']:.2f}, decode {codec['h265_decode']:.2f}"),
        ("latency p50 / p95 (ms)", f"{r['latency_ms_p50']:.0f} / {r['latency_ms_p95']:.0f}"),
        (
            "latency p50 first / last 5 s",
            f"{r['latency_ms_p50_first_5s']:.0f} / {r['latency_ms_p50_last_5s']:.0f}",
        ),
        ("cpu % sender/relay/receiver", " / ".join(f"{cpu[n]:.0f}" for n in ("sender", "relay", "receiver"))),
        (
            "rss MB sender/relay/receiver",
            " / ".join(f"{peak[n]:.0f}" for n in ("sender", "relay", "receiver")),
        ),
        ("symbols per GOP", f"{r['symbols_per_gop']:.0f} ({r['symbols_vs_shannon']:.2f}x Shannon)"),
    ]
    for name, value in rows:
        print(f"{name:30s} {value}")
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
