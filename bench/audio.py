"""Audio from text: timbre similarity (MFCC cosine, Fig. 8's measure) of the receiver's speech
to the original, from the transcript alone (Y) and with the audio difference T′, for speakers
the receiver's synthesiser does not have (other espeak-ng voices, pitches and paces), with the
bit rate of T′ and the regeneration time.

    python -m bench.audio [--out results/audio.json]
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np

from m3e.codecs.audio_semantic import RATE, encode_difference, regenerate, speak, timbre

SPEAKERS = [("en-us+f3", 75, 120), ("en-gb+m4", 30, 190), ("en-us+whisper", 50, 150), ("en-us+f5", 60, 170)]
SENTENCES = [
    "The astronaut is talking about the mission to the moon.",
    "Please send the pictures of the rocket to the team.",
    "A cat is sitting on the sofa near the window.",
]


def original(text: str, voice: str, pitch: int, speed: int) -> np.ndarray:
    return speak(text, speed, voice, pitch)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--out", type=Path, default=Path("results/audio.json"))
    args = ap.parse_args(argv)
    rows = []
    for voice, pitch, speed in SPEAKERS:
        for text in SENTENCES:
            real = original(text, voice, pitch, speed)
            difference = encode_difference(real)
            t0 = time.perf_counter()
            rebuilt = regenerate(text, difference)
            ms = (time.perf_counter() - t0) * 1000
            seconds = real.shape[0] / RATE
            rows.append({
                "speaker": f"{voice} p{pitch} s{speed}", "text": text, "seconds": seconds,
                "timbre_text_only": timbre(real, speak(text)),
                "timbre_with_difference": timbre(real, rebuilt),
                "difference_bits_per_s": len(difference) * 8 / seconds, "regenerate_ms": ms,
            })  # fmt: skip
    summary = {k: float(np.mean([r[k] for r in rows])) for k in rows[0] if k not in ("speaker", "text")}
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps({"summary": summary, "rows": rows}, indent=2))
    print(f"{'speaker':26s} {'text only':>9s} {'with T′':>8s} {'T′ bit/s':>9s}")
    for r in rows:
        print(f"{r['speaker']:26s} {r['timbre_text_only']:9.3f} {r['timbre_with_difference']:8.3f} "
              f"{r['difference_bits_per_s']:9.0f}")  # fmt: skip
    s = summary
    print(f"mean: text only {s['timbre_text_only']:.3f}, with T′ {s['timbre_with_difference']:.3f}, "
          f"{s['difference_bits_per_s']:.0f} bit/s, regenerate {s['regenerate_ms']:.0f} ms")  # fmt: skip
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
