"""The semantic text link (paper §3.3, eq 5, 8, 18–21): x' = C_β(B_α(s)) over the channel,
ŝ = decoder(ŷ), with an open vocabulary and a text difference for the exact letter.

- B_α (eq 5, 18–20): the frozen MiniLM encoder gives WordPiece token states; its own word
  embedding of each token joins the state, so a name the link never saw still has a code.
- C_β: a per-token MLP from (state ‖ word embedding), 768-d, to ``k`` complex symbols per token,
  power normalised over the sentence: a sentence of T tokens ([CLS]/[SEP] are not sent) costs
  T·k channel uses, sent interleaved (symbol j of every token, then j + 1) so that one fade
  touches a little of many tokens rather than all of a few.
- Receiver: the maximum-ratio-combined symbols of every transmission and their post-combining
  SNR go through a transformer channel decoder; each position's output is projected into
  MiniLM's word-embedding space and scored against all 30,522 WordPiece embeddings (an output
  layer tied to the encoder's own vocabulary, eq 21). The receiver knows T from the burst, so
  the decoder is per position (no autoregression): position i of the decode is token i of the
  sentence, which is what lets the text difference name a token by its position.
- Text difference (``m3e.codecs.text_difference``): the sender decodes its own clean symbols and
  sends, as CRC + LDPC + QPSK, the tokens that decode wrong, the casing and spacing, and a 24-bit
  check of the exact sentence. The receiver applies it, and while the check fails it tries
  other likely tokens, cheapest swaps first (list decoding with the check as judge).
- A retransmission (HARQ IR): the semantic symbols already said what they can, so a copy of
  them adds little at low SNR (a 0 dB Rayleigh sentence reached ξ 0.67 after three). A
  retransmission instead carries the exact sentence digitally: Huffman-coded (the baseline's
  code), CRC + LDPC 1/3 + QPSK, the next redundancy version each time, so the receiver's soft
  buffer gains new parity with every copy and the sentence arrives exactly once it decodes.
- ξ̂ without the original (``SentenceReceiver``): 1 when the check matches; otherwise a logistic
  fit of the decoder's confidence, the channel's quality as received (mean log(1 + SNR)) and a
  fingerprint of the sentence embedding B(s): its projection on 144 fixed random orthonormal
  directions, sent *analog* as 72 complex symbols spread over the semantic symbols. The
  receiver projects the embedding of its own decode the same way; their cosine estimates ξ
  (eq 9). Calibrated on natural held-out sentences.

Shapes: token states (B, T, 384); symbols (B, T, k) complex64; logits (B, T, 30522).
One sentence on air (``SentenceBurst``): T·k + 72 semantic and check symbols with the
difference's QPSK symbols spread evenly among them (``difference_positions``), before pilots;
a retransmission: the Huffman-coded sentence's LDPC 1/3 QPSK symbols at its redundancy version,
before pilots.
"""

from __future__ import annotations

import dataclasses
import functools
import heapq
import itertools
import json
import math
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import numpy.typing as npt
import torch
from torch import nn

from m3e.codecs.text import Huffman
from m3e.codecs.text_difference import MAX_BYTES, MIN_BYTES, TextDifference, detokenize, sentence_check
from m3e.loading import announce
from m3e.phy.harq import redundancy_version
from m3e.phy.link import PayloadReceiver, TransportCoder

if TYPE_CHECKING:
    from m3e.semantics.similarity import SentenceEncoder

WEIGHTS = Path(__file__).parent / "weights" / "semantic_text.pt"
DETECTOR = WEIGHTS.with_name("semantic_text_detector.json")
CHECK_SYMBOLS = 72  # the fingerprint: 144 real projections of B(s), two a complex symbol
MAX_SENTENCE_BYTES = 1024  # a retransmission's header claims at most this (48 tokens need ~250)
# list decoding: at most this many candidate decodes from each position's 4 most likely tokens
# (a 2⁻²⁴ false match each; docs/text_link.md)
LIST_SIZE, LIST_ALTERNATIVES = 8192, 4
# the fingerprint's fixed random orthonormal directions (384, 144), the same at both ends
_gaussian = np.random.default_rng(2026).standard_normal((384, 2 * CHECK_SYMBOLS))
FINGERPRINT_PROJECTION = np.linalg.qr(_gaussian)[0].astype(np.float32)


