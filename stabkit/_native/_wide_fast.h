/* The fast pass of the wide rows of narrower targets (included by _rows.c
 * after _narrow.h, _fastpass.h and _half.h, before _wide.h and
 * _wide_ce32.h): the softmax and log-softmax of float32 rows into float32
 * outputs, and, where the caller rounds the float64 results once and uses
 * nothing else of them, the logsumexp, the sparse cross-entropy's
 * log-softmax at the label (wide_rows) and the categorical cross-entropy
 * (_wide_ce32.h) of float32 rows and of float16 and bfloat16 rows widened
 * to float64 (narrow_row turns them back into float32, exactly). (Softmax
 * and log-softmax of the 16-bit rows stay with NumPy's exp: a 16-bit test
 * on every entry cost more than that exp, 2.4 against 2.3 ms at 1000x1000,
 * even vectorised through float32.)
 *
 * The NumPy path forms such a row's values in float64 from NumPy's exp and
 * rounds each once to the format. The fast pass forms them from exp_fast
 * instead (eight doubles a vector, no library call) and keeps the row only
 * where every value's rounding is settled: the two ends of an interval
 * that holds the NumPy path's float64 value round to one value of the
 * format. Rounding is monotonic, so the NumPy path's value rounds to it
 * too, and the row gets the NumPy path's bits without its exp. A row with
 * one unsettled value is formed again the NumPy way (about one float32 row
 * of 1000 columns in a few hundred; none of the rows the kernels flag
 * reaches here).
 *
 * The bounds, relative to the exact value, for rows of n <= 2^20 entries:
 * - exp: exp_fast below 2^-45.4 on [-708, 709] (_fastpass.h); NumPy's exp
 *   is taken to be within 2^-48 (32 units of 2^-53; measured 1.19 units,
 *   and tests/test_native_wide_fast.py checks it against mpmath);
 * - a pairwise sum of n positive terms (NumPy's order, pairwise()): at most
 *   log2(n) + 18 roundings on any term's path (in a leaf of 128, 15 lane
 *   additions, 3 folds and 7 trailing ones; then log2(n / 128) levels), so
 *   below 38 2^-53 = 2^-47.7;
 * - NumPy's log1p: within 2^-48 too (measured 1.12 units);
 * - every other operation: one rounding, 2^-53.
 * An argument below -708 is raised to -708 (e^-708 is a normal double,
 * 2^-1021.4); each caller says why that changes no result in the format.
 */

/* exp_fast's least argument here, and the most entries a fast row takes */
#define XMIN (-708.0)
#define FAST_MAX_N ((int64_t)1 << 20)

/* Which blocks the wide kernels try the fast pass on: contiguous float32
 * rows into a float32 output, or into values the caller rounds to float32
 * (FAST32), and float64 rows (widened float16 or bfloat16 values:
 * narrow_row checks each row) whose values the caller rounds to rfmt, a
 * 16-bit format (FAST16, wide_rows only); narrower targets (not exact) and
 * rows of at most 2^20 entries in both */
#define FAST32(f32, scol, out, exact, n) \
    ((f32) && (scol) == (int64_t)sizeof(float) && (out) && !(exact) && (n) <= FAST_MAX_N)
#define FAST16(f32, rfmt, exact, n) \
    (!(f32) && ((rfmt) == R_F16 || (rfmt) == R_BF16) && !(exact) && (n) <= FAST_MAX_N)

/* Sixteen floats, and their 32-bit masks (one AVX-512 register) */
typedef float vf16 __attribute__((vector_size(16 * sizeof(float))));
typedef int32_t vi16 __attribute__((vector_size(16 * sizeof(float))));

static FORCE_INLINE vf16 load16(const float *p)
{
    vf16 v;
    memcpy(&v, p, sizeof v);
    return v;
}

static FORCE_INLINE vf16 blend16(vi16 mask, vf16 a, vf16 b) { return (vf16)((mask & (vi16)a) | (~mask & (vi16)b)); }
static FORCE_INLINE vi16 blendi16(vi16 mask, vi16 a, vi16 b) { return (mask & a) | (~mask & b); }

/* v's lanes, lane t taken from lane t ^ h (h a constant), as _rows.c's
 * LANES_XOR8 */
#if defined(__clang__)
#define LANES_XOR16(v, h, MASK)                                                                                    \
    __builtin_shufflevector((v), (v), 0 ^ (h), 1 ^ (h), 2 ^ (h), 3 ^ (h), 4 ^ (h), 5 ^ (h), 6 ^ (h), 7 ^ (h),     \
                            8 ^ (h), 9 ^ (h), 10 ^ (h), 11 ^ (h), 12 ^ (h), 13 ^ (h), 14 ^ (h), 15 ^ (h))
