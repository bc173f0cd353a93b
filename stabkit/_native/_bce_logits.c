/* stabkit._native._kernels: the loops of binary_logits_plain(y, p), the
 * binary cross-entropy from logits without options (targets y, logits p),
 * for float64, float32, float16 and bfloat16: a = y, b = 1 - y into
 * _elementwise64.c's block_bce, the loss in float64 and, for the narrower
 * formats, rounded once to the inputs' format, as the NumPy path's store
 * rounds it (crossentropy.py's binary_terms is the oracle).
 *
 * Targets 0 and 1 with logits of |p| >= 2^-10 make that loss the format's
 * correctly rounded softplus(-+p), so such elements take _elementwise.c's
 * kernel (or, for 16-bit calls of LUT_MIN elements or more, its table)
 * instead: the same bits at its speed; in float32, smaller logits take the
 * float64 series rounded once. A block where at most an eighth of the
 * elements fail that test sends only those to the float64 loss.
 *
 * Every float64 loss is settled before its rounding where it lies near a
 * midpoint of the narrow format (_bce_ties.c, bceties.py on the NumPy
 * path): one test per element, the double-double where it fires. The
 * kernels' softplus needs none (correctly rounded, and equal to the settled
 * loss on every input: see below); the float32 series does.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <fenv.h>
#include <math.h>
#include <stdint.h>
#include <string.h>

#include <numpy/ndarraytypes.h>
#include <numpy/ufuncobject.h>

#include "_bce_ties.h"
#include "_elementwise64.h"
#include "_half.h"

/* m doubles rounded once to float (round to nearest even, as NumPy's cast) */
static void narrow(float *restrict f, const double *restrict d, int m)
{
    for (int i = 0; i < m; i++)
        f[i] = (float)d[i];
}

/* m values of w bytes each at src (stride st) into dst, one copy where
 * contiguous */
static void gather(const char *src, npy_intp st, void *restrict dst, int m, size_t w)
{
    if (st == (npy_intp)w)
        memcpy(dst, src, (size_t)m * w);
    else
        for (int i = 0; i < m; i++)
            memcpy((char *)dst + i * w, src + i * st, w);
}

/* _elementwise.c's correctly rounded float32 softplus of n <= 256 values */
#define F32_BLOCK 256
HIDDEN void block_softplus_f32(const float *x, float *y, int n);

/* Whether every target of the block is 0 or 1 and no logit is NaN; q
 * holds the arguments -p (y = 1) or p (y = 0), bad[i] = 1 where element i
 * fails the test (else 0), and *small whether some |p| is below 2^-10. */
CLONES64 int labels01(const float *restrict y, const float *restrict p, float *restrict q, uint8_t *restrict bad,
                      int m, int *small)
{
    int all = 1, tiny = 0;
    for (int i = 0; i < m; i++) {
        tiny |= fabsf(p[i]) < 0x1p-10f;
        int ok = (y[i] == 0.0f || y[i] == 1.0f) & (p[i] == p[i]);
        all &= ok;
        bad[i] = (uint8_t)!ok;
        q[i] = y[i] == 1.0f ? -p[i] : p[i];
    }
    *small = tiny;
    return all;
}

/* The blocks that labels01 refuses are mostly fine: logits of standard
 * deviation 1 put |p| < 2^-10 in one block of 512 in three, and one such
 * element sent the whole block down the float64 loop. Where at most m/8
 * elements are refused, the kernel's softplus serves the rest and only
 * those (their indices from refused) take the float64 loop, each loss
 * being elementwise; more (soft targets), and the whole block does. */
#define FEW_REFUSED(k, m) ((k) <= (m) / 8)

/* the indices (into idx) of the m flags at `flags`, w bytes each (1 or 2),
 * that are set (a set flag's first byte is not 0); clear flags are
 * skipped a 64-bit word at a time (a scalar scan of every flag cost more
 * than the float64 loop it saved) */
static int refused(const void *flags, int m, int w, int *restrict idx)
{
    const uint8_t *f = flags;
    int k = 0, i = 0, per = 8 / w;
    for (; i + per <= m; i += per) {
        uint64_t word;
        memcpy(&word, f + (size_t)i * w, 8);
        if (word != 0)
            for (int j = i; j < i + per; j++)
                if (f[(size_t)j * w])
                    idx[k++] = j;
    }
    for (; i < m; i++)
        if (f[(size_t)i * w])
            idx[k++] = i;
    return k;
}

