"""The harness's outputs: ``figN.json`` / ``figN.png``, ``table1.json`` / ``table1.png`` and
``REPORT.md``, from the rows of its jobs (each row one scheme on one clip at one SNR).

Every figure's points are means over the clips. ``REPORT.md`` states the setup and, per figure,
the numbers and how they compare with the paper's claim; it covers every figure whose JSON is in
the output folder, so figures run one at a time end up in one report.
"""

from __future__ import annotations

import itertools
import json
import platform
from collections import defaultdict
from pathlib import Path
from typing import Any

import numpy as np

from m3e.phy.theory import shannon_symbols

# scheme lists per figure, in the paper's layout
FIGURE_SCHEMES = {
    "fig4": ("m3e", "h265-qpsk", "h265-16qam", "h265-equal-rate", "jpeg-16qam"),
    "fig5": ("m3e-text", "huffman-qpsk", "huffman-16qam", "5bit-qpsk", "5bit-16qam", "brotli-qpsk",
             "brotli-16qam"),
    "fig6": ("m3e", "h265-qpsk", "h265-16qam", "h265-equal-rate", "jpeg-16qam"),
    "fig7": ("m3e", "h265-qpsk", "h265-16qam", "h265-equal-rate", "m3e-text-only", "image-only"),
    "fig8": ("m3e", "aac-16qam", "mp3-16qam", "flac-16qam", "pcm-16qam"),
}  # fmt: skip
METRIC = {"fig4": "symbols_per_gop", "fig5": "xi", "fig6": "ssim", "fig7": "agreement_top5", "fig8": "timbre"}
TITLES = {
    "fig4": "Fig. 4: channel symbols per GOP",
    "fig5": "Fig. 5: text similarity ξ (eq 9)",
    "fig6": "Fig. 6: keyframe SSIM",
    "fig7": "Fig. 7: recognition (top-5 agreement with the original)",
    "fig8": "Fig. 8: audio timbre similarity (MFCC cosine)",
}
LABELS = {"m3e-text-only": "text only (DeepSC: text)", "image-only": "image only (DeepSC: image)"}
TABLE_MODELS = {
    "full": "m3e",
    "without_m3e": "m3e-no-diff",
    "text_only": "m3e-text-only",
    "traditional": "h265-16qam",
}
TABLE_SNR = 8.0
LOW_SNR = 3.0  # "low SNR" in the paper's claims: at or below this
SEMANTIC = ("m3e", "image-only")  # the claims compare M3E with the traditional schemes only


