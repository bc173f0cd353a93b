/* The sparse cross-entropy from probabilities (crossentropy.py's
 * renormalised_log_prob_at): each row's largest entry p_k (the first of
 * equal ones, as np.argmax) and R, eft.sum2 of the row with p_k set to 0,
 * rounded to float64 (np.add(hi, lo)), for float64 rows wider than
 * SUM2_NARROW. The row is copied into a scratch and summed by sum2_row
 * (_sum2.h: eft.sum2_from's operations in its order), so R has the NumPy
 * path's bits; the logs stay in NumPy, on one entry a row. Included by
 * _rows.c after _sum2.h. */
#ifndef STABKIT_WINNER_REST_H
#define STABKIT_WINNER_REST_H

/* rows x n float64 p (n > SUM2_NARROW): k[i], pk[i], r[i] and done[i] = 1
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
        sum2_row(scratch, n, &hi, &lo);
        k[i] = at;
        pk[i] = best;
        r[i] = hi + lo;
    }
}

#endif
