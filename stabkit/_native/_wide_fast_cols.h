/* The float32 fast passes across rows, for rows of 17 to 64 columns
 * (included by _rows.c after _wide_fast.h, before _wide.h): the softmax,
 * the log-softmax, and the shifted sums of the logsumexp and the sparse
 * cross-entropy.
 *
 * _wide_fast.h's passes work one row at a time; on rows of a few dozen
 * entries their per-row costs (the horizontal reductions of their lanes,
 * the scalar remainders, and for the log-softmax one call of NumPy's log1p
 * loop for one value) came to 70-200 ns a row, 2-7x PyTorch's time per
 * entry. Here eight rows go side by side, one row per lane of a vector,
 * column after column (as the narrow kernel works), and NumPy's log1p loop
 * takes the eight q at once. Each pass keeps its row pass's rounding test
 * on the same interval, so the rows it keeps get the NumPy path's bits;
 * only the order of its sum changes, left to right: at most 63 roundings
 * on a term's path (n <= 64), 63 2^-53 = 2^-47.02 relative, where the
 * pairwise order's bound is 2^-47.7. Each function below restates its
 * bound with that.
 *
 * The log-softmax: q = (the sum of exp_fast(x) without the row's first
 * maximum) / exp_fast(max) carries 2^-45.4 (the winner) + 2^-45.4 (the
 * terms) + 2^-47.02 + 2^-53, L = log1p(q) that and log1p's own 2^-48:
 * below 2^-44 in all, NumPy's L below 2^-46.2, so NumPy's L still lies in
 * L (1 -+ 2^-43). A row with a NaN or an infinity, a maximum outside
 * [-600, 650], a sum or q under the floors, tie_rows' case (L at or below
 * (max - min) 2^-53), or one unsettled value is left to the row pass
 * (done[r] = 0).
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

/* The R <= 8 float32 rows at x (row r at byte offset r * srow, n
 * contiguous entries) as columns of eight lanes into xt (xt[j 8 + r];
 * lanes past R repeat row 0), and per lane the first maximum and where it
 * is (as scan_row32 finds it), the least entry, and a NaN test (a lane's
 * sum of v - v: NaN where an entry is NaN or infinite) */
static FORCE_INLINE void cols_scan(const char *x, int64_t srow, int R, int64_t n, double *restrict xt, vd *hi_,
                                   vd *lo_, vd *nan_, vi *at_)
{
    const float *p[LANES];
    for (int r = 0; r < LANES; r++)
        p[r] = (const float *)(x + (r < R ? r : 0) * srow);
    /* column j of the eight rows built in a register and stored whole (eight
     * scalar stores read back as one vector stall on store forwarding) */
#define COLUMN(j) ((vd){p[0][j], p[1][j], p[2][j], p[3][j], p[4][j], p[5][j], p[6][j], p[7][j]})
    vd hi = COLUMN(0), lo = hi, nan = hi - hi;
    store(xt, hi);
    for (int64_t j = 1; j < n; j++) {
        const vd v = COLUMN(j);
        store(xt + j * LANES, v);
        hi = blend(v > hi, v, hi);
        lo = blend(v < lo, v, lo);
        nan += v - v;
    }
#undef COLUMN
    /* where the maximum is first: a second pass over the columns, last to
     * first (tracking it in the pass above cost a masked broadcast per
     * lane and column) */
    vi at = splati(0);
    for (int64_t j = n - 1; j >= 0; j--)
        at = blendi(load(xt + j * LANES) == hi, splati(j), at);
    *hi_ = hi, *lo_ = lo, *nan_ = nan, *at_ = at;
}

/* fast_softmax_row for the R <= 8 rows at x (as cols_scan takes them) into
 * o32 (row r at o32 + r * n): e = exp_fast(x), v = e (1 / s), s their sum
 * (left to right: 2^-47.02; with NumPy's own errors the two values lie
 * within 2^-43.8 v of each other, inside the margin 2^-42 v). done[r] = 1 where row r has no NaN or infinity, its
 * maximum lies in [-600, 650] and every value settled. xt, e: scratch of
 * 8 n doubles. */
static FORCE_INLINE void cols_softmax32(const char *x, int64_t srow, int R, int64_t n, double *restrict xt,
                                        double *restrict e, float *o32, int *done)
{
    vd hi, lo, nan;
    vi at;
    cols_scan(x, srow, R, n, xt, &hi, &lo, &nan, &at);
    fast_exp_cols(xt, e, n * LANES);
    vd s = splat(0.0);
    for (int64_t j = 0; j < n; j++)
        s += load(e + j * LANES);
    const vd inv = splat(1.0) / s;
    vi bad = splati(0);
    for (int64_t j = 0; j < n; j++) {
        const vd v = load(e + j * LANES) * inv;
        const vf fa = __builtin_convertvector(v * splat(1.0 - 0x1p-42), vf);
        const vf fb = __builtin_convertvector(v * splat(1.0 + 0x1p-42), vf);
        bad |= __builtin_convertvector(fa != fb, vi);
        for (int r = 0; r < R; r++)
            o32[r * n + j] = fb[r];
    }
    for (int r = 0; r < R; r++)
        done[r] = nan[r] == 0.0 && hi[r] >= -600.0 && hi[r] <= 650.0 && bad[r] == 0;
}