/* the float64 loss of k picked elements (targets y, logits p, float32),
 * settled for its rounding to float32 */
static void bce_picked(const float *yf, const float *pf, const int *idx, int k, double *y, double *b, double *p,
                       double *out)
{
    for (int j = 0; j < k; j++) {
        y[j] = (double)yf[idx[j]];
        p[j] = (double)pf[idx[j]];
        b[j] = 1.0 - y[j];
    }
    block_bce(y, b, p, out, k);
    stabkit_bce_ties(y, p, out, k, TIE_F32);
}

/* block_series_f32's elements (|q| < 2^-10) whose float64 series lies near
 * a float32 midpoint, settled as the NumPy path settles its loss (the same
 * float64 value: the other term is +0): softplus(4.4680992e-04), the
 * loss of (y, p) = (0, 4.4680992e-04), is one float64 ulp-fraction from a
 * midpoint, and its float64 value lands on it */
static void series_ties(const float *yf, const float *pf, const float *q, float *r, int m)
{
    for (int i = 0; i < m; i++)
        if (fabsf(q[i]) < 0x1p-10f) {
            double s = stabkit_softplus_near_zero((double)q[i]);
            if (stabkit_near_midpoint(s, TIE_SHIFT(TIE_F32), TIE_TINY(TIE_F32)))
                r[i] = (float)stabkit_bce_settle((double)yf[i], (double)pf[i], s, TIE_F32);
        }
}

/* m float32 values at src (stride st), or src itself where contiguous */
static const float *floats(const char *src, npy_intp st, float *buf, int m)
{
    if (st == 4)
        return (const float *)src;
    for (int i = 0; i < m; i++)
        memcpy(&buf[i], src + i * st, 4);
    return buf;
}

/* binary_logits_plain(y, p): a = y, b = 1 - y (accurate.py's plain loss:
 * no smoothing, no weights), for float64 ('dd->d') and float32 ('ff->f')
 * inputs: float32 values are widened exactly and the float64 loss rounded
 * once to float32, as the NumPy path's store does */
static void loop_bce_plain(char **args, npy_intp const *dims, npy_intp const *steps, int f32)
{
    npy_intp n = dims[0];
    if (!stabkit_float64_bound()) { /* NaN until bound, as every float64 loop */
        double nan = NAN;
        float nan32 = NAN;
        for (npy_intp i = 0; i < n; i++)
            memcpy(args[2] + i * steps[2], f32 ? (void *)&nan32 : (void *)&nan, f32 ? 4 : 8);
        return;
    }
    ALIGNED double y[B64], b[B64], p[B64], out[B64];
    fexcept_t flags;
    fegetexceptflag(&flags, FE_ALL_EXCEPT);
    for (npy_intp s = 0; s < n; s += B64) {
        int m = (int)(n - s < B64 ? n - s : B64);
        const char *ys = args[0] + s * steps[0], *ps = args[1] + s * steps[1];
        char *dst = args[2] + s * steps[2];
        /* contiguous float64 inputs are read in place (the result goes to
         * `out` first, so an output that is the input itself is safe) */
        const double *yv = y, *pv = p;
        if (f32) {
            ALIGNED float yb[B64], pb[B64], q[B64], r[B64];
            const float *yf = floats(ys, steps[0], yb, m), *pf = floats(ps, steps[1], pb, m);
            /* Targets 0 and 1: the NumPy path's loss is round32(1 s + 0) =
             * round32(s), s = softplus_f64(-+p), the other term being +0.
             * For |p| >= 2^-10 (the series below is the only place where
             * accurate.softplus's float32 path differs from softplus_f64) that is
             * accurate.softplus(-+p) in float32, which the float32 kernel
             * gives bit for bit on every one of the 2^32 inputs
             * (benchmarks/exhaustive_elementwise.py): the same bits, at the
             * float32 kernel's speed. Below 2^-10, round32(s) itself: the
             * float64 series, rounded once (block_series_f32; logits near 0
             * sent whole blocks to the float64 loop before, 0.27-0.49x
             * PyTorch). Other blocks take the float64 loop. */
            uint8_t bad[B64];
            int small, all = labels01(yf, pf, q, bad, m, &small), idx[B64];
            int nr = all ? 0 : refused(bad, m, 1, idx);
            if (all || FEW_REFUSED(nr, m)) {
                for (int k = 0; k < m; k += F32_BLOCK)
                    block_softplus_f32(q + k, r + k, m - k < F32_BLOCK ? m - k : F32_BLOCK);
                if (small) {
                    block_series_f32(q, r, m);
                    series_ties(yf, pf, q, r, m);
                }
                if (nr) {
                    bce_picked(yf, pf, idx, nr, y, b, p, out);
                    for (int j = 0; j < nr; j++)
                        r[idx[j]] = (float)out[j];
                }
                if (steps[2] == 4)
                    memcpy(dst, r, (size_t)m * 4);
                else
                    for (int i = 0; i < m; i++)
                        memcpy(dst + i * steps[2], &r[i], 4);
                continue;
            }
            for (int i = 0; i < m; i++)
                y[i] = (double)yf[i], p[i] = (double)pf[i]; /* exact */
        } else {
            yv = steps[0] == 8 ? (const double *)ys : (gather(ys, steps[0], y, m, 8), y);
            pv = steps[1] == 8 ? (const double *)ps : (gather(ps, steps[1], p, m, 8), p);
        }
        for (int i = 0; i < m; i++)
            b[i] = 1.0 - yv[i];
        block_bce(yv, b, pv, out, m);
        if (f32)
            stabkit_bce_ties(yv, pv, out, m, TIE_F32);
        if (f32 && steps[2] == 4)
            narrow((float *)dst, out, m);
        else if (f32)
            for (int i = 0; i < m; i++) {
                float r = (float)out[i];
                memcpy(dst + i * steps[2], &r, 4);
            }
        else if (steps[2] == 8)
            memcpy(dst, out, (size_t)m * 8);
        else
            for (int i = 0; i < m; i++)
                memcpy(dst + i * steps[2], &out[i], 8);
    }
    fesetexceptflag(&flags, FE_ALL_EXCEPT);
}

