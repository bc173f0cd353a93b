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
 * Nothing here is assumed to match: stabkit/_native/extended.py compares
 * this function with the NumPy step bit for bit on rows of every
 * pairwise branch before it is used, and the NumPy step runs where they
 * differ, where long double is not the 64-bit-significand format, or where
 * the scratch cannot be allocated (lse_extended returns -1 for both).
 */
#include <float.h>
#include <math.h>
#include <stdint.h>
#include <stdlib.h>

#include "_common.h"

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
