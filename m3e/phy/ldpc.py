"""5G NR LDPC (TS 38.212 §5.2.2, §5.3.2, §5.4.2): base graphs 1 and 2, lifting,
encoding (numba), rate matching with redundancy versions, and a fast layered
normalised min-sum decoder with early stopping (a C kernel, ``_ldpc.c``).

Bits are uint8 0/1; LLRs are float32 ``ln P(b=0)/P(b=1)``.

Two domains:
- the *mother codeword* c of length n_ldpc = (number of base columns)·Z, which holds
  the first 2Z punctured systematic bits and the filler bits; the HARQ soft buffer
  lives here so that every redundancy version adds into the same positions;
- the *transmitted* rate-matched bits, E = n per code block, read from the
  circular buffer c[2Z:] starting at the RV's k0 and skipping filler bits.

The 38.212 base-graph tables live in data/base_graphs.npz (see make_base_graphs.py).
"""

from __future__ import annotations

import functools
from dataclasses import dataclass, field
from pathlib import Path

import numba
import numpy as np
import numpy.typing as npt

from m3e.phy import _ldpc  # type: ignore[attr-defined]

K_MAX = 8448
K_MAX_BG2 = 3840  # base graph 2's largest code block (TS 38.212 §5.2.2, K_cb)
BG2_ANY_RATE_K = 3824  # up to this many bits base graph 2 is selected at any rate <= 0.67
_LIFTING_SETS = (
    (2, 4, 8, 16, 32, 64, 128, 256),
    (3, 6, 12, 24, 48, 96, 192, 384),
    (5, 10, 20, 40, 80, 160, 320),
    (7, 14, 28, 56, 112, 224),
    (9, 18, 36, 72, 144, 288),
    (11, 22, 44, 88, 176, 352),
    (13, 26, 52, 104, 208),
    (15, 30, 60, 120, 240),
)
_BG_SHAPE = {1: (46, 68), 2: (42, 52)}
_RV_COEFF = {1: (0, 17, 33, 56), 2: (0, 13, 25, 43)}


_TABLES = Path(__file__).with_name("data") / "base_graphs.npz"


@functools.cache
def base_graph(bg: int, i_ls: int) -> npt.NDArray[np.int16]:
    """Base matrix V of base graph ``bg`` for set index ``i_ls``: (46, 68) or (42, 52)
    int16, -1 where there is no circulant (TS 38.212 Tables 5.3.2-2/3)."""
    if bg not in _BG_SHAPE or not 0 <= i_ls < len(_LIFTING_SETS):
        raise ValueError(f"no base graph {bg} with set index {i_ls}")
    with np.load(_TABLES) as tables:
        return np.asarray(tables[f"bg{bg}"][i_ls])


def select_base_graph(k: int, rate: float) -> int:
    """Base graph for k information bits at code rate ``rate`` (TS 38.212 §7.2.2)."""
    if k <= 292 or (k <= BG2_ANY_RATE_K and rate <= 0.67) or rate <= 0.25:
        return 2
    return 1


@dataclass(frozen=True)
class LdpcCode:
    """A lifted 5G LDPC code for k information bits, transmitted as n bits per block.

    Attributes:
        k, n: information bits (CRC included) and rate-matched bits E per block.
        bg, z, i_ls: base graph, lifting size Z and its set index.
        kb: systematic base columns (22 for BG1, 10 for BG2).
        bm: lifted base matrix, entries are shifts mod Z or -1.
    """

    k: int
    n: int
    bg: int
    z: int
    i_ls: int
    kb: int
    bm: npt.NDArray[np.int16] = field(repr=False, compare=False)

    @property
    def k_ldpc(self) -> int:
        return self.kb * self.z

    @property
    def n_ldpc(self) -> int:
        return self.bm.shape[1] * self.z

    @property
    def n_filler(self) -> int:
        return self.k_ldpc - self.k

    @property
    def rate(self) -> float:
        return self.k / self.n


