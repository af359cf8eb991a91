"""Which representation of the difference V′: our VQ tokens, an H.265 P-frame over the
prediction (what the sender uses), or an H.265 intra picture of the residual real - P + 128?

On held-out 720×480 frames of the test clips' pictures (never trained on), at equal byte
budgets, from four predictions: ``blank`` (mid-grey: nothing known, V′ carries the keyframe),
``seen`` (the same scene half a second earlier, motion-compensated as the sender does),
``decoded`` (that earlier view as a receiver holds it: decoded from a 2.5 kB keyframe, then
moved) and ``other`` (another picture's decoded keyframe: a base the sender chose wrongly).
Also the VQ codec alone (every token, 9 bits each) against x265 intra at the same size.

    python -m bench.difference [--out results/difference.json]
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np
from skimage.metrics import structural_similarity

from m3e.codecs.difference import DifferenceCoder, VQReplenishment, X265Difference, fit_crf, intra_h265
from m3e.codecs.prediction import apply_motion, estimate_motion
from m3e.codecs.traditional import VideoDecoder
from m3e.codecs.vq import load_vq
from m3e.media.offline import picture, view


class ResidualIntra:
    """The earlier representation, kept here to be compared: real - P + 128 as one intra picture
    (without the sender's smaller-size fallback, so over ``blank`` at 1 kB it often sends nothing)."""

    name = "x265-residual"

    def encode(self, real: np.ndarray, prediction: np.ndarray, budget_bytes: int) -> bytes:
        residual = np.clip(real.astype(np.int16) - prediction + 128, 0, 255).astype(np.uint8)
        return fit_crf(lambda crf: intra_h265(residual, crf), budget_bytes)[1]

    def decode(self, prediction: np.ndarray, data: bytes) -> np.ndarray:
        if not data:
            return prediction
        residual = VideoDecoder("h265").decode(data)[-1]
        return np.clip(prediction.astype(np.int16) + residual - 128, 0, 255).astype(np.uint8)


PICTURES = ("chelsea", "astronaut", "coffee", "stereo_motorcycle", "rocket")
BUDGETS = (1000, 2500, 5000)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--out", type=Path, default=Path("results/difference.json"))
    args = ap.parse_args(argv)
    t0 = time.time()
    vq = load_vq()
    coders: dict[str, DifferenceCoder] = {
        "vq": VQReplenishment(vq),
        # compared at equal bytes: without the sender's quality floor, every coder spends its budget
        "x265": X265Difference(finest_crf=10),  # ultrafast, what the sender uses
        "x265-medium": X265Difference("medium", finest_crf=10),
        "x265-residual": ResidualIntra(),
    }
    seconds: dict[str, list[float]] = {name: [] for name in coders}
    rows = []

    def add(
        picture: str, base: str, coder: str, budget: int, size: int, real: np.ndarray, out: np.ndarray
    ) -> None:
        ssim = float(structural_similarity(real, out, channel_axis=2))
        rows.append(
            {"picture": picture, "base": base, "coder": coder, "budget": budget, "bytes": size, "ssim": ssim}
        )

    blank = np.full((480, 720, 3), 128, np.uint8)
    earlier = {name: view(picture(name), 0.4, "pan", (720, 480)) for name in PICTURES}
    held = {  # each earlier view as a receiver holds it
        name: coders["x265"].decode(blank, coders["x265"].encode(im, blank, 2500))
        for name, im in earlier.items()
    }
    for k, name in enumerate(PICTURES):
        real = view(picture(name), 0.6, "pan", (720, 480))
        bases = {
            "blank": blank,
            "seen": apply_motion(earlier[name], estimate_motion(earlier[name], real)),
            "decoded": apply_motion(held[name], estimate_motion(held[name], real)),
            "other": held[PICTURES[k - 1]],
        }
        for base, prediction in bases.items():
            for coder_name, coder in coders.items():
                for budget in BUDGETS:
                    t = time.perf_counter()
                    data = coder.encode(real, prediction, budget)
                    seconds[coder_name].append(time.perf_counter() - t)
                    add(name, base, coder_name, budget, len(data), real, coder.decode(prediction, data))
        tokens = vq.compress(real)
        size = len(tokens.to_bytes())
        add(name, "blank", "vq-all-tokens", size, size, real, vq.decompress(tokens))
        data = coders["x265"].encode(real, bases["blank"], size)
        add(
            name,
            "blank",
            "x265-same-bytes",
            size,
            len(data),
            real,
            coders["x265"].decode(bases["blank"], data),
        )
        print(f"  {name} done", flush=True)
    summary = []
    for base in ("blank", "seen", "decoded", "other"):
        for coder_name in coders:
            for budget in BUDGETS:
                pts = [r for r in rows if (r["base"], r["coder"], r["budget"]) == (base, coder_name, budget)]
                summary.append({"base": base, "coder": coder_name, "budget": budget,
                                "bytes": float(np.mean([r["bytes"] for r in pts])),
                                "ssim": float(np.mean([r["ssim"] for r in pts]))})  # fmt: skip
    for coder_name in ("vq-all-tokens", "x265-same-bytes"):
        pts = [r for r in rows if r["coder"] == coder_name]
        summary.append({"base": "blank", "coder": coder_name, "budget": None,
                        "bytes": float(np.mean([r["bytes"] for r in pts])),
                        "ssim": float(np.mean([r["ssim"] for r in pts]))})  # fmt: skip
    args.out.parent.mkdir(parents=True, exist_ok=True)
    encode_ms = {name: 1000 * float(np.mean(t)) for name, t in seconds.items()}
    result = {
        "runtime_s": round(time.time() - t0, 1),
        "encode_ms": encode_ms,
        "summary": summary,
        "rows": rows,
    }
    args.out.write_text(json.dumps(result, indent=2))
    print(f"{'base':6s} {'coder':16s} {'budget':>7s} {'bytes':>7s} {'SSIM':>6s}")
    for s in summary:
        print(f"{s['base']:6s} {s['coder']:16s} {s['budget'] or '-':>7} {s['bytes']:7.0f} {s['ssim']:6.3f}")
    print("encode ms per keyframe: " + ", ".join(f"{k} {v:.0f}" for k, v in encode_ms.items()))
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
