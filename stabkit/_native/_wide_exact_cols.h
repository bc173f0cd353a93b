/* The contiguous float64 rows of 17 to 64 columns of the float64 targets'
 * wide kernels (wide_rows: the logsumexp and the sparse cross-entropy's
 * label entry; wide_log_softmax; wide_ce: the categorical cross-entropy's
 * d, r and L), eight rows side by side (included by _rows.c after
 * _wide_fast_cols.h, before _wide.h).
 *
 * Row by row, such a row cost 8-12 ns an entry (0.3-0.5x PyTorch's
 * logsumexp), most of it per row: the lane folds of its scan, one call of
 * NumPy's exp loop for a few dozen values, the pairwise leaf's folds and
 * leftovers. Here row r of a group is lane r of every vector, column after
 * column (as _wide_fast_cols.h does for float32 rows), and NumPy's exp loop
 * takes the group's 8 n shifted values in one call. Every value is formed
 * by the row path's operations in its order (exact_sums: shift_row's
 * Fast2Sum or TwoSum, exp_call, the leaf of pairwise() with SPLIT_PROD,
 * whose lane j of a row is here the vector of column j mod 8 of every row),
 * so every bit is the row path's; a row with a non-finite entry, or whose
 * sum falls under sum_split's floor or Rows.sums' subnormal floor, takes
 * the row path. */

/* (used by _wide.h too) eft.split_sigma(n), the extraction's sigma for rows of n terms in [0, 1]:
 * a power of two above 2n */
static FORCE_INLINE double split_sigma(int64_t n)
{
    return ldexp(1.0, 64 - __builtin_clzll((unsigned long long)n) + 1);
}

/* eft.sum_split's floor n^2 2^-39: below it a row is summed again (sum2) */
static FORCE_INLINE double split_floor(int64_t n)
{
    return (double)n * (double)n * 0x1p-39;
}

/* exact_sums for the R <= 8 contiguous float64 rows at x (row r at byte
 * offset r * srow; lanes past R repeat row 0), n in [COLS_MIN, COLS_MAX]:
 * per row its first maximum mi[r], the pair s[r] + lo[r], done[r] = 1
 * where the row path would give the same (every entry finite, both floors
 * passed). dt, rt, et (8 n doubles each): d, r and e in columns of eight
 * lanes (dt[j 8 + r]), which the sparse loss reads at its labels. (Not
 * inlined: one call per eight rows, and GCC's inlined copies of it drew a
 * false "may be used uninitialized".) */
