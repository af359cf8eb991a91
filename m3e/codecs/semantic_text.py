"""The semantic text link (paper §3.3, eq 5, 8, 18–21): x' = C_β(B_α(s)) over the channel,
ŝ = transformer decoder(ŷ).

- B_α (eq 5, 18–20): the MiniLM encoder (WordPiece, [CLS]/[SEP], self-attention), frozen.
- C_β: a per-token MLP from the 384-d token states to ``k`` complex symbols per token, power
  normalised over the sentence, so a sentence of T tokens costs T·k channel uses.
- Receiver: MMSE-combined symbols of every transmission (so retransmissions add up), with
  their post-combining SNR, go through a small transformer encoder (channel decoder) and a
  transformer decoder that generates the sentence token by token (eq 21) over the WordPiece
  tokens of the training corpus.
- ξ̂ without the original (``SentenceReceiver``): the sender adds a 64-bit fingerprint of the
  sentence embedding B(s) (signs of 64 fixed random projections, so the fraction of differing
  bits d estimates the angle between B(s) and B(ŝ): cos(π·d) ≈ ξ, eq 9) as 32 QPSK symbols
  spread over the burst. The receiver compares it softly with the fingerprint of the sentence it
  decoded and combines that with the decoder's mean token log-probability into ξ̂, a linear
  estimate of ξ calibrated on held-out sentences (``semantic_text_detector.json``).

Shapes: token states (B, T, 384); symbols (B, T, k) complex64; logits (B, L, V).
One sentence on air (``SentenceBurst``): T·k + 32 complex symbols before pilots.
"""

from __future__ import annotations

import functools
import json
import math
import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import numpy.typing as npt
import torch
from torch import nn

from m3e.phy.modulation import Constellation

WEIGHTS = Path(__file__).parent / "weights" / "semantic_text.pt"
DETECTOR = WEIGHTS.with_name("semantic_text_detector.json")
CHECK_BITS = 64
CHECK_SYMBOLS = CHECK_BITS // 2  # QPSK
# fixed random hyperplanes of the fingerprint, the same at both ends
_PROJECTION = np.random.default_rng(2026).standard_normal((384, CHECK_BITS)).astype(np.float32)


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
        ids, conf = self.decode_ids(y, snr, mask)
        return [self.text(row) for row in ids], conf

    def decode_ids(
        self, y: torch.Tensor, snr: torch.Tensor, mask: torch.Tensor
    ) -> tuple[list[list[int]], npt.NDArray[np.float32]]:
        """Like ``decode``, but WordPiece ids (without [CLS]/[SEP]) instead of text."""
        with torch.no_grad():
            memory = self.codec.memory(y, snr, mask)
            seq, conf = self.codec.generate(memory, mask)
        out = []
        for row in seq.tolist():
            row = row[: row.index(2)] if 2 in row else row  # up to [SEP]
            out.append([self._vocab[i] for i in row if i > 2])
        return out, conf.numpy().astype(np.float32)

    def text(self, ids: list[int]) -> str:
        """WordPiece ids -> the sentence as the sender wrote it (WordPiece puts spaces around
        punctuation and quotes: 'speaking : " hi "' becomes 'speaking: "hi"')."""
        text = str(self.encoder.tokenizer.decode(ids, skip_special_tokens=True))
        text = re.sub(r"\s+([:,.!?])", r"\1", text)
        return re.sub(r'"\s*([^"]*?)\s*"', r'"\1"', text)

    def encode_bursts(self, sentences: list[str]) -> list[SentenceBurst]:
        """What goes on air for each sentence: its T·k symbols with the fingerprint spread among them."""
        states, mask = token_states(self.encoder, sentences, self.codec.config.max_tokens)
        with torch.no_grad():
            x = self.codec.symbols(states, mask)
        # B(s): the mean-pooled MiniLM states, as in m3e.semantics.similarity
        pooled = (states * mask[..., None]).sum(1) / mask.sum(1, keepdim=True).clamp(min=1)
        qpsk = Constellation("qpsk")
        bursts = []
        for b in range(len(sentences)):
            t = int(mask[b].sum())
            check_at = check_positions(t, self.codec.config.symbols_per_token)
            symbols = np.empty(t * x.shape[-1] + CHECK_SYMBOLS, np.complex64)
            symbols[check_at] = qpsk.map(fingerprint(pooled[b].numpy()))
            symbols[~_mask(symbols.shape[0], check_at)] = x[b, :t].reshape(-1).numpy()
            bursts.append(SentenceBurst(symbols, t))
        return bursts

    def receiver(self, n_tokens: int, detector: TextDetector | None = None) -> SentenceReceiver:
        return SentenceReceiver(self, n_tokens, detector or load_detector())


@dataclass(frozen=True)
class SentenceBurst:
    """One sentence on air: (T·k + 32,) complex64 symbols (before pilots), T WordPiece tokens."""

    symbols: npt.NDArray[np.complex64]
    n_tokens: int


def fingerprint(embedding: npt.NDArray[np.float32]) -> npt.NDArray[np.uint8]:
    """(384,) sentence embedding -> (64,) bits: on which side of each fixed hyperplane it lies."""
    return (embedding @ _PROJECTION > 0).astype(np.uint8)


def check_positions(n_tokens: int, symbols_per_token: int) -> npt.NDArray[np.intp]:
    """Where the 32 fingerprint symbols sit in a burst of T·k + 32: evenly spread, so one deep fade
    cannot take them all."""
    n = n_tokens * symbols_per_token + CHECK_SYMBOLS
    return np.floor((np.arange(CHECK_SYMBOLS) + 0.5) * n / CHECK_SYMBOLS).astype(np.intp)


