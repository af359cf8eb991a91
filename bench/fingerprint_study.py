"""What limits ξ̂ (issue 14): the fingerprint replayed through the noise it met.

    python -m bench.fingerprint_study [--sentences 400] [--out results/fingerprint_study.json]

Sends the natural *calibration* sentences once each at 0…10 dB over AWGN and Rayleigh (the
transmissions ξ̂ is calibrated on; the evaluation sentences are never read) and records, for
every first transmission, the received fingerprint, the SNR of each of its symbols and both
sentence embeddings. The noise each symbol met (received − sent) is then put on other
fingerprints: none at all, fewer projections each repeated, the principal directions of B(s)
over training sentences instead of random ones (needs the Debian packages wordnet-base and
fortunes), and more symbols (noise drawn at SNRs taken from the same transmission's). For each,
ξ̂ is fitted as ``calibrate_text_detector`` fits it, on one half of the sentences for the recall
target, and measured on the other half: 30 random halves. The decodes are the link's own; only
the fingerprint changes. Writes JSON and prints a table.
"""

from __future__ import annotations

import argparse
import json
import random
import time
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from m3e.codecs import semantic_text
from m3e.codecs.semantic_text import (
    CHECK_SYMBOLS,
    FINGERPRINT_PROJECTION,
    TextLink,
    fingerprint,
    fingerprint_xi,
)
from m3e.eval.calibrate_text_detector import fit
from m3e.eval.text_link import held_out_sentences, transmit_semantic

SNRS = (0.0, 2.5, 5.0, 7.5, 10.0)  # as calibrate_text_detector (detector_samples)
SPLITS = 30
DRAWS = 4  # bases and noise drawn per variant that cannot replay the recorded noise


def record(sentences: list[str], link: TextLink) -> dict[str, npt.NDArray[Any]]:
    """First transmissions of ``sentences`` at every SNR and fading, with what the receiver
    correlated: received fingerprint (N, 72), its symbols' SNR (N, 72), B(s) and B(ŝ) (N, 384),
    confidence, channel quality, exactness, the sentence's index."""
    heard: list[tuple[npt.NDArray[Any], npt.NDArray[Any]]] = []
    correlate = semantic_text.fingerprint_xi

    def listening(received: Any, snr: Any, mine: Any) -> float:
        heard.append((np.array(received), np.array(snr)))
        return correlate(received, snr, mine)

    rows: dict[str, list[Any]] = {
        k: [] for k in ("received", "snr", "sent", "decoded", "confidence", "log_snr")
    }
    rows |= {"exact": [], "empty": [], "sentence": []}
    semantic_text.fingerprint_xi = listening  # the receiver looks it up at every decode
    try:
        for fading in ("awgn", "rayleigh"):
            for snr in SNRS:
                heard.clear()
                res = transmit_semantic(sentences, snr, fading, link, seed=int(snr * 10) + 7)
                if len(heard) != len(sentences):
                    raise RuntimeError(f"{len(heard)} fingerprints heard for {len(sentences)} sentences")
                decoded = [d if d.strip() else "" for d in res["decoded"]]
                rows["received"] += [r for r, _ in heard]
                rows["snr"] += [s for _, s in heard]
                rows["sent"] += list(link.encoder(sentences))
                rows["decoded"] += list(link.encoder(decoded))
                rows["confidence"] += [e.confidence for e in res["first"]]
                rows["log_snr"] += [e.log_snr for e in res["first"]]
                rows["exact"] += [e.exact for e in res["first"]]
                rows["empty"] += [not d for d in decoded]
                rows["sentence"] += list(range(len(sentences)))
                print(f"  recorded {fading} {snr:g} dB", flush=True)
    finally:
        semantic_text.fingerprint_xi = correlate
    out = {k: np.array(v) for k, v in rows.items()}
    # ξ as m3e.semantics.similarity.xi scores it: an empty decode is 0
    out["xi"] = np.where(out["empty"], 0.0, np.clip(np.sum(out["sent"] * out["decoded"], 1), -1.0, 1.0))
    return out


def replay(
    rec: dict[str, Any], projection: npt.NDArray[Any], noise: npt.NDArray[Any], snr: npt.NDArray[Any]
) -> npt.NDArray[np.float64]:
    """(N,) fingerprint ξ of every transmission had the sender used ``projection`` (384, 2C), with
    ``noise`` and ``snr`` (N, C) on its symbols."""
    sent, mine = fingerprint(rec["sent"], projection), fingerprint(rec["decoded"], projection)
    return np.array([fingerprint_xi(x + n, s, m) for x, n, s, m in zip(sent, noise, snr, mine, strict=True)])


