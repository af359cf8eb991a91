"""M3E vs traditional video through the same emulated channel (Rayleigh), on real camera
footage the project did not make (``m3e.eval.real_clips``: a talking head, hand-held
pans, objects moved by hand, people walking), or on ``--clips`` / the sample clip.

Per clip and SNR, every scheme's whole played video against the source (all-frame SSIM and
PSNR, the share of frames that move vs the source's, the edge/centre error ratio; see
``m3e.eval.video_quality``), its keyframe SSIM and top-5 agreement as before, symbols and
kbit/s: the three M3E schemes (keyframes + motion samples, interpolation mode), ``m3e`` low
latency (with its new pictures between cuts, ``PictureRefresh``), H.265 + LDPC 3/4 QPSK /
16-QAM (crf 28), ``h265-equal-rate`` (x265 ABR at M3E's own bits per second, lower resolution
and frame rate allowed), ``h265-equal-rate-low-latency`` (the same at the low-latency M3E's
bits per second, which differ) and JPEG keyframes. Points are
means over the clips (``per_clip`` keeps each); a contact sheet PNG per run shows the same
instants of source | H.265 | H.265 at M3E's rate | M3E | M3E low latency.

    python -m bench.m3e [--snr 8 0] [--clips DIR | --sample] [--budget 5000]
                        [--out results/m3e.json] [--replot]
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from m3e.codecs.m3e_keyframe import SCHEMES
from m3e.eval.audio_link import clip_audio
from m3e.eval.keyframes import clip_frames, h265_arm, h265_packets, jpeg_arm, m3e_arm
from m3e.eval.played_video import (
    EqualRateStream,
    equal_rate_arm,
    equal_rate_stream,
    low_latency_arm,
    m3e_played,
    motion_samples,
)
from m3e.eval.video_quality import all_frame_scores

SHEET = ("source", "h265-16qam", "h265-equal-rate", "m3e", "m3e-low-latency")
AVERAGED = (
    "symbols_per_gop", "bits_per_gop", "kbps", "ssim", "agreement_top5", "ssim_all_frames",
    "psnr_all_frames", "moving_fraction", "source_moving_fraction", "temporal_error", "edge_error_ratio",
)  # fmt: skip


def playout_fps(frames: list[np.ndarray], keyframes: list[int], motion: list[tuple[float, bytes]]) -> float:
    """Pictures per second the receiver's M3E play-out (``KeyframePlayer``: motion samples,
    eq 10 between keyframes of a scene, warps) makes at the clip's size, keyframes included
    (the recorder's and viewer's encoding not counted)."""
    rebuilt = [frames[k] for k in keyframes]
    t0 = time.perf_counter()
    m3e_played("m3e", frames, keyframes, rebuilt, motion, 99.0, 0)
    return len(frames) / (time.perf_counter() - t0)


def clip_points(clip: Path, args: argparse.Namespace) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    """Every scheme at every SNR on one clip -> rows, and the clip's keyframes, timings and
    contact-sheet frames."""
    from m3e.semantics.extractor import describe_file

    frames = clip_frames(clip)
    keyframes = [(min(len(frames) - 1, round(k.time_s * 30)), k.text) for k in describe_file(str(clip))]
    key_frames = [i for i, _ in keyframes]
    audio = clip_audio(clip)
    motion = motion_samples(frames, key_frames)
    packets = h265_packets(frames)
    seconds = len(frames) / 30.0
    rows: list[dict[str, Any]] = []
    shown: dict[str, list[np.ndarray]] = {"source": frames}
    timing: dict[str, list[float]] = {"keyframe_ms": [], "regenerate_ms": []}
    equal_rate: EqualRateStream | None = None
    equal_rate_ll: EqualRateStream | None = None
    for snr in args.snr:
        at: dict[str, dict[str, Any]] = {}
        for scheme in SCHEMES:
            row, enc, dec, rebuilt = m3e_arm(scheme, keyframes, frames, audio, snr, args.budget, args.seed)
            played, m_symbols, m_bits = m3e_played(
                scheme, frames, key_frames, rebuilt, motion, snr, args.seed
            )
            row["symbols_per_gop"] += m_symbols / seconds
            row["bits_per_gop"] += m_bits / seconds
            at[scheme] = {**row, **all_frame_scores(frames, played)}
            if scheme == "m3e":
                timing["keyframe_ms"] += enc
                timing["regenerate_ms"] += dec
                shown.setdefault("m3e", played)
        row, played = low_latency_arm(frames, args.budget, snr, args.seed)
        at[row["scheme"]] = row
        shown.setdefault(row["scheme"], played)
        if equal_rate_ll is None:  # its source bits do not depend on the SNR either
            equal_rate_ll = equal_rate_stream(frames, row["bits_per_gop"] / 1000)
        row, _ = equal_rate_arm(frames, equal_rate_ll, snr, args.seed)
        at["h265-equal-rate-low-latency"] = {**row, "scheme": "h265-equal-rate-low-latency"}
        for modulation in ("qpsk", "16qam"):
            row, played = h265_arm(modulation, packets, frames, keyframes, audio, snr, args.seed)
            at[row["scheme"]] = {**row, **all_frame_scores(frames, played)}
            shown.setdefault(row["scheme"], played)
        if equal_rate is None:  # M3E's source bits, and so this, are the same at every SNR
            equal_rate = equal_rate_stream(frames, at["m3e"]["bits_per_gop"] / 1000)  # GOP = 1 s
        row, played = equal_rate_arm(frames, equal_rate, snr, args.seed, keyframes=key_frames)
        at[row["scheme"]] = row
        shown.setdefault(row["scheme"], played)
        at["jpeg-16qam"] = jpeg_arm(frames, keyframes, audio, snr, args.seed)
        for row in at.values():
            row.setdefault("kbps", row["bits_per_gop"] / 1000)
            row.pop("per_keyframe", None)
            rows.append({**row, "clip": clip.parent.name, "channel": "rayleigh", "snr_db": snr})
        print(f"  {clip.parent.name} {snr:g} dB done", flush=True)
    info = {
        "clip": str(clip),
        "frames": len(frames),
        "keyframes": [{"frame": i, "text": t} for i, t in keyframes],
        "motion_samples": len(motion),
        "timing": timing,
        "receiver_fps": playout_fps(frames, key_frames, motion),
        "sheet": {name: [shown[name][i] for i in _instants(len(frames))] for name in SHEET if name in shown},
    }
    return rows, info


def _instants(n: int) -> list[int]:
    return [round(x) for x in np.linspace(n * 0.15, n * 0.85, 4)]


def mean_points(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Per scheme and SNR, the mean over clips of every measure that all of them have."""
    out = []
    for key in dict.fromkeys((r["scheme"], r["snr_db"]) for r in rows):
        group = [r for r in rows if (r["scheme"], r["snr_db"]) == key]
        point: dict[str, Any] = {
            "scheme": key[0],
            "snr_db": key[1],
            "channel": "rayleigh",
            "clips": len(group),
        }
        for k in AVERAGED:
            values = [r[k] for r in group if r.get(k) is not None]
            point[k] = float(np.mean(values)) if len(values) == len(group) else None
        out.append(point)
    return out


