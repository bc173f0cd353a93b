/* The float32 log-softmax fast pass across rows, for rows of 17 to 64
 * columns (included by _rows.c after _wide_fast.h, before _wide.h).
 *
 * fast_log_softmax_row works one row at a time; on rows of a few dozen
 * entries its per-row costs (the horizontal reductions of its lanes, the
 * scalar remainders, one call of NumPy's log1p loop for one value) came to
 * 70-200 ns a row, 5-7x PyTorch's time per entry. Here eight rows go side
 * by side, one row per lane of a vector, column after column (as the
 * narrow kernel works), and NumPy's log1p loop takes the eight q at once.
 *
 * The values are fast_log_softmax_row's test on the same interval, so the
 * rows kept get the NumPy path's bits: q = (the sum of exp_fast(x) without
 * the row's first maximum) / exp_fast(max), here summed left to right
 * (n - 1 <= 63 terms: at most 62 roundings on a term's path, 62 2^-53 =
 * 2^-47.05, where the pairwise order's bound is 2^-47.7). q then carries
 * 2^-45.4 (the winner) + 2^-45.4 (the terms) + 2^-47.05 + 2^-53, L =
 * log1p(q) that and log1p's own 2^-48: below 2^-44.07 in all, NumPy's L
 * below 2^-46.2, so NumPy's L still lies in L (1 -+ 2^-43). A row with a
 * NaN, a maximum outside [-600, 650], a sum or q under the floors, tie_rows'
 * case (L at or below (max - min) 2^-53: masked rows among them), or one
 * unsettled value is left to fast_log_softmax_row's caller (done[r] = 0).
 */

#define COLS_MIN 17
#define COLS_MAX 64

/* exp_fast of m doubles (arguments below XMIN raised to it), as
 * fast_exp_row forms each; products may fuse, as there (its results only
 * ever pass a rounding test) */
HIDDEN CLONES CONTRACT_FMA NOINLINE void fast_exp_cols(const double *x, double *e, int64_t m)
{
    for (int64_t t = 0; t < m; t++) {
        const double a = x[t] < XMIN ? XMIN : x[t];
        e[t] = exp_fast(a, 0);
    }
}

/* For the R <= 8 float32 rows at x (row r at byte offset r * srow, n
 * contiguous entries, COLS_MIN <= n <= COLS_MAX) into o32 (row r at
 * o32 + r * n):
 * done[r] = 1 where row r's values were settled and written. xt and e:
 * scratch of 8 n doubles. */
static FORCE_INLINE void cols_log_softmax32(const char *x, int64_t srow, int R, int64_t n, void *log1p_loop,
                                            void *log1p_data, double *restrict xt, double *restrict e, float *o32,
                                            int *done)
{
    /* the rows as columns of eight lanes (lanes past R repeat row 0) */
    for (int r = 0; r < LANES; r++) {
        const float *xr = (const float *)(x + (r < R ? r : 0) * srow);
        for (int64_t j = 0; j < n; j++)
            xt[j * LANES + r] = (double)xr[j];
    }
    /* first maximum (and where), least entry, NaN */
    vd hi = load(xt), lo = hi, nan = hi - hi;
    vi at = splati(0);
    for (int64_t j = 1; j < n; j++) {
        const vd v = load(xt + j * LANES);
        const vi gt = v > hi;
        hi = blend(gt, v, hi);
        at = blendi(gt, splati(j), at);
        lo = blend(v < lo, v, lo);
        nan += v - v;
    }
    /* exp_fast of every entry, arguments raised to XMIN (fast_exp_row's) */
    fast_exp_cols(xt, e, n * LANES);
    vd s = splat(0.0), winner = splat(0.0);
    for (int64_t j = 0; j < n; j++) {
        const vd v = load(e + j * LANES);
        const vi top = at == splati(j);
        winner = blend(top, v, winner);
        s += blend(top, splat(0.0), v);
    }
    const vd q = s / winner;
    double qs[LANES], L[LANES];
    store(qs, q);
    int ok[LANES];
    for (int r = 0; r < LANES; r++) {
        ok[r] = r < R && nan[r] == 0.0 && hi[r] >= -600.0 && hi[r] <= 650.0 && s[r] >= (double)n * 0x1p-960 &&
                qs[r] >= 0x1p-1000;
        qs[r] = ok[r] ? qs[r] : 1.0; /* a stand-in for log1p */
    }
    unary_loop(log1p_loop, log1p_data, qs, L, LANES);
    vd L_lo, L_hi;
    for (int r = 0; r < LANES; r++) {
        L_lo[r] = L[r] * (1.0 - 0x1p-43), L_hi[r] = L[r] * (1.0 + 0x1p-43);
        /* tie_rows' case goes to the row pass, as does a test that differs at the two ends */
        ok[r] &= L_lo[r] > (hi[r] - lo[r]) * 0x1p-53;
    }
    /* every value at both ends: x - (mi + L_hi) and x - (mi + L_lo), -L at the maximum */
    const vd mL_lo = hi + L_lo, mL_hi = hi + L_hi;
    vi bad = splati(0);
    for (int64_t j = 0; j < n; j++) {
        const vd v = load(xt + j * LANES);
        const vi top = at == splati(j);
        const vd a = blend(top, -L_hi, v - mL_hi), b = blend(top, -L_lo, v - mL_lo);
        vf fa = __builtin_convertvector(a, vf), fb = __builtin_convertvector(b, vf);
        bad |= __builtin_convertvector(fa != fb, vi);
        for (int r = 0; r < R; r++)
            o32[r * n + j] = fb[r];
    }
    for (int r = 0; r < LANES; r++)
        if (r < R)
            done[r] = ok[r] && bad[r] == 0;
}
