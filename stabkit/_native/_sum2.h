/* eft.sum2_from of one row, for the float64 rows whose terms all lie below
 * eft.sum_split's floor (every term but the maximum tiny: logits spread far
 * apart), included by _rows.c before _wide.h (pairwise, _narrow.h's
 * two_sum). Same operations in the same order, so the same bits.
 *
 * sum2 halves the row until one term is left: the first half plus the
 * second, term by term, each addition's exact error kept (TwoSum), a last
 * odd term carried over. The errors of each halving are summed as
 * eft.rowsum sums them (np.add.reduce's pairwise order past 16 terms,
 * left to right from the first one up to 16) and added to lo, which starts
 * at +0; the pair (hi, lo) is then normalised as eft.normalized does it. */
#ifndef STABKIT_SUM2_H
#define STABKIT_SUM2_H

/* eft.NARROW: rows up to this wide are reduced column by column */
#define SUM2_NARROW 16

/* sum2 of a (n >= 1 terms, no NaN): *hi + *lo. a is overwritten: each
 * halving writes its sums into a[0, h) and their errors into a[h, 2h),
 * where the terms it has just read were. */
static FORCE_INLINE void sum2_row(double *a, int64_t n, double *hi, double *lo)
{
    double l = 0.0;
    while (n > 1) {
        const int64_t h = n / 2;
        for (int64_t j = 0; j < h; j++) {
            const double x = a[j], y = a[h + j], s = x + y;
            a[j] = s;
            a[h + j] = two_sum(x, y, s);
        }
        double rs;
        if (h > SUM2_NARROW) {
            rs = pairwise(a + h, NULL, h, 0.0, PLAIN).q;
        } else {
            rs = a[h];
            for (int64_t j = 1; j < h; j++)
                rs += a[h + j];
        }
        l += rs;
        /* np.concatenate([s, hi[:, -1:]]): the odd term follows the sums */
        if (n % 2)
            a[h] = a[n - 1];
        n = h + n % 2;
    }
    const double top = a[0], low = isfinite(top) ? l : 0.0, s = top + low;
    *hi = s;
    *lo = isfinite(s) ? two_sum(top, low, s) : 0.0;
}

#endif
