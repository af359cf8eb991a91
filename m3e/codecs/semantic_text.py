"""The semantic text link (paper §3.3, eq 5, 8, 18–21): x' = C_β(B_α(s)) over the channel,
ŝ = transformer decoder(ŷ).

- B_α (eq 5, 18–20): the MiniLM encoder (WordPiece, [CLS]/[SEP], self-attention), frozen.
- C_β: a per-token MLP from the 384-d token states to ``k`` complex symbols per token, power
  normalised over the sentence, so a sentence of T tokens costs T·k channel uses.
- Receiver: MMSE-combined symbols of every transmission (so retransmissions add up), with
  their post-combining SNR, go through a small transformer encoder (channel decoder) and a
  transformer decoder that generates the sentence token by token (eq 21) over the WordPiece
  tokens of the training corpus.
- Confidence: the decoder's mean token log-probability, from which the receiver estimates
  whether the meaning survived (ξ̂) without the original.

Shapes: token states (B, T, 384); symbols (B, T, k) complex64; logits (B, L, V).
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import numpy.typing as npt
import torch
from torch import nn

WEIGHTS = Path(__file__).parent / "weights" / "semantic_text.pt"


@dataclass(frozen=True)
class TextLinkConfig:
    symbols_per_token: int = 8
    d_model: int = 256
    heads: int = 4
    layers: int = 2
    max_tokens: int = 40


class SemanticTextCodec(nn.Module):
    """C_β + channel decoder + semantic decoder. ``vocab``: WordPiece ids the decoder can emit
    (index 0 = padding, 1 = [CLS] start, 2 = [SEP] end are always in it)."""

    def __init__(self, vocab: list[int], config: TextLinkConfig = TextLinkConfig()) -> None:
        super().__init__()
        c = self.config = config
        self.register_buffer("vocab", torch.tensor(vocab, dtype=torch.long))
        k = c.symbols_per_token
        self.channel_encoder = nn.Sequential(
            nn.Linear(384, c.d_model), nn.GELU(), nn.Linear(c.d_model, 2 * k)
        )
        self.channel_decoder_in = nn.Linear(3 * k, c.d_model)
        self.position = nn.Embedding(c.max_tokens + 2, c.d_model)
        layer = nn.TransformerEncoderLayer(c.d_model, c.heads, 2 * c.d_model, 0.1, batch_first=True)
        self.channel_decoder = nn.TransformerEncoder(layer, c.layers, enable_nested_tensor=False)
        self.token = nn.Embedding(len(vocab), c.d_model)
        dec = nn.TransformerDecoderLayer(c.d_model, c.heads, 2 * c.d_model, 0.1, batch_first=True)
        self.decoder = nn.TransformerDecoder(dec, c.layers)
        self.out = nn.Linear(c.d_model, len(vocab))

    # ---- sender
    def symbols(self, states: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        """(B, T, 384) token states, (B, T) bool mask -> (B, T, k) complex, unit power per sentence."""
        z = self.channel_encoder(states)
        x = torch.view_as_complex(z.reshape(*z.shape[:-1], -1, 2).float().contiguous()) * mask[..., None]
        # unit average energy over the symbols actually sent (padding is not sent)
        n_used = (mask.sum(1) * x.shape[-1]).clamp(min=1)
        power = (x.abs() ** 2).sum((1, 2)) / n_used
        return x / torch.sqrt(power + 1e-12)[:, None, None]

    # ---- receiver
    def memory(self, y: torch.Tensor, snr: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        """Equalised symbols (B, T, k) complex and their SNR (B, T, k) -> decoder memory (B, T, d)."""
        feats = torch.cat([torch.view_as_real(y).flatten(-2), torch.log1p(snr)], dim=-1)
        pos = torch.arange(y.shape[1], device=y.device)
        h = self.channel_decoder_in(feats) + self.position(pos)
        return self.channel_decoder(h, src_key_padding_mask=~mask)

    def logits(self, memory: torch.Tensor, mask: torch.Tensor, prefix: torch.Tensor) -> torch.Tensor:
        """Next-token logits (B, L, V) for a prefix (B, L) of vocabulary indices (eq 21)."""
        L = prefix.shape[1]
        causal = torch.triu(torch.ones(L, L, dtype=torch.bool, device=prefix.device), 1)
        h = self.token(prefix) + self.position(torch.arange(L, device=prefix.device))
        return self.out(self.decoder(h, memory, tgt_mask=causal, memory_key_padding_mask=~mask))

    @torch.no_grad()
    def generate(
        self, memory: torch.Tensor, mask: torch.Tensor, max_len: int | None = None
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Greedy decoding -> (B, L) vocabulary indices (without the start token) and (B,) mean log-prob."""
        b = memory.shape[0]
        max_len = max_len or int(mask.sum(1).max()) + 2
        seq = torch.ones(b, 1, dtype=torch.long, device=memory.device)  # index 1 = [CLS]
        logp = torch.zeros(b, device=memory.device)
        done = torch.zeros(b, dtype=torch.bool, device=memory.device)
        count = torch.zeros(b, device=memory.device)
        for _ in range(max_len):
            lp = torch.log_softmax(self.logits(memory, mask, seq)[:, -1], -1)
            best = lp.argmax(-1)
            logp += torch.where(done, 0.0, lp.gather(1, best[:, None])[:, 0])
            count += (~done).float()
            seq = torch.cat([seq, best[:, None]], 1)
            done |= best == 2
            if done.all():
                break
        return seq[:, 1:], logp / count.clamp(min=1)