@functools.cache
def make_code(k: int, n: int, bg: int | None = None) -> LdpcCode:
    """Choose base graph and lifting for (k, n) as TS 38.212 §5.2.2 does."""
    if not isinstance(k, (int, np.integer)) or not 12 <= k <= K_MAX:
        raise ValueError(f"k must be an integer in [12, {K_MAX}], got {k!r}")
    if not isinstance(n, (int, np.integer)) or n <= 0:
        raise ValueError(f"n must be a positive integer, got {n!r}")
    rate = k / n
    if bg is None:
        bg = select_base_graph(k, rate)
    if bg not in (1, 2):
        raise ValueError(f"base graph must be 1 or 2, got {bg!r}")
    min_rate = 1 / 3 if bg == 1 else 1 / 5
    if not min_rate <= rate <= 0.95:
        raise ValueError(
            f"code rate k/n = {k}/{n} = {rate:.3f} is outside [{min_rate:.3f}, 0.95] for base graph {bg}"
        )
    if bg == 2 and k > K_MAX_BG2:
        raise ValueError(f"base graph 2 supports k <= {K_MAX_BG2}, got {k}")
    if bg == 1:
        kb_select = 22
    else:
        kb_select = 10 if k > 640 else 9 if k > 560 else 8 if k > 192 else 6
    z, i_ls = min((zz, i) for i, s in enumerate(_LIFTING_SETS) for zz in s if kb_select * zz >= k)
    raw = base_graph(bg, i_ls)
    bm = np.where(raw >= 0, raw % z, -1).astype(np.int16)
    return LdpcCode(k=k, n=n, bg=bg, z=z, i_ls=i_ls, kb=22 if bg == 1 else 10, bm=bm)


# ---------------------------------------------------------------- graph tables


@dataclass(frozen=True)
class _Graph:
    """Base graph as CSR over rows: edges of row r are row_ptr[r]:row_ptr[r+1]."""

    row_ptr: npt.NDArray[np.int64]
    col: npt.NDArray[np.int64]
    shift: npt.NDArray[np.int64]
    # encoding schedule: p0 from the sum of the 4 core rows, then one row per unknown
    p0_shift: int
    solve_rows: npt.NDArray[np.int64]
    solve_cols: npt.NDArray[np.int64]


@functools.cache
def _graph(code: LdpcCode) -> _Graph:
    bm = code.bm
    rows, cols = np.nonzero(bm >= 0)
    row_ptr = np.searchsorted(rows, np.arange(bm.shape[0] + 1)).astype(np.int64)
    kb = code.kb
    core = range(kb, kb + 4)
    # Summing the 4 core rows cancels core columns kb+1..kb+3 (equal shifts twice)
    # and leaves column kb once: that single shift gives p0 directly.
    p0_shift = None
    for c in core:
        shifts, counts = np.unique(bm[:4, c][bm[:4, c] >= 0], return_counts=True)
        odd = shifts[counts % 2 == 1]
        if c == kb and len(odd) == 1:
            p0_shift = int(odd[0])
        elif c != kb and len(odd):
            raise RuntimeError(f"base graph {code.bg} core does not have the dual-diagonal form")
    if p0_shift is None:
        raise RuntimeError(f"base graph {code.bg} core does not have the dual-diagonal form")
    known = set(range(kb + 1))
    solve_rows, solve_cols = [], []
    pending = list(range(4))
    while pending:
        for r in pending:
            unknown = [c for c in core if bm[r, c] >= 0 and c not in known]
            if not unknown:  # already implied by the others
                pending.remove(r)
                break
            if len(unknown) == 1:
                solve_rows.append(r)
                solve_cols.append(unknown[0])
                known.add(unknown[0])
                pending.remove(r)
                break
        else:
            raise RuntimeError("cannot schedule the core parity bits")
    for r in range(4, bm.shape[0]):
        solve_rows.append(r)
        solve_cols.append(kb + r)
    return _Graph(
        row_ptr=row_ptr,
        col=cols.astype(np.int64),
        shift=bm[rows, cols].astype(np.int64),
        p0_shift=p0_shift,
        solve_rows=np.array(solve_rows, dtype=np.int64),
        solve_cols=np.array(solve_cols, dtype=np.int64),
    )


