/*
 * Layered normalised min-sum LDPC decoder in 16-bit fixed point (docs/phy.md).
 *
 * One code block at a time; the SIMD lanes run over the Z bits of a circulant (Z up to 384 =
 * 12 AVX-512 vectors of int16), so a single block already fills the vector unit. The kernel is
 * written with GCC vector types and no branches in its inner loops; `target_clones` builds
 * AVX-512, AVX2 and baseline versions, picked at load time for the CPU at hand.
 *
 * Fixed point, exact: LLR_SCALE steps per unit of LLR; channel LLRs saturate at +-CH_MAX and
 * check-to-variable messages at +-MSG_MAX, and nothing else is ever clamped: a posterior is
 * exactly its channel LLR plus its messages, within +-(CH_MAX + 30 MSG_MAX) (30: the largest
 * column degree of the 5G base graphs), and posterior - message within +-31872 < 32767.
 * (Clamping posteriors or variable-to-check values instead loses the difference between what
 * was added and what is later subtracted: posteriors then shrank row after row and clean
 * high-SNR bursts failed to decode.)
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#define LLR_SCALE 8.0f
#define CH_MAX 16000 /* LLR 2000 */
#define MSG_MAX 512  /* LLR 64 */

#if defined(__x86_64__) && defined(__GNUC__) && !defined(__clang__)
#define MULTIVERSION __attribute__((target_clones("arch=x86-64-v4", "arch=x86-64-v3", "default")))
#else
#define MULTIVERSION
#endif

/* Posteriors are kept twice per column (stride >= 2z + LANES): bit k of an edge with shift s
 * sits at column bit (k + s) mod z, which is entry s + k of the doubled column, so an edge's
 * bits are one contiguous run of whole vectors. (With the rotation inside the loops, each edge
 * had two runs of odd length with scalar tails, and the tails took most of the time.)
 *
 * A row is processed LANES bits at a time with its running minima, argmin and sign in
 * registers (GCC vector types; target_clones picks AVX-512, AVX2 or SSE): only the messages
 * and posteriors go to memory, and the extrinsic values are computed twice rather than stored
 * (stores are the scarce port). When Z is a whole number of vectors, a posterior is written to
 * both copies as it is updated; otherwise the lanes past Z hold garbage and the true half is
 * copied over the other after the row (`mirror`). */
#define LANES 32
#define MAX_CHAINS 3 /* vectors of lanes whose row updates run interleaved */
typedef int16_t vec __attribute__((vector_size(2 * LANES)));
typedef int16_t uvec __attribute__((vector_size(2 * LANES), aligned(2))); /* unaligned */
#define LOAD(ptr) (*(const uvec *)(ptr))
#define STORE(ptr, v) (*(uvec *)(ptr) = (v))

#define INLINE static inline __attribute__((always_inline))

INLINE vec vselect(vec mask, vec a, vec b) { return (a & mask) | (b & ~mask); }
INLINE vec vmin(vec a, vec b) { return vselect(a < b, a, b); }
INLINE vec vmax(vec a, vec b) { return vselect(a > b, a, b); }

/* dst[0, len) = src[0, len), the two disjoint: whole vectors, the last one ending at len (it
 * may overlap the one before; that copies a few entries twice). Inline, unlike memcpy's call. */
INLINE void copy16(int16_t *restrict dst, const int16_t *restrict src, int len) {
    if (len < LANES) {
        for (int i = 0; i < len; i++) dst[i] = src[i];
        return;
    }
    for (int i = 0; i + LANES < len; i += LANES) STORE(dst + i, LOAD(src + i));
    STORE(dst + len - LANES, LOAD(src + len - LANES));
}

/* After writing entries [s, s + z) of a doubled column, make both halves equal again. */
INLINE void mirror(int16_t *col, int s, int z) {
    copy16(col, col + z, s);
    copy16(col + z + s, col + s, z - s);
}

/* One layer of normalised min-sum (alpha = 3/4) for the nc vectors of lanes from k of the
 * edges e0..e1 of a row; their parity after the update goes to syn (sign bit set: a check
 * fails). The minima run as a chain of dependent operations along the edges; nc independent
 * chains keep the vector unit busy (nc is a constant after inlining). */
