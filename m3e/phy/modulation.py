"""Gray-mapped QAM (TS 38.211 §5.1) and soft demapping to bit LLRs.

Constellations have unit average energy (E_s = 1). LLRs follow the convention
``LLR = ln P(b=0 | y) / P(b=1 | y)``: positive means "probably 0".

Square QAM with the 38.211 Gray labelling is separable: bits b0, b2, b4 select the
in-phase PAM level and b1, b3, b5 the quadrature one. The demapper therefore works on
each real dimension with its own 2^(Q/2)-point PAM, which is exact (not an
approximation) for circularly-symmetric complex Gaussian noise and much cheaper than
a search over all 2^Q points.
"""

from __future__ import annotations

import math
from typing import Literal

import numba
import numpy as np
import numpy.typing as npt

BITS_PER_SYMBOL: dict[str, int] = {"bpsk": 1, "qpsk": 2, "16qam": 4, "64qam": 6}
DemapMethod = Literal["maxlog", "exact"]


def bits_per_symbol(modulation: str) -> int:
    """Number of bits Q carried by one symbol of ``modulation`` (e.g. 4 for "16qam")."""
    try:
        return BITS_PER_SYMBOL[modulation]
    except KeyError:
        raise ValueError(
            f"unknown modulation {modulation!r}; expected one of {sorted(BITS_PER_SYMBOL)}"
        ) from None


def _pam_levels(m: int) -> npt.NDArray[np.float64]:
    """Unnormalised PAM level for every m-bit label (label bit 0 is the MSB).

    38.211 recursion: v = (1-2c0)(2^(m-1) - (1-2c1)(2^(m-2) - ... (1-2c_{m-1})))."""
    levels = np.empty(2**m)
    for label in range(2**m):
        c = [(label >> (m - 1 - i)) & 1 for i in range(m)]
        g = 1.0
        for i in range(m - 1, 0, -1):
            g = 2 ** (m - i) - (1 - 2 * c[i]) * g
        levels[label] = (1 - 2 * c[0]) * g
    return levels


class Constellation:
    """A Gray-mapped constellation with unit average symbol energy.

    Attributes:
        modulation: name ("bpsk", "qpsk", "16qam", "64qam").
        q: bits per symbol.
        points: (2^q,) complex128, point for every q-bit label (bit 0 = MSB).
    """

    def __init__(self, modulation: str) -> None:
        self.modulation = modulation
        self.q = bits_per_symbol(modulation)
        if self.q == 1:
            self._m_dim = 1
            self._pam = np.array([1.0, -1.0])
            self._scale = 1.0
            self.points = self._pam.astype(np.complex128)
            self._points64 = self.points.astype(np.complex64)
            return
        m = self.q // 2
        self._m_dim = m
        pam = _pam_levels(m)
        # E|x|^2 = 2 * mean(pam^2) for the two independent dimensions.
        self._scale = 1.0 / math.sqrt(2.0 * float(np.mean(pam**2)))
        self._pam = pam * self._scale
        points = np.empty(2**self.q, dtype=np.complex128)
        for label in range(2**self.q):
            bits = [(label >> (self.q - 1 - i)) & 1 for i in range(self.q)]
            i_label = int("".join(str(b) for b in bits[0::2]), 2)
            q_label = int("".join(str(b) for b in bits[1::2]), 2)
            points[label] = self._pam[i_label] + 1j * self._pam[q_label]
        self.points = points
        self._points64 = points.astype(np.complex64)

    def map(self, bits: npt.ArrayLike) -> npt.NDArray[np.complex64]:
        """Map bits to symbols.

        Args:
            bits: (..., n*q) array of 0/1 (any integer or bool dtype).
        Returns:
            (..., n) complex64 symbols.
        """
        b = np.asarray(bits)
        if b.shape[-1] % self.q:
            raise ValueError(
                f"{b.shape[-1]} bits is not a multiple of {self.q} bits per {self.modulation} symbol"
            )
        b = b.reshape(*b.shape[:-1], -1, self.q).astype(np.uint8, copy=False)
        labels = b[..., 0].copy()  # uint8 shifts: an int64 weighted sum made this the sender's slowest step
        for i in range(1, self.q):
            labels <<= 1
            labels |= b[..., i]
        return self._points64[labels]

    def demap(
        self,
        y: npt.ArrayLike,
        no: npt.ArrayLike,
        h: npt.ArrayLike | None = None,
        method: DemapMethod = "maxlog",
    ) -> npt.NDArray[np.float32]:
        """Bit LLRs of received symbols y = h·x + w, w ~ CN(0, no).

        Args:
            y: (..., n) complex received symbols.
            no: noise variance per complex symbol, scalar or broadcastable to (..., n).
            h: channel coefficient per symbol (None = 1), broadcastable to (..., n).
                Symbols with h == 0 (erased) get LLR 0.
            method: "maxlog" (max-log approximation) or "exact" (log-sum-exp).
        Returns:
            (..., n*q) float32 LLRs, ln P(b=0)/P(b=1).
        """
        if method not in ("maxlog", "exact"):
            raise ValueError(f"unknown demapping method {method!r}; expected 'maxlog' or 'exact'")
        if method == "maxlog" and self.q in (2, 4):
            return self._maxlog_gray(y, no, h)
        y = np.asarray(y, dtype=np.complex128)
        no_arr = np.asarray(no, dtype=np.float64)
        if np.any(~np.isfinite(no_arr)) or np.any(no_arr <= 0):
            raise ValueError("noise variance must be finite and > 0")
        if h is None:
            z, no_eff = y, np.broadcast_to(no_arr, y.shape)
        else:
            h_arr = np.broadcast_to(np.asarray(h, dtype=np.complex128), y.shape)
            gain = np.abs(h_arr) ** 2
            erased = gain == 0
            safe = np.where(erased, 1.0, h_arr)
            # Equalising by h keeps the likelihood exact: noise becomes CN(0, no/|h|^2).
            z = y / safe
            no_eff = np.where(erased, np.inf, no_arr / np.where(erased, 1.0, gain))
        if self.q == 1:
            llr = self._demap_dim(z.real, no_eff / 2, method)
        else:
            llr_i = self._demap_dim(z.real, no_eff / 2, method)  # (..., n, m)
            llr_q = self._demap_dim(z.imag, no_eff / 2, method)
            llr = np.empty((*z.shape, self.q))
            llr[..., 0::2] = llr_i
            llr[..., 1::2] = llr_q
        return llr.reshape(*z.shape[:-1], -1).astype(np.float32)

    def _maxlog_gray(
        self, y: npt.ArrayLike, no: npt.ArrayLike, h: npt.ArrayLike | None
    ) -> npt.NDArray[np.float32]:
        """Max-log LLRs of QPSK and 16-QAM in closed form, one pass in numba: the same numbers
        as ``_demap_dim`` (tested), which computes every level's distance in float64 numpy
        passes and took longer than the LDPC decoder in the receive chain."""
        y_arr = np.ascontiguousarray(y, dtype=np.complex64)
        no_arr = np.asarray(no, dtype=np.float32)
        if np.any(~np.isfinite(no_arr)) or np.any(no_arr <= 0):
            raise ValueError("noise variance must be finite and > 0")
        flat_no = np.ascontiguousarray(np.broadcast_to(no_arr, y_arr.shape)).reshape(-1)
        flat_h = (
            np.ascontiguousarray(np.broadcast_to(np.asarray(h, dtype=np.complex64), y_arr.shape)).reshape(-1)
            if h is not None
            else np.empty(0, dtype=np.complex64)
        )
        out = np.empty(y_arr.size * self.q, dtype=np.float32)
        _gray_maxlog(y_arr.reshape(-1), flat_h, flat_no, np.float32(self._scale), self.q, out)
        return out.reshape(*y_arr.shape[:-1], -1)

    def _demap_dim(
        self, r: npt.NDArray[np.float64], var: npt.NDArray[np.float64], method: DemapMethod
    ) -> npt.NDArray[np.float64]:
        """LLRs of the bits of one real PAM dimension; r, var: (..., n) -> (..., n, m)."""
        m = self._m_dim
        with np.errstate(divide="ignore", invalid="ignore"):
            metric = -((r[..., None] - self._pam) ** 2) / (2 * var[..., None])  # (..., n, 2^m)
        metric = np.nan_to_num(metric, nan=0.0, neginf=0.0)  # var = inf (erased) -> flat
        labels = np.arange(2**m)
        out = np.empty((*r.shape, m))
        for i in range(m):
            is_one = ((labels >> (m - 1 - i)) & 1).astype(bool)
            m0, m1 = metric[..., ~is_one], metric[..., is_one]
            if method == "maxlog":
                out[..., i] = m0.max(-1) - m1.max(-1)
            else:
                out[..., i] = _logsumexp(m0) - _logsumexp(m1)
        return out


