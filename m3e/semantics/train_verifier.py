"""Train the multi-frame verifier (eq 4) on synthetic keyframe sequences.

    python -m m3e.semantics.train_verifier [--steps 3000] [--out m3e/semantics/weights/verifier.pt]

Prints held-out accuracy and label flicker before (raw per-keyframe argmax) and after
verification, and writes the numbers next to the weights (verifier.json) for the model card.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np
import torch
from tqdm import tqdm

from m3e.semantics.verification import N_LABELS, WEIGHTS, Verifier, synthetic_sequences


def evaluate(model: Verifier, x: np.ndarray, y: np.ndarray) -> dict[str, float]:
    """Top-1 accuracy and flicker (top label changing inside a scene) of raw vs verified labels."""
    with torch.no_grad():
        p = torch.softmax(model(torch.from_numpy(x)), -1).numpy()
    raw = (x[..., :N_LABELS] * 0.6 + x[..., N_LABELS : 2 * N_LABELS] * 0.4).argmax(-1)
    ver = p.argmax(-1)
    truth_ok = lambda pred: float(np.mean(np.take_along_axis(y, pred[..., None], -1)[..., 0] > 0))  # noqa: E731
    same_scene = np.abs(y[:, 1:] - y[:, :-1]).sum(-1) < 1e-6
    flick = lambda pred: float(np.mean((pred[:, 1:] != pred[:, :-1])[same_scene]))  # noqa: E731
    return {
        "accuracy_raw": truth_ok(raw),
        "accuracy_verified": truth_ok(ver),
        "flicker_raw": flick(raw),
        "flicker_verified": flick(ver),
    }


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="m3e train verifier", description=__doc__.split("\n\n")[0])
    ap.add_argument("--steps", type=int, default=3000)
    ap.add_argument("--batch", type=int, default=64)
    ap.add_argument("--length", type=int, default=12)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--out", type=Path, default=WEIGHTS)
    args = ap.parse_args(argv)
    torch.manual_seed(args.seed)
    rng = np.random.default_rng(args.seed)
    test_x, test_y = synthetic_sequences(2000, args.length, np.random.default_rng(args.seed + 1000))
    model = Verifier()
    opt = torch.optim.Adam(model.parameters(), lr=3e-3)
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, args.steps)
    start = time.time()
    for _ in (bar := tqdm(range(args.steps), desc="verifier")):
        x, y = synthetic_sequences(args.batch, args.length, rng)
        logits = model(torch.from_numpy(x))
        loss = -(torch.from_numpy(y) * torch.log_softmax(logits, -1)).sum(-1).mean()  # eq 4
        opt.zero_grad()
        loss.backward()
        opt.step()
        sched.step()
        bar.set_postfix(loss=f"{loss.item():.3f}")
    metrics = {
        **evaluate(model.eval(), test_x, test_y),
        "steps": args.steps,
        "batch": args.batch,
        "sequence_length": args.length,
        "train_seconds": round(time.time() - start, 1),
        "parameters": sum(p.numel() for p in model.parameters()),
        "seed": args.seed,
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    torch.save(model.state_dict(), args.out)
    args.out.with_suffix(".json").write_text(json.dumps(metrics, indent=2))
    for k, v in metrics.items():
        print(f"{k:20s} {v}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
