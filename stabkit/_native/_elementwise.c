/* _elementwise.c (in stabkit._native._kernels): the accurate tier's sigmoid, log_sigmoid and
 * softplus as NumPy ufuncs for float32, float16 and bfloat16 (optional).
 *
 * Each result is the exact value rounded once to the input's format (round
 * to nearest, ties to even), the same bits as the NumPy path of
 * stabkit.accurate, which is correctly rounded for these formats (checked
 * over every input: see tests/test_native_elementwise.py and
 * benchmarks/exhaustive_elementwise.py).
 *
 * Ziv's strategy, in two passes per block of 256 elements:
 *
 *  1. fast: the function in double with a vectorisable exp and log1p of our
 *     own (no libm call; relative error below 2^-45, see below), then the
 *     rounding test: y (1 - 2^-42) and y (1 + 2^-42) must round to the same
 *     value of the format. The exact value lies between them, so that value
 *     is the correctly rounded result. float16 and bfloat16 round y through
 *     float32 instead, and send on the y whose float32 value is one of their
 *     midpoints (half_via32: the same decision, one rounding cheaper); that
 *     test needs less accuracy, so their fast pass has lower-degree
 *     polynomials (relative error below 2^-27: _fastpass.h);
 *  2. slow, for the few elements that fail the test (one float32 input in
 *     2^17 to 2^18: 2 2^-42 over a midpoint spacing of 2^-23..2^-24; NaN
 *     always): double-double arithmetic (relative error below 2^-90) and one
 *     rounding of the double-double to the format. That rounding is correct
 *     unless the exact value lies within 2^-90 relative of a rounding
 *     boundary; the closest known case, sigmoid at odd multiples of 2^-24,
 *     where 1/2 + x/4 is a float32 midpoint, stays 2^-77 away. The
 *     exhaustive comparison with the (independently audited) NumPy path
 *     found no float32 input where the two differ.
 *
 * Formulas (no subtraction cancels): with e = exp(-|x|) in (0, 1],
 *   sigmoid(x) = 1 / (1 + e) for x >= 0, e / (1 + e) for x < 0;
 *   softplus(x) = max(x, 0) + log1p(e);   log_sigmoid(x) = -softplus(-x).
 * Edges as the NumPy path: +-0 and +-inf give the limits (sigmoid(-inf) = +0,
 * log_sigmoid(inf) = -0.0, softplus(-inf) = +0); subnormal results are kept;
 * NaN gives the input's NaN made quiet (sign bit set for sigmoid), and for
 * bfloat16 the canonical quiet NaN with that sign, as NumPy and ml_dtypes
 * pass NaN through the NumPy path on x86-64.
 *
 * The loops leave the floating-point status flags as they found them, so the
 * ufuncs never warn. Built with -O3 -ffp-contract=off -fno-math-errno
 * -fno-trapping-math (setup.py), the fast pass alone with contraction
 * (DEFINE_FAST); no -ffast-math, which would break both the error-free
 * transformations and the rounding test.
 */
#define PY_SSIZE_T_CLEAN
/* the ArrayMethod API of the gufuncs (_gufuncs.h): NumPy >= 2.0, as pyproject.toml requires */
#define NPY_TARGET_VERSION NPY_2_0_API_VERSION
#include <Python.h>
#include <fenv.h>
#include <math.h>
#include <stdint.h>
#include <string.h>

#include <numpy/ndarraytypes.h>
#include <numpy/ufuncobject.h>

#include "_elementwise64.h" /* the float64 loops and binary_logits */
#include "_bce_probs.h"      /* binary_probs */
#include "_half.h"           /* branch-free float16 / bfloat16 conversions */

#define BLK 256
/* CLONES: AVX-512, AVX2 and baseline clones of each block function, chosen
 * at load time (GCC, glibc, x86-64), with the same bits (_common.h, included
 * by _elementwise64.h; STABKIT_NO_CLONES builds one version, for testing) */

enum { F_SIGMOID = 0, F_SOFTPLUS = 1, F_LOG_SIGMOID = 2 };

/* ------------------------------------------------------------ bits */

static FORCE_INLINE uint64_t dbits(double d) { uint64_t u; memcpy(&u, &d, 8); return u; }

/* A binary format narrower than double: p significant bits, emin the least
 * normal exponent, the bit pattern of +inf, and the NaN rule. */
typedef struct {
    int p, emin;
    uint32_t inf, sign, quiet;
    int canonical_nan; /* bfloat16: NaN payloads are not kept */
} fmt_t;

static const fmt_t F32 = {24, -126, 0x7f800000u, 0x80000000u, 0x00400000u, 0};
static const fmt_t F16 = {11, -14, 0x7c00u, 0x8000u, 0x0200u, 0};
static const fmt_t BF16 = {8, -126, 0x7f80u, 0x8000u, 0x0040u, 1};

