/* The fast pass of float32 narrow rows (3 to 16 columns) whose results the
 * caller rounds to float32 (included by _rows.c after _narrow.h,
 * _wide_fast.h, _wide_fast_cols.h and _narrow_softmax.h): the softmax into
 * a float32 output and the logsumexp, eight rows at a time by
 * _wide_fast_cols.h's passes (exp_fast, a rounding test), in place of the
 * narrow kernel's NumPy exp. The narrow kernel's narrower targets form
 * their values from NumPy's exp with sums of at most 16 terms; the bounds
 * below compare those with the fast passes' and keep a row only where
 * every value's rounding to float32 is settled on an interval that holds
 * the narrow kernel's float64 value. The rows left go to the narrow kernel. */

#define NARROW32_MIN 3

/* The softmax: cols_softmax32 straight into the float32 output out32
 * (row-major; rows of n contiguous float32 entries, row i at byte offset
 * i * srow), done[i] = 1 for the rows it settled. Those are rows
 * narrow_softmax's narrower target takes (no NaN, maximum in [-600, 650];
 * cols_softmax32 also leaves rows holding an infinity) and computes as
 * e_j (1 / s), s = e_0 + e_1 + ... left to right, from NumPy's exp: the
 * same formula and order as cols_softmax32's, from exp_fast. Bound: NumPy's
 * terms carry 2^-48, its sum 15 roundings (2^-49.1) more, ours 2^-45.4 and
 * 2^-49.1; 1 / s and the product one rounding each in both: the two values
 * lie within 2^-44.4 v of each other, inside the margin 2^-42 v, so a value
 * that settles rounds to the float32 of the narrow kernel's float64.
 * Raised arguments (below -708): as wide_softmax's, both round to +0.
 * Returns the number of rows settled. */
EXPORT CLONES int64_t narrow_softmax32(const char *x, int64_t rows, int64_t n, int64_t srow, float *out32,
                                       int8_t *done)
{
    if (n < NARROW32_MIN || n > 16)
        return 0;
    double xt[LANES * 16], et[LANES * 16];
    int got[LANES];
    int64_t settled = 0;
    for (int64_t i = 0; i < rows; i += LANES) {
        const int R = rows - i < LANES ? (int)(rows - i) : LANES;
        cols_softmax32(x + i * srow, srow, R, n, xt, et, out32 + i * n, got);
        for (int r = 0; r < R; r++) {
            done[i + r] = (int8_t)got[r];
            settled += got[r];
        }
    }
    return settled;
}

/* The rows' maxima m, sums s (cols_shifted_sums32, eight rows at a time)
 * and L = log1p(s) (NumPy's loop, all rows in one call), the logsumexp's
 * and log-softmax's common part; done[i] = 1 where the pass took the row
 * and its maximum is not 0 (the narrow kernel checks a zero maximum's
 * signs), s = 0 for the others. */
static FORCE_INLINE void narrow_L32(const char *x, int64_t rows, int64_t n, int64_t srow, void *log1p_loop,
                                    void *log1p_data, double *m, double *s, double *L, int8_t *done)
{
    double xt[LANES * 16], et[LANES * 16];
    int got[LANES];
    for (int64_t i = 0; i < rows; i += LANES) {
        const int R = rows - i < LANES ? (int)(rows - i) : LANES;
        cols_shifted_sums32(x + i * srow, srow, R, n, xt, et, m + i, s + i, got);
        for (int r = 0; r < R; r++) {
            done[i + r] = (int8_t)(got[r] && m[i + r] != 0.0);
            s[i + r] = done[i + r] ? s[i + r] : 0.0;
        }
    }
    unary_loop(log1p_loop, log1p_data, s, L, rows);
}

/* The logsumexp (rows as narrow_softmax32 takes them) into lse (float64,
 * one per row, the value the caller rounds to float32), done[i] = 1 for
 * the rows settled: cols_shifted_sums32's mi and s (the terms of
 * exp_fast(x - mi) without the first maximum's, left to right), L =
 * log1p(s) by NumPy's loop (all rows in one call; ws: scratch of 2 rows
 * doubles), and the narrow kernel's m + L on both ends of the interval
 * L (1 -+ 2^-43). The narrow kernel's narrower target sums the terms below
 * the maximum left to right and adds the ties (exact 1s) last: 16
 * roundings at most, 2^-49, on terms within 2^-48: its s within 2^-47.4 of
 * the exact sum and its L within 2^-46.6; ours within 2^-45.2 (terms
 * 2^-45.4, 15 roundings) and 2^-44.9 with log1p's own 2^-48: apart by
 * less than 2^-44.4 L, inside 2^-43 L. Rows the narrow kernel flags
 * (a maximum 0, whose zeros' signs it checks) and rows its cancellation
 * test could flag somewhere on the interval ((|m| + L) / |m + L| above
 * 2^11, where its limit is 2^12, or m + L changing sign) are left, as are
 * rows under cols_shifted_sums32's floor (s below n 2^-960, where raised
 * terms could matter) and rows whose two ends round apart. */
EXPORT CLONES int64_t narrow_lse32(const char *x, int64_t rows, int64_t n, int64_t srow, void *log1p_loop,
                                   void *log1p_data, double *lse, double *ws, int8_t *done)
{
    if (n < NARROW32_MIN || n > 16)
        return 0;
    double *L = ws + rows;
    narrow_L32(x, rows, n, srow, log1p_loop, log1p_data, lse, ws, L, done);
    int64_t settled = 0;
    for (int64_t i = 0; i < rows; i++) {
        done[i] = (int8_t)(done[i] && lse_settles(lse[i], L[i], R_F32, &lse[i]));
        settled += done[i];
    }
    return settled;
}

/* The log-softmax (rows as narrow_softmax32 takes them) straight into the
 * float32 output out32 (row-major), done[i] = 1 for the rows settled: the
 * narrow kernel's narrower target writes below_ties(d_j, L) (d_j = x_j +
 * (-m), the same IEEE operation here; L = log1p(s) > 0), which never
 * increases with L. narrow_lse32's sums and L, the interval L (1 -+ 2^-43)
 * that holds the narrow kernel's L (as there), and each value at both ends:
 * where those round to one float32, so does the narrow kernel's value.
 * Left: rows cols_shifted_sums32 leaves, a maximum 0 (the narrow kernel
 * checks its zeros' signs), L_lo not above 0 (the narrow path recomputes
 * rows with L = 0), one unsettled value. ws: scratch of 3 rows doubles. */
EXPORT CLONES int64_t narrow_log_softmax32(const char *x, int64_t rows, int64_t n, int64_t srow, void *log1p_loop,
                                           void *log1p_data, float *out32, double *ws, int8_t *done)
{
    if (n < NARROW32_MIN || n > 16)
        return 0;
    double *L = ws + rows, *m = ws + 2 * rows;
    narrow_L32(x, rows, n, srow, log1p_loop, log1p_data, m, ws, L, done);
    int64_t kept = 0;
    for (int64_t i = 0; i < rows; i++) {
        if (!done[i])
            continue;
        const float *xr = (const float *)(x + i * srow);
        const double nm = -m[i], L_lo = L[i] * (1.0 - 0x1p-43), L_hi = L[i] * (1.0 + 0x1p-43);
        float *o = out32 + i * n;
        int bad = !(L_lo > 0.0);
        for (int64_t j = 0; j < n; j++) {
            const double d = (double)xr[j] + nm;
            bad |= !settled(below_ties(d, L_hi), below_ties(d, L_lo), &o[j]);
        }
        done[i] = (int8_t)!bad;
        kept += !bad;
    }
    return kept;
}
