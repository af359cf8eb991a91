"""The channel's normal samples (``NormalSource``, the ``_noise`` kernel) against the normal law."""

import numpy as np
import pytest
from scipy import stats

from m3e.phy import _noise  # type: ignore[attr-defined]
from m3e.phy.channels import NormalSource


@pytest.fixture(scope="module")
def samples() -> np.ndarray:
    return NormalSource(7).standard_normal(2_000_000)


def test_moments_and_distribution_are_standard_normal(samples: np.ndarray) -> None:
    n = samples.size
    assert abs(samples.mean()) < 5 / np.sqrt(n)
    assert samples.var() == pytest.approx(1.0, abs=5 * np.sqrt(2 / n))
    assert abs(stats.skew(samples)) < 0.01 and abs(stats.kurtosis(samples)) < 0.02
    assert stats.kstest(samples, "norm").pvalue > 0.01


@pytest.mark.parametrize("k", [1.0, 2.0, 3.0, 4.0])
def test_tails_follow_the_normal_law(samples: np.ndarray, k: float) -> None:
    """P(|z| > k) within 5 binomial standard deviations (a BER curve lives in these tails)."""
    p = 2 * stats.norm.sf(k)
    observed = np.mean(np.abs(samples) > k)
    assert abs(observed - p) < 5 * np.sqrt(p * (1 - p) / samples.size) + 1e-7


@pytest.mark.parametrize("lag", [1, 15, 16, 17, 32])
def test_samples_are_uncorrelated_across_lanes_and_steps(samples: np.ndarray, lag: int) -> None:
    """Lanes sit 1 apart, a step's cosine and sine 16 apart, the next step 32 apart; the squares
    show a shared radius (Box-Muller's pair) if it leaked."""
    bound = 5 / np.sqrt(samples.size)
    assert abs(np.corrcoef(samples[:-lag], samples[lag:])[0, 1]) < bound
    assert abs(np.corrcoef(samples[:-lag] ** 2, samples[lag:] ** 2)[0, 1]) < bound


def test_seeded_sources_repeat_and_differ() -> None:
    a, b, c = NormalSource(3), NormalSource(3), NormalSource(4)
    first = a.standard_normal(1000)
    assert np.array_equal(first, b.standard_normal(1000))
    assert not np.array_equal(first, c.standard_normal(1000))
    assert not np.array_equal(first, a.standard_normal(1000))  # the state moves on


@pytest.mark.parametrize("n", [0, 1, 31, 33, 1001])
def test_any_length_and_shape(n: int) -> None:
    z = NormalSource(1).standard_normal((2, n))
    assert z.shape == (2, n) and z.dtype == np.float32 and np.all(np.isfinite(z))


def test_kernel_rejects_wrong_buffers() -> None:
    state = np.zeros(_noise.STATE_WORDS, np.uint32)
    with pytest.raises(ValueError, match="float32"):
        _noise.normal(np.empty(8, np.float64), state)
    with pytest.raises(ValueError, match="state"):
        _noise.normal(np.empty(8, np.float32), state[:-1])
