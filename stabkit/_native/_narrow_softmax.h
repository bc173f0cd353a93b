/* The softmax of narrow rows (n <= 16) that need no shift, in one call per
 * block: stabkit/_accurate/unshifted.py's softmax_unshifted, operation for
 * operation (included by _rows.c after _narrow.h, whose unary_loop,
 * two_sum, is_fin and CHUNK it uses, and _wide.h, whose row_of reads a row).
 *
 * The NumPy path takes a narrow row here when unshifted_rows accepts it
 * (float64 targets: every entry in [-708, 650] or -inf, the maximum finite;
 * narrower targets: a maximum in [-600, 650]; NaN fails both), then E = exp(x) (NumPy's own float64
 * loop, on a contiguous buffer as np.exp runs it) and:
 *  - narrower targets: s = e_0 + e_1 + ... left to right (eft.rowsum of a
 *    narrow row), then e_j * (1 / s);
 *  - float64 targets: eft.sum2_cols, hi accumulating the terms left to
 *    right and lo their TwoSum errors, lo zeroed where hi is not finite;
 *    eft.normalized: s = hi + lo and its TwoSum error (zeroed where s is
 *    not finite); then e_j / (s + err).
 * Each row alone, in the same order, so the same bits (-ffp-contract=off).
 * Rows it does not take are flagged in redo[] (their outputs garbage) and
 * go to the NumPy path, as in the block the NumPy path splits. Before, a
 * small call spent some sixty microseconds in the Python loop over the
 * columns (about seventy NumPy calls for ten float64 columns).
 *
 * x: rows x n (float32 with f32 else float64), row i at byte offset
 * i * srow, entry j at j * scol; out: rows x n doubles, row-major, which
 * also holds exp(x) on the way (in chunks of CHUNK rows, so that a chunk
 * stays in the cache from the exp to the sums). Returns the number of rows
 * flagged. */
EXPORT CLONES int64_t narrow_softmax(const char *x, int64_t rows, int64_t n, int64_t srow, int64_t scol,
                                     int64_t f32, int64_t exact, void *exp_loop, void *exp_data, double *out,
                                     int8_t *redo)
{
    int64_t flagged = 0;
    for (int64_t c0 = 0; c0 < rows; c0 += CHUNK) {
        const int64_t w = rows - c0 < CHUNK ? rows - c0 : CHUNK;
        for (int64_t i = c0; i < c0 + w; i++) {
            double *ei = out + i * n;
            /* the row as float64 in ei (row_of hands a contiguous float64
             * row back in place: copied, since exp then works in ei) */
            const double *xr = row_of(x + i * srow, n, scol, (int)f32, ei);
            if (xr != ei)
                memcpy(ei, xr, (size_t)n * sizeof(double));
            /* the row's maximum and minimum; a NaN anywhere fails the test */
            double mx = ei[0], mn = ei[0];
            int nan = ei[0] != ei[0];
            for (int64_t j = 1; j < n; j++) {
                nan |= ei[j] != ei[j];
                mx = ei[j] > mx ? ei[j] : mx;
                mn = ei[j] < mn ? ei[j] : mn;
            }
            int ok = exact ? (!nan && mx >= -708.0 && mx <= 650.0 && (mn >= -708.0 || least_unmasked(ei, n) >= -708.0))
                           : (!nan && mx >= -600.0 && mx <= 650.0);
            redo[i] = !ok;
            flagged += !ok;
        }
        exp_call_inplace(exp_loop, exp_data, out + c0 * n, w * n);
        for (int64_t i = c0; i < c0 + w; i++) {
            if (redo[i])
                continue;
            double *ei = out + i * n;
            if (exact) {
                double hi = ei[0], lo = 0.0;
                for (int64_t j = 1; j < n; j++) {
                    double s = hi + ei[j];
                    lo = lo + two_sum(hi, ei[j], s);
                    hi = s;
                }
                lo = is_fin(hi) ? lo : 0.0;
                double s = hi + lo, err = two_sum(hi, lo, s);
                err = is_fin(s) ? err : 0.0;
                double den = s + err;
                for (int64_t j = 0; j < n; j++)
                    ei[j] = ei[j] / den;
            } else {
                double s = ei[0];
                for (int64_t j = 1; j < n; j++)
                    s = s + ei[j];
                double inv = 1.0 / s;
                for (int64_t j = 0; j < n; j++)
                    ei[j] = ei[j] * inv;
            }
        }
    }
    return flagged;
}