def cross_validate(
    rec: dict[str, Any], f: npt.NDArray[Any], recall: float, seed: int = 0
) -> dict[str, float]:
    """ξ̂ fitted on half of the sentences, measured on the other half, ``SPLITS`` times."""
    samples = {
        "confidence": rec["confidence"],
        "fingerprint_xi": f,
        "log_snr": rec["log_snr"],
        "xi": rec["xi"],
        "exact": rec["exact"].astype(float),
    }
    ids = np.unique(rec["sentence"])
    rng = np.random.default_rng(seed)
    caught, needless = [], []
    for _ in range(SPLITS):
        half = np.isin(rec["sentence"], rng.choice(ids, len(ids) // 2, replace=False))
        detector = fit({k: v[half] for k, v in samples.items()}, recall)
        other = ~half & ~rec["exact"]
        nack = np.zeros(half.shape, bool)
        nack[other] = [
            detector.xi_hat(c, fx, q) < 0.6
            for c, fx, q in zip(rec["confidence"][other], f[other], rec["log_snr"][other], strict=True)
        ]
        bad = rec["xi"] < 0.6
        caught.append(nack[~half & bad].mean())
        needless.append(nack[~half & ~bad].mean())
    return {
        "recall": float(np.mean(caught)),
        "recall_sd": float(np.std(caught)),
        "false_nack_rate": float(np.mean(needless)),
        "false_nack_rate_sd": float(np.std(needless)),
    }


def principal_directions(n: int, dims: int) -> npt.NDArray[np.float32] | None:
    """(384, dims) the top principal directions of B(s) over n training sentences, or None
    without the corpus' Debian packages."""
    from m3e.semantics.english import natural_sentences
    from m3e.semantics.similarity import sentence_encoder

    try:
        pool = natural_sentences("train")
    except RuntimeError:
        return None
    sentences = random.Random(11).sample(pool, min(n, len(pool)))
    encoder = sentence_encoder()
    e = np.concatenate([encoder(sentences[i : i + 256]) for i in range(0, len(sentences), 256)])
    return np.linalg.svd(e - e.mean(0), full_matrices=False)[2][:dims].T.astype(np.float32)


def variants(rec: dict[str, Any]) -> dict[str, list[npt.NDArray[np.float64]]]:
    """name -> the fingerprint ξ of every transmission (N,) had it been sent that way: one
    array where the recorded noise is replayed, ``DRAWS`` where noise and basis are drawn."""
    noise = rec["received"] - fingerprint(rec["sent"])
    snr, dims = rec["snr"], 2 * CHECK_SYMBOLS
    rng = np.random.default_rng(1)
    out = {
        f"{CHECK_SYMBOLS} symbols, as sent": [replay(rec, FINGERPRINT_PROJECTION, noise, snr)],
        "the same without channel noise": [replay(rec, FINGERPRINT_PROJECTION, np.zeros_like(noise), snr)],
    }
    for k in (CHECK_SYMBOLS, CHECK_SYMBOLS // 2, CHECK_SYMBOLS // 4):
        # k directions, each on dims / k real values
        repeated = FINGERPRINT_PROJECTION[:, np.arange(dims) % k]
        out[f"{k} projections, each on {dims // k} real values"] = [replay(rec, repeated, noise, snr)]
    pca = principal_directions(8000, dims)
    if pca is not None:
        out["principal directions of B(s) (8,000 training sentences)"] = [replay(rec, pca, noise, snr)]
    for c in (CHECK_SYMBOLS, CHECK_SYMBOLS + 8, CHECK_SYMBOLS + 24, 2 * CHECK_SYMBOLS):
        drawn = out[f"{c} symbols, noise drawn at the recorded SNRs ({DRAWS} draws)"] = []
        for _ in range(DRAWS):
            # the transmission's own SNRs; the symbols beyond the recorded ones drawn among them
            extra = rng.integers(0, CHECK_SYMBOLS, c - CHECK_SYMBOLS)
            s = snr[:, np.concatenate([np.arange(CHECK_SYMBOLS), extra])]
            n = (rng.standard_normal(s.shape) + 1j * rng.standard_normal(s.shape)) / np.sqrt(2 * s)
            basis = np.linalg.qr(rng.standard_normal((384, 2 * c)))[0].astype(np.float32)
            drawn.append(replay(rec, basis, n, s))
    return out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--sentences", type=int, default=400)
    ap.add_argument("--recall", type=float, default=0.96, help="the operating point fitted on each half")
    ap.add_argument("--out", type=Path, default=Path("results/fingerprint_study.json"))
    args = ap.parse_args(argv)
    t0 = time.time()
    print(f"recording {args.sentences} calibration sentences × {2 * len(SNRS)} channels …", flush=True)
    rec = record(held_out_sentences(args.sentences, part="calibration"), TextLink())
    rows = []
    for name, fs in variants(rec).items():
        each = [cross_validate(rec, f, args.recall) for f in fs]
        q = {k: float(np.mean([e[k] for e in each])) for k in each[0]}
        rows.append({"fingerprint": name, **q})
        print(
            f"{name:58s} recall {q['recall']:.3f} ± {q['recall_sd']:.3f}   "
            f"false NACKs {100 * q['false_nack_rate']:.2f} ± {100 * q['false_nack_rate_sd']:.2f} %",
            flush=True,
        )
    blob = {
        "setup": {
            "sentences": args.sentences,
            "set": "natural_calibration.txt",
            "snrs_db": list(SNRS),
            "fadings": ["awgn", "rayleigh"],
            "recall_target": args.recall,
            "halves": SPLITS,
            "command": "python -m bench.fingerprint_study",
        },
        "damaged_fraction": float(np.mean(rec["xi"] < 0.6)),
        "variants": rows,
        "runtime_s": round(time.time() - t0, 1),
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(blob, indent=2) + "\n")
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