def figure_points(figure: str, rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Per scheme and SNR, the figure's metrics averaged over the clips (None where no clip had one)."""
    keys = {
        "fig4": ("symbols_per_gop", "bits_per_gop"),
        "fig5": ("xi", "symbols_per_sentence", "retransmissions"),
    }
    keys_of = keys.get(figure, (METRIC[figure],))
    groups: dict[tuple[str, str, float], list[dict[str, Any]]] = defaultdict(list)
    for r in rows:
        if r["scheme"] in FIGURE_SCHEMES[figure]:
            groups[(r["scheme"], r["channel"], r["snr_db"])].append(r)
    points = []
    for (scheme, channel, snr), group in sorted(
        groups.items(), key=lambda g: (_order(figure, g[0][0]), g[0][2])
    ):
        point: dict[str, Any] = {"scheme": scheme, "channel": channel, "snr_db": snr, "n": len(group)}
        for key in keys_of:
            values = [r[key] for r in group if r.get(key) is not None]
            point[key] = float(np.mean(values)) if values else None
        if figure == "fig4":
            minimum = shannon_symbols(point["bits_per_gop"], snr, channel)
            point["shannon_symbols_per_gop"] = minimum
            point["symbols_over_shannon"] = point["symbols_per_gop"] / max(minimum, 1e-9)
        points.append(point)
    return points


def _order(figure: str, scheme: str) -> int:
    return FIGURE_SCHEMES[figure].index(scheme)


def table1_rows(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Mean top-5 agreement per model and keyframe class at 8 dB, and each model's class average."""
    out = []
    for model, scheme in TABLE_MODELS.items():
        per_class: dict[str, list[float]] = defaultdict(list)
        for r in rows:
            if r["scheme"] == scheme and r["snr_db"] == TABLE_SNR:
                for k in r["per_keyframe"]:
                    per_class[k["class"]].append(k["agreement_top5"])
        scores = {c: float(np.mean(v)) for c, v in sorted(per_class.items())}
        out += [{"model": model, "class": c, "score": s} for c, s in scores.items()]
        if scores:
            out.append({"model": model, "class": "class_avg", "score": float(np.mean(list(scores.values())))})
    return out


# ------------------------------------------------------------------ plots
def _plot_figure(figure: str, points: list[dict[str, Any]], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    panels = [("symbols_per_gop", "symbols per GOP"), ("symbols_over_shannon", "symbols / Shannon minimum")]
    if figure != "fig4":
        panels = [(METRIC[figure], TITLES[figure].split(": ")[1])]
    fig, axes = plt.subplots(1, len(panels), figsize=(6.5 * len(panels), 4.2), squeeze=False)
    for ax, (key, ylabel) in zip(axes[0], panels, strict=True):
        for scheme in dict.fromkeys(p["scheme"] for p in points):
            pts = [p for p in points if p["scheme"] == scheme]
            ys = [np.nan if p[key] is None else p[key] for p in pts]
            wide = scheme.startswith("m3e") and scheme != "m3e-text-only"
            ax.plot(
                [p["snr_db"] for p in pts],
                ys,
                "o-",
                ms=3,
                lw=2.5 if wide else 1,
                label=LABELS.get(scheme, scheme),
            )
        if figure == "fig4":
            ax.set_yscale("log")
        ax.set(xlabel="SNR (dB)", ylabel=ylabel, title=f"{TITLES[figure]} ({points[0]['channel']})")
        ax.grid(alpha=0.3)
        ax.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def _plot_table(rows: list[dict[str, Any]], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    classes = list(dict.fromkeys(r["class"] for r in rows))
    fig, ax = plt.subplots(figsize=(max(6, 1.4 * len(classes)), 4))
    width = 0.8 / len(TABLE_MODELS)
    for m, model in enumerate(TABLE_MODELS):
        scores = {r["class"]: r["score"] for r in rows if r["model"] == model}
        ax.bar(np.arange(len(classes)) + m * width, [scores.get(c, 0) for c in classes], width, label=model)
    ax.set_xticks(np.arange(len(classes)) + 0.4 - width / 2, classes)
    ax.set(ylabel="top-5 agreement", title=f"Table 1: ablation at {TABLE_SNR:g} dB per class", ylim=(0, 1.05))
    ax.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


# ------------------------------------------------------------------ outputs
def write_outputs(
    figures: list[str], rows: list[dict[str, Any]], setup: dict[str, Any], out: Path
) -> list[Path]:
    out.mkdir(parents=True, exist_ok=True)
    written = []
    for figure in figures:
        if figure == "table1":
            table = table1_rows(rows)
            (out / "table1.json").write_text(
                json.dumps({"setup": setup, "snr_db": TABLE_SNR, "rows": table}, indent=2)
            )
            _plot_table(table, out / "table1.png")
            written += [out / "table1.json", out / "table1.png"]
            continue
        points = figure_points(figure, rows)
        (out / f"{figure}.json").write_text(
            json.dumps({"figure": figure, "setup": setup, "points": points}, indent=2)
        )
        _plot_figure(figure, points, out / f"{figure}.png")
        written += [out / f"{figure}.json", out / f"{figure}.png"]
    (out / "REPORT.md").write_text(report(out))
    return [*written, out / "REPORT.md"]


def report(out: Path) -> str:
    """REPORT.md for every figure JSON in ``out``."""
    import av
    import torch

    parts = ["# M3E-VSC evaluation report", ""]
    found = {
        f: json.loads((out / f"{f}.json").read_text())
        for f in (*METRIC, "table1")
        if (out / f"{f}.json").exists()
    }
    if not found:
        return "\n".join([*parts, "No figure has been produced yet."]) + "\n"
    setup = next(iter(found.values()))["setup"]
    parts += [
        "## Setup",
        "",
        f"- profile `{setup['profile']}`, channel {setup['channel']}, seed {setup['seed']}, SNRs "
        f"{', '.join(f'{s:g}' for s in setup['snrs_db'])} dB; V′ budget {setup['budget']} bytes per keyframe",
        f"- clips ({len(setup['clips'])}): "
        + ", ".join(f"`{Path(c).parent.name}/{Path(c).name}`" for c in setup["clips"]),
        f"- text: {setup['sentences']} held-out sentences × {setup['repeats']} channel realisations a point",
        f"- Python {platform.python_version()}, PyTorch {torch.__version__}, PyAV {av.__version__}, "
        f"NumPy {np.__version__}; the points took {setup.get('job_seconds', 0):.0f} s of computation "
        f"({_workers(setup)}; this call {setup['runtime_s']:.0f} s, points on disk reused)",
        "- recognition is the ImageNet classifier's top-5 agreement between the original and the recovered "
        "keyframe (the paper's YOLOv6 has no offline weights here; the person detector is not used)",
        "",
    ]
    for figure, data in found.items():
        parts += _section(figure, data)
    return "\n".join(parts) + "\n"


def _workers(setup: dict[str, Any]) -> str:
    workers = setup.get("workers", 1)
    ray = setup.get("ray")
    if ray is None:
        return f"{workers} workers"
    return f"Ray tasks on {'a local Ray' if ray == 'local' else ray}, {workers} CPUs"


def _section(figure: str, data: dict[str, Any]) -> list[str]:
    if figure == "table1":
        return _table_section(data["rows"])
    points, key = data["points"], METRIC[figure]
    snrs = sorted({p["snr_db"] for p in points})
    value = {(p["scheme"], p["snr_db"]): p[key] for p in points}
    header = "| scheme | " + " | ".join(f"{s:g} dB" for s in snrs) + " |"
    lines = [
        f"## {TITLES[figure]}",
        "",
        f"![{figure}]({figure}.png)",
        "",
        header,
        "|---|" + "---|" * len(snrs),
    ]
    for scheme in dict.fromkeys(p["scheme"] for p in points):
        cells = [_fmt(value.get((scheme, s)), key) for s in snrs]
        lines.append(f"| {LABELS.get(scheme, scheme)} | " + " | ".join(cells) + " |")
    lines += ["", _verdict(figure, points), "", sanity(figure, points), ""]
    return lines


MONOTONE_TOLERANCE = {
    "symbols_per_gop": 0.10,
    "xi": 0.05,
    "ssim": 0.05,
    "agreement_top5": 0.10,
    "timbre": 0.05,
}


def sanity(figure: str, points: list[dict[str, Any]]) -> str:
    """Whether the curves are physically sensible: quality never falls as the SNR rises, and
    the symbols a scheme needs never grow, within a tolerance for the clips' and the channel's
    noise (relative for symbols, absolute otherwise); for Fig. 6, whether H.265 + 16-QAM shows
    its cliff (keyframe SSIM at the lowest SNR at least 0.3 below the highest)."""
    key = METRIC[figure]
    tol = MONOTONE_TOLERANCE[key]
    broken = []
    for scheme in dict.fromkeys(p["scheme"] for p in points):
        curve = sorted((p["snr_db"], p[key]) for p in points if p["scheme"] == scheme and p[key] is not None)
        for (s0, v0), (s1, v1) in itertools.pairwise(curve):
            worse = (v1 - v0) / max(abs(v0), 1e-9) > tol if key == "symbols_per_gop" else v0 - v1 > tol
            if worse:
                broken.append(f"{LABELS.get(scheme, scheme)} {s0:g} → {s1:g} dB ({v0:.3g} → {v1:.3g})")
    relative = " (relative)" if key == "symbols_per_gop" else ""
    text = (
        f"Sanity: every curve is monotone in SNR within {tol:g}{relative}"
        if not broken
        else "Sanity: **not monotone** in SNR: " + "; ".join(broken)
    )
    if figure == "fig6":
        h265 = sorted(
            (p["snr_db"], p["ssim"]) for p in points if p["scheme"] == "h265-16qam" and p["ssim"] is not None
        )
        if len(h265) > 1:
            cliff = h265[-1][1] - h265[0][1] >= 0.3
            text += f"; H.265 + 16-QAM {'shows' if cliff else '**does not show**'} its cliff " + (
                f"(SSIM {h265[0][1]:.2f} at {h265[0][0]:g} dB, {h265[-1][1]:.2f} at {h265[-1][0]:g} dB)"
            )
    return text + "."


def _fmt(v: float | None, key: str) -> str:
    if v is None:
        return "–"
    return f"{v:,.0f}" if key == "symbols_per_gop" else f"{v:.3f}"


def _verdict(figure: str, points: list[dict[str, Any]]) -> str:
    ours = "m3e-text" if figure == "fig5" else "m3e"
    if figure == "fig4":
        bits: dict[str, list[tuple[float, float, float]]] = {p["scheme"]: [] for p in points}
        for p in points:
            bits[p["scheme"]].append((p["bits_per_gop"], p["symbols_per_gop"], p["symbols_over_shannon"]))
        m = np.mean(bits.get("m3e", [(np.nan,) * 3]), axis=0)
        h = np.mean(bits.get("h265-16qam", [(np.nan,) * 3]), axis=0)
        factor = h[0] / m[0]
        where = "ahead of" if factor > 100 else "level with" if factor >= 10 else "behind"
        return (
            f"Paper: 1–2 orders of magnitude fewer bits than H.265. Here M3E sends {m[0]:,.0f} bits per GOP "
            f"against H.265 + 16-QAM's {h[0]:,.0f} (×{factor:.0f} fewer; ×{h[1] / m[1]:.0f} fewer channel "
            f"symbols), so this implementation is **{where}** the claim. M3E uses {m[2]:.1f}× the Shannon "
            f"minimum of symbols for its bits, H.265 + 16-QAM {h[2]:.1f}×."
        )
    key = METRIC[figure]
    snrs = sorted({p["snr_db"] for p in points})
    low = [s for s in snrs if s <= LOW_SNR] or snrs[:1]
    gains = []
    for s in low:
        mine = next((p[key] for p in points if p["scheme"] == ours and p["snr_db"] == s), None)
        others = [p[key] for p in points if p["snr_db"] == s and p[key] is not None
                  and not p["scheme"].startswith(SEMANTIC)]  # fmt: skip
        if mine is not None and others:
            gains.append((s, mine, max(others)))
    if not gains:
        return "No low-SNR point to compare."
    rel = [(m - b) / max(b, 0.05) for _, m, b in gains]
    where = (
        "level with or ahead of"
        if min(rel) >= 0.3
        else "above the baselines but short of"
        if min(rel) > 0
        else "behind"
    )
    detail = "; ".join(f"{s:g} dB: {m:.3f} vs best baseline {b:.3f}" for s, m, b in gains)
    return (
        f"Paper: 30–40 % better restoration than the traditional schemes at low SNR. Here ({detail}) "
        f"M3E is **{where}** the claim (relative gain {min(rel):+.0%} at worst, baselines floored at 0.05)."
    )


def _table_section(rows: list[dict[str, Any]]) -> list[str]:
    classes = list(dict.fromkeys(r["class"] for r in rows))
    score = {(r["model"], r["class"]): r["score"] for r in rows}
    lines = [
        f"## Table 1: ablation at {TABLE_SNR:g} dB (top-5 agreement per class)",
        "",
        "![table1](table1.png)",
    ]
    lines += ["", "| model | " + " | ".join(classes) + " |", "|---|" + "---|" * len(classes)]
    for model in TABLE_MODELS:
        lines.append(f"| {model} | " + " | ".join(_fmt(score.get((model, c)), "") for c in classes) + " |")
    avg = [score.get((m, "class_avg")) for m in TABLE_MODELS]
    pairs = list(zip(TABLE_MODELS, avg, strict=True))
    steps = [(a, x, b, y) for (a, x), (b, y) in itertools.pairwise(pairs) if x is not None and y is not None]
    held = [f"{a} > {b}" for a, x, b, y in steps if x > y]
    broken = [f"{a} ≤ {b}" for a, x, b, y in steps if x <= y]
    verdict = "holds" if not broken else "does not hold"
    lines += [
        "",
        f"Paper: full > without M3E > text only > traditional. Here the ordering **{verdict}** (class "
        f"averages; holds: {', '.join(held) or 'none'}; broken: {', '.join(broken) or 'none'}).",
        "",
    ]
    return lines