# ---------------------------------------------------------------- numba kernels


@numba.njit(cache=True, nogil=True)
def _scatter_add(buffer, rows, pos, values):  # type: ignore[no-untyped-def]
    """buffer[rows[r], pos[i]] += values[r, i] (numpy's fancy-index add: 3x slower) -> True;
    False, adding nothing, when a value is not finite (checked here in one pass: numpy's
    isfinite and all took as long as the add)."""
    for r in range(values.shape[0]):
        for i in range(values.shape[1]):
            if not np.isfinite(values[r, i]):
                return False
    for r in range(rows.shape[0]):
        for i in range(pos.shape[0]):
            buffer[rows[r], pos[i]] += values[r, i]
    return True


@numba.njit(cache=True, nogil=True, inline="always")
def _xor_into(dst, src):  # type: ignore[no-untyped-def]
    for k in range(dst.shape[0]):
        dst[k] ^= src[k]


@numba.njit(cache=True, nogil=True, inline="always")
def _xor_shifted(acc, c, base, s, z):  # type: ignore[no-untyped-def]
    """acc[k] ^= c[base + (k + s) mod z] for k < z, as two runs over views (a modulo per bit
    kept the loop from vectorising: 12.5 ns a bit)."""
    _xor_into(acc[: z - s], c[base + s : base + z])
    _xor_into(acc[z - s :], c[base : base + s])


@numba.njit(cache=True, nogil=True, inline="always")
def _put_shifted(c, base, s, z, values):  # type: ignore[no-untyped-def]
    """c[base + (k + s) mod z] = values[k] for k < z."""
    c[base + s : base + z] = values[: z - s]
    c[base : base + s] = values[z - s :]


@numba.njit(cache=True, nogil=True)
def _encode_kernel(info, cw, z, kb, row_ptr, col, shift, p0_shift, solve_rows, solve_cols):  # type: ignore[no-untyped-def]
    """info: (B, kb·z) uint8 -> cw: (B, n_ldpc) uint8, in place."""
    total = np.zeros(z, dtype=np.uint8)
    acc = np.zeros(z, dtype=np.uint8)
    for b in range(info.shape[0]):
        c = cw[b]
        c[: kb * z] = info[b]
        total[:] = 0
        for r in range(4):
            for e in range(row_ptr[r], row_ptr[r + 1]):
                if col[e] < kb:
                    _xor_shifted(total, c, col[e] * z, shift[e], z)
        # (P^x p0)[k] = p0[(k + x) mod z] = total[k]
        _put_shifted(c, kb * z, p0_shift, z, total)
        for t in range(solve_rows.shape[0]):
            r, u = solve_rows[t], solve_cols[t]
            acc[:] = 0
            su = 0
            for e in range(row_ptr[r], row_ptr[r + 1]):
                if col[e] == u:
                    su = shift[e]
                    continue
                _xor_shifted(acc, c, col[e] * z, shift[e], z)
            _put_shifted(c, u * z, su, z, acc)


# ---------------------------------------------------------------- public blocks


def _as_bits(bits: npt.ArrayLike, k: int) -> npt.NDArray[np.uint8]:
    b = np.asarray(bits)
    if b.ndim not in (1, 2) or b.shape[-1] != k:
        raise ValueError(f"expected bits of shape (k,) or (B, k) with k={k}, got {b.shape}")
    if b.size and (b.min() < 0 or b.max() > 1):
        raise ValueError("bits must be 0 or 1")
    return np.atleast_2d(b).astype(np.uint8)


