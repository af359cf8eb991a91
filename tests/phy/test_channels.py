import math

import numpy as np
import pytest
from scipy import stats

from m3e.phy.channels import BlockFadingChannel, awgn, snr_db_to_no
from m3e.phy.modulation import Constellation, hard_decision
from m3e.phy.theory import ber_awgn, ber_rayleigh


def _simulated_ber(mod: str, fading: str, snr_db: float, n_bits: int, seed: int) -> float:
    c = Constellation(mod)
    rng = np.random.default_rng(seed)
    bits = rng.integers(0, 2, n_bits)
    out = BlockFadingChannel(fading, coherence=1, seed=seed)(c.map(bits), snr_db)
    return float(np.mean(hard_decision(c.demap(out.y, out.no, out.h)) != bits))


@pytest.mark.parametrize("mod", ["qpsk", "16qam"])
@pytest.mark.parametrize("fading", ["awgn", "rayleigh"])
@pytest.mark.parametrize("snr_db", [0.0, 6.0, 10.0])
def test_uncoded_ber_matches_closed_form(mod: str, fading: str, snr_db: float) -> None:
    theory = float((ber_awgn if fading == "awgn" else ber_rayleigh)(mod, snr_db))
    n_bits = int(min(2_000_000, max(200_000, 2000 / theory)))
    ber = _simulated_ber(mod, fading, snr_db, n_bits, seed=7)
    # 5 standard deviations of a binomial estimate (bit errors within a symbol are
    # correlated, hence the factor 2 on the variance).
    tol = 5 * math.sqrt(2 * theory / n_bits)
    assert abs(ber - theory) < tol, (ber, theory, tol)


def test_rayleigh_gain_statistics() -> None:
    sigma = 0.8
    ch = BlockFadingChannel("rayleigh", coherence=1, sigma=sigma, seed=3)
    h = ch.gains(200_000).astype(np.complex128)
    assert np.mean(np.abs(h) ** 2) == pytest.approx(2 * sigma**2, rel=0.02)
    assert abs(np.mean(h)) < 0.01
    # eq 7: |h| is Rayleigh with scale σ
    assert stats.kstest(np.abs(h), stats.rayleigh(scale=sigma).cdf).pvalue > 0.01
    # real and imaginary parts are independent N(0, σ²)
    assert np.corrcoef(h.real, h.imag)[0, 1] == pytest.approx(0.0, abs=0.01)


def test_block_fading_is_constant_within_coherence() -> None:
    h = BlockFadingChannel("rayleigh", coherence=100, seed=1).gains(1050)
    blocks = [h[i : i + 100] for i in range(0, 1050, 100)]
    assert all(np.all(b == b[0]) for b in blocks)
    assert len({complex(b[0]) for b in blocks}) == len(blocks)


def test_rician_mean_power_and_los() -> None:
    h = BlockFadingChannel("rician", coherence=1, k_factor=10.0, seed=2).gains(100_000)
    assert np.mean(np.abs(h) ** 2) == pytest.approx(1.0, rel=0.02)
    # |h| is Rice distributed: LOS amplitude ν = sqrt(K/(K+1)), scatter σ_s² = 1/(2(K+1))
    nu, s = np.sqrt(10 / 11), np.sqrt(1 / 22)
    assert stats.kstest(np.abs(h), stats.rice(b=nu / s, scale=s).cdf).pvalue > 0.01


def test_noise_variance_matches_snr(rng: np.random.Generator) -> None:
    no = snr_db_to_no(3.0)
    w = awgn(np.zeros(200_000, dtype=np.complex64), no, rng)
    assert np.var(w) == pytest.approx(no, rel=0.02)
    assert np.var(w.real) == pytest.approx(no / 2, rel=0.02)


def test_erasures_take_whole_blocks() -> None:
    out = BlockFadingChannel("awgn", coherence=50, erasure_prob=0.3, seed=4)(np.ones(50_000), 10.0)
    per_block = out.erased.reshape(-1, 50)
    assert np.all(per_block.all(1) | ~per_block.any(1))
    assert per_block[:, 0].mean() == pytest.approx(0.3, abs=0.05)
    assert np.all(out.y[out.erased] == 0)


def test_seeded_channel_is_reproducible() -> None:
    x = np.ones(1000, dtype=np.complex64)
    a = BlockFadingChannel(seed=5)(x, 5.0)
    b = BlockFadingChannel(seed=5)(x, 5.0)
    assert np.array_equal(a.y, b.y) and np.array_equal(a.h, b.h)


def test_invalid_arguments() -> None:
    with pytest.raises(ValueError, match="SNR"):
        BlockFadingChannel()(np.ones(4), float("nan"))
    with pytest.raises(ValueError, match="unknown fading"):
        BlockFadingChannel("nakagami")
    with pytest.raises(ValueError, match="coherence"):
        BlockFadingChannel(coherence=0)
    with pytest.raises(ValueError, match="erasure_prob"):
        BlockFadingChannel(erasure_prob=1.5)
    with pytest.raises(ValueError, match="finite"):
        BlockFadingChannel()(np.array([np.nan + 0j]), 5.0)
