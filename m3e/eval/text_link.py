"""Text through the channel (paper Fig. 5, traditional arms): sentences coded by a text codec,
then CRC + 5G LDPC + QAM, one transmission through AWGN or Rayleigh fading; the receiver
decodes what it got (damaged blocks included) and ξ (eq 9) scores the meaning that arrived."""

from __future__ import annotations

from typing import Any

import numpy as np

from m3e.codecs.text import text_codec
from m3e.phy.channels import BlockFadingChannel
from m3e.phy.estimation import PilotLayout
from m3e.phy.link import TransportCoder
from m3e.semantics.similarity import SentenceEncoder, sentence_encoder, xi

SENTENCES = (
    "a cat is sitting on a sofa",
    'a person is speaking: "The astronaut is talking about the mission to the moon."',
    "a cup and a phone is ringing",
    "a motorcycle",
    "a drilling rig and a rocket",
    "a dog is barking and a car is driving",
    'a person is speaking: "Please send the pictures of the rocket to the team."',
    "an airplane is flying over a train",
)


def transmit(
    sentences: tuple[str, ...] | list[str],
    scheme: str,
    snr_db: float,
    fading: str = "awgn",
    modulation: str = "16qam",
    rate: float = 0.75,
    seed: int = 0,
) -> tuple[list[str], int]:
    """Decoded sentences and the channel symbols spent on them."""
    codec = text_codec(scheme)
    pilots = PilotLayout(64, 4) if fading != "awgn" else None
    coder = TransportCoder(modulation, rate, pilots=pilots)
    channel = BlockFadingChannel(fading, coherence=64, seed=seed)
    decoded, symbols = [], 0
    for s in sentences:
        payload = codec.encode(s)
        x = coder.encode(payload)
        out = channel(x, snr_db)
        rx = coder.receiver(len(payload))
        rx.receive(out.y, out.no, None if pilots else out.h)
        decoded.append(codec.decode(rx.best_effort()))
        symbols += x.shape[0]
    return decoded, symbols


def xi_curve(
    sentences: list[str],
    scheme: str,
    modulation: str,
    snrs: list[float],
    fading: str = "awgn",
    repeats: int = 2,
    encoder: SentenceEncoder | None = None,
) -> list[dict[str, Any]]:
    """Mean ξ and symbols per sentence of a text codec + LDPC 3/4 + ``modulation`` at every SNR."""
    enc = encoder or sentence_encoder()
    rows = []
    for snr in snrs:
        scores, symbols = [], 0
        for r in range(repeats):
            decoded, n = transmit(sentences, scheme, snr, fading, modulation=modulation, seed=r)
            scores.extend(xi(sentences, decoded, enc).tolist())
            symbols += n
        rows.append(
            {
                "scheme": f"{scheme}-{modulation}",
                "channel": fading,
                "snr_db": snr,
                "xi": float(np.mean(scores)),
                "retransmissions": 0,
                "symbols_per_sentence": symbols / (repeats * len(sentences)),
            }
        )
    return rows


def held_out_sentences(n: int = 64, seed: int = 0) -> list[str]:
    """A fixed sample of the semantic link's held-out split (never trained on)."""
    import random

    from m3e.semantics.corpus import corpus, split

    _, test = split(corpus())
    return random.Random(seed).sample(test, n)


def transmit_semantic(
    sentences: list[str],
    snr_db: float,
    fading: str = "awgn",
    link: Any = None,
    max_retransmissions: int = 0,
    threshold: float | None = None,
    seed: int = 0,
) -> dict[str, Any]:
    """The semantic link through the same channel as the baselines (pilots 4/64, LMMSE, block
    fading of 64 symbols). A sentence is sent again, and the transmissions are combined, while
    the receiver's confidence is below ``threshold`` (ξ̂ < 0.6), at most ``max_retransmissions``
    times. Returns decoded sentences, confidence of the first decode, symbols per sentence and
    retransmissions per sentence."""
    import torch

    from m3e.codecs.semantic_text import TextLink
    from m3e.phy.estimation import estimate_channel

    link = link or TextLink()
    x, mask = link.encode(sentences)
    layout = PilotLayout(64, 4)
    channel = BlockFadingChannel(fading, coherence=64, seed=seed)
    decoded, first_conf, symbols, retx = [], [], 0, 0
    for b in range(len(sentences)):
        sent = x[b][mask[b]].reshape(-1).numpy()  # the T·k symbols of this sentence
        num = np.zeros(sent.shape, np.complex64)
        gain = np.zeros(sent.shape, np.float32)
        for attempt in range(max_retransmissions + 1):
            out = channel(layout.insert(sent), snr_db)
            y, h_hat, err = estimate_channel(out.y, layout, out.no)
            noise = out.no + err  # noise plus channel-estimation error, per symbol
            num += np.conj(h_hat) * y / noise  # maximum-ratio combining of all transmissions
            gain += (np.abs(h_hat) ** 2 / noise).astype(np.float32)
            symbols += out.y.shape[0]
            t, k = int(mask[b].sum()), x.shape[-1]
            y_eq = torch.from_numpy(num / np.maximum(gain, 1e-9)).reshape(1, t, k)
            text, conf = link.decode(y_eq, torch.from_numpy(gain).reshape(1, t, k), mask[b : b + 1, :t])
            if attempt == 0:
                first_conf.append(float(conf[0]))
            if threshold is None or conf[0] >= threshold or attempt == max_retransmissions:
                break
            retx += 1
        decoded.append(text[0])
    n = len(sentences)
    return {
        "decoded": decoded,
        "confidence": first_conf,
        "symbols_per_sentence": symbols / n,
        "retransmissions_per_sentence": retx / n,
    }
