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
    schemes: list[str],
    snrs: list[float],
    fading: str = "awgn",
    repeats: int = 3,
    encoder: SentenceEncoder | None = None,
    modulation: str = "16qam",
) -> list[dict[str, Any]]:
    """Mean ξ and symbols per sentence for every (scheme, SNR)."""
    enc = encoder or sentence_encoder()
    rows = []
    for scheme in schemes:
        for snr in snrs:
            scores, symbols = [], 0
            for r in range(repeats):
                decoded, n = transmit(SENTENCES, scheme, snr, fading, modulation=modulation, seed=r)
                scores.extend(xi(list(SENTENCES), decoded, enc).tolist())
                symbols += n
            rows.append(
                {
                    "scheme": scheme,
                    "snr_db": snr,
                    "channel": fading,
                    "xi": float(np.mean(scores)),
                    "symbols_per_sentence": symbols / (repeats * len(SENTENCES)),
                }
            )
    return rows
