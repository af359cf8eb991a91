"""Closed forms: uncoded BER of Gray QAM over AWGN and Rayleigh fading, and channel
capacity per channel use (the limit every scheme's symbols are compared with).

SNR arguments are E_s/N0 in dB (average received SNR for fading, E|h|^2 = 1).
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt
from scipy import special

from m3e.phy.modulation import bits_per_symbol

# Gray-QAM BER as a sum of weight · Q(sqrt(c · γ)), γ = E_s/N0 (Cho & Yoon, 2002).
_BER_TERMS: dict[str, list[tuple[float, float]]] = {
    "bpsk": [(1.0, 2.0)],
    "qpsk": [(1.0, 1.0)],
    "16qam": [(3 / 4, 1 / 5), (2 / 4, 9 / 5), (-1 / 4, 25 / 5)],
    "64qam": [(7 / 12, 1 / 21), (6 / 12, 9 / 21), (-1 / 12, 25 / 21), (1 / 12, 81 / 21), (-1 / 12, 169 / 21)],
}


def _gamma(snr_db: npt.ArrayLike) -> npt.NDArray[np.float64]:
    snr = np.asarray(snr_db, dtype=np.float64)
    if np.any(~np.isfinite(snr)):
        raise ValueError("SNR must be finite dB values")
    return np.asarray(10.0 ** (snr / 10.0))


def qfunc(x: npt.ArrayLike) -> npt.NDArray[np.float64]:
    """Gaussian tail probability Q(x) = P(N(0,1) > x)."""
    return np.asarray(0.5 * special.erfc(np.asarray(x) / np.sqrt(2.0)))


def ber_awgn(modulation: str, snr_db: npt.ArrayLike) -> npt.NDArray[np.float64]:
    """Exact uncoded bit error rate of Gray ``modulation`` over AWGN."""
    bits_per_symbol(modulation)
    g = _gamma(snr_db)
    return np.asarray(sum(w * qfunc(np.sqrt(c * g)) for w, c in _BER_TERMS[modulation]))


def ber_rayleigh(modulation: str, snr_db: npt.ArrayLike) -> npt.NDArray[np.float64]:
    """Uncoded BER over flat Rayleigh fading with perfect CSI, average SNR ``snr_db``.

    Uses E[Q(sqrt(c·|h|²γ))] = (1 - sqrt(cγ/2 / (1 + cγ/2))) / 2 for |h|² ~ Exp(1)."""
    bits_per_symbol(modulation)
    g = _gamma(snr_db)
    return np.asarray(
        sum(w * 0.5 * (1 - np.sqrt(c * g / 2 / (1 + c * g / 2))) for w, c in _BER_TERMS[modulation])
    )


def capacity_awgn(snr_db: npt.ArrayLike) -> npt.NDArray[np.float64]:
    """log2(1 + γ) bits per complex channel use."""
    return np.asarray(np.log2(1 + _gamma(snr_db)))


def capacity_rayleigh(snr_db: npt.ArrayLike) -> npt.NDArray[np.float64]:
    """Ergodic capacity E[log2(1 + |h|²γ)] = log2(e) · e^(1/γ) · E1(1/γ), |h|² ~ Exp(1)."""
    inv = 1 / _gamma(snr_db)
    # exp1(x)·e^x overflows for large x; special.exp1 * exp is fine up to ~700.
    return np.asarray(np.log2(np.e) * special.exp1(inv) * np.exp(np.minimum(inv, 700.0)))


def shannon_symbols(n_bits: float, snr_db: float, channel: str = "awgn") -> float:
    """Fewest complex channel uses that could carry ``n_bits`` at this SNR."""
    if channel == "awgn":
        cap = float(capacity_awgn(snr_db))
    elif channel == "rayleigh":
        cap = float(capacity_rayleigh(snr_db))
    else:
        raise ValueError(f"unknown channel {channel!r}; expected 'awgn' or 'rayleigh'")
    return n_bits / cap
