import itertools

import numpy as np
import pytest
import torch

from m3e.codecs.semantic_text import (
    CHECK_SYMBOLS,
    DETECTOR_FEATURES,
    SemanticTextCodec,
    TextLink,
    TextLinkConfig,
    burst_layout,
    cheapest_swaps,
    difference_positions,
    fingerprint,
    fingerprint_xi,
    mmse_combine,
)
from m3e.eval.text_link import held_out_sentences, text_scores, transmit_semantic
from m3e.semantics.english import names_and_numbers
from m3e.semantics.similarity import xi


def test_symbols_have_unit_power_over_the_sentence() -> None:
    torch.manual_seed(0)
    codec = SemanticTextCodec(torch.randn(50, 384), TextLinkConfig(symbols_per_token=4))
    states, ids = torch.randn(3, 7, 384), torch.randint(50, (3, 7))
    mask = torch.tensor([[1] * 7, [1] * 4 + [0] * 3, [1] * 2 + [0] * 5], dtype=torch.bool)
    x = codec.symbols(states, ids, mask)
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


def test_cheapest_swaps_lists_every_set_once_in_cost_order() -> None:
    rng = np.random.default_rng(1)
    swaps = sorted(
        (float(c), int(p), t)
        for t, (c, p) in enumerate(zip(rng.exponential(size=7), rng.integers(0, 4, 7), strict=True))
    )
    listed = list(cheapest_swaps(swaps))
    costs = [sum(c for c, _, _ in s) for s in listed]
    assert listed[0] == () and costs == sorted(costs)
    expected = {
        s
        for n in range(len(swaps) + 1)
        for s in itertools.combinations(swaps, n)
        if len({p for _, p, _ in s}) == n
    }  # brute force: every set with at most one swap per position
    assert len(listed) == len(set(listed)) and set(listed) == expected
    assert list(cheapest_swaps([])) == [()]


@pytest.fixture(scope="module")
def link() -> TextLink:
    return TextLink()


def test_unseen_natural_sentences_through_a_clean_channel_come_back_exactly(link: TextLink) -> None:
    sentences = held_out_sentences(24, seed=5)  # never trained or tuned on
    res = transmit_semantic(sentences, 30.0, "awgn", link)
    assert res["decoded"] == sentences
    assert all(e.exact and e.xi_hat == 1.0 for e in res["first"])


def test_names_and_numbers_survive_8db_rayleigh(link: TextLink) -> None:
    sentences = [s for s in held_out_sentences(200, seed=6) if names_and_numbers(s)][:30]
    res = transmit_semantic(sentences, 8.0, "rayleigh", link, max_retransmissions=2, seed=1)
    # with the coded sentence in the retransmissions every name and number arrives here
    assert text_scores(sentences, res["decoded"])["names_numbers_kept"] >= 0.95


def test_a_retransmission_carries_the_exact_sentence_in_incremental_redundancy(link: TextLink) -> None:
    from m3e.codecs.semantic_text import sentence_rv
    from m3e.phy.channels import BlockFadingChannel

    assert [sentence_rv(a) for a in (1, 2, 3)] == [0, 2, 3]  # the systematic bits come first
    sentence = "Maria booked 2 tickets to Lisbon for Friday, 18:45."
    (burst,) = link.encode_bursts([sentence])
    rx = link.receiver(burst.n_tokens, burst.difference_bytes)
    channel = BlockFadingChannel("awgn", seed=0)
    first = channel(burst.symbols, -10.0)
    assert not rx.receive(first.y, 1.0, first.no).exact
    # at -3 dB AWGN neither copy of the rate-1/3 code decodes alone; their redundancy
    # versions together (rate 1/6) do
    copies = [channel(link.again(burst, a), -3.0) for a in (1, 2)]
    alone = link.receiver()
    assert alone.receive_again(copies[1].y, 1.0, copies[1].no, sentence_rv(2), len(burst.sentence)).text == ""
    estimates = [
        rx.receive_again(c.y, 1.0, c.no, sentence_rv(a), len(burst.sentence))
        for a, c in [(1, copies[0]), (2, copies[1])]
    ]
    assert not estimates[0].exact
    assert estimates[1].exact and estimates[1].text == sentence and estimates[1].xi_hat == 1.0
    assert estimates[1].transmissions == 3
    with pytest.raises(ValueError, match="retransmitted sentence"):
        rx.receive_again(copies[0].y, 1.0, copies[0].no, 0, 10**6)


def test_retransmission_raises_xi_at_low_snr(link: TextLink) -> None:
    sentences = held_out_sentences(24)
    once = transmit_semantic(sentences, -3.0, "rayleigh", link, seed=3)
    again = transmit_semantic(
        sentences, -3.0, "rayleigh", link, max_retransmissions=2, xi_threshold=1.01, seed=3
    )
    assert np.mean(xi(sentences, again["decoded"])) > np.mean(xi(sentences, once["decoded"])) + 0.05


def test_receiver_estimate_tracks_damage(link: TextLink) -> None:
    sentences = held_out_sentences(24)
    clean = transmit_semantic(sentences, 20.0, "awgn", link)
    noisy = transmit_semantic(sentences, -5.0, "rayleigh", link)
    assert all(e.fingerprint_xi > 0.9 for e in clean["first"])
    for field in ("confidence", "fingerprint_xi", "xi_hat"):
        assert np.mean([getattr(e, field) for e in clean["first"]]) > np.mean(
            [getattr(e, field) for e in noisy["first"]]
        )