/* hi + lo (|lo| <= half an ulp of hi; hi finite or +-inf) rounded once to fmt,
 * ties to even, as a bit pattern. hi's significand m (53 bits) is cut at the
 * format's last bit (further right for a subnormal result) into q and the
 * remainder r. Since the format's rounding boundaries are doubles, hi + lo
 * lies on hi's side of every boundary unless hi is one: only a tie
 * (r == half) looks at lo. */
static CLONES uint32_t round_dd(double hi, double lo, const fmt_t *f)
{
    uint64_t u = dbits(hi);
    uint32_t sign = (u >> 63) ? f->sign : 0;
    /* lo's sign relative to |hi| */
    double rel = (u >> 63) ? -lo : lo;
    u &= 0x7fffffffffffffffull;
    int bexp = (int)(u >> 52);
    if (bexp == 0) /* 0 and double subnormals: far below every format's least subnormal */
        return sign;
    int e = bexp - 1023;
    uint64_t m = (u & 0xfffffffffffffull) | (1ull << 52);
    int shift = 52 - (f->p - 1) + (e < f->emin ? f->emin - e : 0);
    if (shift > 60) /* rounds to 0 (and keeps the shifts below 64) */
        return sign;
    uint64_t q = m >> shift, r = m & ((1ull << shift) - 1), half = 1ull << (shift - 1);
    if (r > half || (r == half && (rel > 0 || (rel == 0 && (q & 1)))))
        q++;
    /* normal: biased exponent e - emin + 1 above the p-1 fraction bits, and
     * q's leading bit adds the 1; subnormal: q alone. A carry out of q moves
     * to the next binade (or to inf) by itself. */
    int64_t bits = e >= f->emin ? ((int64_t)(e - f->emin) << (f->p - 1)) + (int64_t)q : (int64_t)q;
    if (bits >= (int64_t)f->inf)
        bits = f->inf;
    return (uint32_t)bits | sign;
}

/* ------------------------------------------------------------ fast pass */

#include "_fastpass.h" /* exp_fast, log1p_fast; LN2_*, INV_LN2, AMIN */

/* the function in double, relative error below 2^-45 for finite x and exact
 * limits at +-inf (NaN gives NaN, which fails the rounding test). With
 * e = exp(-|x|) (1 + d), |d| < 2^-45.4: e / (1 + e) carries d / (1 + e)
 * and 1 / (1 + e) carries d e / (1 + e), each below |d|, plus two
 * roundings; softplus adds log1p's own 2^-48.3 and one rounding. Every sum
 * has terms of one sign; clamping the argument of exp at AMIN changes no
 * result after rounding to a format of at most 24 bits. With narrow (the
 * 16-bit formats), the same with the narrow exp and log1p: below 2^-27. */
static FORCE_INLINE double fast_eval(int fn, double x, int narrow)
{
    if (fn == F_LOG_SIGMOID)
        x = -x;
    double a = -fabs(x);
    a = a < AMIN ? AMIN : a;
    double e = exp_fast(a, narrow);
    if (fn == F_SIGMOID)
        return (x >= 0 ? 1.0 : e) / (1.0 + e);
    double y = (x > 0 ? x : 0.0) + log1p_fast(e, narrow);
    return fn == F_LOG_SIGMOID ? -y : y;
}

/* The rounding test's margin: 2^-42 relative, 8 times the fast pass's
 * bound. y (1 -+ 2^-42) round to the same float exactly when no rounding
 * boundary lies between them (rounding is monotonic). */
#ifndef STABKIT_MARGIN /* a test build sets it to 1.0: every element takes the slow pass */
#define STABKIT_MARGIN 0x1p-42
#endif
#define MARGIN_LO (1.0 - STABKIT_MARGIN)
#define MARGIN_HI (1.0 + STABKIT_MARGIN)

/* The same decision for float16 and bfloat16, through float32: f = y
 * rounded to float32 (one vector conversion), then f rounded to the format
 * on its 32-bit pattern (16 lanes to a vector). Rounding twice gives y's
 * own rounding unless f lands exactly on a midpoint M of the format (every
 * such M is a float32 value): if f != M, y lies on f's side of M, at least
 * half a float32 ulp (2^-25 |y|) from it, beyond the 16-bit fast pass's
 * 2^-27 |y|, so the exact value lies there too and rounds as f does. f == M (and
 * NaN) is flagged "near" and goes to the slow pass: about one y in 2^13
 * (float16) or 2^16 (bfloat16), at random. Returned: the format's bits, and
 * bit 16 set for near. The build with STABKIT_MARGIN=1.0 (every element
 * slow) sets it always. */
static FORCE_INLINE uint32_t fbits(float f) { uint32_t u; memcpy(&u, &f, 4); return u; }
static FORCE_INLINE float ffrom(uint32_t u) { float f; memcpy(&f, &u, 4); return f; }
#define ALL_SLOW ((uint32_t)(STABKIT_MARGIN >= 1.0) << 16)

