"""Text through the channel (the paper's Fig. 5): ξ (eq 9) of the decoded sentences vs SNR
for the semantic link (`m3e-text`, ≤ 2 retransmissions asked by the receiver's ξ̂) and for
Huffman, 5-bit packing and Brotli, each + CRC + 5G LDPC 3/4 + QPSK or 16-QAM, one
transmission, over AWGN and Rayleigh fading; the receiver's ξ̂ detector (recall and false
NACKs between 0 and 10 dB); each codec's encode + decode time.

    python -m bench.text_link [--out results/text_link.json] [--timing-only]
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np

from m3e.codecs.text import TEXT_CODECS, text_codec
from m3e.eval.text_link import (
    detector_quality,
    detector_samples,
    held_out_sentences,
    semantic_curve,
    xi_curve,
)

SNRS = [float(s) for s in np.arange(-5, 21, 2.5)]


SCHEMES = [
    (codec, modulation) for codec in TEXT_CODECS if codec != "utf8" for modulation in ("qpsk", "16qam")
]


def codec_ms(sentences: list[str]) -> dict[str, float]:
    """Encode + decode per sentence (ms): the source codec alone for the baselines; for m3e-text
    the whole path (MiniLM, C_β and the fingerprint at the sender; combining, channel decoder,
    generation and ξ̂, which embeds the decoded sentence once more, at the receiver)."""

    from m3e.codecs.semantic_text import TextLink

    out = {}
    for name in TEXT_CODECS:
        codec = text_codec(name)
        t0 = time.perf_counter()
        for s in sentences:
            codec.decode(codec.encode(s))
        out[name] = (time.perf_counter() - t0) / len(sentences) * 1000
    link = TextLink()

    def round_trip(sentence: str) -> None:  # sender's burst -> receiver's decode and ξ̂
        (burst,) = link.encode_bursts([sentence])
        link.receiver(burst.n_tokens).receive(burst.symbols, 1.0, 0.01)

    round_trip(sentences[0])  # warm up
    t0 = time.perf_counter()
    for s in sentences:
        round_trip(s)
    out["m3e-text"] = (time.perf_counter() - t0) / len(sentences) * 1000
    return out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--out", type=Path, default=Path("results/text_link.json"))
    ap.add_argument("--repeats", type=int, default=2)
    ap.add_argument("--sentences", type=int, default=48, help="held-out sentences per point")
    ap.add_argument("--timing-only", action="store_true", help="re-measure codec_ms into an existing --out")
    args = ap.parse_args(argv)
    if args.timing_only:  # the timing wants an otherwise idle machine; the curves do not
        result = json.loads(args.out.read_text())
        result["codec_ms"] = codec_ms(result["sentences"])
        args.out.write_text(json.dumps(result, indent=2))
        print(
            "encode + decode ms per sentence: "
            + ", ".join(f"{k} {v:.1f}" for k, v in result["codec_ms"].items())
        )
        return 0
    t0 = time.time()
    sentences = held_out_sentences(args.sentences)
    rows = []
    for fading in ("awgn", "rayleigh"):
        for codec, modulation in SCHEMES:
            rows += xi_curve(sentences, codec, modulation, SNRS, fading, args.repeats)
        print(f"  baselines over {fading} done", flush=True)
    # the receiver's ξ̂ as calibrated (on other held-out sentences), judged on these
    detector = detector_quality(detector_samples(held_out_sentences(4 * args.sentences, seed=1)))
    for fading in ("awgn", "rayleigh"):
        rows += semantic_curve(sentences, SNRS, fading, args.repeats)
        print(f"  m3e-text over {fading} done", flush=True)
    names = ["m3e-text"] + [f"{c}-{m}" for c, m in SCHEMES]
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(
        json.dumps(
            {
                "code_rate": 0.75,
                "repeats": args.repeats,
                "sentences": sentences,
                "runtime_s": round(time.time() - t0, 1),
                "codec_ms": codec_ms(sentences),
                "detector": detector,
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
            symbols = np.mean([r["symbols_per_sentence"] for r in pts])
            ax.plot(
                [r["snr_db"] for r in pts],
                [r["xi"] for r in pts],
                "o-",
                ms=3,
                lw=2.5 if name == "m3e-text" else 1,
                label=f"{name} ({symbols:.0f} sym)",
            )
        ax.set(title=f"{fading}: m3e-text (≤ 2 retx) vs codec + LDPC 3/4", xlabel="SNR (dB)")
        ax.set_ylim(-0.05, 1.05)
        ax.grid(alpha=0.3)
        ax.legend(fontsize=7)
    axes[0].set_ylabel("ξ (eq 9)")
    fig.tight_layout()
    fig.savefig(args.out.with_suffix(".png"), dpi=110)

    print(f"{'scheme':14s} {'channel':9s} {'symbols':>8s}  ξ at " + " ".join(f"{s:5.1f}" for s in SNRS))
    for fading in ("awgn", "rayleigh"):
        for name in names:
            pts = [r for r in rows if r["scheme"] == name and r["channel"] == fading]
            symbols = np.mean([r["symbols_per_sentence"] for r in pts])
            print(f"{name:14s} {fading:9s} {symbols:8.0f}       " + " ".join(f"{r['xi']:5.2f}" for r in pts))
    print(f"detector: {detector}")
    timing = json.loads(args.out.read_text())["codec_ms"]
    print("encode + decode ms per sentence: " + ", ".join(f"{k} {v:.1f}" for k, v in timing.items()))
    print(f"wrote {args.out} and {args.out.with_suffix('.png')}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
