/* stabkit._native._kernels: the binary cross-entropy from probabilities,
 * giving the bits of the NumPy path of stabkit.accurate.binary_crossentropy
 * (crossentropy.py's binary_terms with from_logits=False, the oracle the
 * tests compare against bit for bit):
 *
 *     loss = 0.0 - (xmul(a, log(p)) + xmul(b, log1p(-p)))
 *
 * xmul(w, v) being +0.0 where w == 0 (0 log 0 = 0), else w v; the plain loss
 * has a = y, b = 1 - y. Everything is float64; float32 and float16 inputs
 * are widened exactly and the loss rounded once to their format, as the
 * NumPy path's store (NumPy's casts) rounds it.
 *
 * Bit-identity: log and log1p are NumPy's own float64 inner loops (the
 * functions[] entries of np.log and np.log1p, CPU-dispatched at NumPy's
 * import; on AVX-512 processors NumPy's SIMD log rounds differently from
 * libm's), called on contiguous buffers of the block; the rest is the same
 * IEEE operations in the same order (-ffp-contract=off: setup.py). A result
 * that is NaN is recomputed on a scalar path that spells out which NaN
 * operand NumPy's arithmetic passes on (stabkit_mul_nan, stabkit_add_nan).
 * bind_probs() finds the two loops; stabkit/_accurate/native64.py then
 * checks these loops against the NumPy path before any is used. Until bound
 * they give NaN.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <fenv.h>
#include <math.h>
#include <stdint.h>
#include <string.h>

#include <numpy/ndarraytypes.h>
#include <numpy/ufuncobject.h>

#include "_bce_probs.h"
#include "_elementwise64.h" /* nploop, stabkit_find_loop, stabkit_mul_nan, stabkit_add_nan */
#include "_half.h"

#define BP 512 /* elements per block: the buffers stay in L1 */
#define ALIGNED _Alignas(64)

static nploop L_LOG, L_LOG1P;
static int bound = 0;

/* u = xmul(a, lp), v = xmul(b, l1), y = 0.0 - (u + v), for n elements;
 * whether any result is NaN. Both products, then selects: no branch on the
 * labels, so the loop vectorises. */
HIDDEN CLONES int probs_combine(const double *restrict a, const double *restrict b, const double *restrict lp,
                                const double *restrict l1, double *restrict y, int n)
{
    int nan = 0;
    for (int i = 0; i < n; i++) {
        double u = a[i] * lp[i], v = b[i] * l1[i];
        u = a[i] == 0 ? 0.0 : u;
        v = b[i] == 0 ? 0.0 : v;
        /* 0 - s, not -s: an exact 0 (p = y = 0 or 1) is +0.0, both logs being <= 0 */
        double yi = 0.0 - (u + v);
        y[i] = yi;
        nan |= yi != yi;
    }
    return nan;
}

/* the same for the plain loss, b = 1 - y computed here */
HIDDEN CLONES int probs_combine_plain(const double *restrict a, const double *restrict lp,
                                      const double *restrict l1, double *restrict y, int n)
{
    int nan = 0;
    for (int i = 0; i < n; i++) {
        double b = 1.0 - a[i];
        double u = a[i] * lp[i], v = b * l1[i];
        u = a[i] == 0 ? 0.0 : u;
        v = b == 0 ? 0.0 : v;
        double yi = 0.0 - (u + v);
        y[i] = yi;
        nan |= yi != yi;
    }
    return nan;
}

/* one block of n <= BP contiguous values; b NULL: the plain loss */
static void block_probs(const double *a, const double *b, const double *p, double *y, int n)
{
    ALIGNED double lp[BP], q[BP], l1[BP];
    /* NumPy's loops take a non-const pointer, but only read their input */
    stabkit_run_loop(&L_LOG, (double *)p, lp, n);
    for (int i = 0; i < n; i++)
        q[i] = -p[i];
    stabkit_run_loop(&L_LOG1P, q, l1, n);
    int nan = b == NULL ? probs_combine_plain(a, lp, l1, y, n) : probs_combine(a, b, lp, l1, y, n);
    if (!nan)
        return;
    /* the NaN results again, with NumPy's choice of NaN where an operand is one */
    for (int i = 0; i < n; i++)
        if (y[i] != y[i]) {
            double bi = b == NULL ? 1.0 - a[i] : b[i];
            double u = a[i] == 0 ? 0.0 : stabkit_mul_nan(a[i], lp[i]);
            double v = bi == 0 ? 0.0 : stabkit_mul_nan(bi, l1[i]);
            y[i] = 0.0 - stabkit_add_nan(u, v);
        }
}

/* ------------------------------------------------------------ float16 */