@dataclass(frozen=True)
class TextLinkConfig:
    symbols_per_token: int = 8
    d_model: int = 256
    heads: int = 4
    layers: int = 4
    max_tokens: int = 48


class SemanticTextCodec(nn.Module):
    """C_β + channel decoder + open-vocabulary token decoder. ``word_embeddings`` (V, 384) are
    MiniLM's, frozen and not stored with the weights."""

    word_embeddings: torch.Tensor

    def __init__(self, word_embeddings: torch.Tensor, config: TextLinkConfig = TextLinkConfig()) -> None:
        super().__init__()
        c = self.config = config
        k = c.symbols_per_token
        self.register_buffer("word_embeddings", word_embeddings.detach().float(), persistent=False)
        self.channel_encoder = nn.Sequential(
            nn.Linear(768, c.d_model), nn.GELU(), nn.Linear(c.d_model, 2 * k)
        )
        self.channel_decoder_in = nn.Linear(3 * k, c.d_model)
        self.position = nn.Embedding(c.max_tokens, c.d_model)
        layer = nn.TransformerEncoderLayer(
            c.d_model, c.heads, 4 * c.d_model, 0.1, batch_first=True, norm_first=True
        )
        self.channel_decoder = nn.TransformerEncoder(layer, c.layers, enable_nested_tensor=False)
        self.to_embedding = nn.Sequential(nn.LayerNorm(c.d_model), nn.Linear(c.d_model, 384))
        self.out_bias = nn.Parameter(torch.zeros(word_embeddings.shape[0]))

    # ---- sender
    def symbols(self, states: torch.Tensor, ids: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        """(B, T, 384) token states, (B, T) WordPiece ids, (B, T) bool mask -> (B, T, k) complex,
        unit average power over the symbols of each sentence (padding is not sent)."""
        z = self.channel_encoder(torch.cat([states, self.word_embeddings[ids]], -1))
        x = torch.view_as_complex(z.reshape(*z.shape[:-1], -1, 2).float().contiguous()) * mask[..., None]
        n_used = (mask.sum(1) * x.shape[-1]).clamp(min=1)
        power = (x.abs() ** 2).sum((1, 2)) / n_used
        return x / torch.sqrt(power + 1e-12)[:, None, None]

    # ---- receiver
    def embeddings(self, y: torch.Tensor, snr: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        """Equalised symbols (B, T, k) complex and their SNR (B, T, k) -> (B, T, 384): each
        position's estimate in the word-embedding space."""
        feats = torch.cat([torch.view_as_real(y).flatten(-2), torch.log1p(snr)], dim=-1)
        h = self.channel_decoder_in(feats) + self.position(torch.arange(y.shape[1], device=y.device))
        return self.to_embedding(self.channel_decoder(h, src_key_padding_mask=~mask))

    def logits(self, y: torch.Tensor, snr: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        """-> (B, T, V) token logits over the whole WordPiece vocabulary (eq 21)."""
        return self.embeddings(y, snr, mask) @ self.word_embeddings.T + self.out_bias


def interleave(x: torch.Tensor) -> torch.Tensor:
    """(B, T, k) -> (B, k·T) in the order they go on air: symbol j of every token, then j + 1, so
    a token's k symbols lie T apart and a deep fade spreads over many tokens."""
    return x.transpose(1, 2).reshape(x.shape[0], -1)


def deinterleave(flat: torch.Tensor, n_tokens: int) -> torch.Tensor:
    """(B, k·T) on-air order -> (B, T, k), the inverse of ``interleave``."""
    return flat.reshape(flat.shape[0], -1, n_tokens).transpose(1, 2)


def mmse_combine(
    ys: list[torch.Tensor], hs: list[torch.Tensor], no: torch.Tensor
) -> tuple[torch.Tensor, torch.Tensor]:
    """Maximum-ratio combining of transmissions y_i = h_i x + w_i: x̂ = Σ h_i* y_i / Σ|h_i|²,
    post-combining SNR Σ|h_i|²/no. Shapes (B, T, k); no (B, 1, 1)."""
    num = torch.stack([torch.conj(h) * y for y, h in zip(ys, hs, strict=True)]).sum(0)
    gain = torch.stack([h.abs() ** 2 for h in hs]).sum(0)
    return num / gain.clamp(min=1e-9), gain / no


def token_states(
    encoder: SentenceEncoder, sentences: list[str], max_tokens: int
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """B_α without [CLS]/[SEP]: MiniLM last hidden states (B, T, 384), WordPiece ids (B, T) and
    mask (B, T) bool, at most ``max_tokens`` tokens a sentence."""
    with encoder.lock, torch.no_grad():
        batch = encoder.tokenizer(
            sentences, padding=True, truncation=True, max_length=max_tokens + 2, return_tensors="pt"
        ).to(encoder.model.device)
        states = encoder.model(**batch).last_hidden_state
    ids, mask = batch["input_ids"], batch["attention_mask"].bool()
    mask[:, 0] = False
    mask[torch.arange(len(sentences), device=mask.device), mask.sum(1)] = False  # [SEP] ([CLS] + T + [SEP])
    return states[:, 1:-1], ids[:, 1:-1] * mask[:, 1:-1], mask[:, 1:-1]


class TextLink:
    """The inference wrapper (tokenisation, the frozen MiniLM B_α, the codec) that the sender,
    the receiver, tests and benchmarks use: sentences -> bursts, received symbols -> sentences."""

    def __init__(self, codec: SemanticTextCodec | None = None) -> None:
        from m3e.semantics.similarity import sentence_encoder

        self.encoder = sentence_encoder()
        self.codec = (codec or load_codec()).eval()
        # CRC-16 is enough for the difference: it carries the 24-bit sentence check besides
        self.difference_coder = TransportCoder("qpsk", 1 / 2, crc="crc16")
        # retransmissions: the Huffman-coded sentence, HARQ IR
        self.sentence_coder = TransportCoder("qpsk", 1 / 3)
        self.sentence_code = Huffman()

    @property
    def k(self) -> int:
        return self.codec.config.symbols_per_token

    def encode(self, sentences: list[str]) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """-> symbols (B, T, k) complex, ids (B, T) and mask (B, T): the semantic symbols."""
        states, ids, mask = token_states(self.encoder, sentences, self.codec.config.max_tokens)
        with torch.no_grad():
            return self.codec.symbols(states, ids, mask), ids, mask

    def log_probs(self, y: torch.Tensor, snr: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        """Combined symbols and SNR (B, T, k), mask (B, T) -> (B, T, V) log-probabilities."""
        with torch.no_grad():
            return torch.log_softmax(self.codec.logits(y, snr, mask), -1)

    def best_tokens(self, y: torch.Tensor, snr: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        """Combined symbols and SNR (B, T, k), mask (B, T) -> (B, T) most likely WordPiece ids,
        scored 1,024 tokens at a time (all logits of a large batch would not fit in memory)."""
        with torch.no_grad():
            e = self.codec.embeddings(y, snr, mask)[mask]
            best = torch.zeros(mask.shape, dtype=torch.long)
            if e.shape[0]:
                emb, bias = self.codec.word_embeddings, self.codec.out_bias
                best[mask] = torch.cat([(c @ emb.T + bias).argmax(-1) for c in e.split(1024)])
            return best

    def text(self, ids: list[int]) -> str:
        """WordPiece ids -> lower-case text with English spacing (the base of the difference)."""
        return detokenize(list(self.encoder.tokenizer.convert_ids_to_tokens(ids)))

    def encode_bursts(self, sentences: list[str]) -> list[SentenceBurst]:
        """What goes on air for each sentence: its T·k semantic symbols with the fingerprint
        spread among them, then its text difference (computed by decoding the clean symbols)."""
        states, ids, mask = token_states(self.encoder, sentences, self.codec.config.max_tokens)
        with torch.no_grad():
            x = self.codec.symbols(states, ids, mask)
            clean = self.best_tokens(x, torch.full(x.shape, 1e4), mask)
        pooled = self.encoder(sentences)  # B(s), as in m3e.semantics.similarity
        bursts = []
        for b, sentence in enumerate(sentences):
            t = int(mask[b].sum())
            true_ids = ids[b, :t].tolist()
            diff = TextDifference.between(sentence, true_ids, clean[b, :t].tolist(), self.text(true_ids))
            payload = diff.to_bytes()
            difference = self.difference_coder.encode(payload)
            at_difference, at_check = burst_layout(t, self.k, difference.shape[0])
            symbols = np.empty(at_difference.shape[0], np.complex64)
            symbols[at_difference] = difference
            symbols[at_check] = fingerprint(pooled[b])
            symbols[~at_difference & ~at_check] = interleave(x[b : b + 1, :t])[0].numpy()
            bursts.append(SentenceBurst(symbols, t, len(payload), self.sentence_code.encode(sentence)))
        return bursts

    def again(self, burst: SentenceBurst, attempt: int) -> npt.NDArray[np.complex64]:
        """Retransmission ``attempt`` (≥ 1) of a sentence: its Huffman-coded text at redundancy
        version ``sentence_rv(attempt)``, (n,) complex64 before pilots."""
        return self.sentence_coder.encode(burst.sentence, sentence_rv(attempt))

    def tokens_in_burst(self, n_data: int, difference_bytes: int) -> int:
        """T from a burst's data symbols and its difference's size; ValueError when no sentence fits."""
        sized = MIN_BYTES <= difference_bytes <= MAX_BYTES
        n_diff = self.difference_coder.n_symbols(difference_bytes) if sized else 0
        t, rest = divmod(n_data - n_diff - CHECK_SYMBOLS, self.k)
        if not sized or rest or not 1 <= t <= self.codec.config.max_tokens:
            raise ValueError(
                f"{n_data} symbols with a {difference_bytes}-byte difference are not a sentence burst "
                f"({CHECK_SYMBOLS} + {self.k}·T + difference, 1 ≤ T ≤ {self.codec.config.max_tokens})"
            )
        return t

    def receiver(
        self, n_tokens: int | None = None, difference_bytes: int = 0, detector: TextDetector | None = None
    ) -> SentenceReceiver:
        """A sentence's receiver; without ``n_tokens`` (its first transmission was lost) it
        takes retransmissions until ``start`` is called."""
        rx = SentenceReceiver(self, detector or load_detector())
        if n_tokens is not None:
            rx.start(n_tokens, difference_bytes)
        return rx


def sentence_rv(attempt: int) -> int:
    """The redundancy version of retransmission ``attempt`` (≥ 1): the coded sentence's first
    copy is its rv 0 (the systematic bits; rv 2 alone, all but punctured ones, failed a tenth of
    the time at 20 dB Rayleigh), then IR's usual 2, 3, 1."""
    return redundancy_version("ir", attempt - 1)


@dataclass(frozen=True)
class SentenceBurst:
    """One sentence on air: (T·k + 72 + difference,) complex64 symbols before pilots, T WordPiece
    tokens, and the size of its text difference in bytes (which the burst header carries)."""

    symbols: npt.NDArray[np.complex64]
    n_tokens: int
    difference_bytes: int
    sentence: bytes  # the exact sentence, Huffman-coded: what retransmissions carry (``again``)


def fingerprint(
    embedding: npt.NDArray[np.float32], projection: npt.NDArray[np.float32] = FINGERPRINT_PROJECTION
) -> npt.NDArray[np.complex64]:
    """(..., 384) sentence embeddings B(s) -> (..., 72) complex64 of unit average power: their
    projections on 144 fixed random orthonormal directions (``projection``, (384, 144)), two a
    symbol. The cosine of two sentences' projections estimates their ξ (eq 9); with 64
    projections its error was 0.06 (standard deviation near ξ = 0.6 on natural sentences), with
    their 64 sign bits (SimHash, the link's fingerprint until 2026-12-04) 0.09. Channel noise
    adds more at low SNR, which is why the fingerprint has 72 symbols and not 32
    (docs/text_link.md, ``bench.fingerprint_study``)."""
    p = embedding @ projection
    z = p[..., 0::2] + 1j * p[..., 1::2]
    norm = np.maximum(np.linalg.norm(p, axis=-1, keepdims=True), 1e-9)
    return (z * np.sqrt(z.shape[-1]) / norm).astype(np.complex64)


def fingerprint_xi(
    received: npt.NDArray[np.complexfloating],
    snr: npt.NDArray[np.floating],
    mine: npt.NDArray[np.complexfloating],
) -> float:
    """ξ estimated from the received fingerprint (72,) (equalised, ``snr`` its per-symbol SNR
    after combining) and the fingerprint of the receiver's own decode (72,): their cosine, each
    symbol weighted by its reliability snr / (1 + snr) so that one lost in a fade barely counts.
    Both have unit average power, so the weighted correlation needs no noisy norm of the
    received one. In [−1, 1]."""
    w = snr / (1.0 + snr)
    num = float(np.sum(w * np.real(np.conj(mine) * received)))
    den = float(np.sum(w * np.abs(mine) ** 2))
    return float(np.clip(num / max(den, 1e-9), -1.0, 1.0))


def check_positions(n_tokens: int, symbols_per_token: int) -> npt.NDArray[np.intp]:
    """Where the 72 fingerprint symbols sit among the T·k + 72: evenly spread, so one deep fade
    cannot take them all."""
    n = n_tokens * symbols_per_token + CHECK_SYMBOLS
    return np.floor((np.arange(CHECK_SYMBOLS) + 0.5) * n / CHECK_SYMBOLS).astype(np.intp)


def difference_positions(n_semantic: int, n_difference: int) -> npt.NDArray[np.intp]:
    """Where the text difference's symbols sit in a burst of n_semantic + n_difference: evenly
    spread over the whole burst, so that its code sees every fade the sentence does (appended,
    it saw one or two, and one deep fade lost it)."""
    n = n_semantic + n_difference
    return np.floor((np.arange(n_difference) + 0.5) * n / max(n_difference, 1)).astype(np.intp)


def burst_layout(
    n_tokens: int, symbols_per_token: int, n_difference: int
) -> tuple[npt.NDArray[np.bool_], npt.NDArray[np.bool_]]:
    """Where a first transmission's symbols sit, as (n,) masks over its T·k + 72 + n_difference
    symbols: the text difference's (``difference_positions``) and the fingerprint's
    (``check_positions`` among the rest); the semantic symbols fill what is left, in order."""
    n_semantic = n_tokens * symbols_per_token + CHECK_SYMBOLS
    at_difference = _mask(n_semantic + n_difference, difference_positions(n_semantic, n_difference))
    at_check = np.zeros_like(at_difference)
    at_check[np.flatnonzero(~at_difference)[check_positions(n_tokens, symbols_per_token)]] = True
    return at_difference, at_check


def _mask(n: int, where: npt.NDArray[np.intp]) -> npt.NDArray[np.bool_]:
    m = np.zeros(n, bool)
    m[where] = True
    return m


# what ξ̂ weighs: c the decoder's confidence, f the fingerprint's ξ, q = mean log(1 + SNR) of the
# sentence's symbols as received; f·q and c·q because both grow more trustworthy as q grows
DETECTOR_FEATURES = ("1", "c", "f", "q", "f*q", "c*q")


def detector_features(confidence: float, fingerprint_xi: float, log_snr: float) -> npt.NDArray[np.float64]:
    """(6,) the features of ``DETECTOR_FEATURES``."""
    c, f, q = confidence, fingerprint_xi, log_snr
    return np.array([1.0, c, f, q, f * q, c * q])


@dataclass(frozen=True)
class TextDetector:
    """ξ̂ = σ(w · detector_features(...)) when the sentence check fails: a logistic fit to the
    true ξ on natural held-out sentences, its bias shifted so that ξ̂ < 0.6 catches the
    calibrated share of the damaged ones (see calibrate_text_detector)."""

    weights: tuple[float, ...] = (-2.0, 2.0, 5.0, 0.0, 0.0, 0.0)

    def xi_hat(self, confidence: float, fingerprint_xi: float, log_snr: float) -> float:
        z = float(np.dot(self.weights, detector_features(confidence, fingerprint_xi, log_snr)))
        return float(1.0 / (1.0 + math.exp(-min(max(z, -50.0), 50.0))))


@functools.cache
def load_detector(path: Path = DETECTOR) -> TextDetector:
    if not path.exists():
        return TextDetector()
    blob = json.loads(path.read_text())
    if tuple(blob.get("features", ())) != DETECTOR_FEATURES:
        raise ValueError(f"{path} weighs other features than {DETECTOR_FEATURES}: recalibrate it")
    return TextDetector(tuple(blob["weights"]))


@dataclass(frozen=True)
class SentenceEstimate:
    """The receiver's view of one sentence after some transmissions."""

    text: str
    xi_hat: float
    confidence: float  # the decoder's mean token log-probability
    fingerprint_xi: float  # ξ estimated from the received fingerprint (``fingerprint_xi``)
    log_snr: float  # mean log(1 + SNR) of the semantic symbols after combining
    transmissions: int
    exact: bool = False  # the sentence check matched: this is the sentence that was sent

    def wants_again(self, xi_threshold: float = 0.6, until_exact: bool = True) -> bool:
        """Whether the receiver asks for the sentence again (while retransmissions remain): ξ̂
        is below ``xi_threshold`` (its meaning may be lost), or, ``until_exact``, the check
        failed: a name or a number can be wrong while ξ̂ stays high, and one more copy,
        combined, often makes the text difference decode."""
        return self.xi_hat < xi_threshold or (until_exact and not self.exact)


class SentenceReceiver:
    """Decodes one sentence from what it has so far: the first transmission's semantic symbols
    (equalised with the channel-estimation error counted as noise) and text difference, and the
    retransmissions' redundancy versions of the coded sentence (IR combining)."""

    def __init__(self, link: TextLink, detector: TextDetector) -> None:
        self.link, self.detector = link, detector
        self.n_tokens: int | None = None
        self.n_symbols = 0
        self.difference: TextDifference | None = None
        self.transmissions = 0
        self.latest: SentenceEstimate | None = None
        self._sentence_rx: PayloadReceiver | None = None

    def start(self, n_tokens: int, difference_bytes: int) -> None:
        """Size the receiver for the first transmission: T tokens and the difference's bytes."""
        self.n_tokens = n_tokens
        link, k = self.link, self.link.k
        n_semantic = n_tokens * k + CHECK_SYMBOLS
        self._difference_at = burst_layout(n_tokens, k, link.difference_coder.n_symbols(difference_bytes))[0]
        self.n_symbols = self._difference_at.shape[0]
        self.check_at = check_positions(n_tokens, k)
        self._data = ~_mask(n_semantic, self.check_at)
        self._num = np.zeros(n_semantic, np.complex128)
        self._gain = np.zeros(n_semantic, np.float64)
        self._difference_rx = link.difference_coder.receiver(difference_bytes)

    def receive(
        self, y: npt.NDArray[np.complex64], h: npt.ArrayLike, noise: npt.ArrayLike
    ) -> SentenceEstimate:
        """The first transmission. y, h, noise: (T·k + 72 + difference,) data symbols, channel
        estimate, noise (+ error)."""
        if self.n_tokens is None:
            raise ValueError("start() the receiver with the sentence's size first")
        if y.shape != (self.n_symbols,):
            raise ValueError(f"{y.shape[0]} symbols for a {self.n_tokens}-token sentence ({self.n_symbols})")
        if self.latest is not None and self.latest.exact:  # a retransmission got there first
            return self.latest
        h, noise = np.broadcast_to(h, y.shape), np.broadcast_to(noise, y.shape)
        d, s = self._difference_at, ~self._difference_at
        self._num += np.conj(h[s]) * y[s] / noise[s]
        self._gain += np.abs(h[s]) ** 2 / noise[s]
        self.transmissions += 1
        if self.difference is None:
            payload = self._difference_rx.receive(y[d], noise[d], h[d])
            if payload is not None:
                try:
                    self.difference = TextDifference.from_bytes(payload)
                except ValueError:
                    pass  # passed its CRC yet malformed: decode without it
        gain = np.maximum(self._gain, 1e-9)
        x_hat = self._num / gain
        t = self.n_tokens
        logp = self.link.log_probs(
            deinterleave(torch.from_numpy(x_hat[self._data].astype(np.complex64))[None], t),
            deinterleave(torch.from_numpy(gain[self._data].astype(np.float32))[None], t),
            torch.ones(1, t, dtype=torch.bool),
        )[0]
        text, confidence, exact = self._decode(logp)
        mine = fingerprint(self.link.encoder([text])[0])
        fp_xi = fingerprint_xi(x_hat[self.check_at], gain[self.check_at], mine)
        log_snr = float(np.mean(np.log1p(gain[self._data])))
        xi_hat = 1.0 if exact else self.detector.xi_hat(confidence, fp_xi, log_snr)
        self.latest = SentenceEstimate(text, xi_hat, confidence, fp_xi, log_snr, self.transmissions, exact)
        return self.latest

    def receive_again(
        self,
        y: npt.NDArray[np.complex64],
        h: npt.ArrayLike,
        noise: npt.ArrayLike,
        rv: int,
        sentence_bytes: int,
    ) -> SentenceEstimate:
        """A retransmission: y, h, noise (n,) data symbols of the coded sentence's redundancy
        version ``rv``; ``sentence_bytes`` its size (the burst header's payload_bytes). The
        sentence once it decodes (exact, ξ̂ = 1), else the best estimate so far."""
        if not 1 <= sentence_bytes <= MAX_SENTENCE_BYTES:
            raise ValueError(f"a retransmitted sentence of {sentence_bytes} bytes (1…{MAX_SENTENCE_BYTES})")
        if self._sentence_rx is None or self._sentence_rx.plan.n_bytes != sentence_bytes:
            self._sentence_rx = self.link.sentence_coder.receiver(sentence_bytes)
        payload = self._sentence_rx.receive(y, noise, h, rv)
        self.transmissions += 1
        if payload is not None:
            text = self.link.sentence_code.decode(payload)
            self.latest = SentenceEstimate(text, 1.0, 0.0, 1.0, 0.0, self.transmissions, exact=True)
        elif self.latest is None:
            self.latest = SentenceEstimate("", 0.0, -math.inf, 0.0, 0.0, self.transmissions)
        else:
            self.latest = dataclasses.replace(self.latest, transmissions=self.transmissions)
        return self.latest

    def _decode(self, logp: torch.Tensor) -> tuple[str, float, bool]:
        """(T, V) log-probabilities -> (text, mean log-probability of the chosen tokens, exact).
        With the difference: its corrections, then list decoding judged by its sentence check."""
        top = logp.topk(LIST_ALTERNATIVES, -1)
        best = top.indices[:, 0].tolist()
        confidence = float(top.values[:, 0].mean())
        diff = self.difference
        if diff is None:
            return self.link.text(best), confidence, False
        fixed = {p: tok for p, tok in diff.corrections if p < len(best)}
        best = [fixed.get(i, tok) for i, tok in enumerate(best)]
        values, tokens = top.values.tolist(), top.indices.tolist()
        swaps = sorted(
            (values[i][0] - values[i][r], i, tokens[i][r])
            for i in range(len(best))
            if i not in fixed
            for r in range(1, LIST_ALTERNATIVES)
        )
        for chosen in itertools.islice(cheapest_swaps(swaps), LIST_SIZE):
            ids = list(best)
            for _, i, tok in chosen:
                ids[i] = tok
            text = diff.apply_text(self.link.text(ids))
            if sentence_check(text) == diff.check:
                return text, confidence, True
        return diff.apply_text(self.link.text(best)), confidence, False


def cheapest_swaps(swaps: list[tuple[float, int, int]]) -> Iterator[tuple[tuple[float, int, int], ...]]:
    """Sets of token swaps in increasing total cost, at most one per position, the empty set
    first. ``swaps``: (cost ≥ 0, position, token) sorted by cost, cost = the log-probability
    lost against the position's best token. Each heap entry is a set of swap indices; its two
    successors move the last index on by one or add the next, so every set of indices is
    reached exactly once and in order (the usual k-best-subset-sums walk)."""
    yield ()
    heap: list[tuple[float, tuple[int, ...]]] = [(swaps[0][0], (0,))] if swaps else []
    while heap:
        cost, chosen = heapq.heappop(heap)
        last = chosen[-1]
        if last + 1 < len(swaps):
            step = swaps[last + 1][0]
            heapq.heappush(heap, (cost + step, (*chosen, last + 1)))
            heapq.heappush(heap, (cost - swaps[last][0] + step, (*chosen[:-1], last + 1)))
        positions = {swaps[i][1] for i in chosen}
        if len(positions) == len(chosen):
            yield tuple(swaps[i] for i in chosen)


@functools.cache
@announce("the semantic text codec")
def load_codec(path: Path = WEIGHTS) -> SemanticTextCodec:
    from m3e.semantics.similarity import sentence_encoder

    blob = torch.load(path, map_location="cpu", weights_only=True)
    embeddings = sentence_encoder().model.embeddings.word_embeddings.weight
    codec = SemanticTextCodec(embeddings, TextLinkConfig(**blob["config"]))
    codec.load_state_dict({k: v.float() for k, v in blob["state"].items()})
    return codec.eval()
