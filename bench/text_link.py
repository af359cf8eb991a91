"""Text through the channel, traditional arms of the paper's Fig. 5: ξ (eq 9) of the decoded
sentences vs SNR for UTF-8, Huffman, 5-bit packing and Brotli, each + CRC + 5G LDPC 3/4 +
QPSK or 16-QAM, one transmission, over AWGN and Rayleigh fading; and each codec's encode +
decode time. The semantic link (`m3e-text`) joins this benchmark with its issue.

    python -m bench.text_link [--out results/text_link.json]
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np

from m3e.codecs.text import TEXT_CODECS, text_codec
from m3e.eval.text_link import SENTENCES, xi_curve

SNRS = [float(s) for s in np.arange(-5, 21, 2.5)]


SCHEMES = [
    (codec, modulation) for codec in TEXT_CODECS if codec != "utf8" for modulation in ("qpsk", "16qam")
]


def codec_ms() -> dict[str, float]:
    """Encode + decode per sentence (ms), source codec only."""
    out = {}
    for name in TEXT_CODECS:
        codec = text_codec(name)
        t0 = time.perf_counter()
        for _ in range(20):
            for s in SENTENCES:
                codec.decode(codec.encode(s))
        out[name] = (time.perf_counter() - t0) / (20 * len(SENTENCES)) * 1000
    return out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--out", type=Path, default=Path("results/text_link.json"))
    ap.add_argument("--repeats", type=int, default=3)
    args = ap.parse_args(argv)
    t0 = time.time()
    rows = [
        {**r, "scheme": f"{codec}-{modulation}", "retransmissions": 0}
        for fading in ("awgn", "rayleigh")
        for codec, modulation in SCHEMES
        for r in xi_curve([codec], SNRS, fading, args.repeats, modulation=modulation)
    ]
    names = [f"{c}-{m}" for c, m in SCHEMES]
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(
        json.dumps(
            {
                "code_rate": 0.75,
                "repeats": args.repeats,
                "sentences": list(SENTENCES),
                "runtime_s": round(time.time() - t0, 1),
                "codec_ms": codec_ms(),
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
        for name in names:
            pts = [r for r in rows if r["scheme"] == name and r["channel"] == fading]
            ax.plot(
                [r["snr_db"] for r in pts],
                [r["xi"] for r in pts],
                "o-",
                ms=3,
                label=f"{name} ({pts[0]['symbols_per_sentence']:.0f} sym)",
            )
        ax.set(title=f"text + LDPC 3/4, {fading}, one transmission", xlabel="SNR (dB)", ylim=(-0.05, 1.05))
        ax.grid(alpha=0.3)
        ax.legend(fontsize=7)
    axes[0].set_ylabel("ξ (eq 9)")
    fig.tight_layout()
    fig.savefig(args.out.with_suffix(".png"), dpi=110)

    print(f"{'scheme':14s} {'channel':9s} {'symbols':>8s}  ξ at " + " ".join(f"{s:5.1f}" for s in SNRS))
    for fading in ("awgn", "rayleigh"):
        for name in names:
            pts = [r for r in rows if r["scheme"] == name and r["channel"] == fading]
            print(
                f"{name:14s} {fading:9s} {pts[0]['symbols_per_sentence']:8.0f}       "
                + " ".join(f"{r['xi']:5.2f}" for r in pts)
            )
    print(f"wrote {args.out} and {args.out.with_suffix('.png')}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