/* float16: a normal result (|f| >= 2^-14) drops 13 bits of f's
 * significand, rebiased by 127 - 15; from 2^16 on the result is inf; a
 * subnormal one is |f| 2^24 (exact, below 2^10) rounded to an integer,
 * whose distance from it is exact */
static FORCE_INLINE uint32_t half_via32(float f)
{
    uint32_t u = fbits(f), sign = (u >> 16) & 0x8000u, a = u & 0x7fffffffu;
    uint32_t t = a - 0x38000000u, rest = t & 0x1fffu;
    uint32_t hn = (t >> 13) + (rest > 0x1000u ? 1u : 0u);
    float s = ffrom(a < 0x38800000u ? a : 0u) * 0x1p24f, r = s + 0x1p23f;
    uint32_t hs = fbits(r) - fbits(0x1p23f);
    float d = s - (r - 0x1p23f);
    uint32_t h = a < 0x38800000u ? hs : hn;
    uint32_t near = a < 0x38800000u ? (d == 0.5f || d == -0.5f ? 1u : 0u) : (rest == 0x1000u ? 1u : 0u);
    h = a >= 0x47800000u ? 0x7c00u : h;
    near = a >= 0x47800000u ? (a > 0x7f800000u ? 1u : 0u) : near; /* inf: none; NaN: near */
    return (sign | h) | (near << 16) | ALL_SLOW;
}

/* float16 widened through float32 (16 lanes to a vector where the
 * double form has 8): its 15 value bits placed at a float's, scaled by
 * 2^112 (exact; a subnormal half becomes a normal float), inf and NaN
 * keeping their payload (a signalling NaN comes out quiet: NaN goes to the
 * slow pass, which reads the input's own bits) */
static FORCE_INLINE double half_to_double32(uint16_t h)
{
    uint32_t v = (uint32_t)(h & 0x7fffu) << 13;
    uint32_t b = fbits(ffrom(v) * 0x1p112f);
    b = v >= 0x0f800000u ? 0x7f800000u | v : b;
    b |= (uint32_t)(h & 0x8000u) << 16;
    return (double)ffrom(b);
}

/* bfloat16 is the top half of float32: every result, subnormal or
 * overflowing to inf, drops f's low 16 bits */
static FORCE_INLINE uint32_t bf16_via32(float f)
{
    uint32_t u = fbits(f), rest = u & 0xffffu;
    uint32_t h = (u >> 16) + (rest > 0x8000u ? 1u : 0u);
    uint32_t near = rest == 0x8000u ? 1u : 0u;
    near = (u & 0x7fffffffu) > 0x7f800000u ? 1u : near; /* NaN */
    return (h & 0xffffu) | (near << 16) | ALL_SLOW;
}

/* ------------------------------------------------------------ slow pass */

#include "_dd.h" /* double-double arithmetic, exp_dd, log1p_dd */

/* the function in double-double for a finite or infinite x */
static CLONES dd slow_eval(int fn, double x)
{
    if (fn == F_LOG_SIGMOID)
        x = -x;
    double a = -fabs(x);
    dd e = exp_dd(a < AMIN ? AMIN : a);
    if (fn == F_SIGMOID) {
        dd den = dd_add((dd){1.0, 0.0}, e);
        return dd_div(x >= 0 ? (dd){1.0, 0.0} : e, den);
    }
    dd y = log1p_dd(e);
    if (x > 0) /* x + log1p(e): both positive */
        y = dd_add((dd){x, 0.0}, y);
    if (fn == F_LOG_SIGMOID)
        y = (dd){-y.hi, -y.lo};
    return y;
}

/* The result for one element in the slow pass; xbits are the input's bits
 * (for NaN), x its value. */
static CLONES uint32_t slow_bits(int fn, double x, uint32_t xbits, const fmt_t *f)
{
    if (x != x) {
        /* NaN: the NumPy path passes the NaN through (made quiet); sigmoid's
         * -|x| leaves the sign bit set */
        uint32_t s = fn == F_SIGMOID ? f->sign : (xbits & f->sign);
        if (f->canonical_nan)
            return s | f->inf | f->quiet;
        return (xbits | f->quiet) | s;
    }
    if (isinf(x)) {
        double y = fast_eval(fn, x, 0); /* exact limits: 0, 1, +-inf, -0.0 */
        return round_dd(y, 0.0, f);
    }
    dd y = slow_eval(fn, x);
    return round_dd(y.hi, y.lo, f);
}

/* ------------------------------------------------------------ blocks */

