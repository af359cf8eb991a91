"""Train the open-vocabulary semantic text link end to end over Rayleigh fading + AWGN (SNR
−5…22 dB, one to three soft-combined transmissions) on natural English (``m3e.semantics.english``:
WordNet usage examples and fortunes, their train part only) plus the fusion's own sentence forms.

The data is a stream (each step's sentences are a pure function of the seed and the step, and
their MiniLM states are computed on the fly), so a run resumes exactly from its checkpoint
(``semantic_text.ckpt`` beside the weights, every 100 steps). The default fits a 2-core CPU in
about an hour; a GPU is used when one is there.

    python -m m3e.codecs.train_semantic_text [--steps 3000] [--minutes M] [--fresh]
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import torch
from tqdm import tqdm

from m3e.codecs.semantic_text import (
    WEIGHTS,
    SemanticTextCodec,
    TextLinkConfig,
    deinterleave,
    interleave,
    mmse_combine,
    token_states,
)
from m3e.phy.analog import fading_channel
from m3e.semantics.english import natural_sentences, training_stream
from m3e.semantics.similarity import sentence_encoder


def channel(
    x: torch.Tensor,
    snr_db: torch.Tensor,
    rayleigh: torch.Tensor,
    n_tx: int,
    coherence: int = 16,
    gen: torch.Generator | None = None,
) -> tuple[torch.Tensor, torch.Tensor]:
    """n_tx independent transmissions of x (B, T, k) through block fading (rows where
    ``rayleigh``) or AWGN, maximum-ratio combined -> (symbols, post-combining SNR), (B, T, k).
    The symbols go on air interleaved as in a burst (``interleave``), so a fade spreads over
    many tokens instead of wiping a few."""
    flat = interleave(x)
    ys, hs = [], []
    for _ in range(n_tx):
        y, h_fading, no = fading_channel(flat, snr_db, "rayleigh", coherence, gen)
        noise = y - h_fading * flat
        h = torch.where(rayleigh[:, None], h_fading, torch.ones_like(h_fading))  # AWGN rows: h = 1
        ys.append(deinterleave(h * flat + noise, x.shape[1]))
        hs.append(deinterleave(h, x.shape[1]))
    return mmse_combine(ys, hs, no[:, :, None])


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="m3e train semantic-text", description=__doc__.split("\n\n")[0])
    ap.add_argument("--steps", type=int, default=3000)
    ap.add_argument("--minutes", type=float, default=0, help="stop (and save) after this long; 0: no limit")
    ap.add_argument("--batch", type=int, default=64)
    ap.add_argument("--lr", type=float, default=1e-3)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--fresh", action="store_true", help="ignore an existing checkpoint")
    ap.add_argument("--out", type=Path, default=WEIGHTS)
    args = ap.parse_args(argv)
    device = "cuda" if torch.cuda.is_available() else "cpu"
    config = TextLinkConfig()
    enc = sentence_encoder()
    enc.model.to(device)
    codec = SemanticTextCodec(enc.model.embeddings.word_embeddings.weight, config).to(device)
    opt = torch.optim.AdamW(codec.parameters(), lr=args.lr, weight_decay=0.01)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=args.lr, total_steps=args.steps, pct_start=0.04)
    ckpt_path = args.out.with_suffix(".ckpt")
    step, history, seconds = 0, [], 0.0
    if ckpt_path.exists() and not args.fresh:
        ckpt = torch.load(ckpt_path, map_location=device, weights_only=True)
        codec.load_state_dict(ckpt["codec"])
        opt.load_state_dict(ckpt["opt"])
        sched.load_state_dict(ckpt["sched"])
        step, history, seconds = int(ckpt["step"]), list(ckpt["history"]), float(ckpt["seconds"])
        print(f"resuming at step {step} of {args.steps}", flush=True)
    natural_sentences("train")  # read the corpus once before the clock starts

    def save_checkpoint() -> None:
        torch.save(
            {
                "codec": codec.state_dict(),
                "opt": opt.state_dict(),
                "sched": sched.state_dict(),
                "step": step,
                "history": history,
                "seconds": seconds,
            },
            ckpt_path,
        )

    t0 = time.time() - seconds
    started = time.time()
    codec.train()
    bar = tqdm(total=args.steps, initial=step, desc="text link")
    running = None
    while step < args.steps:
        gen = torch.Generator().manual_seed(args.seed * 1_000_003 + step)
        sentences = training_stream(args.seed, step, args.batch)
        with torch.autocast(device, dtype=torch.bfloat16):  # B_α is frozen: half the time, <1 % error
            states, ids, mask = token_states(enc, sentences, config.max_tokens)
        states, ids, mask = states.float().to(device), ids.to(device), mask.to(device)
        snr = torch.rand(args.batch, generator=gen) * 27 - 5
        rayleigh = torch.rand(args.batch, generator=gen) < 0.7
        n_tx = int(torch.multinomial(torch.tensor([0.7, 0.2, 0.1]), 1, generator=gen)) + 1
        x = codec.symbols(states, ids, mask)
        coherence = int(torch.tensor([16, 64, 256])[torch.randint(3, (1,), generator=gen)])
        y, post_snr = channel(x.cpu(), snr, rayleigh, n_tx, coherence, gen)
        # sampled softmax: the batch's own tokens and 2,048 random others stand in for the
        # 30,522 (6× cheaper; inference scores all of them)
        e = codec.embeddings(y.to(device), post_snr.to(device), mask)[mask]
        pool = torch.cat([ids[mask], torch.randint(len(codec.out_bias), (2048,), generator=gen).to(device)])
        candidates, target = torch.unique(pool, return_inverse=True)
        logits = e @ codec.word_embeddings[candidates].T + codec.out_bias[candidates]
        loss = torch.nn.functional.cross_entropy(logits, target[: e.shape[0]])
        opt.zero_grad()
        loss.backward()
        torch.nn.utils.clip_grad_norm_(codec.parameters(), 1.0)
        opt.step()
        sched.step()
        step += 1
        running = loss.item() if running is None else 0.98 * running + 0.02 * loss.item()
        bar.update(1)
        bar.set_postfix(loss=f"{running:.3f}")
        if step % 50 == 0:
            history.append((step, round(running, 4)))
        seconds = time.time() - t0
        if step % 100 == 0 or step == args.steps:
            save_checkpoint()
        if args.minutes and time.time() - started > 60 * args.minutes:
            save_checkpoint()
            print(f"\nstopped after {args.minutes} min at step {step}; run again to resume", flush=True)
            break
    bar.close()
    args.out.parent.mkdir(parents=True, exist_ok=True)
    state = {k: v.half() for k, v in codec.state_dict().items()}
    torch.save({"config": config.__dict__, "state": state}, args.out)
    meta = {
        "steps": step,
        "batch": args.batch,
        "seed": args.seed,
        "train_sentences": len(natural_sentences("train")),
        "final_loss": running,
        "loss_history": history,
        "train_seconds": round(seconds, 1),
        "device": device,
        "parameters": sum(p.numel() for p in codec.parameters()),
    }
    args.out.with_suffix(".json").write_text(json.dumps(meta, indent=2))
    print(json.dumps({k: v for k, v in meta.items() if k != "loss_history"}, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