class LdpcEncoder:
    """5G LDPC encoder with rate matching.

    Args:
        k: information bits per block (12 … 8448), CRC included.
        n: transmitted (rate-matched) bits per block.
        bg: force base graph 1 or 2 (None: chosen by 38.212).
        qm: bits per symbol for the 38.212 §5.4.2.2 bit interleaver (None: off).

    ``encoder(bits, rv)``: bits (B, k) or (k,) uint8 -> (B, n) or (n,) uint8.
    """

    def __init__(self, k: int, n: int, bg: int | None = None, qm: int | None = None) -> None:
        self.code = make_code(k, n, bg)
        if qm is not None and (qm < 1 or n % qm):
            raise ValueError(f"n={n} must be a multiple of the bits per symbol qm={qm}")
        self.qm = qm
        self._graph = _graph(self.code)
        c = self.code
        d_len = c.n_ldpc - 2 * c.z
        is_filler = (np.arange(d_len) >= c.k - 2 * c.z) & (np.arange(d_len) < c.k_ldpc - 2 * c.z)
        self._valid = np.nonzero(~is_filler)[0] + 2 * c.z  # circular buffer, fillers skipped
        self._positions: dict[int, npt.NDArray[np.int64]] = {}  # per rv
        self._filler = slice(c.k, c.k_ldpc)

    @property
    def k(self) -> int:
        return self.code.k

    @property
    def n(self) -> int:
        return self.code.n

    def positions(self, rv: int = 0) -> npt.NDArray[np.int64]:
        """(n,) positions in the mother codeword that redundancy version ``rv`` sends,
        in transmission order (before bit interleaving)."""
        if rv not in self._positions:
            self._positions[rv] = self._rv_positions(rv)
        return self._positions[rv]

    def _rv_positions(self, rv: int) -> npt.NDArray[np.int64]:
        if rv not in (0, 1, 2, 3):
            raise ValueError(f"redundancy version must be 0, 1, 2 or 3, got {rv!r}")
        c = self.code
        n_cb = c.n_ldpc - 2 * c.z
        cols = _BG_SHAPE[c.bg][1] - 2
        k0 = (_RV_COEFF[c.bg][rv] * n_cb // (cols * c.z)) * c.z
        start = int(np.searchsorted(self._valid - 2 * c.z, k0))
        idx = (start + np.arange(c.n)) % self._valid.shape[0]
        out = self._valid[idx]
        if self.qm:
            out = out.reshape(self.qm, -1).T.reshape(-1)
        return out

    def encode_mother(self, bits: npt.ArrayLike) -> npt.NDArray[np.uint8]:
        """(B, k) information bits -> (B, n_ldpc) mother codewords (fillers are 0)."""
        c, g = self.code, self._graph
        info = np.zeros((np.atleast_2d(bits).shape[0], c.k_ldpc), dtype=np.uint8)
        info[:, : c.k] = _as_bits(bits, c.k)
        cw = np.empty((info.shape[0], c.n_ldpc), dtype=np.uint8)
        _encode_kernel(info, cw, c.z, c.kb, g.row_ptr, g.col, g.shift, g.p0_shift, g.solve_rows, g.solve_cols)
        return cw

    def __call__(self, bits: npt.ArrayLike, rv: int = 0) -> npt.NDArray[np.uint8]:
        single = np.ndim(bits) == 1
        out = self.encode_mother(bits)[:, self.positions(rv)]
        return out[0] if single else out

    def new_buffer(self, batch: int = 1) -> npt.NDArray[np.float32]:
        """An empty HARQ soft buffer: (batch, n_ldpc) float32 zeros."""
        return np.zeros((batch, self.code.n_ldpc), dtype=np.float32)

    def accumulate(
        self,
        buffer: npt.NDArray[np.float32],
        llr: npt.ArrayLike,
        rv: int = 0,
        rows: npt.ArrayLike | None = None,
    ) -> npt.NDArray[np.float32]:
        """Soft-combine received LLRs of version ``rv`` into ``buffer`` in place.

        Args:
            buffer: (B, n_ldpc) float32 from ``new_buffer``.
            llr: (R, n) or (n,) LLRs of the transmitted bits.
            rv: redundancy version they were sent with.
            rows: (R,) the buffer rows (code blocks) they belong to; None: all B rows.
        Returns:
            the same buffer. Chase combining is the same rv twice; incremental
            redundancy is different rvs, which fill new positions.
        """
        llr_arr = np.atleast_2d(np.asarray(llr, dtype=np.float32))
        picked = np.arange(buffer.shape[0]) if rows is None else np.asarray(rows, dtype=np.int64)
        if llr_arr.shape != (picked.shape[0], self.code.n):
            raise ValueError(
                f"expected LLRs of shape ({picked.shape[0]}, {self.code.n}), got {llr_arr.shape}"
            )
        if not _scatter_add(buffer, picked, self.positions(rv), llr_arr):
            raise ValueError("LLRs must be finite")
        return buffer


@dataclass(frozen=True)
class DecodeResult:
    """bits: (B, k) uint8; ok: (B,) parity checks satisfied; iterations: (B,) int32."""

    bits: npt.NDArray[np.uint8]
    ok: npt.NDArray[np.bool_]
    iterations: npt.NDArray[np.int32]


class LdpcDecoder:
    """Layered normalised min-sum decoder (alpha = 3/4) for the code of ``encoder``.

    The kernel is C in 16-bit fixed point (``m3e/phy/_ldpc.c``, docs/phy.md); it releases the
    GIL, so decoders in several threads run in parallel.

    Args:
        encoder: the LdpcEncoder that defines code and rate matching.
        max_iter: iteration limit (layered converges about twice as fast as flooding).
        stall: a block stops early, failed, once its count of failing checks has not reached
            a new low for this many iterations (0: never). At 4 the BLER of the four codes of
            ``bench.phy`` is unchanged (3,200 blocks each) and a hopeless first transmission
            at the cliff costs 9-10 iterations instead of 20 (docs/phy.md).

    ``decoder(llr, rv)``: LLRs (B, n) or (n,) of one transmission -> DecodeResult.
    ``decoder.decode_buffer(buffer)``: a HARQ soft buffer (B, n_ldpc) -> DecodeResult.
    """

    def __init__(self, encoder: LdpcEncoder, max_iter: int = 20, stall: int = 4) -> None:
        if max_iter < 1:
            raise ValueError(f"max_iter must be >= 1, got {max_iter}")
        if stall < 0:
            raise ValueError(f"stall must be >= 0, got {stall}")
        self.encoder = encoder
        self.max_iter = max_iter
        self.stall = stall

    def __call__(self, llr: npt.ArrayLike, rv: int = 0) -> DecodeResult:
        llr_arr = np.atleast_2d(np.asarray(llr, dtype=np.float32))
        buffer = self.encoder.accumulate(self.encoder.new_buffer(llr_arr.shape[0]), llr_arr, rv)
        return self.decode_buffer(buffer)

    def decode_buffer(self, buffer: npt.NDArray[np.float32]) -> DecodeResult:
        """Decode soft buffers (B, n_ldpc); the filler bits are known zeros, and only the check
        rows whose parity columns hold any LLR are used (per block)."""
        code, g = self.encoder.code, self.encoder._graph
        if buffer.ndim != 2 or buffer.shape[1] != code.n_ldpc:
            raise ValueError(f"expected a buffer of shape (B, {code.n_ldpc}), got {buffer.shape}")
        llr = np.ascontiguousarray(buffer, dtype=np.float32)
        hard = np.empty((llr.shape[0], code.k), dtype=np.uint8)
        iters = np.empty(llr.shape[0], dtype=np.int32)
        ok = np.empty(llr.shape[0], dtype=np.uint8)
        graph = (g.row_ptr, g.col, g.shift)
        _ldpc.decode(llr, code.k, code.kb, code.z, *graph, self.max_iter, self.stall, hard, iters, ok)
        return DecodeResult(bits=hard, ok=ok.view(bool), iterations=iters)