/* float32: n <= BLK inputs (bits in xb) to the outputs y (contiguous) */
#define DEFINE_BLOCK_F32(NAME, FN, FAST)                                        \
    CLONES void NAME(const float *x, float *y, int n)                          \
    {                                                                          \
        double yd[BLK];                                                        \
        FAST(x, yd, n);                                                        \
        int bad = 0;                                                           \
        for (int i = 0; i < n; i++) {                                          \
            float lo = (float)(yd[i] * MARGIN_LO), hi = (float)(yd[i] * MARGIN_HI); \
            y[i] = hi;                                                         \
            bad |= !(lo == hi);                                                \
        }                                                                      \
        if (!bad)                                                              \
            return;                                                            \
        for (int i = 0; i < n; i++) {                                          \
            float lo = (float)(yd[i] * MARGIN_LO), hi = (float)(yd[i] * MARGIN_HI); \
            if (!(lo == hi)) {                                                 \
                uint32_t xbits, b;                                             \
                memcpy(&xbits, &x[i], 4);                                      \
                b = slow_bits(FN, (double)x[i], xbits, &F32);                  \
                memcpy(&y[i], &b, 4);                                          \
            }                                                                  \
        }                                                                      \
    }

/* float16 and bfloat16: widened by _half.h's branch-free conversion, the
 * fast pass, then rounded through float32 by VIA32 (half_via32,
 * bf16_via32), which also flags the elements that take the slow pass (NaN
 * too); each loop vectorises */
#define DEFINE_BLOCK_16(NAME, FN, FAST, TODOUBLE, VIA32, FMT)                   \
    CLONES void NAME(const uint16_t *xb, uint16_t *y, int n)                   \
    {                                                                          \
        double xd[BLK], yd[BLK];                                               \
        float yf[BLK];                                                         \
        uint32_t hb[BLK], bad = 0;                                             \
        for (int i = 0; i < n; i++)                                            \
            xd[i] = TODOUBLE(xb[i]);                                           \
        FAST(xd, yd, n);                                                       \
        for (int i = 0; i < n; i++)                                            \
            yf[i] = (float)yd[i];                                              \
        for (int i = 0; i < n; i++) {                                          \
            hb[i] = VIA32(yf[i]);                                              \
            bad |= hb[i];                                                      \
        }                                                                      \
        for (int i = 0; i < n; i++)                                            \
            y[i] = (uint16_t)hb[i];                                            \
        if (!(bad & 0x10000u))                                                 \
            return;                                                            \
        for (int i = 0; i < n; i++)                                            \
            if (hb[i] & 0x10000u)                                              \
                y[i] = (uint16_t)slow_bits(FN, xd[i], xb[i], &FMT);            \
    }

/* The fast pass of a block (n <= BLK), for float32 and for widened 16-bit
 * inputs, in a function of its own: the one place in the library where the
 * compiler may fuse a multiply and an add (FMA clones only; CONTRACT_FMA).
 * A fused Horner step rounds once where the plain one rounds twice, and a
 * fused Cody-Waite step is at least as exact, so every bound above still
 * holds. The bits of the results cannot change: the rounding test accepts
 * only a y whose margin interval holds one value of the format, the
 * correctly rounded one, whichever y the fast pass produced (checked over
 * every float32, float16 and bfloat16 input against the build without
 * fusion). The error-free transformations of the slow pass stay in
 * functions compiled without contraction. */
#define DEFINE_FAST(NAME, FN, T, NARROW)                                        \
    CLONES CONTRACT_FMA NOINLINE void NAME(const T *x, double *yd, int n)     \
    {                                                                          \
        for (int i = 0; i < n; i++)                                            \
            yd[i] = fast_eval(FN, (double)x[i], NARROW);                       \
    }

/* hidden, not static: GCC's target_clones needs an ifunc symbol */
HIDDEN DEFINE_FAST(fast_sigmoid_f32, F_SIGMOID, float, 0)
HIDDEN DEFINE_FAST(fast_softplus_f32, F_SOFTPLUS, float, 0)
HIDDEN DEFINE_FAST(fast_log_sigmoid_f32, F_LOG_SIGMOID, float, 0)
HIDDEN DEFINE_FAST(fast_sigmoid_16, F_SIGMOID, double, 1)
HIDDEN DEFINE_FAST(fast_softplus_16, F_SOFTPLUS, double, 1)
HIDDEN DEFINE_FAST(fast_log_sigmoid_16, F_LOG_SIGMOID, double, 1)
HIDDEN DEFINE_BLOCK_F32(block_sigmoid_f32, F_SIGMOID, fast_sigmoid_f32)
HIDDEN DEFINE_BLOCK_F32(block_softplus_f32, F_SOFTPLUS, fast_softplus_f32)
HIDDEN DEFINE_BLOCK_F32(block_log_sigmoid_f32, F_LOG_SIGMOID, fast_log_sigmoid_f32)
/* GCC cannot see that the conversion loop fills xd[0..n) before the fast
 * pass reads it */
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#endif
HIDDEN DEFINE_BLOCK_16(block_sigmoid_f16, F_SIGMOID, fast_sigmoid_16, half_to_double32, half_via32, F16)
HIDDEN DEFINE_BLOCK_16(block_softplus_f16, F_SOFTPLUS, fast_softplus_16, half_to_double32, half_via32, F16)
HIDDEN DEFINE_BLOCK_16(block_log_sigmoid_f16, F_LOG_SIGMOID, fast_log_sigmoid_16, half_to_double32, half_via32, F16)
HIDDEN DEFINE_BLOCK_16(block_sigmoid_bf16, F_SIGMOID, fast_sigmoid_16, stabkit_bf16_to_double, bf16_via32, BF16)
HIDDEN DEFINE_BLOCK_16(block_softplus_bf16, F_SOFTPLUS, fast_softplus_16, stabkit_bf16_to_double, bf16_via32, BF16)
HIDDEN DEFINE_BLOCK_16(block_log_sigmoid_bf16, F_LOG_SIGMOID, fast_log_sigmoid_16, stabkit_bf16_to_double, bf16_via32, BF16)
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic pop
#endif