#else
#define LANES_XOR16(v, h, MASK)                                                                                    \
    __builtin_shuffle((v), (MASK){0 ^ (h), 1 ^ (h), 2 ^ (h), 3 ^ (h), 4 ^ (h), 5 ^ (h), 6 ^ (h), 7 ^ (h), 8 ^ (h), \
                                  9 ^ (h), 10 ^ (h), 11 ^ (h), 12 ^ (h), 13 ^ (h), 14 ^ (h), 15 ^ (h)})
#endif

/* The largest (top) or least lane of sixteen floats (none NaN), and the
 * least of sixteen indices: four steps of a shuffle (halves of eight, four,
 * two, one lanes swapped) and a select each */
static FORCE_INLINE vf16 fold16_step(vf16 v, vf16 w, int top) { return blend16(top ? w > v : w < v, w, v); }

static FORCE_INLINE float fold16(vf16 v, int top)
{
    v = fold16_step(v, LANES_XOR16(v, 8, vi16), top);
    v = fold16_step(v, LANES_XOR16(v, 4, vi16), top);
    v = fold16_step(v, LANES_XOR16(v, 2, vi16), top);
    v = fold16_step(v, LANES_XOR16(v, 1, vi16), top);
    return v[0];
}

static FORCE_INLINE vi16 fold16i_step(vi16 v, vi16 w) { return blendi16(w < v, w, v); }

static FORCE_INLINE int32_t fold16i(vi16 v)
{
    v = fold16i_step(v, LANES_XOR16(v, 8, vi16));
    v = fold16i_step(v, LANES_XOR16(v, 4, vi16));
    v = fold16i_step(v, LANES_XOR16(v, 2, vi16));
    v = fold16i_step(v, LANES_XOR16(v, 1, vi16));
    return v[0];
}

/* scan_row on a contiguous float32 row itself (n <= 2^20), sixteen lanes a
 * vector: the same first maximum and least entry (converting to float64 is
 * exact and keeps the order, and the lanes keep first-seen entries as
 * scan_row's do), the minimum as a double; -1 if the row holds a NaN. */
static FORCE_INLINE int64_t scan_row32(const float *x, int64_t n, double *mn)
{
    const float x0 = x[0];
    vf16 hi = {0}, lo = {0}, sum = {0};
    hi += x0, lo += x0;
    vi16 at = {0}, jv = {0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15};
    int64_t j = 0;
    for (; j + 16 <= n; j += 16) {
        vf16 v = load16(x + j);
        vi16 gt = v > hi;
        hi = blend16(gt, v, hi);
        at = blendi16(gt, jv, at);
        lo = blend16(v < lo, v, lo);
        sum += v;
        jv += 16;
    }
    /* the lanes folded in four vector steps (a maximum or minimum is exact
     * in any order; mi is read back from x at top) */
    float mx = fold16(hi, 1), low = fold16(lo, 0);
    int64_t top = (int64_t)fold16i(blendi16(hi == mx, at, (vi16){0} + (int32_t)n)), anynan = 0;
    /* a NaN makes its lane's sum NaN (as may inf beside -inf: looked at one by one) */
    for (int q = 0; q < 16; q++)
        anynan |= sum[q] != sum[q];
    if (anynan) {
        anynan = 0;
        for (int64_t t = 0; t < j; t++)
            anynan |= x[t] != x[t];
    }
    /* the rest one by one: all of it comes after every lane's entries */
    for (; j < n; j++) {
        float v = x[j];
        if (v > mx)
            mx = v, top = j;
        low = v < low ? v : low;
        anynan |= v != v;
    }
    *mn = (double)low;
    return anynan ? -1 : top;
}

/* e[j] = exp(x[j] + shift) by exp_fast (relative error below 2^-45.4) for a
 * float32 row (shift 0 adds nothing: x + 0 is x's exp argument exactly),
 * arguments below -708 (-inf included) raised to -708; none above 709, none
 * NaN. The one function of _rows.c whose products may fuse (CONTRACT_FMA,
 * as in the elementwise fast pass): its results only ever pass a rounding
 * test. */
HIDDEN CLONES CONTRACT_FMA NOINLINE void fast_exp_row(const float *x, double shift, double *e, int64_t n)
{
    for (int64_t j = 0; j < n; j++) {
        double a = (double)x[j] + shift;
        a = a < XMIN ? XMIN : a;
        e[j] = exp_fast(a, 0);
    }
}

/* The format a fast row's results are rounded to: float32 (by the kernel,
 * into a float32 output), float16 or bfloat16 (by the caller's
 * round_float64, from the float64 values the kernel writes) */
enum { R_NONE = 0, R_F32 = 1, R_F16 = 2, R_BF16 = 3 };

