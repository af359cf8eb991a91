"""Flat block-fading channel y = h·x + w (paper eq 6), with AWGN, Rayleigh (eq 7)
or Rician fading and whole-block erasures.

SNR is E_s/N0 in dB with unit-energy symbols, so the noise variance per complex
symbol is ``no = 10^(-snr_db/10)``. With fading, the average received SNR is
E|h|^2 · E_s/N0 = 2σ² · E_s/N0; the default σ = 1/√2 makes E|h|^2 = 1.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Literal

import numpy as np
import numpy.typing as npt

from m3e.phy import _noise  # type: ignore[attr-defined]

Fading = Literal["awgn", "rayleigh", "rician"]
FADINGS: tuple[str, ...] = ("awgn", "rayleigh", "rician")


def snr_db_to_no(snr_db: float) -> float:
    """Noise variance per complex symbol for E_s = 1 at E_s/N0 = ``snr_db`` dB."""
    if not math.isfinite(snr_db):
        raise ValueError(f"SNR must be a finite number of dB, got {snr_db!r}")
    return 10.0 ** (-snr_db / 10.0)


class NormalSource:
    """Standard normal float32 samples from the ``_noise`` kernel: SIMD lanes of xoshiro128+
    and Box-Muller, 0.4 ns a sample where numpy's ziggurat takes 9 (docs/phy.md). The lanes'
    state comes from ``seed`` through numpy's SeedSequence (None: fresh entropy)."""

    def __init__(self, seed: int | None = None) -> None:
        self._state = np.random.SeedSequence(seed).generate_state(_noise.STATE_WORDS, np.uint32)

    def standard_normal(self, shape: int | tuple[int, ...]) -> npt.NDArray[np.float32]:
        out = np.empty(shape, dtype=np.float32)
        _noise.normal(out.reshape(-1), self._state)
        return out


def awgn(
    x: npt.NDArray[np.complexfloating], no: float, rng: NormalSource | np.random.Generator
) -> npt.NDArray[np.complex64]:
    """Add circularly-symmetric complex Gaussian noise w ~ CN(0, no).

    Args:
        x: (...,) complex symbols.
        no: noise variance per complex symbol (> 0).
        rng: the noise's source (the channel's ``NormalSource``, or a numpy generator).
    Returns:
        (...,) complex64 x + w.
    """
    if not (math.isfinite(no) and no >= 0):
        raise ValueError(f"noise variance must be finite and >= 0, got {no!r}")
    x = np.asarray(x)
    if isinstance(rng, NormalSource):
        w = rng.standard_normal((2, *x.shape))
    else:
        w = rng.standard_normal((2, *x.shape), dtype=np.float32)
    w *= np.float32(math.sqrt(no / 2))
    # in float32 throughout: the relay adds noise to millions of symbols a second
    y = np.empty(x.shape, dtype=np.complex64)
    np.add(x.real, w[0], out=y.real)
    np.add(x.imag, w[1], out=y.imag)
    return y


@dataclass(frozen=True)
class ChannelOutput:
    """What one pass through the channel produced.

    Attributes:
        y: (n,) complex64 received symbols.
        h: (n,) complex64 channel coefficient on every symbol (perfect CSI).
        no: noise variance per complex symbol.
        erased: (n,) bool, True where a whole block was erased (y = 0 there).
    """

    y: npt.NDArray[np.complex64]
    h: npt.NDArray[np.complex64]
    no: float
    erased: npt.NDArray[np.bool_]


class BlockFadingChannel:
    """Flat block fading + AWGN + block erasures (paper eq 6–7).

    Args:
        fading: "awgn" (h = 1), "rayleigh" (h ~ CN(0, 2σ²), |h| Rayleigh with scale σ,
            eq 7) or "rician" (LOS component with K-factor, same mean power 2σ²).
        coherence: symbols per fading block; h is constant within a block and
            independent between blocks.
        sigma: Rayleigh scale parameter σ of eq 7.
        k_factor: Rician K (power of LOS over scattered); used only for "rician".
        erasure_prob: probability that a whole coherence block is erased.
        seed: seed of the generator every draw comes from.
    """

    def __init__(
        self,
        fading: str = "rayleigh",
        coherence: int = 1024,
        sigma: float = 1 / math.sqrt(2),
        k_factor: float = 0.0,
        erasure_prob: float = 0.0,
        seed: int | None = 0,
    ) -> None:
        if fading not in FADINGS:
            raise ValueError(f"unknown fading {fading!r}; expected one of {list(FADINGS)}")
        if not (isinstance(coherence, int) and coherence >= 1):
            raise ValueError(f"coherence must be a positive number of symbols, got {coherence!r}")
        if not (math.isfinite(sigma) and sigma > 0):
            raise ValueError(f"sigma must be finite and > 0, got {sigma!r}")
        if not (math.isfinite(k_factor) and k_factor >= 0):
            raise ValueError(f"k_factor must be finite and >= 0, got {k_factor!r}")
        if not (0.0 <= erasure_prob <= 1.0):
            raise ValueError(f"erasure_prob must lie in [0, 1], got {erasure_prob!r}")
        self.fading = fading
        self.coherence = coherence
        self.sigma = sigma
        self.k_factor = k_factor
        self.erasure_prob = erasure_prob
        self.rng = np.random.default_rng(seed)
        self.noise = NormalSource(int(self.rng.integers(2**63)))

    def gains(self, n: int) -> npt.NDArray[np.complex64]:
        """Draw h for n symbols: (n,) complex64, constant over each coherence block."""
        n_blocks = -(-n // self.coherence)
        if self.fading == "awgn":
            hb = np.ones(n_blocks, dtype=np.complex128)
        else:
            power = 2 * self.sigma**2
            k = self.k_factor if self.fading == "rician" else 0.0
            scatter = math.sqrt(power / (k + 1) / 2) * (
                self.rng.standard_normal(n_blocks) + 1j * self.rng.standard_normal(n_blocks)
            )
            los_phase = self.rng.uniform(0, 2 * np.pi, n_blocks)
            hb = math.sqrt(power * k / (k + 1)) * np.exp(1j * los_phase) + scatter
        return np.repeat(hb.astype(np.complex64), self.coherence)[:n]

    def __call__(self, x: npt.ArrayLike, snr_db: float) -> ChannelOutput:
        """Pass symbols through the channel.

        Args:
            x: (n,) complex symbols (unit average energy for snr_db to be E_s/N0).
            snr_db: E_s/N0 in dB.
        Returns:
            ChannelOutput with y, h, no and the erasure mask, each (n,).
        """
        x = np.asarray(x)
        if x.ndim != 1:
            raise ValueError(f"expected a 1-D array of symbols, got shape {x.shape}")
        if not np.all(np.isfinite(x)):
            raise ValueError("symbols must be finite (NaN or inf found)")
        no = snr_db_to_no(snr_db)
        n = x.shape[0]
        h = self.gains(n)
        y = awgn(h * x, no, self.noise)
        n_blocks = -(-n // self.coherence)
        erased_blocks = self.rng.random(n_blocks) < self.erasure_prob
        erased = np.repeat(erased_blocks, self.coherence)[:n]
        if erased_blocks.any():
            y[erased] = 0
        return ChannelOutput(y=y, h=h, no=no, erased=erased)