/* ------------------------------------------------------------ ufunc loops */

typedef void (*block32_t)(const float *, float *, int);
typedef void (*block16_t)(const uint16_t *, uint16_t *, int);

/* NumPy calls a loop without the GIL unless a dtype says it needs the Python
 * API: ml_dtypes before 0.7 flags bfloat16 so (NPY_NEEDS_PYAPI), although
 * these loops touch no Python object. A loop that finds the GIL held on a
 * long run releases it itself (PyGILState_Check is 0 where NumPy already
 * did). */
#define LONG_RUN 4096
static PyThreadState *release_gil(npy_intp n)
{
    return n >= LONG_RUN && PyGILState_Check() ? PyEval_SaveThread() : NULL;
}

static void restore_gil(PyThreadState *ts)
{
    if (ts != NULL)
        PyEval_RestoreThread(ts);
}

/* A contiguous input that the output does not overlap is read in place;
 * otherwise it is copied into a local buffer block by block (the blocks
 * read their input again, in the slow pass, after writing their output; a
 * strided input costs one gather). The output is written in place when
 * contiguous. The status flags raised inside (inexact, underflow, invalid
 * from NaN comparisons) are restored, so NumPy sees none. One loop per
 * element type T (float, and the 16-bit patterns) and its block function
 * type. */
#define DEFINE_LOOP(NAME, T, BLOCK_T)                                           \
    static void NAME(char **args, npy_intp const *dims, npy_intp const *steps, void *data) \
    {                                                                          \
        BLOCK_T block = (BLOCK_T)data;                                         \
        npy_intp n = dims[0], is = steps[0], os = steps[1];                    \
        char *ip = args[0], *op = args[1];                                     \
        T xb[BLK], yb[BLK];                                                    \
        int direct = stabkit_reads_in_place(ip, is, op, os, n, sizeof(T));     \
        PyThreadState *ts = release_gil(n);                                    \
        fexcept_t flags;                                                       \
        fegetexceptflag(&flags, FE_ALL_EXCEPT);                                \
        for (npy_intp s = 0; s < n; s += BLK) {                                \
            int m = (int)(n - s < BLK ? n - s : BLK);                          \
            const char *src = ip + s * is;                                     \
            const T *x = direct ? (const T *)src : xb;                         \
            if (direct)                                                        \
                ;                                                              \
            else if (is == (npy_intp)sizeof(T))                                \
                memcpy(xb, src, (size_t)m * sizeof(T));                        \
            else                                                               \
                for (int i = 0; i < m; i++)                                    \
                    memcpy(&xb[i], src + i * is, sizeof(T));                   \
            char *dst = op + s * os;                                           \
            if (os == (npy_intp)sizeof(T)) {                                   \
                block(x, (T *)dst, m);                                         \
            } else {                                                           \
                block(x, yb, m);                                               \
                for (int i = 0; i < m; i++)                                    \
                    memcpy(dst + i * os, &yb[i], sizeof(T));                   \
            }                                                                  \
        }                                                                      \
        fesetexceptflag(&flags, FE_ALL_EXCEPT);                                \
        restore_gil(ts);                                                       \
    }

DEFINE_LOOP(loop32, float, block32_t)
DEFINE_LOOP(loop16_blocks, uint16_t, block16_t)

#include "_lut16.h" /* loop16: a table of all 2^16 results on long runs */

/* ------------------------------------------------------------ module */

static PyUFuncGenericFunction loops[3] = {loop32, loop16, stabkit_loop64};
static const char types[6] = {NPY_FLOAT, NPY_FLOAT, NPY_HALF, NPY_HALF, NPY_DOUBLE, NPY_DOUBLE};
static lut16_t lut_sigmoid_f16 = {block_sigmoid_f16, NULL}, lut_sigmoid_bf16 = {block_sigmoid_bf16, NULL};
static lut16_t lut_softplus_f16 = {block_softplus_f16, NULL}, lut_softplus_bf16 = {block_softplus_bf16, NULL};
static lut16_t lut_log_sigmoid_f16 = {block_log_sigmoid_f16, NULL}, lut_log_sigmoid_bf16 = {block_log_sigmoid_bf16, NULL};
/* the 16-bit softplus table for a call of n elements (bf: bfloat16), for
 * the plain binary cross-entropy's 0/1 targets (_elementwise64.c): built
 * and returned where n >= LUT_MIN, as loop16 does; NULL: run the blocks */