INLINE void update_row_lanes(
    int16_t *post, int16_t *msg, int16_t *syn, int64_t stride, int z, int zp,
    int64_t e0, int64_t e1, const int64_t *col, const int64_t *shift, int k, const int nc,
    const int mirrored) {
    const vec msg_max = (vec){0} + MSG_MAX, big = (vec){0} + INT16_MAX;
    vec min1[MAX_CHAINS], min2[MAX_CHAINS], arg[MAX_CHAINS], sgn[MAX_CHAINS], par[MAX_CHAINS];
    for (int c = 0; c < nc; c++) {
        min1[c] = big;
        min2[c] = big;
        arg[c] = sgn[c] = par[c] = (vec){0};
    }
    for (int64_t e = e0; e < e1; e++) {
        const int16_t *p = post + col[e] * stride + shift[e] + k;
        for (int c = 0; c < nc; c++) {
            vec v = LOAD(p + c * LANES) - LOAD(msg + e * zp + k + c * LANES);
            vec neg = v >> 15;
            vec a = (v ^ neg) - neg;
            arg[c] = vselect(a < min1[c], (vec){0} + (int16_t)e, arg[c]);
            min2[c] = vmin(min2[c], vmax(min1[c], a));
            min1[c] = vmin(min1[c], a);
            sgn[c] ^= v;
        }
    }
    for (int64_t e = e0; e < e1; e++) {
        int16_t *p = post + col[e] * stride + shift[e] + k;
        for (int c = 0; c < nc; c++) {
            vec v = LOAD(p + c * LANES) - LOAD(msg + e * zp + k + c * LANES);
            vec mag = vselect(arg[c] == (int16_t)e, min2[c], min1[c]);
            mag = vmin((mag >> 1) + (mag >> 2), msg_max); /* 3/4, rounded down */
            /* sign of the product of the other edges' messages = total sign xor own sign */
            vec neg = (sgn[c] ^ v) >> 15;
            vec m = (mag ^ neg) - neg;
            vec pn = v + m;
            STORE(msg + e * zp + k + c * LANES, m);
            STORE(p + c * LANES, pn);
            if (mirrored) { /* the other copy of the same bits, in the same pass */
                int j = (int)shift[e] + k + c * LANES;
                if (j + LANES <= z) {
                    STORE(p + c * LANES + z, pn);
                } else if (j >= z) {
                    STORE(p + c * LANES - z, pn);
                } else { /* straddles z: each store puts part of the lanes in place and the
                          * rest in padding that is never read */
                    STORE(p + c * LANES + z, pn);
                    STORE(p + c * LANES - z, pn);
                }
            }
            par[c] ^= pn;
        }
    }
    for (int c = 0; c < nc; c++) STORE(syn + k + c * LANES, par[c]);
}

/* How many of the first z lanes are negative: the checks of the row that do not hold. */
static inline int count_negative(const int16_t *restrict syn, int z) {
    int n = 0;
    for (int k = 0; k < z; k++) n += (uint16_t)syn[k] >> 15;
    return n;
}

/* Any of the first z lanes negative: a check of the row does not hold. */
static inline int any_negative(const int16_t *restrict syn, int z) {
    int16_t any = 0;
    for (int k = 0; k < z; k++) any |= syn[k];
    return any < 0;
}

/* Every check of rows [0, n_rows) holds for the hard decisions (signs) of the posteriors: the
 * parity of a check is the sign bit of the xor of its bits' posteriors. */
static inline int parity_ok(const int16_t *post, int n_rows, int z, int zp, int64_t stride,
                            const int64_t *row_ptr, const int64_t *col, const int64_t *shift,
                            int16_t *restrict syn) {
    for (int r = 0; r < n_rows; r++) {
        memset(syn, 0, (size_t)zp * sizeof(int16_t));
        for (int64_t e = row_ptr[r]; e < row_ptr[r + 1]; e++) {
            const int16_t *restrict p = post + col[e] * stride + shift[e];
            for (int k = 0; k < zp; k++) syn[k] ^= p[k];
        }
        if (any_negative(syn, z)) return 0;
    }
    return 1;
}

/* The base rows a block's soft buffer can use: up to the last parity column that holds any
 * LLR (parity never received carries nothing), at least the 4 core rows. */
static int rows_received(const float *in, int64_t n, int z, int kb, int n_base_rows) {
    int64_t last = n - 1;
    while (last >= 0 && in[last] == 0.0f) last--;
    int rows = last < 0 ? 0 : (int)(last / z) - kb + 1;
    return rows < 4 ? 4 : (rows > n_base_rows ? n_base_rows : rows);
}