void stabkit_loop_bce_plain64(char **args, npy_intp const *dims, npy_intp const *steps, void *data)
{
    (void)data;
    loop_bce_plain(args, dims, steps, 0);
}

void stabkit_loop_bce_plain32(char **args, npy_intp const *dims, npy_intp const *steps, void *data)
{
    (void)data;
    loop_bce_plain(args, dims, steps, 1);
}

/* _elementwise.c's correctly rounded float16 and bfloat16 softplus of n <= 256 values */
HIDDEN void block_softplus_f16(const uint16_t *x, uint16_t *y, int n);
HIDDEN void block_softplus_bf16(const uint16_t *x, uint16_t *y, int n);
/* and its table of all 2^16 results (_lut16.h) for a call of n elements, or NULL */
HIDDEN const uint16_t *stabkit_softplus16_table(int bf, npy_intp n);

/* labels01 for 16-bit patterns (one: the pattern of 1.0; small: that of
 * 2^-10; inf: that of inf): every target 0 or 1, every logit not NaN with
 * |p| >= 2^-10; q holds the patterns of -p (y = 1) or p (y = 0), and
 * bad[i] = 0xffff where element i fails (else 0; refused() reads either) */
CLONES64 int labels01_16(const uint16_t *restrict y, const uint16_t *restrict p, uint16_t *restrict q,
                         uint16_t *restrict bad, int m, uint16_t one, uint16_t small, uint16_t inf)
{
    /* 16-bit lanes throughout (an int flag beside them kept GCC from
     * vectorising the loop) */
    uint16_t any = 0;
    for (int i = 0; i < m; i++) {
        uint16_t ya = (uint16_t)(y[i] & 0x7fffu), pa = (uint16_t)(p[i] & 0x7fffu);
        uint16_t is_one = y[i] == one ? 0xffffu : 0u, is_zero = ya == 0 ? 0xffffu : 0u;
        uint16_t in_range = pa >= small && pa <= inf ? 0xffffu : 0u;
        bad[i] = (uint16_t)~((is_one | is_zero) & in_range);
        any |= bad[i];
        q[i] = (uint16_t)(p[i] ^ (is_one & 0x8000u));
    }
    return any == 0;
}

