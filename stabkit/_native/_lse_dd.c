/* The double-double step of the cancelling logsumexp rows
 * (stabkit/_accurate/cancelling.py) for the rows the vectorised step
 * (_lse_fast.c) leaves undecided: exp and log to ~2^-91, one entry at a
 * time, and Ziv's rounding test: correctly rounded or undecided (MPFR
 * decides those).
 */
#include <math.h>
#include <stdint.h>

#include "_common.h"
#include "_dd.h"

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
