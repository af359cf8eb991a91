/*
 * Standard normal float32 samples for the channel's AWGN, in SIMD lanes (docs/phy.md).
 *
 * numpy's generator (ziggurat, one sample at a time) took 9 ns a sample on the emulator's
 * CPU, and the relay adds two per symbol to ~10 M symbols a second at the cliff. Here
 * LANES independent xoshiro128+ generators run side by side and each pair of uniforms
 * becomes two normals by Box-Muller, with ln, sin and cos as polynomials (no libm calls,
 * so GCC vectorises every loop; `target_clones` builds AVX-512, AVX2 and baseline versions).
 *
 * Accuracy: the uniforms take the top 24 bits of each draw (the xoshiro128+ authors' advice
 * for floats), so |z| reaches at most sqrt(-2 ln 2^-25) = 5.9; ln and the sine/cosine are
 * accurate to ~1e-7 over their ranges. tests/phy/test_noise.py checks the moments, the tails
 * against the normal law and independence between lanes and draws.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <stdint.h>
#include <string.h>

#if defined(__x86_64__) && defined(__GNUC__) && !defined(__clang__)
#define MULTIVERSION __attribute__((target_clones("arch=x86-64-v4", "arch=x86-64-v3", "default")))
#else
#define MULTIVERSION
#endif

#define LANES 16
#define BLOCK (2 * LANES) /* normals made per step: a cosine and a sine per lane */
#define STATE_WORDS (4 * LANES)

/* One step of every lane's xoshiro128+ (s: 4 rows of LANES words) -> its output. */
static inline __attribute__((always_inline)) void next(uint32_t *restrict s, uint32_t *restrict out) {
    uint32_t *s0 = s, *s1 = s + LANES, *s2 = s + 2 * LANES, *s3 = s + 3 * LANES;
    for (int i = 0; i < LANES; i++) {
        out[i] = s0[i] + s3[i];
        uint32_t t = s1[i] << 9;
        s2[i] ^= s0[i];
        s3[i] ^= s1[i];
        s1[i] ^= s2[i];
        s0[i] ^= s3[i];
        s2[i] ^= t;
        s3[i] = (s3[i] << 11) | (s3[i] >> 21);
    }
}

/* ln x for x in (0, 1]: x = m 2^e with m in [sqrt(1/2), sqrt(2)), ln m = 2 atanh(t),
 * t = (m - 1) / (m + 1), |t| <= 0.172, by its series to t^9. */
static inline __attribute__((always_inline)) float ln_unit(float x) {
    int32_t bits;
    memcpy(&bits, &x, 4);
    int32_t e = ((bits >> 23) & 0xff) - 127;
    int32_t mbits = (bits & 0x7fffff) | 0x3f800000;
    float m;
    memcpy(&m, &mbits, 4);
    int big = m > 1.41421356f;
    m = big ? 0.5f * m : m;
    e += big;
    float t = (m - 1.0f) / (m + 1.0f), t2 = t * t;
    float series = 1.0f + t2 * (1.0f / 3 + t2 * (1.0f / 5 + t2 * (1.0f / 7 + t2 * (1.0f / 9))));
    return (float)e * 0.69314718f + 2.0f * t * series;
}

/* Fills out[0, n) (n a multiple of BLOCK) and advances the lanes' state. */
MULTIVERSION static void fill(float *restrict out, int64_t n, uint32_t *restrict s) {
    uint32_t r1[LANES], r2[LANES];
    for (int64_t k = 0; k < n; k += BLOCK) {
        next(s, r1);
        next(s, r2);
        float *zc = out + k, *zs = out + k + LANES;
        for (int i = 0; i < LANES; i++) {
            float u1 = ((float)(r1[i] >> 8) + 0.5f) * (1.0f / 16777216.0f); /* (0, 1) */
            float u2 = (float)(r2[i] >> 8) * (1.0f / 16777216.0f);          /* [0, 1) turns */
            float radius = __builtin_sqrtf(-2.0f * ln_unit(u1));
            /* the angle 2 pi u2 as a quarter turn q and a remainder a in [-pi/4, pi/4] */
            int32_t q = (int32_t)(u2 * 4.0f + 0.5f);
            float a = (u2 - 0.25f * (float)q) * 6.28318531f, a2 = a * a;
            float sn = a * (1.0f - a2 * (1.0f / 6 - a2 * (1.0f / 120 - a2 * (1.0f / 5040))));
            float cs = 1.0f - a2 * (0.5f - a2 * (1.0f / 24 - a2 * (1.0f / 720 - a2 * (1.0f / 40320))));
            int quarter = q & 3; /* rotate (cos a, sin a) by q quarter turns */
            float c = quarter == 0 ? cs : quarter == 1 ? -sn : quarter == 2 ? -cs : sn;
            float sv = quarter == 0 ? sn : quarter == 1 ? cs : quarter == 2 ? -sn : -cs;
            zc[i] = radius * c;
            zs[i] = radius * sv;
        }
    }
}

/* normal(out: writable float32 buffer, state: writable uint32 buffer of STATE_WORDS) */
static PyObject *py_normal(PyObject *self, PyObject *args) {
    Py_buffer out, state;
    if (!PyArg_ParseTuple(args, "w*w*", &out, &state)) return NULL;
    PyObject *result = NULL;
    if (out.itemsize != 4 || out.len % 4 || state.len != 4 * STATE_WORDS) {
        PyErr_Format(PyExc_ValueError, "need float32 samples and a state of %d uint32 words", STATE_WORDS);
        goto done;
    }
    int64_t n = out.len / 4, whole = n - n % BLOCK;
    float *dst = (float *)out.buf;
    uint32_t *s = (uint32_t *)state.buf;
    Py_BEGIN_ALLOW_THREADS
    fill(dst, whole, s);
    if (whole < n) { /* the tail from one more step */
        float tail[BLOCK];
        fill(tail, BLOCK, s);
        memcpy(dst + whole, tail, (size_t)(n - whole) * 4);
    }
    Py_END_ALLOW_THREADS
    result = Py_NewRef(Py_None);
done:
    PyBuffer_Release(&out);
    PyBuffer_Release(&state);
    return result;
}

static PyMethodDef methods[] = {
    {"normal", py_normal, METH_VARARGS, "normal(out, state): fill float32 out with N(0, 1) samples"},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module = {PyModuleDef_HEAD_INIT, "_noise", NULL, -1, methods};

PyMODINIT_FUNC PyInit__noise(void) {
    PyObject *m = PyModule_Create(&module);
    if (m != NULL && PyModule_AddIntConstant(m, "STATE_WORDS", STATE_WORDS) < 0) {
        Py_DECREF(m);
        return NULL;
    }
    return m;
}