/* fast_shifted_sum for the R <= 8 rows at x (as cols_scan takes them):
 * per row its first maximum mi[r] and s[r], the sum of exp_fast(x +
 * (-mi)) (arguments raised to XMIN) without the one at k, left to right
 * (2^-47.02: s within 2^-44.99 of the exact sum, L within 2^-44.4 of
 * NumPy's, inside wide_rows' 2^-43). done[r] = 1 where row r has no NaN or
 * infinity and s[r] >= n 2^-960 (fast_shifted_sum's floor). xt, e: scratch
 * of 8 n doubles. */
static FORCE_INLINE void cols_shifted_sums32(const char *x, int64_t srow, int R, int64_t n, double *restrict xt,
                                             double *restrict e, double *mi, double *s_out, int *done)
{
    vd hi, lo, nan;
    vi at;
    cols_scan(x, srow, R, n, xt, &hi, &lo, &nan, &at);
    const vd nm = -hi;
    for (int64_t j = 0; j < n; j++)
        store(xt + j * LANES, load(xt + j * LANES) + nm);
    fast_exp_cols(xt, e, n * LANES);
    vd s = splat(0.0);
    for (int64_t j = 0; j < n; j++)
        s += blend(at == splati(j), splat(0.0), load(e + j * LANES));
    for (int r = 0; r < R; r++) {
        mi[r] = hi[r], s_out[r] = s[r];
        done[r] = nan[r] == 0.0 && s[r] >= (double)n * 0x1p-960;
    }
}

/* fast_unshifted_L for the R <= 8 rows at x (as cols_scan takes them):
 * per lane the scan (hi, lo, at: the first maximum, the least entry, where
 * the maximum is), L_lo and L_hi (the interval that holds NumPy's L: the
 * header's bound), and ok[r] where row r has no NaN or infinity, its
 * maximum in [-600, 650] and its sum and q above the floors (tie_rows'
 * test is the callers'). xt, e: scratch of 8 n doubles; xt keeps the rows
 * as columns. */
static FORCE_INLINE void cols_L32(const char *x, int64_t srow, int R, int64_t n, void *log1p_loop, void *log1p_data,
                                  double *restrict xt, double *restrict e, vd *hi_, vd *lo_, vi *at_, vd *L_lo_,
                                  vd *L_hi_, int *ok)
{
    vd hi, lo, nan;
    vi at;
    cols_scan(x, srow, R, n, xt, &hi, &lo, &nan, &at);
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
    for (int r = 0; r < LANES; r++) {
        ok[r] = r < R && nan[r] == 0.0 && hi[r] >= -600.0 && hi[r] <= 650.0 && s[r] >= (double)n * 0x1p-960 &&
                qs[r] >= 0x1p-1000;
        qs[r] = ok[r] ? qs[r] : 1.0; /* a stand-in for log1p */
    }
    unary_loop(log1p_loop, log1p_data, qs, L, LANES);
    vd L_lo, L_hi;
    for (int r = 0; r < LANES; r++)
        L_lo[r] = L[r] * (1.0 - 0x1p-43), L_hi[r] = L[r] * (1.0 + 0x1p-43);
    *hi_ = hi, *lo_ = lo, *at_ = at, *L_lo_ = L_lo, *L_hi_ = L_hi;
}

/* For the R <= 8 float32 rows at x (row r at byte offset r * srow, n
 * contiguous entries, COLS_MIN <= n <= COLS_MAX) into o32 (row r at
 * o32 + r * n): done[r] = 1 where row r's values were settled and written.
 * xt and e: scratch of 8 n doubles. */
static FORCE_INLINE void cols_log_softmax32(const char *x, int64_t srow, int R, int64_t n, void *log1p_loop,
                                            void *log1p_data, double *restrict xt, double *restrict e, float *o32,
                                            int *done)
{
    vd hi, lo, L_lo, L_hi;
    vi at;
    int ok[LANES];
    cols_L32(x, srow, R, n, log1p_loop, log1p_data, xt, e, &hi, &lo, &at, &L_lo, &L_hi, ok);
    /* tie_rows' case goes to the row pass, as does a test that differs at the two ends */
    for (int r = 0; r < LANES; r++)
        ok[r] &= L_lo[r] > (hi[r] - lo[r]) * TIE_SPAN;
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
    for (int r = 0; r < R; r++)
        done[r] = ok[r] && bad[r] == 0;
}

/* fast_unshifted_L's results for the categorical cross-entropy's R <= 8
 * float32 rows at x (wide_ce32): per row r, use[r] = 1 where fast_unshifted_L
 * would return 1 (cols_L32's ok, and tie_rows' test the same at both ends),
 * with k[r], L_lo[r], L_hi[r] and tied[r] as it gives them. */
static FORCE_INLINE void cols_ce_L32(const char *x, int64_t srow, int R, int64_t n, void *log1p_loop,
                                     void *log1p_data, double *restrict xt, double *restrict e, int64_t *k,
                                     double *L_lo, double *L_hi, int *tied, int *use)
{
    vd hi, lo, Llo, Lhi;
    vi at;
    int ok[LANES];
    cols_L32(x, srow, R, n, log1p_loop, log1p_data, xt, e, &hi, &lo, &at, &Llo, &Lhi, ok);
    for (int r = 0; r < R; r++) {
        const double ties = (hi[r] - lo[r]) * TIE_SPAN;
        k[r] = at[r], L_lo[r] = Llo[r], L_hi[r] = Lhi[r];
        tied[r] = Lhi[r] <= ties;
        use[r] = ok[r] && (Llo[r] > ties || tied[r]);
    }
}
