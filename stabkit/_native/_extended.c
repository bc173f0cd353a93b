/* The 80-bit extended step of the cancelling logsumexp rows
 * (stabkit/_accurate/cancelling.py, _lse_extended), in C: the same
 * operations on x86's extended format as NumPy's longdouble loops run, in
 * the same order, so the same bits, without the ten NumPy calls (and their
 * temporaries) that cost ~12 us for a handful of rows.
 *
 * Per row of n doubles x (converted exactly): the first index of the
 * maximum m (np.argmax: a later entry replaces it only when strictly
 * greater, and the first NaN stops the search), e_j = expl(x_j - m) with
 * the maximum's own term set to 0, s = 0 + pairwise(e) (np.add.reduce
 * along a contiguous last axis: the identity, then NumPy's pairwise sum,
 * below), L = log1pl(s), out = m + L rounded once to double, and
 * ok = (|m| + L) <= 32 |out| (cancelling.EXTENDED_AMP, exact in this
 * format). expl and log1pl are the C library's, the functions NumPy's
 * longdouble exp and log1p loops call (npy_expl, npy_log1pl).
 *
 * lse_rows_dd, at the end, is the step after it for the rows it leaves:
 * double-double with Ziv's rounding test, correctly rounded or undecided.
 *
 * Nothing in lse_extended is assumed to match: stabkit/_native/extended.py
 * compares it with the NumPy step bit for bit on rows of every pairwise
 * branch before it is used, and the NumPy step runs where they differ,
 * where long double is not the 64-bit-significand format, or where the
 * scratch cannot be allocated (lse_extended returns -1 for both).
 */
#include <float.h>
#include <math.h>
#include <stdint.h>
#include <stdlib.h>

#include "_common.h"
#include "_dd.h"

/* NumPy's pairwise sum (loops_utils.h.src), for long double: below 8 terms
 * one by one from 0; up to 128, eight running sums (term j into sum j mod
 * 8), folded as ((s0 + s1) + (s2 + s3)) + ((s4 + s5) + (s6 + s7)), then
 * the terms past the last multiple of 8 one by one; above 128 the two
 * halves, split at n / 2 rounded down to a multiple of 8. */
static long double pairwise_ld(const long double *a, int64_t n)
{
    if (n < 8) {
        long double s = 0.0L;
        for (int64_t i = 0; i < n; i++)
            s += a[i];
        return s;
    }
    if (n <= 128) {
        long double r[8];
        for (int k = 0; k < 8; k++)
            r[k] = a[k];
        int64_t i = 8;
        for (; i < n - n % 8; i += 8)
            for (int k = 0; k < 8; k++)
                r[k] += a[i + k];
        long double s = ((r[0] + r[1]) + (r[2] + r[3])) + ((r[4] + r[5]) + (r[6] + r[7]));
        for (; i < n; i++)
            s += a[i];
        return s;
    }
    int64_t h = n / 2;
    h -= h % 8;
    return pairwise_ld(a, h) + pairwise_ld(a + h, n - h);
}

/* out[i] and ok[i] (1 or 0) for `rows` contiguous rows of n >= 1 doubles;
 * 0, or -1 where the step is not this format's, n < 1, or no scratch was
 * had */
EXPORT int64_t lse_extended(const double *x, int64_t rows, int64_t n, double *out, int8_t *ok)
{
#if LDBL_MANT_DIG != 64
    (void)x, (void)rows, (void)n, (void)out, (void)ok;
    return -1;
#else
    long double *e = n > 0 ? malloc((size_t)n * sizeof *e) : NULL;
    if (!e)
        return -1;
    for (int64_t i = 0; i < rows; i++) {
        const double *xi = x + i * n;
        int64_t top = 0;
        long double m = xi[0];
        for (int64_t j = 1; j < n && m == m; j++)
            if (!((long double)xi[j] <= m))
                m = xi[j], top = j;
        for (int64_t j = 0; j < n; j++)
            e[j] = expl((long double)xi[j] - m);
        e[top] = 0.0L;
        long double L = log1pl(0.0L + pairwise_ld(e, n));
        long double v = m + L;
        out[i] = (double)v;
        ok[i] = (fabsl(m) + L) <= 32.0L * fabsl(v);
    }
    free(e);
    return 0;
#endif
}

