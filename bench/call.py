"""Call benchmark: a two-party call on this machine (both directions through one emulator,
Rayleigh), each party a clip, as M3E in the low-latency mode and, as the reference in the same
run, as H.265 + AAC.

    python -m bench.call [--seconds 30] [--snr 10] [--width 720 --height 480] [--out results/call.json]
    python -m bench.call --browser [--screenshot docs/call.png]   # results/call_browser.json

``--browser``: both parties in headless Chromium over WebRTC (``bench/call_browser.py``).

Per direction at its receiver, after a warm-up (models loading): played fps, glass-to-glass
latency (capture at the sender to play-out, one clock) p50 / p95 and the delivered bit rate;
for the whole call the CPU (in cores) and peak RSS of all processes together, from /proc.
"""

from __future__ import annotations

import argparse
import json
import os
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

from bench.stream import cpu_seconds, rss_mb
from call.orchestrator import Call, CallSettings

WARMUP_S = 5.0  # the first pictures of a call (models warming up, first keyframes) are not typical


def run_call(scheme: str, sources: dict[str, str], args: argparse.Namespace, out: Path) -> dict[str, Any]:
    settings = CallSettings(
        sources=sources,
        schemes={"a": scheme, "b": scheme},
        snr_db={"a-b": args.snr, "b-a": args.snr},
        width=args.width,
        height=args.height,
        duration=args.seconds,
        out=out,
        echo=False,
    )
    call = Call(settings)
    call.start()
    start = time.time()
    pids = [p.pid for p in call.processes()]
    cpu0 = sum(cpu_seconds(pid) for pid in pids)
    cpu1, peak = cpu0, 0.0
    try:
        while any(p.sender is not None and p.sender.poll() is None for p in call.parties.values()):
            alive = [pid for pid in pids if Path(f"/proc/{pid}").exists()]
            peak = max(peak, sum(rss_mb(pid) for pid in alive))
            cpu1 = max(cpu1, sum(cpu_seconds(pid) for pid in alive))
            time.sleep(0.5)
        wall = time.time() - start
        for party in call.parties.values():  # the receivers close the session when its end lands
            deadline = time.monotonic() + 30
            while not call.stats_path(party.name).exists() and time.monotonic() < deadline:
                time.sleep(0.2)
    finally:
        call.hang_up()
    row: dict[str, Any] = {
        "scheme": scheme,
        "cpu_cores": (cpu1 - cpu0) / wall,
        "rss_mb": peak,
        "directions": {},
    }
    for receiver, direction in (("b", "a-b"), ("a", "b-a")):  # what B receives came on a-b
        rx = json.loads(call.stats_path(receiver).read_text())
        row["directions"][direction] = direction_stats(rx, args.seconds)
    return row


def direction_stats(rx: dict[str, Any], seconds: float) -> dict[str, Any]:
    """Over the steady part: from ``WARMUP_S`` after the first picture to the last picture the
    stream brought (the end's held frames excluded)."""
    played = rx["played"]
    t = np.array([p[0] for p in played])
    live = [p[0] for p in played if not p[2]]
    end = max(live) if live else t[-1]
    steady = (t >= t[0] + WARMUP_S) & (t <= end)
    lat = np.array([p[1] for p in played if p[1] is not None and t[0] + WARMUP_S <= p[0] <= end])
    fps = (steady.sum() - 1) / max(1e-6, t[steady][-1] - t[steady][0]) if steady.sum() > 1 else 0.0
    return {
        "frames_played": len(played),
        "fps": float(fps),
        "latency_ms_p50": float(np.percentile(lat, 50)) if lat.size else None,
        "latency_ms_p95": float(np.percentile(lat, 95)) if lat.size else None,
        "bitrate_kbps": rx["payload_bytes"] * 8 / seconds / 1000,
        "bler": rx["bler"],
        "texts": len(rx.get("texts", [])),
    }


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--seconds", type=float, default=30.0)
    ap.add_argument("--snr", type=float, default=10.0)
    ap.add_argument("--width", type=int, default=720)
    ap.add_argument("--height", type=int, default=480)
    ap.add_argument("--out", type=Path, default=None, help="default results/call.json (call_browser.json)")
    ap.add_argument("--browser", action="store_true", help="both parties in headless Chromium over WebRTC")
    ap.add_argument("--screenshot", type=Path, default=None, help="--browser: party A's page as a PNG")
    args = ap.parse_args(argv)
    if args.browser:
        from bench import call_browser

        args.out = args.out or Path("results/call_browser.json")
        return call_browser.main(args)
    args.out = args.out or Path("results/call.json")
    from call.main import default_sources

    sources = default_sources()
    sources["a"] = sources["a"] if sources["a"] != "webcam" else "testsrc"
    tmp = Path(tempfile.mkdtemp(prefix="m3e-call-"))
    rows = []
    for scheme in ("m3e", "h265"):
        print(f"calling with {scheme} for {args.seconds:g} s ...", flush=True)
        rows.append(run_call(scheme, sources, args, tmp / scheme))
    m3e, h265 = rows
    setup = {"seconds": args.seconds, "snr_db": args.snr, "fading": "rayleigh", "sources": sources,
             "resolution": f"{args.width}x{args.height}", "warmup_s": WARMUP_S, "cores": os.cpu_count(),
             "m3e_mode": "low-latency"}  # fmt: skip
    ratio = {
        d: m3e["directions"][d]["bitrate_kbps"] / max(1e-9, h265["directions"][d]["bitrate_kbps"])
        for d in ("a-b", "b-a")
    }
    result = {"setup": setup, "calls": rows, "bitrate_ratio_m3e_over_h265": ratio}
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2))
    print(f"{'scheme':6s} {'dir':4s} {'fps':>5s} {'p50 ms':>7s} {'p95 ms':>7s} {'kbit/s':>8s}  cores  RSS MB")
    for r in rows:
        for d, s in r["directions"].items():
            p50 = "-" if s["latency_ms_p50"] is None else f"{s['latency_ms_p50']:.0f}"
            p95 = "-" if s["latency_ms_p95"] is None else f"{s['latency_ms_p95']:.0f}"
            print(f"{r['scheme']:6s} {d:4s} {s['fps']:5.1f} {p50:>7s} {p95:>7s} {s['bitrate_kbps']:8.1f}  "
                  f"{r['cpu_cores']:.2f}  {r['rss_mb']:.0f}")  # fmt: skip
    print(f"M3E / H.265 bit rate: a-b {ratio['a-b']:.3f}, b-a {ratio['b-a']:.3f}")
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