/* m float16 (bf: bfloat16) values at src (stride st bytes) widened into d */
HIDDEN CLONES void stabkit_widen16(const char *src, ptrdiff_t st, int bf, double *restrict d, int m)
{
    const uint16_t *h = (const uint16_t *)src;
    if (st == 2 && bf)
        for (int i = 0; i < m; i++)
            d[i] = stabkit_bf16_to_double(h[i]);
    else if (st == 2)
        for (int i = 0; i < m; i++)
            d[i] = stabkit_half_to_double(h[i]);
    else
        for (int i = 0; i < m; i++) {
            uint16_t u;
            memcpy(&u, src + i * st, 2);
            d[i] = bf ? stabkit_bf16_to_double(u) : stabkit_half_to_double(u);
        }
}

/* m doubles rounded to float16 (bf: bfloat16), written at dst (stride st bytes) */
HIDDEN CLONES void stabkit_narrow16(char *dst, ptrdiff_t st, int bf, const double *restrict y, int m)
{
    uint16_t *h = (uint16_t *)dst;
    if (st == 2 && bf)
        for (int i = 0; i < m; i++)
            h[i] = stabkit_double_to_bf16(y[i]);
    else if (st == 2)
        for (int i = 0; i < m; i++)
            h[i] = stabkit_double_to_half(y[i]);
    else
        for (int i = 0; i < m; i++) {
            uint16_t u = bf ? stabkit_double_to_bf16(y[i]) : stabkit_double_to_half(y[i]);
            memcpy(dst + i * st, &u, 2);
        }
}

/* ------------------------------------------------------------ ufunc loops */

/* the formats of the loops: their itemsize, but BF16 (2 bytes) */
#define BF16 3

/* m values of the format w (8: float64, 4: float32, 2: float16, BF16) at
 * src (stride st) as doubles in d (widened exactly); a contiguous float64
 * run is returned in place */
static const double *doubles(const char *src, npy_intp st, int w, double *restrict d, int m)
{
    if (w == 8 && st == 8)
        return (const double *)src;
    if (w == 8) {
        for (int i = 0; i < m; i++)
            memcpy(&d[i], src + i * st, 8);
    } else if (w == 2 || w == BF16) {
        stabkit_widen16(src, st, w == BF16, d, m);
    } else if (st == 4) {
        const float *f = (const float *)src;
        for (int i = 0; i < m; i++)
            d[i] = (double)f[i];
    } else {
        for (int i = 0; i < m; i++) {
            float u;
            memcpy(&u, src + i * st, 4);
            d[i] = (double)u;
        }
    }
    return d;
}

/* m results written at dst (stride st) in the format w, rounded once (to
 * nearest even, as NumPy's casts and, for bfloat16, round_float64) */
static void put(char *dst, npy_intp st, int w, const double *restrict y, int m)
{
    int f32 = w == 4;
    if (w == 2 || w == BF16) {
        stabkit_narrow16(dst, st, w == BF16, y, m);
    } else if (f32 && st == 4) {
        float *f = (float *)dst;
        for (int i = 0; i < m; i++)
            f[i] = (float)y[i];
    } else if (f32) {
        for (int i = 0; i < m; i++) {
            float r = (float)y[i];
            memcpy(dst + i * st, &r, 4);
        }
    } else if (st == 8) {
        memcpy(dst, y, (size_t)m * 8);
    } else {
        for (int i = 0; i < m; i++)
            memcpy(dst + i * st, &y[i], 8);
    }
}

static void fill_nan(char *dst, npy_intp st, int w, npy_intp n)
{
    double d = NAN;
    float f = NAN;
    uint16_t h = w == BF16 ? 0x7fc0u : 0x7e00u;
    const void *nan = w == 8 ? (const void *)&d : w == 4 ? (const void *)&f : (const void *)&h;
    for (npy_intp i = 0; i < n; i++)
        memcpy(dst + i * st, nan, w == BF16 ? 2 : (size_t)w);
}

/* whether the bytes [a, a + na) and [b, b + nb) overlap */
static int overlap(const char *a, npy_intp na, const char *b, npy_intp nb) { return a < b + nb && b < a + na; }

/* the bytes m elements of size w at stride st span from p */
static const char *span_lo(const char *p, npy_intp st, int m) { return st < 0 ? p + (m - 1) * st : p; }
static npy_intp span(npy_intp st, int m, int w) { return (m - 1) * (st < 0 ? -st : st) + w; }

/* nin inputs (a, b, p or y, p) and one output; the results go to a local
 * buffer first unless the output is contiguous float64 and apart from the
 * inputs, so an output that is an input is safe. The status flags
 * raised inside (log(0), NaN comparisons) are restored: NumPy reports none,
 * as the NumPy path runs under np.errstate(all="ignore"). */