HIDDEN CLONES NOINLINE void cols_exact_sums64(const char *x, int64_t srow, int R, int64_t n, void *exp_loop,
                                              void *exp_data, double *restrict dt, double *restrict rt,
                                              double *restrict et, double *mi, double *s, double *lo, int *done)
{
    const double *p[LANES];
    for (int r = 0; r < LANES; r++)
        p[r] = (const double *)(x + (r < R ? r : 0) * srow);
    /* the scan (scan_row's first maximum and least entry), x into dt */
#define COLUMN64(j) ((vd){p[0][j], p[1][j], p[2][j], p[3][j], p[4][j], p[5][j], p[6][j], p[7][j]})
    vd hi = COLUMN64(0), low = hi, fin = hi - hi;
    store(dt, hi);
    vi at = splati(0);
    for (int64_t j = 1; j < n; j++) {
        const vd v = COLUMN64(j);
        store(dt + j * LANES, v);
        const vi gt = v > hi;
        hi = blend(gt, v, hi);
        at = blendi(gt, splati(j), at);
        low = blend(v < low, v, low);
        fin += v - v;
    }
#undef COLUMN64
    /* shift_row: Fast2Sum where the row's least entry is at or above
     * fast_floor(m), else TwoSum (both exact: the same r), non-finite r 0 */
    vi fast;
    for (int r = 0; r < LANES; r++)
        fast[r] = low[r] >= fast_floor(hi[r]) ? -1 : 0;
    const vd nm = -hi;
    for (int64_t j = 0; j < n; j++) {
        const vd xj = load(dt + j * LANES), dj = xj + nm;
        const vd r_fast = xj + (nm - dj);
        const vd bb = dj - xj, t = xj - (dj - bb), r_two = t + (nm - bb);
        const vd rj = blend(fast, r_fast, r_two);
        store(dt + j * LANES, dj);
        store(rt + j * LANES, blend(rj - rj == splat(0.0), rj, splat(0.0)));
    }
    exp_call(exp_loop, exp_data, dt, et, n * LANES);
    /* one maximum left out (its d = r = 0); ties stay in as 1s */
    for (int64_t j = 0; j < n; j++)
        store(et + j * LANES, blend(at == splati(j), splat(0.0), load(et + j * LANES)));
    /* pairwise's leaf with SPLIT_PROD (n <= 128: one leaf), lane l of each
     * row in AQ[l], AR[l], AP[l] */
    const vd sg = splat(split_sigma(n));
    vd AQ[LANES], AR[LANES], AP[LANES];
    for (int l = 0; l < LANES; l++) {
        const vd v = load(et + l * LANES), q = (v + sg) - sg;
        AQ[l] = q, AR[l] = v - q, AP[l] = v * load(rt + l * LANES);
    }
    int64_t j = LANES;
    for (; j < n - n % LANES; j += LANES)
        for (int l = 0; l < LANES; l++) {
            const vd v = load(et + (j + l) * LANES), q = (v + sg) - sg;
            AQ[l] += q, AR[l] += v - q, AP[l] += v * load(rt + (j + l) * LANES);
        }
#define FOLD8(a) ((((a)[0] + (a)[1]) + ((a)[2] + (a)[3])) + (((a)[4] + (a)[5]) + ((a)[6] + (a)[7])))
    vd sq = FOLD8(AQ), sr = FOLD8(AR), sp = FOLD8(AP);
#undef FOLD8
    for (; j < n; j++) {
        const vd v = load(et + j * LANES), q = (v + sg) - sg;
        sq += q, sr += v - q, sp += v * load(rt + j * LANES);
    }
    /* pairwise's last step, then exact_sums' pair */
    sq = splat(0.0) + sq, sr = splat(0.0) + sr, sp = splat(0.0) + sp;
    for (int r = 0; r < LANES; r++) {
        double h = sq[r] + sr[r], hl = two_sum(sq[r], sr[r], h);
        hl = isfinite(h) ? hl : 0.0;
        const double s_lo = hl + sp[r], sum = h + s_lo;
        mi[r] = hi[r];
        s[r] = sum;
        lo[r] = isfinite(sum) ? two_sum(h, s_lo, sum) : 0.0;
        done[r] = r < R && fin[r] == 0.0 && !(h + hl < split_floor(n)) && !(h < (double)n * 0x1p-1020);
    }
}

/* Rows.L of the same R <= 8 rows (exact_L: log1p(s) + lo / (1 + s), NumPy's
 * log1p loop on the eight s at once) from cols_exact_sums64's pairs, d and
 * r left in xt and rt; done[r] = 1 where the row path would give the same:
 * cols_exact_sums64 took the row and L is not 0 (the row path flags L = 0
 * for the NumPy path's signed zeros). */
static FORCE_INLINE void cols_exact_L64(const char *x, int64_t srow, int R, int64_t n, void *exp_loop,
                                        void *exp_data, void *log1p_loop, void *log1p_data, double *restrict xt,
                                        double *restrict rt, double *restrict et, double *L, int *done)
{
    double mi[LANES], s[LANES], lo[LANES];
    cols_exact_sums64(x, srow, R, n, exp_loop, exp_data, xt, rt, et, mi, s, lo, done);
    for (int r = 0; r < LANES; r++)
        s[r] = done[r] ? s[r] : 0.0;
    unary_loop(log1p_loop, log1p_data, s, L, LANES);
    for (int r = 0; r < LANES; r++) {
        L[r] = L[r] + lo[r] / (1.0 + s[r]);
        done[r] = done[r] && L[r] != 0.0;
    }
}

/* wide_log_softmax's float64 target for the same R <= 8 rows, into out64
 * (row r at out64 + r n): cols_exact_sums64's pair, L = log1p(s) + lo /
 * (1 + s) (cols_exact_L64), then (d - L) + r entry by entry; done[r]
 * as there. xt, rt, et: scratch of 8 n doubles each. */
static FORCE_INLINE void cols_exact_log_softmax64(const char *x, int64_t srow, int R, int64_t n, void *exp_loop,
                                                  void *exp_data, void *log1p_loop, void *log1p_data,
                                                  double *restrict xt, double *restrict rt, double *restrict et,
                                                  double *out64, int *done)
{
    double L[LANES];
    cols_exact_L64(x, srow, R, n, exp_loop, exp_data, log1p_loop, log1p_data, xt, rt, et, L, done);
    vd Lv;
    for (int r = 0; r < LANES; r++)
        Lv[r] = L[r];
    for (int64_t j = 0; j < n; j++) {
        const vd v = (load(xt + j * LANES) - Lv) + load(rt + j * LANES);
        for (int r = 0; r < R; r++)
            out64[r * n + j] = v[r];
    }
}