HIDDEN const uint16_t *stabkit_softplus16_table(int bf, npy_intp n)
{
    return n >= LUT_MIN ? lut16_table(bf ? &lut_softplus_bf16 : &lut_softplus_f16) : NULL;
}
static void *data_sigmoid[3] = {(void *)block_sigmoid_f32, (void *)&lut_sigmoid_f16, NULL};
static void *data_softplus[3] = {(void *)block_softplus_f32, (void *)&lut_softplus_f16, NULL};
static void *data_log_sigmoid[3] = {(void *)block_log_sigmoid_f32, (void *)&lut_log_sigmoid_f16, NULL};
static PyUFuncGenericFunction loops_bce[1] = {stabkit_loop_bce};
static const char types_bce[4] = {NPY_DOUBLE, NPY_DOUBLE, NPY_DOUBLE, NPY_DOUBLE};
static void *data_bce[1] = {NULL};
static PyUFuncGenericFunction loops_plain[3] = {stabkit_loop_bce_plain32, stabkit_loop_bce_plain64,
                                                 stabkit_loop_bce_plain16};
static const char types_plain[9] = {NPY_FLOAT, NPY_FLOAT, NPY_FLOAT, NPY_DOUBLE, NPY_DOUBLE, NPY_DOUBLE,
                                    NPY_HALF,  NPY_HALF,  NPY_HALF};
static void *data_plain[3] = {NULL, NULL, NULL};
static PyUFuncGenericFunction loops_probs[1] = {stabkit_loop_probs};
static PyUFuncGenericFunction loops_probs_plain[3] = {stabkit_loop_probs_plain32, stabkit_loop_probs_plain64,
                                                       stabkit_loop_probs_plain16};

static struct {
    const char *name, *doc;
    void **data;
    lut16_t *bf16;
} ufuncs[3] = {
    {"sigmoid", "sigmoid(x): 1 / (1 + exp(-x)), correctly rounded (float32, float16, bfloat16); "
                "float64: the accurate tier's NumPy path's bits.",
     data_sigmoid, &lut_sigmoid_bf16},
    {"softplus", "softplus(x): log(1 + exp(x)), correctly rounded (float32, float16, bfloat16); "
                 "float64: the accurate tier's NumPy path's bits.",
     data_softplus, &lut_softplus_bf16},
    {"log_sigmoid", "log_sigmoid(x): -softplus(-x), correctly rounded (float32, float16, bfloat16); "
                    "float64: the accurate tier's NumPy path's bits.",
     data_log_sigmoid, &lut_log_sigmoid_bf16},
};

/* the three ufuncs, kept for register_bfloat16 */
static PyObject *made[3];
/* the plain losses (binary_logits_plain, binary_probs_plain), kept for it too */
static PyObject *made_plain[2];
static PyUFuncGenericFunction loops_plain_bf16[2] = {stabkit_loop_bce_plain_bf16, stabkit_loop_probs_plain_bf16};
static int bfloat16_done = 0;

/* register_bfloat16(): give the ufuncs a loop for ml_dtypes' bfloat16
 * (a user dtype, through PyUFunc_RegisterLoopForType). Not done at import,
 * so that importing the extension does not import ml_dtypes (`stabkit list`
 * stays light); the loader calls it before the first bfloat16 call. Raises
 * ImportError where ml_dtypes is missing; idempotent. */
static PyObject *register_bfloat16(PyObject *self, PyObject *unused)
{
    if (bfloat16_done)
        Py_RETURN_NONE;
    PyObject *ml = PyImport_ImportModule("ml_dtypes");
    if (ml == NULL)
        return NULL;
    PyObject *t = PyObject_GetAttrString(ml, "bfloat16");
    Py_DECREF(ml);
    if (t == NULL)
        return NULL;
    PyArray_Descr *d = PyArray_DescrFromTypeObject(t);
    Py_DECREF(t);
    if (d == NULL)
        return NULL;
    int bf = d->type_num;
    Py_DECREF(d);
    int bft[2] = {bf, bf};
    for (int i = 0; i < 3; i++)
        if (PyUFunc_RegisterLoopForType((PyUFuncObject *)made[i], bf, loop16, bft, (void *)ufuncs[i].bf16) < 0)
            return NULL;
    int bft3[3] = {bf, bf, bf};
    for (int i = 0; i < 2; i++)
        if (PyUFunc_RegisterLoopForType((PyUFuncObject *)made_plain[i], bf, loops_plain_bf16[i], bft3, NULL) < 0)
            return NULL;
    bfloat16_done = 1;
    if (PyObject_SetAttrString(self, "bfloat16", Py_True) < 0)
        return NULL;
    Py_RETURN_NONE;
}