/* binary_logits_plain(y, p) for float16 (bfloat16: bf): y and p widened
 * exactly, the float64 loss rounded once to their format as the NumPy
 * path's store rounds it. As for float32 (loop_bce_plain), a block whose
 * targets are all 0 or 1 and whose logits have |p| >= 2^-10 gets the
 * format's correctly rounded softplus(-+p) from _elementwise.c instead: the
 * same bits (the loss is that softplus's float64 value rounded once, which
 * the 16-bit kernel gives on every input: tests/test_native_bce.py checks
 * all 2 x 2^16 (target, logit) pairs of each format), at its speed: from
 * its table of every result on calls of LUT_MIN elements or more. A block
 * with few refused elements (FEW_REFUSED) sends only those to the float64
 * loss, as for float32. */
static void loop_plain16(char **args, npy_intp const *dims, npy_intp const *steps, int bf)
{
    npy_intp n = dims[0];
    if (!stabkit_float64_bound()) {
        uint16_t nan = bf ? 0x7fc0u : 0x7e00u;
        for (npy_intp i = 0; i < n; i++)
            memcpy(args[2] + i * steps[2], &nan, 2);
        return;
    }
    ALIGNED double y[B64], b[B64], p[B64], out[B64];
    fexcept_t flags;
    fegetexceptflag(&flags, FE_ALL_EXCEPT);
    const uint16_t *table = stabkit_softplus16_table(bf, n);
    for (npy_intp s = 0; s < n; s += B64) {
        int m = (int)(n - s < B64 ? n - s : B64);
        uint16_t yb[B64], pb[B64], q[B64], r[B64];
        gather(args[0] + s * steps[0], steps[0], yb, m, 2);
        gather(args[1] + s * steps[1], steps[1], pb, m, 2);
        const uint16_t one = bf ? 0x3f80u : 0x3c00u, small = bf ? 0x3a80u : 0x1400u, inf = bf ? 0x7f80u : 0x7c00u;
        uint16_t bad[B64];
        int idx[B64], nr = labels01_16(yb, pb, q, bad, m, one, small, inf) ? 0 : refused(bad, m, 2, idx);
        if (FEW_REFUSED(nr, m)) {
            char *dst = args[2] + s * steps[2];
            /* a contiguous output is written in place (q is a copy, so the
             * output may be an input) */
            uint16_t *out16 = steps[2] == 2 ? (uint16_t *)dst : r;
            if (table != NULL)
                for (int i = 0; i < m; i++)
                    out16[i] = table[q[i]];
            else
                for (int k = 0; k < m; k += F32_BLOCK)
                    (bf ? block_softplus_bf16 : block_softplus_f16)(q + k, out16 + k,
                                                                   m - k < F32_BLOCK ? m - k : F32_BLOCK);
            if (nr) { /* FEW_REFUSED: the refused elements by the float64 loss */
                uint16_t py[B64], pp[B64], fixed[B64];
                for (int j = 0; j < nr; j++)
                    py[j] = yb[idx[j]], pp[j] = pb[idx[j]];
                stabkit_widen16((const char *)py, 2, bf, y, nr);
                stabkit_widen16((const char *)pp, 2, bf, p, nr);
                for (int j = 0; j < nr; j++)
                    b[j] = 1.0 - y[j];
                block_bce(y, b, p, out, nr);
                stabkit_bce_ties(y, p, out, nr, bf ? TIE_BF16 : TIE_F16);
                stabkit_narrow16((char *)fixed, 2, bf, out, nr);
                for (int j = 0; j < nr; j++)
                    out16[idx[j]] = fixed[j];
            }
            if (steps[2] != 2)
                for (int i = 0; i < m; i++)
                    memcpy(dst + i * steps[2], &r[i], 2);
            continue;
        }
        stabkit_widen16((const char *)yb, 2, bf, y, m);
        stabkit_widen16((const char *)pb, 2, bf, p, m);
        for (int i = 0; i < m; i++)
            b[i] = 1.0 - y[i];
        block_bce(y, b, p, out, m);
        stabkit_bce_ties(y, p, out, m, bf ? TIE_BF16 : TIE_F16);
        stabkit_narrow16(args[2] + s * steps[2], steps[2], bf, out, m);
    }
    fesetexceptflag(&flags, FE_ALL_EXCEPT);
}

void stabkit_loop_bce_plain16(char **args, npy_intp const *dims, npy_intp const *steps, void *data)
{
    (void)data;
    loop_plain16(args, dims, steps, 0);
}

void stabkit_loop_bce_plain_bf16(char **args, npy_intp const *dims, npy_intp const *steps, void *data)
{
    (void)data;
    loop_plain16(args, dims, steps, 1);
}