def test_xi_hat_flags_a_deliberately_wrong_decode(link: TextLink) -> None:
    """The semantic symbols of one sentence under the fingerprint of another of the same length
    (its difference lost): the decode is fluent and wrong, and the receiver must not trust it."""
    a = "My sister Anna moved to Chicago in 2019."
    (burst_a,) = link.encode_bursts([a])
    others = [s for s in held_out_sentences(200, seed=7) if xi([a], [s])[0] < 0.3]
    bursts = link.encode_bursts(others)
    burst_b = next(o for o in bursts if o.n_tokens == burst_a.n_tokens)
    (diff_a, check_a), (diff_b, check_b) = (
        burst_layout(o.n_tokens, link.k, link.difference_coder.n_symbols(o.difference_bytes))
        for o in (burst_a, burst_b)
    )
    forged = burst_a.symbols.copy()
    forged[~diff_a & ~check_a] = burst_b.symbols[~diff_b & ~check_b]
    forged[diff_a] = 0  # the difference erased
    estimate = link.receiver(burst_a.n_tokens, burst_a.difference_bytes).receive(forged, 1.0, 1e-3)
    assert not estimate.exact and xi([a], [estimate.text])[0] < 0.6
    assert estimate.xi_hat < 0.6


def test_fingerprint_estimates_xi(link: TextLink) -> None:
    """The received fingerprint's cosine with the decode's own tracks ξ: 1 for the same
    sentence, lower for a near one, lowest for an unrelated one; noise on a symbol with a low SNR
    barely moves it."""
    a = ["a cat is sitting on a sofa"] * 3
    b = ["a cat is sitting on a sofa", "a dog is sitting on a sofa", "an airplane is flying over a train"]
    sent = [fingerprint(x) for x in link.encoder(a)]
    mine = [fingerprint(y) for y in link.encoder(b)]
    assert np.mean(np.abs(sent[0]) ** 2) == pytest.approx(1.0, rel=1e-4)
    clean = np.full(CHECK_SYMBOLS, 1e4)
    est = [fingerprint_xi(x, clean, y) for x, y in zip(sent, mine, strict=True)]
    assert est[0] == pytest.approx(1.0, abs=1e-3) and est[1] > est[2]
    assert abs(est[1] - float(xi([b[0]], [b[1]])[0])) < 0.15
    snr = clean.copy()
    snr[:4] = 1e-3  # four symbols lost in a fade: their values are garbage
    garbage = sent[0].copy()
    garbage[:4] = 30.0
    assert fingerprint_xi(garbage, snr, mine[0]) > 0.95


def test_burst_layout_and_malformed_length(link: TextLink) -> None:
    (burst,) = link.encode_bursts(["a cat is sitting on a sofa"])
    n_diff = link.difference_coder.n_symbols(burst.difference_bytes)
    assert burst.symbols.shape == (burst.n_tokens * link.k + CHECK_SYMBOLS + n_diff,)
    assert link.tokens_in_burst(burst.symbols.shape[0], burst.difference_bytes) == burst.n_tokens
    assert np.mean(np.abs(burst.symbols) ** 2) == pytest.approx(1.0, rel=0.05)
    for bad, size in (
        (burst.symbols.shape[0] - 1, burst.difference_bytes),
        (CHECK_SYMBOLS + n_diff, burst.difference_bytes),
        (burst.symbols.shape[0], 2),
    ):
        with pytest.raises(ValueError, match="not a sentence burst"):
            link.tokens_in_burst(bad, size)
    with pytest.raises(ValueError, match="symbols for a"):
        link.receiver(burst.n_tokens, burst.difference_bytes).receive(burst.symbols[:-1], 1.0, 0.1)


def test_the_difference_is_spread_over_the_whole_burst(link: TextLink) -> None:
    n_semantic, n_difference = 14 * link.k + CHECK_SYMBOLS, 80
    at = difference_positions(n_semantic, n_difference)
    assert len(set(at.tolist())) == n_difference and 0 <= at.min() and at.max() < n_semantic + n_difference
    # every 64-symbol fade of the burst holds about its share of the difference, never all of it
    share = [np.sum((at >= s) & (at < s + 64)) for s in range(0, n_semantic + n_difference - 64, 64)]
    assert max(share) <= 64 * n_difference / (n_semantic + n_difference) + 1
    # and the receiver finds it there: a clean burst decodes exactly
    (burst,) = link.encode_bursts(["Anna flies to Oslo on the 5th of May."])
    rx = link.receiver(burst.n_tokens, burst.difference_bytes)
    assert rx.receive(burst.symbols, 1.0, 1e-4).exact and rx.difference is not None


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
    from m3e.eval.calibrate_text_detector import fit

    rng = np.random.default_rng(0)
    true_xi = rng.uniform(0, 1, 2000)
    samples = {
        "xi": true_xi,
        "confidence": np.log(true_xi + 0.05) + rng.normal(0, 0.3, 2000),
        # the fingerprint's noise shrinks as the channel improves (log_snr 0.5 … 3)
        "log_snr": rng.uniform(0.5, 3.0, 2000),
    }
    samples["fingerprint_xi"] = true_xi + rng.normal(0, 0.3 / samples["log_snr"])
    samples["exact"] = np.zeros(2000)
    detector = fit(samples, recall=0.95)
    columns = samples["confidence"], samples["fingerprint_xi"], samples["log_snr"]
    xi_hat = np.array([detector.xi_hat(c, f, q) for c, f, q in zip(*columns, strict=True)])
    bad = true_xi < 0.6
    assert (xi_hat[bad] < 0.6).mean() >= 0.95
    assert (xi_hat[~bad] < 0.6).mean() < 0.5  # informative, not a detector that NACKs everything
    weights = dict(zip(DETECTOR_FEATURES, detector.weights, strict=True))
    assert weights["c"] + weights["c*q"] > 0 and weights["f"] + weights["f*q"] > 0
    assert weights["f*q"] > 0  # the fingerprint counts more where the channel was better