/* Whether a <= b round to one value of the format (correctly rounded
 * conversions: the hardware's to float32, _half.h's to the 16-bit ones;
 * these are per-row tests, so the 16-bit ones need not vectorise) */
static FORCE_INLINE int same_rounding(double a, double b, int fmt)
{
    if (fmt == R_F32)
        return (float)a == (float)b;
    if (fmt == R_F16)
        return stabkit_double_to_half64(a) == stabkit_double_to_half64(b);
    return stabkit_double_to_bf16_64(a) == stabkit_double_to_bf16_64(b);
}

/* A fast row's logsumexp m + L, NumPy's L known to lie in L (1 -+ 2^-43):
 * *out = m + L_hi, and whether NumPy's m + L rounds to its value in the
 * format (m + L is non-decreasing in L) and cannot be flagged by NumPy's
 * cancellation test (limit 2^12) anywhere on the interval: not where the
 * ends stay below 2^11 and keep one sign. */
static FORCE_INLINE int lse_settles(double m, double L, int fmt, double *out)
{
    const double L_lo = L * (1.0 - 0x1p-43), L_hi = L * (1.0 + 0x1p-43);
    const double a = m + L_lo, b = m + L_hi, den = fabs(a) < fabs(b) ? fabs(a) : fabs(b);
    const int cancels = m < 0.0 && ((a < 0.0) != (b < 0.0) || (fabs(m) + L_hi) / den > 0x1p11);
    *out = b;
    return !cancels && same_rounding(a, b, fmt);
}

/* same_rounding to float32, and that float32 stored in *o */
static FORCE_INLINE int settled(double a, double b, float *o)
{
    *o = (float)b;
    return same_rounding(a, b, R_F32);
}

/* A float64 row of n values that are float32 numbers (widened float16 or
 * bfloat16: exact) as float32 in xs; 0 where one is not (or is NaN). */
static FORCE_INLINE int narrow_row(const double *xr, int64_t n, float *xs)
{
    int exact = 1;
    for (int64_t j = 0; j < n; j++) {
        xs[j] = (float)xr[j];
        exact &= (double)xs[j] == xr[j];
    }
    return exact;
}

/* The sum of a contiguous float32 row's shifted terms as wide_rows' narrower
 * target forms it, d = x + nm (nm = -mi, the one IEEE addition of Rows'
 * shift, the same double in both), e = exp(d) with e_k = 0, s their
 * pairwise sum; here exp_fast of d raised to -708. Returns s, or -1 where s
 * is below n 2^-960 (the caller then takes NumPy's exp). The terms carry
 * 2^-45.4 (NumPy's 2^-48) and the sum 2^-47.7 more: s within 2^-45.2 (2^-47)
 * of the exact sum; n raised terms (each below 2^-1021.2 in both) move a sum
 * of n 2^-960 or more by less than 2^-61 of itself. L = log1p(s), by NumPy's
 * loop in both, then lies within 2^-45 (2^-46.4) of log1p of the exact
 * sum (q / ((1 + q) log1p q) <= 1, and log1p's own 2^-48): NumPy's L lies in
 * L (1 -+ 2^-43) (as rounded: within 2^-53 of that), the interval
 * wide_rows' float32 outputs are settled on. */
static FORCE_INLINE double fast_shifted_sum(const float *xf, int64_t n, int64_t k, double *e)
{
    fast_exp_row(xf, -(double)xf[k], e, n);
    e[k] = 0.0;
    const double s = pairwise(e, NULL, n, 0.0, PLAIN).q;
    return s >= (double)n * 0x1p-960 ? s : -1.0;
}

/* softmax_unshifted of one contiguous float32 row xf (n <= 2^20 entries,
 * its maximum in [-600, 650], no NaN) into o32, as wide_softmax's narrower
 * target forms it: e * (1 / the pairwise sum of e). Returns 1 where every
 * value passed, else 0 (o32 garbage).
 * Bound: e_j carries 2^-45.4 (NumPy's 2^-48), the sum 2^-45.4 + 2^-47.7
 * (2^-48 + 2^-47.7), 1 / sum and the product one rounding each: the two
 * values lie within 2^-43.9 v of each other, inside the margin 2^-42 v.
 * Raised arguments: the sum holds e^max >= e^-600 = 2^-865.6, so a raised
 * term adds at most 2^-1021.2 / 2^-865.6 < 2^-155 of it, and its own value
 * is below 2^-155, as NumPy's (0 or subnormal) is: both round to +0. */
static FORCE_INLINE int fast_softmax_row(const float *xf, int64_t n, double *e, float *o32)
{
    fast_exp_row(xf, 0.0, e, n);
    const double inv = 1.0 / pairwise(e, NULL, n, 0.0, PLAIN).q;
    int bad = 0;
    for (int64_t j = 0; j < n; j++) {
        const double v = e[j] * inv;
        bad |= !settled(v * (1.0 - 0x1p-42), v * (1.0 + 0x1p-42), &o32[j]);
    }
    return !bad;
}