@numba.njit(cache=True, nogil=True, fastmath=True)
def _gray_maxlog(y, h, no, scale, q, out):  # type: ignore[no-untyped-def]
    """y, h (empty: h = 1): (n,) complex64; no: (n,) float32 -> out: (n·q,) float32 LLRs.

    Per real dimension, with r the equalised sample in unnormalised levels (±1, ±3), the max-log
    LLRs of 38.211's Gray labels are QPSK: 4r; 16-QAM sign bit: 4r for |r| <= 2 else
    8(r - sign r), inner/outer bit: 4(2 - |r|); each times scale² |h|² / no (1 / 2σ² in those
    units). An erased symbol (h = 0) gives LLRs 0."""
    for i in range(y.shape[0]):
        zr, zi = y[i].real, y[i].imag
        gain = np.float32(1.0)
        if h.shape[0]:
            hr, hi = h[i].real, h[i].imag
            gain = hr * hr + hi * hi
            if gain == 0:
                for j in range(q):
                    out[i * q + j] = 0.0
                continue
            zr, zi = (y[i].real * hr + y[i].imag * hi) / gain, (y[i].imag * hr - y[i].real * hi) / gain
        w = scale * scale * gain / no[i]
        rr, ri = zr / scale, zi / scale
        if q == 2:
            out[2 * i] = 4 * rr * w
            out[2 * i + 1] = 4 * ri * w
            continue
        for dim in range(2):
            r = rr if dim == 0 else ri
            a = abs(r)
            sign_bit = 4 * r if a <= 2 else 8 * (r - (1.0 if r > 0 else -1.0))
            out[4 * i + dim] = sign_bit * w
            out[4 * i + dim + 2] = 4 * (2 - a) * w


def _logsumexp(a: npt.NDArray[np.float64]) -> npt.NDArray[np.float64]:
    peak = a.max(-1, keepdims=True)
    return (peak + np.log(np.exp(a - peak).sum(-1, keepdims=True)))[..., 0]


def hard_decision(llr: npt.ArrayLike) -> npt.NDArray[np.uint8]:
    """Bits from LLRs (ln P0/P1): 1 where LLR < 0. Same shape, uint8."""
    return (np.asarray(llr) < 0).astype(np.uint8)
