import numpy as np
import pytest
import torch

from m3e.codecs.semantic_text import (
    CHECK_SYMBOLS,
    SemanticTextCodec,
    TextLink,
    TextLinkConfig,
    fingerprint,
    mmse_combine,
    tokens_in_burst,
)
from m3e.eval.text_link import held_out_sentences, transmit_semantic
from m3e.semantics.similarity import xi


def test_symbols_have_unit_power_over_the_sentence() -> None:
    torch.manual_seed(0)
    codec = SemanticTextCodec(list(range(50)), TextLinkConfig(symbols_per_token=4))
    states = torch.randn(3, 7, 384)
    mask = torch.tensor([[1] * 7, [1] * 4 + [0] * 3, [1] * 2 + [0] * 5], dtype=torch.bool)
    x = codec.symbols(states, mask)
    assert x.shape == (3, 7, 4) and x.is_complex()
    for b in range(3):
        used = x[b][mask[b]]
        assert used.abs().pow(2).mean().item() == pytest.approx(1.0, rel=1e-4)
        assert torch.all(x[b][~mask[b]] == 0)  # padding is not sent


def test_maximum_ratio_combining() -> None:
    x = torch.tensor([[[1 + 1j]]], dtype=torch.complex64)
    h1, h2 = torch.tensor([[[0.5j]]]), torch.tensor([[[2.0 + 0j]]])
    no = torch.tensor([[[0.1]]])
    y, snr = mmse_combine([h1 * x, h2 * x], [h1, h2], no)
    assert torch.allclose(y, x) and snr.item() == pytest.approx((0.25 + 4) / 0.1)


@pytest.fixture(scope="module")
def link() -> TextLink:
    return TextLink()


def test_roundtrip_at_20db_reproduces_held_out_sentences(link: TextLink) -> None:
    sentences = held_out_sentences(16)
    res = transmit_semantic(sentences, 20.0, "awgn", link)
    assert np.mean(xi(sentences, res["decoded"])) > 0.97
    assert sum(a == b for a, b in zip(sentences, res["decoded"], strict=True)) >= 12


def test_retransmission_raises_xi_at_low_snr(link: TextLink) -> None:
    sentences = held_out_sentences(24)
    once = transmit_semantic(sentences, -3.0, "rayleigh", link, seed=3)
    again = transmit_semantic(
        sentences, -3.0, "rayleigh", link, max_retransmissions=2, xi_threshold=1.01, seed=3
    )
    assert again["retransmissions_per_sentence"] == 2  # threshold above any ξ̂: always resent
    assert np.mean(xi(sentences, again["decoded"])) > np.mean(xi(sentences, once["decoded"])) + 0.1


def test_receiver_estimate_tracks_damage(link: TextLink) -> None:
    sentences = held_out_sentences(24)
    clean = transmit_semantic(sentences, 20.0, "awgn", link)
    noisy = transmit_semantic(sentences, -5.0, "rayleigh", link)
    assert all(e.fingerprint_xi > 0.99 and e.xi_hat > 0.9 for e in clean["first"])
    for field in ("confidence", "fingerprint_xi", "xi_hat"):
        assert np.mean([getattr(e, field) for e in clean["first"]]) > np.mean(
            [getattr(e, field) for e in noisy["first"]]
        )


def test_fingerprint_distance_estimates_xi(link: TextLink) -> None:
    """Charikar: the share d of differing sign bits estimates the angle, cos(π·d) ≈ ξ."""
    a = ["a cat is sitting on a sofa"] * 3
    b = ["a cat is sitting on a sofa", "a dog is sitting on a sofa", "an airplane is flying over a train"]
    emb_a, emb_b = link.encoder(a), link.encoder(b)
    d = [np.mean(fingerprint(x) != fingerprint(y)) for x, y in zip(emb_a, emb_b, strict=True)]
    assert d[0] == 0 and d[1] < d[2]


def test_burst_layout_and_malformed_length(link: TextLink) -> None:
    (burst,) = link.encode_bursts(["a cat is sitting on a sofa"])
    k = link.codec.config.symbols_per_token
    assert burst.symbols.shape == (burst.n_tokens * k + CHECK_SYMBOLS,)
    assert tokens_in_burst(burst.symbols.shape[0], k, 40) == burst.n_tokens
    assert np.mean(np.abs(burst.symbols) ** 2) == pytest.approx(1.0, rel=0.05)
    for bad in (burst.symbols.shape[0] - 1, CHECK_SYMBOLS, CHECK_SYMBOLS + 41 * k):
        with pytest.raises(ValueError, match="not a sentence burst"):
            tokens_in_burst(bad, k, 40)
    with pytest.raises(ValueError, match="symbols for a"):
        link.receiver(burst.n_tokens).receive(burst.symbols[:-1], 1.0, 0.1)


def test_training_channel_statistics() -> None:
    from m3e.codecs.train_semantic_text import channel

    g = torch.Generator().manual_seed(0)
    x = torch.view_as_complex(torch.randn(2000, 8, 4, 2) / 2**0.5)
    snr = torch.full((2000,), 5.0)
    rayleigh = torch.arange(2000) % 2 == 0
    y, post = channel(x, snr, rayleigh, 1, gen=g)
    assert post[~rayleigh].mean().item() == pytest.approx(10**0.5, rel=1e-4)  # AWGN rows: the set SNR
    assert (y[~rayleigh] - x[~rayleigh]).abs().pow(2).mean().item() == pytest.approx(10**-0.5, rel=0.03)
    assert post[rayleigh].mean().item() == pytest.approx(10**0.5, rel=0.05)  # E|h|^2 = 1
    _, post2 = channel(x, snr, rayleigh, 2, gen=g)
    assert post2[~rayleigh].mean().item() == pytest.approx(2 * 10**0.5, rel=1e-4)  # two transmissions add up


def test_detector_calibration_meets_the_asked_recall() -> None:
    from m3e.codecs.calibrate_text_detector import fit

    rng = np.random.default_rng(0)
    true_xi = rng.uniform(0, 1, 2000)
    samples = {
        "xi": true_xi,
        "confidence": np.log(true_xi + 0.05) + rng.normal(0, 0.3, 2000),
        "fingerprint_xi": true_xi + rng.normal(0, 0.2, 2000),
    }
    detector = fit(samples, recall=0.95)
    xi_hat = np.array(
        [detector.xi_hat(c, f) for c, f in zip(samples["confidence"], samples["fingerprint_xi"], strict=True)]
    )
    bad = true_xi < 0.6
    assert (xi_hat[bad] < 0.6).mean() >= 0.95
    assert (xi_hat[~bad] < 0.6).mean() < 0.5  # informative, not a detector that NACKs everything
    assert detector.w_confidence > 0 and detector.w_fingerprint > 0