/* llr: (n_blocks, n) float32 mother-codeword soft buffers -> hard: (n_blocks, k) uint8, iters,
 * ok. Info bits [k, kb z) are fillers (known zeros). Scratch: post (n / z columns of stride),
 * msg (n_edges, zp), work (zp); zp = z rounded up to LANES, stride = 2z + zp, and zp entries of
 * padding before column 0. */
MULTIVERSION
static void decode_blocks(const float *llr, int64_t n_blocks, int64_t n, int64_t k_info, int kb,
                          int z, int zp, int n_base_rows, const int64_t *row_ptr,
                          const int64_t *col, const int64_t *shift, int max_iter, int stall,
                          uint8_t *hard, int32_t *iters, uint8_t *ok, int16_t *post,
                          int16_t *msg, int16_t *work) {
    int16_t *syn = work;
    int64_t stride = 2 * z + zp;
    for (int64_t b = 0; b < n_blocks; b++) {
        const float *in = llr + b * n;
        int n_rows = rows_received(in, n, z, kb, n_base_rows);
        int64_t n_edges = row_ptr[n_rows];
        for (int64_t c = 0; c < kb + n_rows; c++) { /* the columns these rows touch */
            int16_t *p = post + c * stride;
            for (int k = 0; k < z; k++) {
                float v = in[c * z + k] * LLR_SCALE;
                v = v > CH_MAX ? CH_MAX : (v < -CH_MAX ? -CH_MAX : v);
                p[k] = (int16_t)(v < 0 ? v - 0.5f : v + 0.5f); /* round half away from 0 */
            }
            memcpy(p + z, p, (size_t)z * sizeof(int16_t));
        }
        for (int64_t i = k_info; i < (int64_t)kb * z; i++) { /* fillers: known zeros */
            post[i / z * stride + i % z] = CH_MAX;
            post[i / z * stride + i % z + z] = CH_MAX;
        }
        memset(msg, 0, (size_t)(n_edges * zp) * sizeof(int16_t));
        int it = 0, good = 0, fewest = INT32_MAX, since_fewest = 0;
        while (it < max_iter && !good && !(stall && since_fewest >= stall)) {
            it++;
            /* Each row's checks are tested as it is updated; later rows change some of its
             * bits, so only an iteration where all held is confirmed by the full test. */
            int all_held = 1, failing = 0;
            for (int r = 0; r < n_rows; r++) {
                int64_t e0 = row_ptr[r], e1 = row_ptr[r + 1];
                int k = 0;
                for (; k + MAX_CHAINS * LANES <= zp; k += MAX_CHAINS * LANES)
                    update_row_lanes(post, msg, syn, stride, z, zp, e0, e1, col, shift, k,
                                     MAX_CHAINS, zp == z);
                for (; k < zp; k += LANES)
                    update_row_lanes(post, msg, syn, stride, z, zp, e0, e1, col, shift, k, 1,
                                     zp == z);
                if (zp != z) /* lanes past z hold garbage: copy the true half over */
                    for (int64_t e = e0; e < e1; e++)
                        mirror(post + col[e] * stride, (int)shift[e], z);
                int row_failing = count_negative(syn, z);
                failing += row_failing;
                all_held &= !row_failing;
            }
            /* A block whose failing checks have not dropped below their fewest for `stall`
             * iterations is not converging: it stops early and waits for more redundancy. */
            if (failing < fewest) {
                fewest = failing;
                since_fewest = 0;
            } else {
                since_fewest++;
            }
            good = all_held &&
                   parity_ok(post, n_rows, z, zp, stride, row_ptr, col, shift, syn);
        }
        uint8_t *out = hard + b * k_info;
        for (int64_t c = 0; c * z < k_info; c++) {
            const int16_t *p = post + c * stride;
            int64_t m = k_info - c * z < z ? k_info - c * z : z;
            for (int64_t k = 0; k < m; k++) out[c * z + k] = (uint8_t)(p[k] < 0);
        }
        iters[b] = it;
        ok[b] = (uint8_t)good;
    }
}

static int check_buffer(Py_buffer *buf, Py_ssize_t itemsize, Py_ssize_t count, const char *name) {
    if (buf->itemsize != itemsize || buf->len != itemsize * count ||
        !PyBuffer_IsContiguous(buf, 'C')) {
        PyErr_Format(PyExc_ValueError, "%s: expected %zd contiguous items of %zd bytes", name,
                     count, itemsize);
        return 0;
    }
    return 1;
}

