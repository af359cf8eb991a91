"""Text through the channel, traditional arms of the paper's Fig. 5: ξ (eq 9) of the decoded
sentences vs SNR for UTF-8, Huffman, 5-bit packing and Brotli, each + CRC + 5G LDPC 3/4 +
16-QAM, one transmission, over AWGN and Rayleigh fading. The semantic link joins this plot
with its issue.

    python -m bench.text [--out results/text_link.json]
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np

from m3e.codecs.text import TEXT_CODECS
from m3e.eval.text_link import xi_curve

SNRS = [float(s) for s in np.arange(-5, 21, 2.5)]


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--out", type=Path, default=Path("results/text_link.json"))
    ap.add_argument("--repeats", type=int, default=3)
    args = ap.parse_args(argv)
    t0 = time.time()
    rows = [
        r for fading in ("awgn", "rayleigh") for r in xi_curve(list(TEXT_CODECS), SNRS, fading, args.repeats)
    ]
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(
        json.dumps(
            {
                "modulation": "16qam",
                "code_rate": 0.75,
                "repeats": args.repeats,
                "runtime_s": round(time.time() - t0, 1),
                "points": rows,
            },
            indent=2,
        )
    )

    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 2, figsize=(11, 4), sharey=True)
    for ax, fading in zip(axes, ("awgn", "rayleigh"), strict=True):
        for scheme in TEXT_CODECS:
            pts = [r for r in rows if r["scheme"] == scheme and r["channel"] == fading]
            ax.plot(
                [r["snr_db"] for r in pts],
                [r["xi"] for r in pts],
                "o-",
                ms=3,
                label=f"{scheme} ({pts[0]['symbols_per_sentence']:.0f} sym)",
            )
        ax.set(title=f"text + LDPC 3/4 + 16-QAM, {fading}", xlabel="SNR (dB)", ylim=(-0.05, 1.05))
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8)
    axes[0].set_ylabel("ξ (eq 9)")
    fig.tight_layout()
    fig.savefig(args.out.with_suffix(".png"), dpi=110)

    print(f"{'scheme':8s} {'channel':9s} {'symbols':>8s}  ξ at " + " ".join(f"{s:5.1f}" for s in SNRS))
    for fading in ("awgn", "rayleigh"):
        for scheme in TEXT_CODECS:
            pts = [r for r in rows if r["scheme"] == scheme and r["channel"] == fading]
            print(
                f"{scheme:8s} {fading:9s} {pts[0]['symbols_per_sentence']:8.0f}       "
                + " ".join(f"{r['xi']:5.2f}" for r in pts)
            )
    print(f"wrote {args.out} and {args.out.with_suffix('.png')}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