def contact_sheet(infos: list[dict[str, Any]], path: Path) -> None:
    """Rows: one per clip and instant; columns: ``SHEET``'s schemes, the same instant."""
    tiles = []
    for info in infos:
        sheet = info["sheet"]
        for j in range(len(next(iter(sheet.values())))):
            row = [cv2.resize(sheet[name][j], (240, 160), interpolation=cv2.INTER_AREA) for name in SHEET]
            tiles.append(np.concatenate(row, axis=1))
    header = np.full((24, tiles[0].shape[1], 3), 255, np.uint8)
    for c, name in enumerate(SHEET):
        cv2.putText(header, name, (c * 240 + 6, 17), cv2.FONT_HERSHEY_SIMPLEX, 0.5, (0, 0, 0), 1, cv2.LINE_AA)
    sheet_image = np.concatenate([header, *tiles], axis=0)
    cv2.imwrite(str(path), cv2.cvtColor(sheet_image, cv2.COLOR_RGB2BGR))


def plot(result: dict[str, Any], path: Path) -> None:
    """kbit/s (log), all-frame SSIM, moving fraction and keyframe top-5 agreement against SNR,
    one line per scheme (means over the clips)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rows = result["points"]
    keys = ("kbps", "ssim_all_frames", "moving_fraction", "agreement_top5")
    titles = (
        "kbit/s (source bits)",
        "SSIM, every frame",
        "share of frames that move",
        "keyframe top-5 agreement",
    )
    fig, axes = plt.subplots(1, 4, figsize=(20, 4))
    for name in dict.fromkeys(r["scheme"] for r in rows):
        pts = [r for r in rows if r["scheme"] == name]
        snr = [r["snr_db"] for r in pts]
        width = 2.5 if name.startswith("m3e") else 1.0
        for ax, key in zip(axes, keys, strict=True):
            ax.plot(
                snr, [np.nan if r[key] is None else r[key] for r in pts], "o-", ms=3, lw=width, label=name
            )
    source = [r for r in rows if r["scheme"] == "m3e"]
    axes[2].plot(
        [r["snr_db"] for r in source], [r["source_moving_fraction"] for r in source], "k--", label="source"
    )
    axes[0].set_yscale("log")
    for ax, title in zip(axes, titles, strict=True):
        ax.set(title=f"Rayleigh: {title}", xlabel="SNR (dB)")
        ax.grid(alpha=0.3)
    axes[2].legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=110)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--snr", type=float, nargs="+", default=[8.0, 0.0])
    ap.add_argument("--clips", type=Path, help="a folder of .mp4 clips (default: the real camera clips)")
    ap.add_argument("--sample", action="store_true", help="the project's sample clip instead")
    ap.add_argument("--budget", type=int, default=5000, help="at most this many V′ bytes per keyframe")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--out", type=Path, default=Path("results/m3e.json"))
    ap.add_argument("--replot", action="store_true", help="only redraw the plot of an existing --out")
    args = ap.parse_args(argv)
    if args.replot:
        plot(json.loads(args.out.read_text()), args.out.with_suffix(".png"))
        return 0
    t_start = time.time()
    if args.sample:
        from m3e.eval.testset import sample_clip

        clips = [Path(str(sample_clip()))]
    elif args.clips is not None:
        clips = sorted(args.clips.rglob("*.mp4"))
    else:
        from m3e.eval.real_clips import REAL_DIR, make_real_clips

        clips = make_real_clips(REAL_DIR)
    if not clips:
        ap.error("no clips to run on")
    rows, infos = [], []
    for clip in clips:
        clip_rows, info = clip_points(clip, args)
        rows += clip_rows
        infos.append(info)
    timing = {k: [v for i in infos for v in i["timing"][k]] for k in ("keyframe_ms", "regenerate_ms")}
    result = {
        "clips": [{k: v for k, v in i.items() if k not in ("sheet", "timing")} for i in infos],
        "budget_bytes": args.budget,
        "keyframe_ms": float(np.median(timing["keyframe_ms"])),
        "regenerate_ms": float(np.median(timing["regenerate_ms"])),
        "receiver_fps": float(np.median([i["receiver_fps"] for i in infos])),
        "runtime_s": round(time.time() - t_start, 1),
        "points": mean_points(rows),
        "per_clip": rows,
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2))
    plot(result, args.out.with_suffix(".png"))
    contact_sheet(infos, args.out.with_name(args.out.stem + "_sheet.png"))
    head = (
        f"{'scheme':28s} {'SNR':>4s} {'kbit/s':>7s} {'SSIM all':>8s} {'PSNR':>5s} {'moving':>6s} {'src':>5s}"
    )
    print(head + f" {'edge':>5s} {'key SSIM':>8s} {'top-5':>5s}")
    for r in result["points"]:
        key_ssim = "-" if r["ssim"] is None else f"{r['ssim']:.3f}"
        top5 = "-" if r["agreement_top5"] is None else f"{r['agreement_top5']:.2f}"
        if r["ssim_all_frames"] is None:
            print(f"{r['scheme']:28s} {r['snr_db']:4.0f} {r['kbps']:7.1f} {'keyframes only':>38s} {key_ssim}")
            continue
        print(
            f"{r['scheme']:28s} {r['snr_db']:4.0f} {r['kbps']:7.1f} {r['ssim_all_frames']:8.3f}"
            f" {r['psnr_all_frames']:5.1f} {r['moving_fraction']:6.2f} {r['source_moving_fraction']:5.2f}"
            f" {r['edge_error_ratio']:5.2f} {key_ssim:>8s} {top5:>5s}"
        )
    print(f"receiver play-out {result['receiver_fps']:.0f} fps; keyframe {result['keyframe_ms']:.0f} ms")
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
