"""M3E keyframes vs traditional video through the same emulated channel (Rayleigh).

The project's test clip (8 scenes, 26 s, 720×480 @ 30 fps): keyframes and their texts come
from the sender's semantic extractor. Per SNR, every scheme of ``m3e.eval.keyframes`` (the
three M3E schemes, H.265 + LDPC 3/4 QPSK / 16-QAM, JPEG + 16-QAM, each with its audio): symbols
per GOP, keyframe SSIM, top-5 agreement and timbre; then the sender's and receiver's time per
keyframe and the receiver's play-out rate. ``frontier``: ``m3e`` at ``--frontier-snr`` with
other V′ budgets, its symbols as a share of H.265 + 16-QAM's in the same run: what the
agreement costs.

    python -m bench.m3e [--snr 0 3 8 13 20] [--budget 5000] [--frontier 2000 3000 7000 9000]
                        [--out results/m3e.json]
"""

from __future__ import annotations

import argparse
import itertools
import json
import time
from pathlib import Path
from typing import Any

import numpy as np

from m3e.codecs.audio_semantic import Audio
from m3e.codecs.m3e_keyframe import SCHEMES
from m3e.eval.audio_link import clip_audio
from m3e.eval.keyframes import clip_frames, h265_arm, h265_packets, jpeg_arm, m3e_arm


def playout_fps(frames: list[np.ndarray], keyframes: list[tuple[int, str]]) -> float:
    """Pictures per second the receiver's M3E play-out makes at the clip's size: every
    keyframe interval of the clip interpolated (DIS flow both ways, warps, blend), keyframes
    themselves included (the recorder's and viewer's encoding not counted)."""
    from m3e.restore.interpolation import interpolate

    indices = [i for i, _ in keyframes]
    interpolate(frames[0], frames[1], 0.0, 1.0, 1)  # warm up
    t0, made = time.perf_counter(), 0
    for a, b in itertools.pairwise(indices):
        made += len(interpolate(frames[a], frames[b], a, b, b - a - 1)) + 1
    return made / (time.perf_counter() - t0)


def frontier_points(
    rows: list[dict[str, Any]],
    args: argparse.Namespace,
    keyframes: list[tuple[int, str]],
    frames: list[np.ndarray],
    audio: Audio,
) -> list[dict[str, Any]]:
    """``m3e`` at ``args.frontier_snr`` (one of the SNRs run) for each V′ budget, ``--budget``'s
    point reused, against H.265 + 16-QAM's symbols per GOP at that SNR."""
    at = {r["scheme"]: r for r in rows if r["snr_db"] == args.frontier_snr}
    h265 = at["h265-16qam"]
    points = {args.budget: at["m3e"]}
    for budget in sorted(set(args.frontier) - set(points)):
        points[budget] = m3e_arm("m3e", keyframes, frames, audio, args.frontier_snr, budget, args.seed)[0]
        print(f"  frontier {budget} B done", flush=True)
    return [
        {
            "budget_bytes": budget,
            "symbols_per_gop": row["symbols_per_gop"],
            "share_of_h265": row["symbols_per_gop"] / h265["symbols_per_gop"],
            "ssim": row["ssim"],
            "agreement_top5": row["agreement_top5"],
        }
        for budget, row in sorted(points.items())
    ]