/* log(1 + s) for a double-double s >= 0, absolute error below 2^-91 (1 +
 * log(1 + s)) for s below 2^60: log1p_dd for s <= 1 (2^-93 relative);
 * above, u = 1 + s (no cancellation) and one Newton step on exp(y) = u from
 * libm's y0 = log(u.hi): y = y0 + (u - exp(y0)) / exp(y0), whose error is
 * exp_dd's 2^-95 plus the square of y0's (2^-104 y^2, y < 42). */
static dd log1p_dd_any(dd s)
{
    if (s.hi == 0.0)
        return (dd){0.0, 0.0};
    if (s.hi <= 1.0)
        return log1p_dd(s);
    dd u = dd_add((dd){1.0, 0.0}, s);
    double y0 = log(u.hi);
    dd e = exp_dd(y0);
    dd d = dd_add(u, (dd){-e.hi, -e.lo});
    return two_sum(y0, (d.hi + d.lo) / e.hi);
}

/* The logsumexp of one row of n doubles (maximum m finite, entries finite
 * or -inf) in double-double, m + log1p(s) with s the sum of exp(x_j - m)
 * over the entries but the first maximum: each x_j - m exactly (TwoSum,
 * a = ah + al), exp(a) = exp_dd(ah) (1 + al + al^2 / 2) (|al| <= 2^-44:
 * the rest is below 2^-130), terms below e^-200 (2^-288 of the maximum's
 * term) left out. Error of L = log1p(s): from the log, 2^-93 L for s <= 1
 * (log1p_dd) and 2^-91 (1 + L) above; from s, 2^-94 relative for each exp
 * and 2^-104 for each addition, which the log passes on times
 * s / (1 + s) (below 2L for s <= 1, below 1 + L above); n 2^-288 from the
 * terms left out; the final double-double addition m + L adds 2^-104
 * (|m| + L). Their sum (rounded up) is B; E = 2B below. A row of one entry
 * (s = 0) is exact: m.
 *
 * Ziv's test: the value is hi + lo (normalised), the exact result within
 * B of it; hi + (lo -+ E) both rounding to hi means that no rounding
 * boundary of doubles lies within B of the value, so hi is the correctly
 * rounded result (E twice B: the additions lo -+ E themselves round). Then
 * *out = hi and 1; else 0 (a row that cancels by more than ~2^34, or
 * whose result lies that close to a boundary: MPFR decides it). */
static int lse_row_dd(const double *x, int64_t n, double *out)
{
    int64_t top = 0;
    double m = x[0];
    for (int64_t j = 1; j < n; j++)
        if (x[j] > m)
            m = x[j], top = j;
    if (!isfinite(m))
        return 0;
    dd s = {0.0, 0.0};
    for (int64_t j = 0; j < n; j++) {
        if (j == top || x[j] == -INFINITY)
            continue;
        dd a = two_sum(x[j], -m);
        if (a.hi < -200.0)
            continue;
        dd e = exp_dd(a.hi);
        e = dd_add(e, dd_mul(e, (dd){a.lo + 0.5 * a.lo * a.lo, 0.0}));
        s = dd_add(s, e);
    }
    if (!(s.hi < 0x1p60))
        return 0;
    dd L = log1p_dd_any(s);
    dd o = two_sum(m, L.hi);
    o = fast_two_sum(o.hi, o.lo + L.lo);
    const double nd = (double)n;
    /* B: the sum's and the log's error (relative to L where s <= 1, since
     * L >= s / 2 there), the terms left out, the last addition */
    double B = s.hi == 0.0 ? 0.0 : s.hi <= 1.0 ? (0x1p-92 + nd * 0x1p-103) * L.hi
                                               : (0x1p-90 + nd * 0x1p-103) * (1.0 + L.hi);
    B += nd * 0x1p-288 + 0x1p-104 * (fabs(m) + L.hi);
    const double E = 2.0 * B;
    if (o.hi + (o.lo + E) != o.hi || o.hi + (o.lo - E) != o.hi)
        return 0;
    *out = o.hi;
    return 1;
}

/* lse_row_dd for `rows` contiguous rows of n >= 1 doubles: out[i] and
 * done[i] (1: out[i] is the correctly rounded logsumexp; 0: undecided) */
EXPORT void lse_rows_dd(const double *x, int64_t rows, int64_t n, double *out, int8_t *done)
{
    for (int64_t i = 0; i < rows; i++)
        done[i] = (int8_t)lse_row_dd(x + i * n, n, out + i);
}
