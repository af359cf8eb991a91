"""Train the semantic text link end to end over Rayleigh fading + AWGN (SNR −5…20 dB, one to
three soft-combined transmissions) on the generated corpus, with a held-out split.

    python -m m3e.codecs.train_semantic_text [--steps 2500] [--out m3e/codecs/weights/semantic_text.pt]
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import torch
from tqdm import tqdm

from m3e.codecs.semantic_text import WEIGHTS, SemanticTextCodec, TextLinkConfig, mmse_combine, token_states
from m3e.phy.analog import fading_channel
from m3e.semantics.corpus import corpus, split
from m3e.semantics.similarity import sentence_encoder

PAD, CLS, SEP, UNK = 0, 101, 102, 100


def build_vocab(sentences: list[str], tokenizer) -> list[int]:  # type: ignore[no-untyped-def]
    ids = {t for s in tokenizer(sentences)["input_ids"] for t in s} - {PAD, CLS, SEP, UNK}
    return [PAD, CLS, SEP, UNK, *sorted(ids)]


def targets(sentences: list[str], tokenizer, vocab: list[int], max_tokens: int) -> torch.Tensor:  # type: ignore[no-untyped-def]
    """(N, L) vocabulary indices: [CLS] tokens [SEP] then padding; unknown tokens -> 3."""
    index = {t: i for i, t in enumerate(vocab)}
    rows = tokenizer(sentences, truncation=True, max_length=max_tokens)["input_ids"]
    out = torch.zeros(len(rows), max_tokens, dtype=torch.long)
    for r, ids in enumerate(rows):
        out[r, : len(ids)] = torch.tensor([index.get(t, 3) for t in ids])
    return out


def channel(
    x: torch.Tensor,
    snr_db: torch.Tensor,
    rayleigh: torch.Tensor,
    n_tx: int,
    coherence: int = 16,
    gen: torch.Generator | None = None,
) -> tuple[torch.Tensor, torch.Tensor]:
    """n_tx independent transmissions of x (B, T, k) through block fading (rows where
    ``rayleigh``) or AWGN, maximum-ratio combined -> (symbols, post-combining SNR), (B, T, k)."""
    b, t, k = x.shape
    flat = x.reshape(b, t * k)
    ys, hs = [], []
    for _ in range(n_tx):
        y, h_fading, no = fading_channel(flat, snr_db, "rayleigh", coherence, gen)
        noise = y - h_fading * flat
        h = torch.where(rayleigh[:, None], h_fading, torch.ones_like(h_fading))  # AWGN rows: h = 1
        ys.append((h * flat + noise).reshape(b, t, k))
        hs.append(h.reshape(b, t, k))
    return mmse_combine(ys, hs, no[:, :, None])


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--steps", type=int, default=2500)
    ap.add_argument("--batch", type=int, default=64)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--out", type=Path, default=WEIGHTS)
    args = ap.parse_args(argv)
    torch.manual_seed(args.seed)
    gen = torch.Generator().manual_seed(args.seed)
    config = TextLinkConfig()
    enc = sentence_encoder()
    train, test = split(corpus())
    vocab = build_vocab(train, enc.tokenizer)
    t0 = time.time()
    states, masks = [], []
    for i in tqdm(range(0, len(train), 256), desc="MiniLM states"):
        s, m = token_states(enc, train[i : i + 256], config.max_tokens)
        states.append(torch.nn.functional.pad(s, (0, 0, 0, config.max_tokens - s.shape[1])).half())
        masks.append(torch.nn.functional.pad(m, (0, config.max_tokens - m.shape[1])))
    all_states, all_masks = torch.cat(states), torch.cat(masks)
    all_targets = targets(train, enc.tokenizer, vocab, config.max_tokens)
    codec = SemanticTextCodec(vocab, config)
    opt = torch.optim.AdamW(codec.parameters(), lr=1e-3, weight_decay=0.01)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=1e-3, total_steps=args.steps, pct_start=0.05)
    codec.train()
    for _ in (bar := tqdm(range(args.steps), desc="text link")):
        idx = torch.randint(len(train), (args.batch,), generator=gen)
        mask = all_masks[idx]
        L = int(mask.sum(1).max())
        st, mask, tgt = all_states[idx, :L].float(), mask[:, :L], all_targets[idx, :L]
        snr = torch.rand(args.batch, generator=gen) * 25 - 5
        rayleigh = torch.rand(args.batch, generator=gen) < 0.7
        n_tx = int(torch.multinomial(torch.tensor([0.7, 0.2, 0.1]), 1, generator=gen)) + 1
        y, post_snr = channel(codec.symbols(st, mask), snr, rayleigh, n_tx, gen=gen)
        memory = codec.memory(y, post_snr, mask)
        logits = codec.logits(memory, mask, tgt[:, :-1])
        loss = torch.nn.functional.cross_entropy(
            logits.reshape(-1, len(vocab)), tgt[:, 1:].reshape(-1), ignore_index=0
        )
        opt.zero_grad()
        loss.backward()
        torch.nn.utils.clip_grad_norm_(codec.parameters(), 1.0)
        opt.step()
        sched.step()
        bar.set_postfix(loss=f"{loss.item():.3f}")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    state = {k: v.half() if v.is_floating_point() else v for k, v in codec.state_dict().items()}
    torch.save({"vocab": torch.tensor(vocab), "config": config.__dict__, "state": state}, args.out)
    meta = {
        "steps": args.steps,
        "batch": args.batch,
        "seed": args.seed,
        "train_sentences": len(train),
        "test_sentences": len(test),
        "vocab": len(vocab),
        "final_loss": float(loss.item()),
        "train_seconds": round(time.time() - t0, 1),
        "parameters": sum(p.numel() for p in codec.parameters()),
    }
    args.out.with_suffix(".json").write_text(json.dumps(meta, indent=2))
    print(json.dumps(meta, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