/* decode(llr, k, kb, z, row_ptr, col, shift, max_iter, stall, hard, iters, ok)
 * llr: (B, n) float32 soft buffers of the mother codeword (n a multiple of z); k: information
 * bits, kb: systematic base columns (bits [k, kb z) are fillers); row_ptr/col/shift: int64 CSR
 * of the base graph; stall: stop a block whose failing checks have not reached a new low for
 * that many iterations (0: never); hard: (B, k) uint8 out; iters: (B,) int32 out; ok: (B,)
 * uint8 out. */
static PyObject *py_decode(PyObject *self, PyObject *args) {
    Py_buffer llr, row_ptr, col, shift, hard, iters, ok;
    Py_ssize_t k_info;
    int kb, z, max_iter, stall;
    if (!PyArg_ParseTuple(args, "y*niiy*y*y*iiw*w*w*", &llr, &k_info, &kb, &z, &row_ptr, &col,
                          &shift, &max_iter, &stall, &hard, &iters, &ok))
        return NULL;
    PyObject *result = NULL;
    Py_ssize_t n_blocks = iters.len / (Py_ssize_t)sizeof(int32_t);
    Py_ssize_t n = n_blocks ? llr.len / (Py_ssize_t)sizeof(float) / n_blocks : 0;
    Py_ssize_t n_edges_all = col.len / (Py_ssize_t)sizeof(int64_t);
    int n_base_rows = (int)(row_ptr.len / (Py_ssize_t)sizeof(int64_t)) - 1;
    int16_t *post_alloc = NULL, *post = NULL, *msg = NULL, *work = NULL;
    if (n_blocks == 0) { /* nothing to decode */
        result = Py_None;
        Py_INCREF(result);
        goto done;
    }
    if (!check_buffer(&llr, sizeof(float), n_blocks * n, "llr") ||
        !check_buffer(&hard, 1, n_blocks * k_info, "hard") ||
        !check_buffer(&ok, 1, n_blocks, "ok") ||
        !check_buffer(&col, sizeof(int64_t), n_edges_all, "col") ||
        !check_buffer(&shift, sizeof(int64_t), n_edges_all, "shift"))
        goto done;
    if (z < 2 || z > 384 || n % z || kb < 1 || k_info < 1 || k_info > (Py_ssize_t)kb * z ||
        n_base_rows < 4 || max_iter < 1 || stall < 0) {
        PyErr_SetString(PyExc_ValueError, "z, k, kb, max_iter or stall out of range");
        goto done;
    }
    const int64_t *rp = row_ptr.buf, *cl = col.buf, *sh = shift.buf;
    if (rp[n_base_rows] != n_edges_all || (kb + n_base_rows) * (Py_ssize_t)z > n) {
        PyErr_SetString(PyExc_ValueError, "base graph does not fit the LLR length");
        goto done;
    }
    for (int64_t e = 0; e < n_edges_all; e++) {
        if (cl[e] < 0 || cl[e] >= kb + n_base_rows || sh[e] < 0 || sh[e] >= z) {
            PyErr_SetString(PyExc_ValueError, "base graph does not fit the LLR length");
            goto done;
        }
    }
    int zp = (z + LANES - 1) / LANES * LANES;
    post_alloc = calloc((size_t)(n / z * (2 * z + zp) + zp), sizeof(int16_t));
    post = post_alloc ? post_alloc + zp : NULL; /* zp entries before column 0: padding */
    msg = malloc((size_t)(n_edges_all * zp) * sizeof(int16_t));
    work = calloc((size_t)zp, sizeof(int16_t));
    if (!post || !msg || !work) {
        PyErr_NoMemory();
        goto done;
    }
    Py_BEGIN_ALLOW_THREADS
    decode_blocks(llr.buf, n_blocks, n, k_info, kb, z, zp, n_base_rows, rp, cl, sh, max_iter,
                  stall, hard.buf, iters.buf, ok.buf, post, msg, work);
    Py_END_ALLOW_THREADS
    result = Py_None;
    Py_INCREF(result);
done:
    free(post_alloc);
    free(msg);
    free(work);
    PyBuffer_Release(&llr);
    PyBuffer_Release(&row_ptr);
    PyBuffer_Release(&col);
    PyBuffer_Release(&shift);
    PyBuffer_Release(&hard);
    PyBuffer_Release(&iters);
    PyBuffer_Release(&ok);
    return result;
}

static PyMethodDef methods[] = {
    {"decode", py_decode, METH_VARARGS, "Layered min-sum decode of float32 LLR blocks."},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module = {PyModuleDef_HEAD_INIT, "_ldpc", NULL, -1, methods};

PyMODINIT_FUNC PyInit__ldpc(void) { return PyModule_Create(&module); }