#include "_gufuncs.h" /* make_gufunc, add_gufunc_loop */

/* near16(y, flags, bf=False): whether each float64 y goes to the slow pass
 * of the float16 (bf: bfloat16) loops (half_via32's flag), into the uint8
 * flags, for the tests */
static PyObject *py_near16(PyObject *self, PyObject *args)
{
    (void)self;
    Py_buffer y, f;
    int bf = 0;
    if (!PyArg_ParseTuple(args, "y*w*|p:near16", &y, &f, &bf))
        return NULL;
    PyObject *res = NULL;
    if (y.len % 8 != 0 || f.len * 8 != y.len) {
        PyErr_SetString(PyExc_ValueError, "y and flags must hold as many float64 and uint8 values");
    } else {
        for (Py_ssize_t i = 0; i < f.len; i++) {
            double v;
            memcpy(&v, (char *)y.buf + 8 * i, 8);
            uint32_t r = bf ? bf16_via32((float)v) : half_via32((float)v);
            ((uint8_t *)f.buf)[i] = (uint8_t)(r >> 16);
        }
        res = Py_NewRef(Py_None);
    }
    PyBuffer_Release(&y);
    PyBuffer_Release(&f);
    return res;
}

/* data_address(a): the address of an ndarray's first element, as an int:
 * what a.ctypes.data gives (which builds a ctypes helper object each time,
 * about 1 us), for the ctypes calls of the row kernels, whose small calls
 * pass up to a dozen arrays (stabkit/_native/load.py's address) */
static PyObject *data_address(PyObject *self, PyObject *a)
{
    (void)self;
    if (!PyArray_Check(a)) {
        PyErr_Format(PyExc_TypeError, "data_address: a numpy.ndarray is needed, not %.100s", Py_TYPE(a)->tp_name);
        return NULL;
    }
    return PyLong_FromVoidPtr(PyArray_DATA((PyArrayObject *)a));
}

/* lut16_tables(drop=False): the names ("sigmoid/float16", ...) of the
 * 16-bit tables built so far; drop=True frees them first (for the tests,
 * which call it while no other thread is inside a loop) */
static PyObject *lut16_tables(PyObject *self, PyObject *args)
{
    (void)self;
    int drop = 0;
    if (!PyArg_ParseTuple(args, "|p:lut16_tables", &drop))
        return NULL;
    static const char *names[6] = {"sigmoid/float16",  "sigmoid/bfloat16",     "softplus/float16",
                                   "softplus/bfloat16", "log_sigmoid/float16", "log_sigmoid/bfloat16"};
    lut16_t *all[6] = {&lut_sigmoid_f16,  &lut_sigmoid_bf16,     &lut_softplus_f16,
                       &lut_softplus_bf16, &lut_log_sigmoid_f16, &lut_log_sigmoid_bf16};
    PyObject *built = PyList_New(0);
    for (int i = 0; built != NULL && i < 6; i++) {
        if (drop)
            free(__atomic_exchange_n(&all[i]->table, NULL, __ATOMIC_ACQ_REL));
        if (__atomic_load_n(&all[i]->table, __ATOMIC_ACQUIRE) == NULL)
            continue;
        PyObject *name = PyUnicode_FromString(names[i]);
        if (name == NULL || PyList_Append(built, name) < 0)
            Py_CLEAR(built);
        Py_XDECREF(name);
    }
    return built;
}

