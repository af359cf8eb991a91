"""Text through the channel (paper Fig. 5, traditional arms): sentences coded by a text codec,
then CRC + 5G LDPC + QAM, one transmission through AWGN or Rayleigh fading; the receiver
decodes what it got (damaged blocks included) and ξ (eq 9) scores the meaning that arrived."""

from __future__ import annotations

import re
from typing import Any

import numpy as np

from m3e.codecs.text import text_codec
from m3e.eval.metrics import word_error_rate
from m3e.phy.channels import BlockFadingChannel
from m3e.phy.estimation import PilotLayout
from m3e.phy.link import TransportCoder
from m3e.semantics.english import names_and_numbers
from m3e.semantics.similarity import SentenceEncoder, sentence_encoder, xi

SENTENCES = (  # the fusion's forms, for quick checks
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


def text_scores(
    sentences: list[str], decoded: list[str], encoder: SentenceEncoder | None = None
) -> dict[str, Any]:
    """Per set: mean ξ (eq 9), exact-sentence rate, mean word error rate, and the share of names
    and numbers kept (found, case-insensitively, in the decoded sentence)."""
    # an exact decode has ξ = 1: only the others need the encoder
    scores = np.ones(len(sentences), np.float32)
    differ = [i for i, (s, d) in enumerate(zip(sentences, decoded, strict=True)) if s != d]
    if differ:
        scores[differ] = xi([sentences[i] for i in differ], [decoded[i] for i in differ], encoder)
    wanted = kept = 0
    for s, d in zip(sentences, decoded, strict=True):
        have = d.lower()
        for w in names_and_numbers(s):
            wanted += 1
            kept += bool(re.search(rf"(?<![\w]){re.escape(w)}(?![\w])", have))
    return {
        "xi": float(np.mean(scores)),
        "exact": float(np.mean([s == d for s, d in zip(sentences, decoded, strict=True)])),
        "wer": float(np.mean([word_error_rate(s, d) for s, d in zip(sentences, decoded, strict=True)])),
        "names_numbers_kept": kept / wanted if wanted else 1.0,
    }


def xi_curve(
    sentences: list[str],
    scheme: str,
    modulation: str,
    snrs: list[float],
    fading: str = "awgn",
    repeats: int = 2,
    encoder: SentenceEncoder | None = None,
) -> list[dict[str, Any]]:
    """ξ, exactness, WER, names kept and symbols per sentence of a text codec + LDPC 3/4 +
    ``modulation`` at every SNR (one transmission: the baselines have no receiver-side judge)."""
    enc = encoder or sentence_encoder()
    rows = []
    for snr in snrs:
        sent, got, symbols = [], [], 0
        for r in range(repeats):
            decoded, n = transmit(sentences, scheme, snr, fading, modulation=modulation, seed=r)
            sent += list(sentences)
            got += decoded
            symbols += n
        scores = text_scores(sent, got, enc)
        rows.append(
            {
                "scheme": f"{scheme}-{modulation}",
                "channel": fading,
                "snr_db": snr,
                **scores,
                "retransmissions": 0,
                "symbols_per_sentence": symbols / (repeats * len(sentences)),
            }
        )
    return rows


def held_out_sentences(n: int = 64, seed: int = 0, part: str = "eval") -> list[str]:
    """A fixed sample of the natural held-out sentences (``m3e.semantics.english``: never trained
    on, never tuned on): ``part="eval"`` the evaluation set, ``"calibration"`` the one the
    receiver's ξ̂ is fitted on."""
    import random

    from m3e.semantics.english import held_out_set

    pool = held_out_set("test" if part == "eval" else "calibration")
    return random.Random(seed).sample(pool, min(n, len(pool)))


def templated_sentences(n: int = 64, seed: int = 0) -> list[str]:
    """The fusion's own forms (``m3e.semantics.corpus``'s held-out split): the second row."""
    import random

    from m3e.semantics.corpus import corpus, split

    _, test = split(corpus())
    return random.Random(seed).sample(test, n)


def detector_samples(
    sentences: list[str], link: Any = None, snrs: tuple[float, ...] = (0.0, 2.5, 5.0, 7.5, 10.0)
) -> dict[str, Any]:
    """Single transmissions at 0…10 dB over AWGN and Rayleigh: the receiver's fingerprint
    estimate, confidence, channel quality and ξ̂ with the true ξ of each decoded sentence."""
    from m3e.codecs.semantic_text import TextLink

    link = link or TextLink()
    rows: dict[str, list[float]] = {
        "fingerprint_xi": [],
        "confidence": [],
        "log_snr": [],
        "xi_hat": [],
        "xi": [],
        "exact": [],
    }
    for fading in ("awgn", "rayleigh"):
        for snr in snrs:
            res = transmit_semantic(sentences, snr, fading, link, seed=int(snr * 10) + 7)
            rows["fingerprint_xi"] += [e.fingerprint_xi for e in res["first"]]
            rows["confidence"] += [e.confidence for e in res["first"]]
            rows["log_snr"] += [e.log_snr for e in res["first"]]
            rows["xi_hat"] += [e.xi_hat for e in res["first"]]
            rows["exact"] += [float(e.exact) for e in res["first"]]
            rows["xi"] += xi(sentences, res["decoded"]).tolist()
    return {k: np.array(v) for k, v in rows.items()}


def detector_quality(samples: dict[str, Any], xi_threshold: float = 0.6) -> dict[str, float]:
    """Recall of the damaged sentences (ξ < 0.6) by ξ̂ < threshold, and the false-NACK rate."""
    bad, nack = samples["xi"] < 0.6, samples["xi_hat"] < xi_threshold
    return {
        "recall": float(nack[bad].mean()) if bad.any() else 1.0,
        "false_nack_rate": float(nack[~bad].mean()) if (~bad).any() else 0.0,
        "damaged_fraction": float(bad.mean()),
        "sentences": int(bad.size),
    }


def transmit_semantic(
    sentences: list[str],
    snr_db: float,
    fading: str = "awgn",
    link: Any = None,
    max_retransmissions: int = 0,
    xi_threshold: float = 0.6,
    seed: int = 0,
    until_exact: bool = True,
) -> dict[str, Any]:
    """The semantic link through the same channel as the baselines (pilots 4/64, LMMSE, block
    fading of 64 symbols). While the receiver ``wants_again`` (ξ̂ below ``xi_threshold``, or
    ``until_exact`` and not exact), at most ``max_retransmissions`` times, the sender sends the
    sentence's next redundancy version (``TextLink.again``). Returns the
    decoded sentences, the receiver's first and last ``SentenceEstimate`` of each, symbols per
    sentence (pilots, fingerprint, difference and retransmissions included) and retransmissions
    per sentence."""
    from m3e.codecs.semantic_text import TextLink, sentence_rv
    from m3e.phy.estimation import estimate_channel

    link = link or TextLink()
    layout = PilotLayout(64, 4)
    channel = BlockFadingChannel(fading, coherence=64, seed=seed)
    decoded, first, last, symbols, retx = [], [], [], 0, 0
    for burst in link.encode_bursts(sentences):
        rx = link.receiver(burst.n_tokens, burst.difference_bytes)
        for attempt in range(max_retransmissions + 1):
            on_air = burst.symbols if attempt == 0 else link.again(burst, attempt)
            out = channel(layout.insert(on_air), snr_db)
            y, h_hat, err = estimate_channel(out.y, layout, out.no)
            if attempt == 0:
                estimate = rx.receive(y, h_hat, out.no + err)
            else:
                rv = sentence_rv(attempt)
                estimate = rx.receive_again(y, h_hat, out.no + err, rv, len(burst.sentence))
            symbols += out.y.shape[0]
            if attempt == 0:
                first.append(estimate)
            if not estimate.wants_again(xi_threshold, until_exact) or attempt == max_retransmissions:
                break
            retx += 1
        decoded.append(estimate.text)
        last.append(estimate)
    n = len(sentences)
    return {
        "decoded": decoded,
        "first": first,
        "last": last,
        "symbols_per_sentence": symbols / n,
        "retransmissions_per_sentence": retx / n,
    }


def semantic_curve(
    sentences: list[str], snrs: list[float], fading: str, repeats: int = 2, link: Any = None
) -> list[dict[str, Any]]:
    """m3e-text at every SNR with at most 2 retransmissions, asked for by the receiver's own
    ξ̂ < 0.6: the scores of ``text_scores``, symbols and retransmissions per sentence (rows as
    ``xi_curve``'s)."""
    from m3e.codecs.semantic_text import TextLink

    link = link or TextLink()
    rows = []
    for snr in snrs:
        sent, got, symbols, retx = [], [], 0.0, 0.0
        for r in range(repeats):
            res = transmit_semantic(sentences, snr, fading, link, max_retransmissions=2, seed=r)
            sent += list(sentences)
            got += res["decoded"]
            symbols += res["symbols_per_sentence"] / repeats
            retx += res["retransmissions_per_sentence"] / repeats
        scores = text_scores(sent, got)
        rows.append(
            {
                "scheme": "m3e-text",
                "channel": fading,
                "snr_db": snr,
                **scores,
                "retransmissions": retx,
                "symbols_per_sentence": symbols,
            }
        )
    return rows