def mmse_combine(
    ys: list[torch.Tensor], hs: list[torch.Tensor], no: torch.Tensor
) -> tuple[torch.Tensor, torch.Tensor]:
    """Maximum-ratio combining of transmissions y_i = h_i x + w_i: x̂ = Σ h_i* y_i / Σ|h_i|²,
    post-combining SNR Σ|h_i|²/no. Shapes (B, T, k); no (B, 1, 1)."""
    num = torch.stack([torch.conj(h) * y for y, h in zip(ys, hs, strict=True)]).sum(0)
    gain = torch.stack([h.abs() ** 2 for h in hs]).sum(0)
    return num / gain.clamp(min=1e-9), gain / no


class TextLink:
    """The inference wrapper (tokenisation, the frozen MiniLM B_α, the codec) that tests and
    benchmarks use: sentences -> symbols, and received symbols -> sentences."""

    def __init__(self, codec: SemanticTextCodec | None = None) -> None:
        from m3e.semantics.similarity import sentence_encoder

        self.encoder = sentence_encoder()
        self.codec = (codec or load_codec()).eval()
        self._vocab: list[int] = self.codec.vocab.tolist()  # type: ignore[operator]

    def encode(self, sentences: list[str]) -> tuple[torch.Tensor, torch.Tensor]:
        """-> symbols (B, T, k) complex and mask (B, T): what goes on air (T·k symbols per sentence)."""
        states, mask = token_states(self.encoder, sentences, self.codec.config.max_tokens)
        with torch.no_grad():
            return self.codec.symbols(states, mask), mask

    def decode(
        self, y: torch.Tensor, snr: torch.Tensor, mask: torch.Tensor
    ) -> tuple[list[str], npt.NDArray[np.float32]]:
        """Combined symbols and SNR (B, T, k), mask (B, T) -> sentences and confidence (B,)."""
        with torch.no_grad():
            memory = self.codec.memory(y, snr, mask)
            seq, conf = self.codec.generate(memory, mask)
        out: list[str] = []
        for row in seq.tolist():
            row = row[: row.index(2)] if 2 in row else row  # up to [SEP]
            ids = [self._vocab[i] for i in row if i > 2]
            out.append(str(self.encoder.tokenizer.decode(ids, skip_special_tokens=True)))
        return out, conf.numpy().astype(np.float32)


def token_states(encoder, sentences: list[str], max_tokens: int) -> tuple[torch.Tensor, torch.Tensor]:  # type: ignore[no-untyped-def]
    """B_α: MiniLM last hidden states (B, T, 384) and mask (B, T) bool."""
    batch = encoder.tokenizer(
        sentences, padding=True, truncation=True, max_length=max_tokens, return_tensors="pt"
    )
    with torch.no_grad():
        states = encoder.model(**batch).last_hidden_state
    return states, batch["attention_mask"].bool()


@functools.cache
def load_codec(path: Path = WEIGHTS) -> SemanticTextCodec:
    blob = torch.load(path, map_location="cpu", weights_only=True)
    codec = SemanticTextCodec(blob["vocab"].tolist(), TextLinkConfig(**blob["config"]))
    codec.load_state_dict(blob["state"])
    return codec.eval()