static void loop(char **args, npy_intp const *dims, npy_intp const *steps, int nin, int w)
{
    npy_intp n = dims[0];
    if (!bound) {
        fill_nan(args[nin], steps[nin], w, n);
        return;
    }
    ALIGNED double in[3][BP], out[BP];
    fexcept_t flags;
    fegetexceptflag(&flags, FE_ALL_EXCEPT);
    for (npy_intp s = 0; s < n; s += BP) {
        int m = (int)(n - s < BP ? n - s : BP);
        const double *v[3];
        for (int k = 0; k < nin; k++)
            v[k] = doubles(args[k] + s * steps[k], steps[k], w, in[k], m);
        char *dst = args[nin] + s * steps[nin];
        int direct = w == 8 && steps[nin] == 8;
        for (int k = 0; k < nin && direct; k++)
            direct = !overlap(dst, (npy_intp)m * 8, span_lo(args[k] + s * steps[k], steps[k], m), span(steps[k], m, 8));
        double *y = direct ? (double *)dst : out;
        if (nin == 3)
            block_probs(v[0], v[1], v[2], y, m);
        else
            block_probs(v[0], NULL, v[1], y, m);
        if (!direct)
            put(dst, steps[nin], w, out, m);
    }
    fesetexceptflag(&flags, FE_ALL_EXCEPT);
}

void stabkit_loop_probs(char **args, npy_intp const *dims, npy_intp const *steps, void *data)
{
    (void)data;
    loop(args, dims, steps, 3, 8);
}

void stabkit_loop_probs_plain64(char **args, npy_intp const *dims, npy_intp const *steps, void *data)
{
    (void)data;
    loop(args, dims, steps, 2, 8);
}

void stabkit_loop_probs_plain32(char **args, npy_intp const *dims, npy_intp const *steps, void *data)
{
    (void)data;
    loop(args, dims, steps, 2, 4);
}

void stabkit_loop_probs_plain16(char **args, npy_intp const *dims, npy_intp const *steps, void *data)
{
    (void)data;
    loop(args, dims, steps, 2, 2);
}

void stabkit_loop_probs_plain_bf16(char **args, npy_intp const *dims, npy_intp const *steps, void *data)
{
    (void)data;
    loop(args, dims, steps, 2, BF16);
}

/* ------------------------------------------------------------ binding */

/* bind_probs(): NumPy's float64 log and log1p loops; once per process
 * (later calls change nothing). ImportError where NumPy has no such loop. */
PyObject *stabkit_bind_probs(PyObject *self, PyObject *unused)
{
    (void)self, (void)unused;
    if (bound)
        Py_RETURN_NONE;
    PyObject *np = PyImport_ImportModule("numpy");
    if (np == NULL)
        return NULL;
    PyObject *uftype = PyObject_GetAttrString(np, "ufunc");
    int fail = uftype == NULL || stabkit_find_loop(np, uftype, "log", &L_LOG) < 0 ||
               stabkit_find_loop(np, uftype, "log1p", &L_LOG1P) < 0;
    Py_XDECREF(uftype);
    Py_DECREF(np);
    if (fail)
        return NULL;
    bound = 1;
    Py_RETURN_NONE;
}

/* half_conversions(x, h, g, d, bf=0): h = x rounded to float16 (bf:
 * bfloat16) bits (x float64, h uint16, as many), d = g widened (g uint16
 * bits, d float64): _half.h's conversions, for the tests, which compare
 * them with NumPy's casts and round_float64 */
PyObject *stabkit_half_conversions(PyObject *self, PyObject *args)
{
    (void)self;
    Py_buffer x, h, g, d;
    int bf = 0;
    if (!PyArg_ParseTuple(args, "y*w*y*w*|p:half_conversions", &x, &h, &g, &d, &bf))
        return NULL;
    PyObject *res = NULL;
    if (x.len % 8 != 0 || h.len * 4 != x.len || g.len % 2 != 0 || d.len != g.len * 4) {
        PyErr_SetString(PyExc_ValueError, "x, h and g, d must hold as many float64 and uint16 values");
    } else {
        for (Py_ssize_t i = 0; i < x.len / 8; i++) {
            double v;
            memcpy(&v, (char *)x.buf + 8 * i, 8);
            uint16_t r = bf ? stabkit_double_to_bf16(v) : stabkit_double_to_half(v);
            memcpy((char *)h.buf + 2 * i, &r, 2);
        }
        for (Py_ssize_t i = 0; i < g.len / 2; i++) {
            uint16_t u;
            memcpy(&u, (char *)g.buf + 2 * i, 2);
            double v = bf ? stabkit_bf16_to_double(u) : stabkit_half_to_double(u);
            memcpy((char *)d.buf + 8 * i, &v, 8);
        }
        res = Py_NewRef(Py_None);
    }
    PyBuffer_Release(&x);
    PyBuffer_Release(&h);
    PyBuffer_Release(&g);
    PyBuffer_Release(&d);
    return res;
}
