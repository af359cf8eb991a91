"""The project's previous LDPC decoder, kept as the reference that ``bench.phy`` measures the
C kernel against: layered normalised min-sum in float32, numba, the cyclic shift inside the
loops (two runs per edge). Same algorithm and schedule as ``m3e.phy.ldpc.LdpcDecoder``."""

from __future__ import annotations

import numba
import numpy as np
import numpy.typing as npt

from m3e.phy.ldpc import DecodeResult, LdpcEncoder

LLR_FILLER = 1e4  # filler bits are known zeros


@numba.njit(cache=True, nogil=True, fastmath=True, inline="always")
def _v2c(post, qe, me, k0, k1, off, min1, min2, arg, sgn, e):  # type: ignore[no-untyped-def]
    """Variable-to-check messages of bits k0..k1 of one edge, and the running minima.

    Written without branches (selects only) so that LLVM vectorises it."""
    for k in range(k0, k1):
        v = post[off + k] - me[k]
        qe[k] = v
        a = abs(v)
        m1 = min1[k]
        arg[k] = e if a < m1 else arg[k]
        min2[k] = min(min2[k], max(m1, a))
        min1[k] = min(m1, a)
        sgn[k] = -sgn[k] if v < 0 else sgn[k]


@numba.njit(cache=True, nogil=True, fastmath=True, inline="always")
def _c2v(post, qe, me, k0, k1, off, min1, min2, arg, sgn, e, alpha):  # type: ignore[no-untyped-def]
    """Check-to-variable messages of bits k0..k1 of one edge, and the new posteriors."""
    for k in range(k0, k1):
        mag = alpha * (min2[k] if arg[k] == e else min1[k])
        # sign of the product of the other edges' messages = total sign · own sign
        new = mag * (-sgn[k] if qe[k] < 0 else sgn[k])
        me[k] = new
        post[off + k] = qe[k] + new


@numba.njit(cache=True, nogil=True)
def _decode_kernel(llr, n_rows, z, row_ptr, col, shift, max_iter, alpha, hard, iters, ok):  # type: ignore[no-untyped-def]
    """Layered normalised min-sum over the first n_rows base rows.

    llr: (B, n_ldpc) float32 channel LLRs; hard: (B, n_ldpc) uint8 out;
    iters: (B,) int32 out; ok: (B,) bool out (all n_rows checks satisfied).
    """
    n_edges = row_ptr[n_rows]
    max_deg = 0
    for r in range(n_rows):
        max_deg = max(max_deg, row_ptr[r + 1] - row_ptr[r])
    for b in range(llr.shape[0]):
        post = llr[b].copy()
        msg = np.zeros((n_edges, z), dtype=np.float32)
        q = np.empty((max_deg, z), dtype=np.float32)
        min1 = np.empty(z, dtype=np.float32)
        min2 = np.empty(z, dtype=np.float32)
        arg = np.empty(z, dtype=np.int64)
        sgn = np.empty(z, dtype=np.float32)
        syn = np.empty(z, dtype=np.uint8)
        bits = hard[b]
        it = 0
        good = False
        while it < max_iter and not good:
            it += 1
            for r in range(n_rows):
                e0, e1 = row_ptr[r], row_ptr[r + 1]
                min1[:] = np.inf
                min2[:] = np.inf
                sgn[:] = 1
                # bit k of an edge with shift s sits at column bit (k + s) mod z:
                # two contiguous runs, k < z - s and k >= z - s
                for e in range(e0, e1):
                    base, s, qe, me = col[e] * z, shift[e], q[e - e0], msg[e]
                    _v2c(post, qe, me, 0, z - s, base + s, min1, min2, arg, sgn, e)
                    _v2c(post, qe, me, z - s, z, base + s - z, min1, min2, arg, sgn, e)
                for e in range(e0, e1):
                    base, s, qe, me = col[e] * z, shift[e], q[e - e0], msg[e]
                    _c2v(post, qe, me, 0, z - s, base + s, min1, min2, arg, sgn, e, alpha)
                    _c2v(post, qe, me, z - s, z, base + s - z, min1, min2, arg, sgn, e, alpha)
            for i in range(post.shape[0]):
                bits[i] = post[i] < 0
            good = True
            for r in range(n_rows):
                syn[:] = 0
                for e in range(row_ptr[r], row_ptr[r + 1]):
                    base, s = col[e] * z, shift[e]
                    syn[: z - s] ^= bits[base + s : base + z]
                    syn[z - s :] ^= bits[base : base + s]
                if syn.any():
                    good = False
                    break
        iters[b] = it
        ok[b] = good


class FloatLdpcDecoder:
    """``decode_buffer(buffer)``: a soft buffer (B, n_ldpc) -> DecodeResult, in float32."""

    def __init__(self, encoder: LdpcEncoder, max_iter: int = 20, alpha: float = 0.75) -> None:
        self.encoder, self.max_iter, self.alpha = encoder, max_iter, alpha

    def __call__(self, llr: npt.ArrayLike, rv: int = 0) -> DecodeResult:
        llr_arr = np.atleast_2d(np.asarray(llr, dtype=np.float32))
        buffer = self.encoder.accumulate(self.encoder.new_buffer(llr_arr.shape[0]), llr_arr, rv)
        return self.decode_buffer(buffer)

    def decode_buffer(self, buffer: npt.NDArray[np.float32]) -> DecodeResult:
        code, g = self.encoder.code, self.encoder._graph
        llr = np.array(buffer, dtype=np.float32, order="C")
        llr[:, self.encoder._filler] = LLR_FILLER
        received = np.nonzero(np.any(llr != 0, axis=0))[0]
        last_col = int(received.max()) // code.z if received.size else code.kb + 3
        n_rows = min(max(last_col - code.kb + 1, 4), code.bm.shape[0])
        hard = np.empty(llr.shape, dtype=np.uint8)
        iters = np.empty(llr.shape[0], dtype=np.int32)
        ok = np.empty(llr.shape[0], dtype=np.bool_)
        _decode_kernel(
            llr,
            n_rows,
            code.z,
            g.row_ptr,
            g.col,
            g.shift,
            self.max_iter,
            np.float32(self.alpha),
            hard,
            iters,
            ok,
        )
        return DecodeResult(bits=hard[:, : code.k], ok=ok, iterations=iters)