def _mask(n: int, where: npt.NDArray[np.intp]) -> npt.NDArray[np.bool_]:
    m = np.zeros(n, bool)
    m[where] = True
    return m


def tokens_in_burst(n_data: int, symbols_per_token: int, max_tokens: int) -> int:
    """T from the number of data symbols of a burst; ValueError when no sentence fits it."""
    t, rest = divmod(n_data - CHECK_SYMBOLS, symbols_per_token)
    if rest or not 1 <= t <= max_tokens:
        raise ValueError(
            f"{n_data} symbols are not a sentence burst ({CHECK_SYMBOLS} + {symbols_per_token}·T, "
            f"1 ≤ T ≤ {max_tokens})"
        )
    return t


@dataclass(frozen=True)
class TextDetector:
    """ξ̂ = σ(bias + w_confidence · confidence + w_fingerprint · ξ_fingerprint): a logistic fit to
    the true ξ on held-out sentences, its bias shifted so that ξ̂ < 0.6 catches the calibrated
    share of the damaged sentences (see calibrate_text_detector)."""

    bias: float = -2.0
    w_confidence: float = 2.0
    w_fingerprint: float = 5.0

    def xi_hat(self, confidence: float, fingerprint_xi: float) -> float:
        z = self.bias + self.w_confidence * confidence + self.w_fingerprint * fingerprint_xi
        return float(1.0 / (1.0 + math.exp(-min(max(z, -50.0), 50.0))))


@functools.cache
def load_detector(path: Path = DETECTOR) -> TextDetector:
    if not path.exists():
        return TextDetector()
    blob = json.loads(path.read_text())
    return TextDetector(blob["bias"], blob["w_confidence"], blob["w_fingerprint"])


@dataclass(frozen=True)
class SentenceEstimate:
    """The receiver's view of one sentence after some transmissions."""

    text: str
    xi_hat: float
    confidence: float  # the decoder's mean token log-probability
    fingerprint_xi: float  # cos(π·d), d the reliability-weighted share of fingerprint bits that differ
    transmissions: int


class SentenceReceiver:
    """Soft-combines the transmissions of one sentence (maximum-ratio combining with the
    channel-estimation error counted as noise) and decodes what it has so far."""

    def __init__(self, link: TextLink, n_tokens: int, detector: TextDetector) -> None:
        self.link, self.detector, self.n_tokens = link, detector, n_tokens
        k = link.codec.config.symbols_per_token
        n = n_tokens * k + CHECK_SYMBOLS
        self.check_at = check_positions(n_tokens, k)
        self._data = ~_mask(n, self.check_at)
        self._num = np.zeros(n, np.complex128)
        self._gain = np.zeros(n, np.float64)
        self.transmissions = 0

    def receive(
        self, y: npt.NDArray[np.complex64], h: npt.ArrayLike, noise: npt.ArrayLike
    ) -> SentenceEstimate:
        """y, h, noise: (T·k + 32,) data symbols, channel estimate, noise (+ estimation error)."""
        if y.shape != self._num.shape:
            n = self._num.shape[0]
            raise ValueError(f"{y.shape[0]} symbols for a {self.n_tokens}-token sentence ({n})")
        h, noise = np.broadcast_to(h, y.shape), np.broadcast_to(noise, y.shape)
        self._num += np.conj(h) * y / noise
        self._gain += np.abs(h) ** 2 / noise
        self.transmissions += 1
        gain = np.maximum(self._gain, 1e-9)
        x_hat = self._num / gain
        t, k = self.n_tokens, self.link.codec.config.symbols_per_token
        ids, conf = self.link.decode_ids(
            torch.from_numpy(x_hat[self._data].astype(np.complex64)).reshape(1, t, k),
            torch.from_numpy(gain[self._data].astype(np.float32)).reshape(1, t, k),
            torch.ones(1, t, dtype=torch.bool),
        )
        text = self.link.text(ids[0])
        llr = Constellation("qpsk").demap(x_hat[self.check_at], 1.0 / gain[self.check_at])
        mine = fingerprint(self.link.encoder([text])[0])
        # share of differing bits, each received bit weighted by its reliability |tanh(L/2)|:
        # a bit lost in the noise tells nothing (counting it as half-differing would bias d)
        weight = np.abs(np.tanh(np.clip(llr, -50, 50) / 2))
        differ = float((weight * ((llr < 0) != mine)).sum() / max(weight.sum(), 1e-9))
        fp_xi = math.cos(math.pi * differ)
        return SentenceEstimate(
            text, self.detector.xi_hat(float(conf[0]), fp_xi), float(conf[0]), fp_xi, self.transmissions
        )


def token_states(encoder, sentences: list[str], max_tokens: int) -> tuple[torch.Tensor, torch.Tensor]:  # type: ignore[no-untyped-def]
    """B_α: MiniLM last hidden states (B, T, 384) and mask (B, T) bool."""
    with encoder.lock, torch.no_grad():
        batch = encoder.tokenizer(
            sentences, padding=True, truncation=True, max_length=max_tokens, return_tensors="pt"
        )
        states = encoder.model(**batch).last_hidden_state
    return states, batch["attention_mask"].bool()


@functools.cache
def load_codec(path: Path = WEIGHTS) -> SemanticTextCodec:
    blob = torch.load(path, map_location="cpu", weights_only=True)
    codec = SemanticTextCodec(blob["vocab"].tolist(), TextLinkConfig(**blob["config"]))
    codec.load_state_dict(blob["state"])
    return codec.eval()
