/* The sparse cross-entropy from probabilities (crossentropy.py's
 * renormalised_log_prob_at): each row's largest entry p_k (the first of
 * equal ones, as np.argmax) and R, eft.sum2 of the row with p_k set to 0,
 * rounded to float64 (np.add(hi, lo)), for float64 rows. The row is
 * copied into a scratch and summed by sum2_row (_sum2.h: eft.sum2_from's
 * operations in its order) past SUM2_NARROW entries, else left to right as
 * eft.sum2_cols sums narrow rows, so R has the NumPy path's bits; the logs stay in NumPy, on one entry a row. Included by
 * _rows.c after _sum2.h. */
#ifndef STABKIT_WINNER_REST_H
#define STABKIT_WINNER_REST_H

/* rows x n float64 p (n >= 1): k[i], pk[i], r[i] and done[i] = 1
 * for each row of finite entries; done[i] = 0 (the rest untouched) for a
 * row with NaN or +-inf, which the NumPy path takes (np.argmax's NaN
 * rules). scratch holds n doubles. */
EXPORT CLONES void winner_rest(const double *p, int64_t rows, int64_t n, int64_t *k, double *pk, double *r,
                               int8_t *done, double *scratch)
{
    for (int64_t i = 0; i < rows; i++) {
        const double *row = p + i * n;
        double best = row[0];
        int64_t at = 0, bad = 0;
        for (int64_t j = 0; j < n; j++) {
            const double v = row[j];
            bad |= !isfinite(v);
            /* strictly greater: the first of equal maxima, as np.argmax */
            if (v > best) {
                best = v;
                at = j;
            }
        }
        done[i] = (int8_t)!bad;
        if (bad)
            continue;
        memcpy(scratch, row, (size_t)n * sizeof(double));
        scratch[at] = 0.0;
        double hi, lo;
        if (n > SUM2_NARROW) {
            sum2_row(scratch, n, &hi, &lo);
        } else {
            /* eft.sum2_cols: left to right, the TwoSum errors added up in
             * lo from +0, then normalised as sum2_row's end does it */
            double h = scratch[0], l = 0.0;
            for (int64_t j = 1; j < n; j++) {
                const double s = h + scratch[j];
                l += two_sum(h, scratch[j], s);
                h = s;
            }
            const double low = isfinite(h) ? l : 0.0, s = h + low;
            hi = s;
            lo = isfinite(s) ? two_sum(h, low, s) : 0.0;
        }
        k[i] = at;
        pk[i] = best;
        r[i] = hi + lo;
    }
}

#endif