/* The unshifted L of a contiguous float32 row (its first maximum at k,
 * least entry mn) as wide_log_softmax's narrower target forms it, and the
 * interval [*L_lo, *L_hi] that holds NumPy's (fast_log_softmax_row says
 * why); *tied: tie_rows' test, the same on the whole interval. Returns 0
 * where the row falls back (a sum under the floors, or tie_rows' threshold
 * inside the interval). */
static FORCE_INLINE int fast_unshifted_L(const float *xf, int64_t n, int64_t k, double mn, double *e,
                                         void *log1p_loop, void *log1p_data, double *L_lo, double *L_hi, int *tied)
{
    const double mi = (double)xf[k];
    fast_exp_row(xf, 0.0, e, n);
    const double winner = e[k];
    e[k] = 0.0;
    const double s = pairwise(e, NULL, n, 0.0, PLAIN).q;
    double q = s / winner, L;
    if (!(s >= (double)n * 0x1p-960) || !(q >= 0x1p-1000))
        return 0;
    unary_loop(log1p_loop, log1p_data, &q, &L, 1);
    const double ties = (mi - mn) * TIE_SPAN;
    *L_lo = L * (1.0 - 0x1p-43), *L_hi = L * (1.0 + 0x1p-43);
    *tied = *L_hi <= ties;
    return *L_lo > ties || *tied;
}

/* log_softmax_unshifted of one contiguous float32 row xf (n <= 2^20
 * entries, first maximum mi at k in [-600, 650], least entry mn, no NaN)
 * into o32, as wide_log_softmax's narrower target forms it: q = (sum of e
 * without e_k) / e_k, L = log1p(q) by NumPy's loop, -L at k, and elsewhere
 * x - (mi + L), or below_ties' (x - mi) - L for the rows tie_rows picks
 * (L <= (mi - mn) TIE_SPAN; masked rows, whose mn is -inf, among them).
 * Returns 1 where every value passed, else 0 (o32 garbage); 0 also for
 * rows whose sum is below n 2^-960 or whose q is below 2^-1000 (so that L
 * is a normal double in both).
 * Bound: q carries 2^-45.4 (e_k) + 2^-45.4 + 2^-47.7 (the sum) + 2^-53,
 * L = log1p(q) at most q's relative error (q / ((1 + q) log1p q) <= 1) and
 * log1p's own 2^-48: below 2^-44, NumPy's below 2^-46.2, so NumPy's L lies
 * in [L_lo, L_hi] = L (1 -+ 2^-43) (as rounded: within 2^-53 of that).
 * Every value is a non-increasing function of L (fl(x - fl(mi + L)),
 * below_ties, -L), so NumPy's lies between the values at L_hi and L_lo,
 * and where those round to one value of the format so does it. Where L_lo
 * and L_hi give mi + L the same double (L far below mi's ulp), the two ends
 * are the same number: such a row is settled whatever its values. The row falls back
 * where tie_rows' test differs at L_lo and L_hi. Raised arguments: with the
 * sum at n 2^-960 or more, n raised terms (each below 2^-1021.2 in both)
 * move it by less than 2^-61 of itself. */
static FORCE_INLINE int fast_log_softmax_row(const float *xf, int64_t n, int64_t k, double mn, double *e,
                                             void *log1p_loop, void *log1p_data, float *o32)
{
    const double mi = (double)xf[k];
    double L_lo, L_hi;
    int tied;
    if (!fast_unshifted_L(xf, n, k, mn, e, log1p_loop, log1p_data, &L_lo, &L_hi, &tied))
        return 0;
    int bad = !settled(-L_hi, -L_lo, &o32[k]);
    /* two loops on either side of k: each vectorises */
    if (!tied) {
        const double mL_lo = mi + L_lo, mL_hi = mi + L_hi;
        for (int64_t j = 0; j < k; j++)
            bad |= !settled((double)xf[j] - mL_hi, (double)xf[j] - mL_lo, &o32[j]);
        for (int64_t j = k + 1; j < n; j++)
            bad |= !settled((double)xf[j] - mL_hi, (double)xf[j] - mL_lo, &o32[j]);
    } else {
        for (int64_t j = 0; j < k; j++)
            bad |= !settled(below_ties((double)xf[j] - mi, L_hi), below_ties((double)xf[j] - mi, L_lo), &o32[j]);
        for (int64_t j = k + 1; j < n; j++)
            bad |= !settled(below_ties((double)xf[j] - mi, L_hi), below_ties((double)xf[j] - mi, L_lo), &o32[j]);
    }
    return !bad;
}