def plot(result: dict[str, Any], path: Path) -> None:
    """Symbols per GOP (log), keyframe SSIM, top-5 agreement and timbre against SNR, one line
    per scheme."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rows = result["points"]
    schemes = list(dict.fromkeys(r["scheme"] for r in rows))
    keys = ("symbols_per_gop", "ssim", "agreement_top5", "timbre")
    fig, axes = plt.subplots(1, 5, figsize=(24, 4))
    for name in schemes:
        pts = [r for r in rows if r["scheme"] == name]
        snr = [r["snr_db"] for r in pts]
        width = 2.5 if name.startswith("m3e") else 1.0
        for ax, key in zip(axes[:4], keys, strict=True):
            ax.plot(
                snr, [np.nan if r[key] is None else r[key] for r in pts], "o-", ms=3, lw=width, label=name
            )
    axes[0].set_yscale("log")
    titles = ("channel symbols per GOP", "keyframe SSIM", "top-5 agreement", "timbre (MFCC cosine)")
    for ax, title in zip(axes[:4], titles, strict=True):
        ax.set(title=f"Rayleigh: {title}", xlabel="SNR (dB)")
        ax.grid(alpha=0.3)
    axes[3].legend(fontsize=7)
    front = result.get("frontier", [])
    ax = axes[4]
    share = [f["share_of_h265"] for f in front]
    ax.plot(share, [f["agreement_top5"] for f in front], "o-", label="top-5 agreement")
    ax.plot(share, [f["ssim"] for f in front], "s--", label="keyframe SSIM")
    for f in front:
        ax.annotate(f"{f['budget_bytes'] / 1000:g} kB", (f["share_of_h265"], f["agreement_top5"]), fontsize=7)
    ax.axvline(1 / 50, color="grey", lw=0.8)
    ax.axhline(0.85, color="grey", lw=0.8)
    ax.set(
        title=f"m3e at {result.get('frontier_snr_db', 8):g} dB: V′ budget",
        xlabel="symbols per GOP / H.265 + 16-QAM's",
    )
    ax.grid(alpha=0.3)
    ax.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=110)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--snr", type=float, nargs="+", default=[0.0, 3.0, 8.0, 13.0, 20.0])
    ap.add_argument("--budget", type=int, default=5000, help="at most this many V′ bytes per keyframe")
    ap.add_argument(
        "--frontier", type=int, nargs="*", default=[2000, 3000, 7000, 9000], help="more V′ budgets for m3e"
    )
    ap.add_argument("--frontier-snr", type=float, default=8.0)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--out", type=Path, default=Path("results/m3e.json"))
    ap.add_argument("--replot", action="store_true", help="only redraw the plot of an existing --out")
    ap.add_argument("--timing-only", action="store_true", help="only re-measure receiver_fps into --out")
    args = ap.parse_args(argv)
    if args.replot:
        plot(json.loads(args.out.read_text()), args.out.with_suffix(".png"))
        return 0
    if args.timing_only:  # timings want an otherwise idle machine
        result = json.loads(args.out.read_text())
        frames = clip_frames(Path(result["clip"]))
        result["receiver_fps"] = playout_fps(frames, [(k["frame"], k["text"]) for k in result["keyframes"]])
        args.out.write_text(json.dumps(result, indent=2))
        print(
            f"receiver play-out {result['receiver_fps']:.0f} fps at {frames[0].shape[1]}×{frames[0].shape[0]}"
        )
        return 0
    if args.frontier_snr not in args.snr:
        ap.error("--frontier-snr must be one of --snr")
    t_start = time.time()

    from m3e.eval.testset import sample_clip
    from m3e.semantics.extractor import describe_file

    clip = Path(str(sample_clip()))
    frames = clip_frames(clip)
    described = describe_file(str(clip))
    keyframes = [(min(len(frames) - 1, round(k.time_s * 30)), k.text) for k in described]
    print(
        f"{len(frames)} frames, {len(keyframes)} keyframes: " + "; ".join(t for _, t in keyframes), flush=True
    )
    packets = h265_packets(frames)
    audio = clip_audio(clip)
    rows: list[dict[str, Any]] = []
    timing: dict[str, list[float]] = {"keyframe_ms": [], "regenerate_ms": []}
    for snr in args.snr:
        for scheme in SCHEMES:
            row, enc, dec = m3e_arm(scheme, keyframes, frames, audio, snr, args.budget, args.seed)
            rows.append({**row, "channel": "rayleigh", "snr_db": snr})
            if scheme == "m3e":
                timing["keyframe_ms"] += enc
                timing["regenerate_ms"] += dec
        for modulation in ("qpsk", "16qam"):
            row = h265_arm(modulation, packets, frames, keyframes, audio, snr, args.seed)
            rows.append({**row, "channel": "rayleigh", "snr_db": snr})
        rows.append(
            {
                **jpeg_arm(frames, keyframes, audio, snr, args.seed),
                "channel": "rayleigh",
                "snr_db": snr,
            }
        )
        print(f"  {snr:g} dB done", flush=True)
    frontier = frontier_points(rows, args, keyframes, frames, audio)
    result = {
        "clip": str(clip),
        "frames": len(frames),
        "keyframes": [{"frame": i, "text": t} for i, t in keyframes],
        "budget_bytes": args.budget,
        "keyframe_ms": float(np.median(timing["keyframe_ms"])),
        "regenerate_ms": float(np.median(timing["regenerate_ms"])),
        "receiver_fps": playout_fps(frames, keyframes),
        "runtime_s": round(time.time() - t_start, 1),
        "points": rows,
        "frontier_snr_db": args.frontier_snr,
        "frontier": frontier,
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2))
    plot(result, args.out.with_suffix(".png"))
    print(f"{'scheme':15s} {'SNR':>5s} {'symbols/GOP':>12s} {'SSIM':>6s} {'top-5':>6s} {'timbre':>6s}")
    for r in rows:
        timbre = "-" if r["timbre"] is None else f"{r['timbre']:.3f}"
        cells = f"{r['symbols_per_gop']:12.0f} {r['ssim']:6.3f} {r['agreement_top5']:6.2f} {timbre:>6s}"
        print(f"{r['scheme']:15s} {r['snr_db']:5.1f} {cells}")
    print(f"m3e at {args.frontier_snr:g} dB by V′ budget:")
    for f in frontier:
        print(
            f"  {f['budget_bytes']:6d} B  1/{1 / f['share_of_h265']:.0f} of H.265's symbols"
            f"  SSIM {f['ssim']:.3f}  top-5 {f['agreement_top5']:.2f}"
        )
    print(f"keyframe {result['keyframe_ms']:.0f} ms, regenerate {result['regenerate_ms']:.0f} ms")
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