static PyMethodDef methods[] = {
    {"lut16_tables", lut16_tables, METH_VARARGS,
     "lut16_tables(drop=False): the 16-bit tables built so far, as 'function/format' names; drop=True frees "
     "them first (for the tests: no other thread may be inside a loop)."},
    {"data_address", data_address, METH_O,
     "data_address(a): the address of the ndarray a's first element (a.ctypes.data, without its helper object)."},
    {"make_gufunc", make_gufunc, METH_VARARGS,
     "make_gufunc(name, signature, doc, rows, dtypes): a gufunc '(n)->()' or '(n)->(n)' whose loop calls "
     "rows(x, out) on views of each run of rows (see _gufuncs.h)."},
    {"near16", py_near16, METH_VARARGS,
     "near16(y, flags, bf=False): 1 where the float64 y goes to the slow pass of the float16 (bf: bfloat16) "
     "loops: its float32 value is a midpoint of the format, or NaN (for the tests)."},
    {"add_gufunc_loop", py_add_gufunc_loop, METH_VARARGS,
     "add_gufunc_loop(gufunc, dtype): a loop of make_gufunc's kind for one more dtype (bfloat16)."},
    {"register_bfloat16", register_bfloat16, METH_NOARGS,
     "Register the bfloat16 loops (imports ml_dtypes; ImportError without it)."},
    {"bind_float64", stabkit_bind_float64, METH_VARARGS,
     "bind_float64(sig_hi, sig_lo, pow2_hi, pow2_lo, constants): the NumPy path's tables for the float64 loops."},
    {"numpy_loop", stabkit_numpy_loop, METH_VARARGS,
     "numpy_loop(name, x, out): NumPy's float64 exp or log1p loop as bound (for the tests)."},
    {"bind_probs", stabkit_bind_probs, METH_NOARGS,
     "bind_probs(): NumPy's float64 log and log1p loops for binary_probs (ImportError where absent)."},
    {"half_conversions", stabkit_half_conversions, METH_VARARGS,
     "half_conversions(x, h, g, d, bf=False): float64 x rounded to float16 (bf: bfloat16) bits h, such bits g "
     "widened to d (for the tests)."},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef moduledef = {
    PyModuleDef_HEAD_INIT, "_kernels",
    "stabkit's compiled kernels: the accurate tier's elementwise ufuncs (see stabkit/_native/_elementwise.c); "
    "the row passes and the trainer's step in the same library are loaded with ctypes (stabkit/_native/load.py).",
    -1, methods,
};

/* the module init of the one extension stabkit._native._kernels (setup.py
 * compiles every C file of stabkit/_native into it) */
PyMODINIT_FUNC PyInit__kernels(void)
{
    import_array();
    import_umath();
    PyObject *m = PyModule_Create(&moduledef);
    if (m == NULL)
        return NULL;
    for (int i = 0; i < 3; i++) {
        /* float64 data: the block functions of _elementwise64.c */
        ufuncs[i].data[2] = stabkit_data64[i];
        PyObject *uf = PyUFunc_FromFuncAndData(loops, ufuncs[i].data, (char *)types, 3, 1, 1, PyUFunc_None,
                                               ufuncs[i].name, ufuncs[i].doc, 0);
        if (uf == NULL)
            goto fail;
        made[i] = uf;
        Py_INCREF(uf); /* one reference for made[], one for the module */
        if (PyModule_AddObject(m, ufuncs[i].name, uf) < 0) {
            Py_DECREF(uf);
            goto fail;
        }
    }
    if (PyModule_AddObject(m, "bfloat16", Py_NewRef(bfloat16_done ? Py_True : Py_False)) < 0)
        goto fail;
    PyObject *bce = PyUFunc_FromFuncAndData(loops_bce, data_bce, (char *)types_bce, 1, 3, 1, PyUFunc_None,
        "binary_logits", "binary_logits(a, b, p): a softplus(-p) + b softplus(p), a zero weight giving 0 "
        "(float64: the accurate tier's NumPy path's bits).", 0);
    if (bce == NULL || PyModule_AddObject(m, "binary_logits", bce) < 0) {
        Py_XDECREF(bce);
        goto fail;
    }
    PyObject *plain = PyUFunc_FromFuncAndData(loops_plain, data_plain, (char *)types_plain, 3, 2, 1, PyUFunc_None,
        "binary_logits_plain", "binary_logits_plain(y, p): binary_logits(y, 1 - y, p) (float32 inputs: in float64, "
        "rounded once; float16, bfloat16 alike).", 0);
    made_plain[0] = plain; /* the module keeps the ufunc, and the module is kept (single-phase init) */
    if (plain == NULL || PyModule_AddObject(m, "binary_logits_plain", Py_NewRef(plain)) < 0) {
        Py_XDECREF(plain);
        goto fail;
    }
    /* the same two from probabilities (_bce_probs.c), with the same types */
    PyObject *probs = PyUFunc_FromFuncAndData(loops_probs, data_bce, (char *)types_bce, 1, 3, 1, PyUFunc_None,
        "binary_probs", "binary_probs(a, b, p): -(a log p + b log1p(-p)), a zero weight giving 0 "
        "(float64: the accurate tier's NumPy path's bits).", 0);
    if (probs == NULL || PyModule_AddObject(m, "binary_probs", probs) < 0) {
        Py_XDECREF(probs);
        goto fail;
    }
    PyObject *pplain = PyUFunc_FromFuncAndData(loops_probs_plain, data_plain, (char *)types_plain, 3, 2, 1,
        PyUFunc_None, "binary_probs_plain", "binary_probs_plain(y, p): binary_probs(y, 1 - y, p) (float32 "
        "inputs: in float64, rounded once; float16, bfloat16 alike).", 0);
    made_plain[1] = pplain;
    if (pplain == NULL || PyModule_AddObject(m, "binary_probs_plain", Py_NewRef(pplain)) < 0) {
        Py_XDECREF(pplain);
        goto fail;
    }
    return m;
fail:
    Py_DECREF(m);
    return NULL;
}
