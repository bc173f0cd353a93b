/* Wide rows (more than 16 columns) of the accurate tier's logsumexp, sparse
 * cross-entropy, softmax (rows that need no shift), log-softmax (every
 * format) and categorical cross-entropy (float64, from logits) in one call
 * per block, included by _rows.c after _narrow.h (whose
 * unary_loop and two_sum it uses).
 *
 * stabkit/_accurate/rows.py analyses a block of wide rows in passes over the
 * whole block (the shift, np.exp, the sums, log1p), each a compiled pass or
 * a NumPy call, with Python between them holding the GIL: some 20 calls a
 * block, which kept two threads at 1.0-1.4x one thread's speed. wide_rows()
 * does the same arithmetic row by row, each row's d and e staying in the L1
 * cache, and calls NumPy's own float64 exp and log1p inner loops (found and
 * checked bit for bit at load, stabkit/_native/npyloops.py), so every value
 * is the NumPy path's:
 *
 * - the row converted to float64 (exact), its first maximum found as
 *   np.argmax finds it (scan_row), m the entry itself;
 * - d = x + (-m), the one IEEE addition of Rows' shift; for float64 targets
 *   its exact error r (shift_row: Fast2Sum above the row's floor, TwoSum
 *   below, a non-finite r set to 0);
 * - e = exp(d) by NumPy's loop; the top entry's e set to 0;
 * - narrower targets: s = the pairwise sum of e (np.add.reduce's order);
 *   float64 targets: the extraction's sums with sigma = 2^(bit_length(n)+1)
 *   (split_sums' pass), normalised, plus sum(e r), normalised again, as
 *   Rows._sums, eft.sum_split and Rows.L form them;
 * - L = log1p(s) by NumPy's loop over the block's s (for float64 targets
 *   plus lo / (1 + s)).
 *
 * Rows the kernel leaves to the NumPy path (redo[i] != 0, their outputs
 * garbage): a NaN or an infinite maximum (the edge contract's patches),
 * float64 targets whose sum falls below Rows.sums' subnormal floor
 * n 2^-1020 (below sum_split's floor n^2 2^-39 the row's sum2 is formed
 * here, _sum2.h), and, with an lse output, rows where
 * m + L cancels (redo 2); with cols, rows with L = 0 (whose zeros'
 * signs Rows._signed_zeros sets). Every step acts on one row alone, so the
 * NumPy path gives such a row the bits it gives it inside a block.
 */

/* One row as float64: a contiguous float64 row itself (nothing copied),
 * else its entries converted (exactly) into d: float32 ones (f32) or
 * float64 ones, at byte stride scol. */
static FORCE_INLINE const double *row_of(const char *xi, int64_t n, int64_t scol, int f32, double *restrict d)
{
    if (!f32 && scol == (int64_t)sizeof(double))
        return (const double *)xi;
    if (f32 && scol == (int64_t)sizeof(float)) {
        const float *xf = (const float *)xi;
        int64_t j = 0;
        for (; j + LANES <= n; j += LANES)
            store(d + j, __builtin_convertvector(loadf(xf + j), vd));
        for (; j < n; j++)
            d[j] = (double)xf[j];
    } else if (f32) {
        for (int64_t j = 0; j < n; j++) {
            float v;
            memcpy(&v, xi + j * scol, sizeof v);
            d[j] = (double)v;
        }
    } else {
        for (int64_t j = 0; j < n; j++)
            memcpy(d + j, xi + j * scol, sizeof(double));
    }
    return d;
}

/* Entry j of a row's output: out32 (float32: the float64 value rounded once
 * more, as NumPy's float64 loops writing into float32 round it) or out64. */
static FORCE_INLINE void put(float *o32, double *o64, int64_t j, double v)
{
    if (o32)
        o32[j] = (float)v;
    else
        o64[j] = v;
}

/* A row's first maximum (returned; -1 for a NaN) and least entry *mn, the
 * row read as it is where fast32 (contiguous float32 rows for the fast
 * pass: *xf, *xr NULL), else as float64 (row_of into d: *xr, *xf NULL);
 * *mi the maximum as a double (0 for a NaN row). */
static FORCE_INLINE int64_t scan_any(const char *xi, int64_t n, int64_t scol, int64_t f32, int fast32, double *d,
                                     const float **xf, const double **xr, double *mn, double *mi)
{
    *xf = fast32 ? (const float *)xi : NULL;
    *xr = *xf ? NULL : row_of(xi, n, scol, (int)f32, d);
    const int64_t k = *xf ? scan_row32(*xf, n, mn) : scan_row(*xr, n, mn);
    *mi = k < 0 ? 0.0 : *xf ? (double)(*xf)[k] : (*xr)[k];
    return k;
}

/* A narrower target's shifted terms of the row xr (n entries, finite
 * maximum mi, least entry mn): d = x + (-mi), the one IEEE addition of
 * Rows' shift (into d; xr may be d), and e = exp(d) by NumPy's loop. */
static FORCE_INLINE void shifted_terms(const double *xr, int64_t n, double mi, double mn, double *d, double *e,
                                       void *exp_loop, void *exp_data)
{
    const double nm = -mi;
    for (int64_t j = 0; j < n; j++)
        d[j] = xr[j] + nm;
    exp_call_from(exp_loop, exp_data, d, e, n, mn + nm);
}

/* The float64 analysis of one row xr (n entries, first maximum at k, least
 * entry mn; both finite) as Rows forms it for a float64 target: d = x + (-m)
 * and its exact error r, e = exp(d) by NumPy's loop with e[k] = 0, the
 * extraction's sums with sigma (split_sums' pass), normalised
 * (eft.normalized), then + sum(e r) and normalised again: s + lo, the sum
 * of the terms without the maximum; below sum_split's floor n^2 2^-39,
 * the extraction's pair is replaced by sum2's, as sum_split replaces it
 * (e is overwritten). Returns 0 (nothing for L) where the sum falls below
 * Rows.sums' subnormal floor n 2^-1020 (Rows._tiny_sums). */
static FORCE_INLINE int exact_sums(const double *xr, int64_t n, int64_t k, double mn, void *exp_loop, void *exp_data,
                                   double *d, double *e, double *r, double *s, double *lo)
{
    const double mi = xr[k];
    const double sigma = split_sigma(n);
    shift_row(xr, n, mi, mn >= fast_floor(mi), d, r);
    exp_call_from(exp_loop, exp_data, d, e, n, mn + -mi);
    /* one maximum left out of s (its d = r = 0); ties stay in as 1s */
    e[k] = 0.0;
    sums_t p = pairwise(e, r, n, sigma, SPLIT_PROD);
    double hi = p.q + p.rest, hl = two_sum(p.q, p.rest, hi);
    hl = isfinite(hi) ? hl : 0.0;
    /* below sum_split's floor, sum_split sums the row again with sum2
     * (e is then overwritten: no caller reads it afterwards) */
    if (hi + hl < split_floor(n))
        sum2_row(e, n, &hi, &hl);
    if (hi < (double)n * 0x1p-1020)
        return 0;
    double s_lo = hl + p.prod;
    *s = hi + s_lo;
    *lo = isfinite(*s) ? two_sum(hi, s_lo, *s) : 0.0;
    return 1;
}

/* Rows.L for a float64 target from exact_sums' pair: log1p(s) by NumPy's
 * loop, + lo / (1 + s). */
static FORCE_INLINE double exact_L(double s, double lo, void *log1p_loop, void *log1p_data)
{
    double L;
    unary_loop(log1p_loop, log1p_data, &s, &L, 1);
    return L + lo / (1.0 + s);
}

/* For each row of x (rows x n, n > 16; float32 with f32 else float64; row i
 * at byte offset i * srow, entry j at j * scol): m[i], L[i] as Rows forms
 * them and redo[i] (see the header). With lse (not NULL): lse[i] = m + L and
 * Rows.logsumexp's cancellation test (L / |m + L| above 1.125 for exact,
 * (|m| + L) / |m + L| above 2^12 else, m < 0), which flags the row with 2.
 * With cols (not NULL, each in [0, n)): lp[i], the log-softmax at column
 * cols[i] as Rows.log_softmax_at forms it: (d - L) + r for exact, else
 * d - L, one float64 ulp down where it rounded back to d with L > 0
 * (unshifted.below_ties). ws: scratch of 4 * rows doubles.
 * With rfmt (R_F32, R_F16, R_BF16: the caller rounds lse or lp once to that
 * format and uses nothing else of them), contiguous float32 rows (R_F32)
 * or float64 rows of widened 16-bit values take the fast pass: their sum from
 * fast_shifted_sum, then lse (m + L, non-decreasing in L) or lp (below_ties
 * of d - L, non-increasing) at both ends of NumPy's L (1 -+ 2^-43), kept
 * where the two ends round to one value of the format, else flagged 1 (as are rows whose
 * logsumexp might cancel: m < 0 with (|m| + L) / |m + L| above 2^11, half
 * the NumPy path's limit); L and m of those rows are not NumPy's. *nfast
 * (where not NULL): how many rows the fast pass settled (float64 targets:
 * how many cols_exact_sums64 took).
 * Returns the number of rows flagged, or -1 (outputs garbage) where the row
 * buffers cannot be allocated. */
EXPORT CLONES int64_t wide_rows(const char *x, int64_t rows, int64_t n, int64_t srow, int64_t scol, int64_t f32,
                                int64_t exact, void *exp_loop, void *exp_data, void *log1p_loop, void *log1p_data,
                                const int64_t *cols, double *m, double *L, double *ws, int8_t *redo, double *lse,
                                double *lp, int64_t rfmt, int64_t *nfast)
{
    double *buf = malloc((size_t)(3 * n + n / 2 + 1) * sizeof(double));
    if (!buf)
        return -1;
    double *d = buf, *e = buf + n, *r = exact ? buf + 2 * n : NULL;
    float *xs = (float *)(buf + 3 * n);
    /* per row: s (log1p's argument), the pair's low part (for narrower
     * targets: 1 where the fast pass took the row), d and r at the label */
    double *s = ws, *lo = ws + rows, *dc = ws + 2 * rows, *rc = ws + 3 * rows;
    const int fast32 = rfmt == R_F32 && (lse || cols) && FAST32(f32, scol, 1, exact, n);
    const int fast16 = (lse || cols) && FAST16(f32, rfmt, exact, n);
    /* rows of 17 to 64 columns: fast_shifted_sum eight rows at a time
     * (_wide_fast_cols.h); a row it does not take goes the way below */
    const int colsg = fast32 && n >= COLS_MIN && n <= COLS_MAX;
    /* and float64 targets' contiguous rows of 17 to 64 columns: exact_sums
     * eight rows at a time (_wide_exact_cols.h), the same bits */
    const int colsx = exact && !f32 && scol == (int64_t)sizeof(double) && n >= COLS_MIN && n <= COLS_MAX;
    double xt[LANES * COLS_MAX], et[LANES * COLS_MAX], rt[LANES * COLS_MAX], gmi[LANES], gs[LANES], glo[LANES];
    int done[LANES] = {0};
    int64_t across = 0;
    for (int64_t i = 0; i < rows; i++) {
        s[i] = lo[i] = dc[i] = rc[i] = 0.0;
        redo[i] = 1;
        const char *xi = x + i * srow;
        const int g = (int)(i % LANES);
        if (colsx && g == 0)
            cols_exact_sums64(xi, srow, rows - i < LANES ? (int)(rows - i) : LANES, n, exp_loop, exp_data, xt, rt, et,
                              gmi, gs, glo, done);
        if (colsx && done[g]) {
            m[i] = gmi[g], s[i] = gs[g], lo[i] = glo[g];
            if (cols)
                dc[i] = xt[cols[i] * LANES + g], rc[i] = rt[cols[i] * LANES + g];
            redo[i] = 0;
            across++;
            continue;
        }
        if (colsg && g == 0)
            cols_shifted_sums32(xi, srow, rows - i < LANES ? (int)(rows - i) : LANES, n, xt, et, gmi, gs, done);
        if (colsg && done[g]) {
            m[i] = gmi[g], s[i] = gs[g];
            if (cols)
                dc[i] = (double)((const float *)xi)[cols[i]] + -gmi[g];
            lo[i] = 1.0;
            redo[i] = 0;
            continue;
        }
        const float *xf;
        const double *xr;
        double mn, mi;
        const int64_t k = scan_any(xi, n, scol, f32, fast32, d, &xf, &xr, &mn, &mi);
        if (k < 0 || !isfinite(mi)) {
            m[i] = 0.0;
            continue;
        }
        m[i] = mi;
        const float *xn = xf ? xf : fast16 && narrow_row(xr, n, xs) ? xs : NULL;
        if (xn && (s[i] = fast_shifted_sum(xn, n, k, e)) >= 0.0) {
            if (cols)
                dc[i] = (double)xn[cols[i]] + -mi;
            lo[i] = 1.0;
            redo[i] = 0;
            continue;
        }
        s[i] = 0.0;
        if (xf)
            xr = row_of(xi, n, scol, 1, d);
        if (exact) {
            if (exact_sums(xr, n, k, mn, exp_loop, exp_data, d, e, r, s + i, lo + i)) {
                if (cols)
                    dc[i] = d[cols[i]], rc[i] = r[cols[i]];
                redo[i] = 0;
            }
            continue;
        }
        shifted_terms(xr, n, mi, mn, d, e, exp_loop, exp_data);
        if (cols)
            dc[i] = d[cols[i]];
        /* one maximum left out of s (its d = 0); ties stay in as 1s */
        e[k] = 0.0;
        s[i] = pairwise(e, NULL, n, 0.0, PLAIN).q;
        redo[i] = 0;
    }
    free(buf);
    unary_loop(log1p_loop, log1p_data, s, L, rows);
    int64_t flagged = 0, fast = 0;
    for (int64_t i = 0; i < rows; i++) {
        if (redo[i]) {
            flagged++;
            continue;
        }
        if (!exact && lo[i] != 0.0) {
            /* the fast pass's row: both ends of NumPy's L (_wide_fast.h) */
            int ok;
            if (lse) {
                ok = lse_settles(m[i], L[i], (int)rfmt, &lse[i]);
            } else {
                const double L_lo = L[i] * (1.0 - 0x1p-43), L_hi = L[i] * (1.0 + 0x1p-43);
                const double a = below_ties(dc[i], L_hi), b = below_ties(dc[i], L_lo);
                ok = same_rounding(a, b, (int)rfmt);
                lp[i] = b;
            }
            redo[i] = !ok;
            flagged += !ok;
            fast += ok;
            continue;
        }
        if (exact)
            L[i] = L[i] + lo[i] / (1.0 + s[i]);
        if (lse) {
            double out = m[i] + L[i];
            double amp = exact ? L[i] / fabs(out) : (fabs(m[i]) + L[i]) / fabs(out);
            lse[i] = out;
            redo[i] = m[i] < 0.0 && amp > (exact ? 1.125 : 0x1p12) ? 2 : 0;
        }
        if (cols) {
            double v = dc[i] - L[i];
            if (exact)
                v = v + rc[i];
            else if (L[i] > 0.0)
                v = below_ties(dc[i], L[i]);
            lp[i] = v;
            redo[i] = L[i] == 0.0 ? 1 : redo[i];
        }
        flagged += redo[i] != 0;
    }
    if (nfast)
        *nfast = exact ? across : fast;
    return flagged;
}

/* The categorical cross-entropy from logits of float64 rows (float64
 * targets; x rows x n, n > 16, any strides; y contiguous rows x n float64):
 * per row, wide_rows' analysis (the shift with its error r, NumPy's exp, the
 * extraction's sums, L = log1p(s) + lo / (1 + s) by NumPy's log1p loop on
 * the row's s), then crossentropy_sums' terms t = y ((d - L) + r) and their
 * sums, and out[i] the row sum as crossentropy_from_rows forms it before its
 * patches: the pair normalised (eft.normalized) where the scale n max|t| is
 * finite, else the plain sum + 0.0. redo[i] = 1 for the rows wide_rows
 * hands back, rows with L = 0, and rows whose sum is NaN (a zero label at a
 * masked logit, 0 log 0 = 0, which crossentropy._finish settles from the
 * terms). Returns the number of rows flagged, or -1 where the row buffers
 * cannot be allocated. */
EXPORT CLONES int64_t wide_ce(const char *x, int64_t rows, int64_t n, int64_t srow, int64_t scol, void *exp_loop,
                              void *exp_data, void *log1p_loop, void *log1p_data, const double *y, double *out,
                              int8_t *redo)
{
    double *buf = malloc((size_t)4 * (size_t)n * sizeof(double));
    if (!buf)
        return -1;
    double *d = buf, *e = buf + n, *r = buf + 2 * n, *t = buf + 3 * n;
    int64_t flagged = 0;
    /* contiguous rows of 17 to 64 columns: d, r and L eight rows at a time
     * (_wide_exact_cols.h), the same bits; the rows it leaves below */
    const int colsx = scol == (int64_t)sizeof(double) && n >= COLS_MIN && n <= COLS_MAX;
    double xt[LANES * COLS_MAX], et[LANES * COLS_MAX], rt[LANES * COLS_MAX], gL[LANES];
    int done[LANES] = {0};
    for (int64_t i = 0; i < rows; i++) {
        redo[i] = 1;
        out[i] = 0.0;
        const int g = (int)(i % LANES);
        if (colsx && g == 0)
            cols_exact_L64(x + i * srow, srow, rows - i < LANES ? (int)(rows - i) : LANES, n, exp_loop, exp_data,
                           log1p_loop, log1p_data, xt, rt, et, gL, done);
        double L;
        if (colsx && done[g]) {
            for (int64_t j = 0; j < n; j++)
                d[j] = xt[j * LANES + g], r[j] = rt[j * LANES + g];
            L = gL[g];
        } else {
            const double *xr = row_of(x + i * srow, n, scol, 0, d);
            double mn, s, lo;
            int64_t k = scan_row(xr, n, &mn);
            if (k < 0 || !isfinite(xr[k])) {
                flagged++;
                continue;
            }
            if (!exact_sums(xr, n, k, mn, exp_loop, exp_data, d, e, r, &s, &lo) ||
                (L = exact_L(s, lo, log1p_loop, log1p_data)) == 0.0) {
                flagged++;
                continue;
            }
        }
        double th, tl;
        int64_t ok;
        crossentropy_sums(d, r, &L, y + i * n, 1, n, t, &th, &tl, &ok);
        double v;
        if (ok) {
            double sv = th + tl, ev = two_sum(th, tl, sv);
            v = sv + (isfinite(sv) ? ev : 0.0);
        } else {
            v = th + 0.0;
        }
        if (v != v) {
            flagged++;
            continue;
        }
        out[i] = v;
        redo[i] = 0;
    }
    free(buf);
    return flagged;
}

/* Rows.softmax of a float64 target's row xr (float64, n entries, first
 * maximum k, finite, least entry mn) that needs the shift: d = x + (-m)
 * and its exact error r (shift_row, as native.shift), e = exp(d) by
 * NumPy's loop, e + e r (softmax_sums), the extraction's sums with sigma
 * = split_sigma(n), normalised (sum_split; the sum holds the maximum's
 * term 1, so it falls below the floor n^2 2^-39 only past 741455 terms,
 * where the row is handed back: returns 0), and e / (hi + lo), each the
 * IEEE quotient (quotients). */
static FORCE_INLINE int exact_shifted_softmax_row(const double *xr, int64_t n, int64_t k, double mn, double *d,
                                                  double *e, double *r, void *exp_loop, void *exp_data,
                                                  double *o64)
{
    const double mi = xr[k];
    shift_row(xr, n, mi, mn >= fast_floor(mi), d, r);
    exp_call_from(exp_loop, exp_data, d, e, n, mn + -mi);
    for (int64_t j = 0; j < n; j++)
        e[j] = e[j] + e[j] * r[j];
    const sums_t p = pairwise(e, NULL, n, split_sigma(n), SPLIT);
    const double s = p.q + p.rest, err = isfinite(s) ? two_sum(p.q, p.rest, s) : 0.0;
    if (s + err < split_floor(n))
        return 0;
    /* the terms lie in [exp(mn - m) / 2, 2] (NumPy's exp within 2^-48 of
     * e^d, r below ulp(d) / 2), or are the masked entries' +0 */
    quotients(e, s + err, n, 0.5 * exp(mn + -mi), 2.0, NULL, o64);
    return 1;
}

/* Rows.softmax of a narrower target's row xr (n entries, finite maximum
 * mi): d = x + (-mi) (into d; xr may be d), e = exp(d) by NumPy's loop, and
 * e * (1 / the pairwise sum of every term), as scale_rows forms it. */
static FORCE_INLINE void shifted_softmax_row(const double *xr, int64_t n, double mi, double *d, double *e,
                                             void *exp_loop, void *exp_data, float *o32, double *o64)
{
    shifted_terms(xr, n, mi, -INFINITY, d, e, exp_loop, exp_data);
    const double inv = 1.0 / pairwise(e, NULL, n, 0.0, PLAIN).q;
    for (int64_t j = 0; j < n; j++)
        put(o32, o64, j, e[j] * inv);
}

/* Rows.log_softmax of a narrower target's row xr (n entries, first maximum
 * k, mi finite): d = x + (-mi) (into d; xr may be d), e = exp(d) by NumPy's
 * loop with e[k] = 0, L = log1p of their pairwise sum (top_sums' s) by
 * NumPy's loop, and d - L with below_ties' step where it rounded back to d
 * (on every entry: it moves only those of tie_rows). Returns 0 (out
 * garbage) where L = 0, whose zeros' signs Rows._signed_zeros sets. */
static FORCE_INLINE int shifted_log_softmax_row(const double *xr, int64_t n, int64_t k, double mi, double *d,
                                                double *e, void *exp_loop, void *exp_data, void *log1p_loop,
                                                void *log1p_data, float *o32, double *o64)
{
    shifted_terms(xr, n, mi, -INFINITY, d, e, exp_loop, exp_data);
    e[k] = 0.0;
    double s = pairwise(e, NULL, n, 0.0, PLAIN).q, L;
    unary_loop(log1p_loop, log1p_data, &s, &L, 1);
    if (!(L > 0.0))
        return 0;
    for (int64_t j = 0; j < n; j++)
        put(o32, o64, j, below_ties(d[j], L));
    return 1;
}

/* softmax_unshifted of wide rows (accurate.softmax's rows that need no
 * shift), row by row: e = exp(x) by NumPy's loop on the exact inputs, then
 * for exact (float64 targets) softmax_sums' extraction with a sigma per row
 * (sum_split_scaled of terms >= 0), the pair normalised where the scale is
 * finite (eft.normalized; else the plain sum and 0), and e / (hi + lo); for
 * narrower targets e * (1 / the plain pairwise sum) (scale_rows). Into out32
 * (float32, the float64 value rounded once more, as NumPy's float64 loops
 * writing into float32 round it) or out64; the other NULL. Rows that need
 * the shift but have a finite maximum take Rows' shifted softmax here: a
 * narrower target's (a maximum outside [-600, 650]: shifted_softmax_row)
 * and a float64 target's (an entry outside [-708, 650] other than -inf,
 * or a maximum outside it: exact_shifted_softmax_row). Rows that hold a
 * NaN or an infinite maximum get redo[i] = 1 and garbage, as do float64
 * rows past sum_split's floor. Returns the number of rows flagged, or -1
 * where the row buffer cannot be allocated. */
EXPORT CLONES int64_t wide_softmax(const char *x, int64_t rows, int64_t n, int64_t srow, int64_t scol, int64_t f32,
                                   int64_t exact, void *exp_loop, void *exp_data, float *out32, double *out64,
                                   int8_t *redo, int64_t *nfast)
{
    /* d, e, and for the shifted float64 rows r (e + n) */
    double *buf = malloc((size_t)3 * (size_t)n * sizeof(double));
    if (!buf)
        return -1;
    double *d = buf, *e = buf + n;
    int64_t flagged = 0, fast = 0;
    const int fast32 = FAST32(f32, scol, out32, exact, n);
    /* rows of 17 to 64 columns: their fast pass eight rows at a time
     * (_wide_fast_cols.h); a row it does not settle takes the pass below */
    const int colsg = fast32 && n >= COLS_MIN && n <= COLS_MAX;
    double xt[LANES * COLS_MAX], et[LANES * COLS_MAX];
    int done[LANES] = {0};
    for (int64_t i = 0; i < rows; i++) {
        const char *xi = x + i * srow;
        if (colsg && i % LANES == 0)
            cols_softmax32(xi, srow, rows - i < LANES ? (int)(rows - i) : LANES, n, xt, et, out32 + i * n, done);
        if (colsg && done[i % LANES]) {
            redo[i] = 0;
            fast++;
            continue;
        }
        const float *xf;
        const double *xr;
        double mn, mi;
        const int64_t k = scan_any(xi, n, scol, f32, fast32, d, &xf, &xr, &mn, &mi);
        /* accurate.unshifted_rows, NaN failing every test; a float64 row's
         * least entry other than -inf bounds its terms below (masked ones
         * are exact zeros, whose quotients are +0 either way) */
        const double least = exact && mn == -INFINITY && xr ? least_unmasked(xr, n) : mn;
        int ok = k >= 0 && (exact ? least >= -708.0 && mi >= -708.0 && mi <= 650.0 : mi >= -600.0 && mi <= 650.0);
        /* a row with a finite maximum outside that range: Rows.softmax's
         * shifted rows, here (float64 targets into a float64 output) */
        const int shifted = !ok && k >= 0 && isfinite(mi) && (!exact || out64);
        redo[i] = !ok && !shifted;
        if (redo[i]) {
            flagged++;
            continue;
        }
        double *o64 = out64 ? out64 + i * n : NULL;
        float *o32 = out32 ? out32 + i * n : NULL;
        if (shifted && exact) {
            redo[i] = !exact_shifted_softmax_row(xr, n, k, mn, d, e, e + n, exp_loop, exp_data, o64);
            flagged += redo[i];
            continue;
        }
        if (shifted) {
            shifted_softmax_row(xf ? row_of(xi, n, scol, 1, d) : xr, n, mi, d, e, exp_loop, exp_data, o32, o64);
            continue;
        }
        if (xf) {
            if (fast_softmax_row(xf, n, e, o32)) {
                fast++;
                continue;
            }
            xr = row_of(xi, n, scol, 1, d);
        }
        exp_call_from(exp_loop, exp_data, xr, e, n, mn);
        if (exact) {
            double hi, lo;
            int64_t fin;
            fin = split_sums_at(e, n, k, &hi, &lo);
            if (fin) {
                double s = hi + lo, err = two_sum(hi, lo, s);
                hi = s, lo = isfinite(s) ? err : 0.0;
            } else {
                lo = 0.0;
            }
            /* every term within a factor 2 of e^x (NumPy's exp is within
             * 2^-48 of it), x in [least, mi] (inside [-708, 650]), but the
             * masked entries' +0; exp_fast's 2^-45.4 keeps the bounds (they
             * only choose how the IEEE quotients are formed) */
            quotients(e, hi + lo, n, 0.5 * exp_fast(least, 0), 2.0 * exp_fast(mi, 0), o32, o64);
        } else {
            const double inv = 1.0 / pairwise(e, NULL, n, 0.0, PLAIN).q;
            for (int64_t j = 0; j < n; j++)
                put(o32, o64, j, e[j] * inv);
        }
    }
    free(buf);
    if (nfast)
        *nfast = fast;
    return flagged;
}

/* The log-softmax of wide rows, row by row, into out32 (float32, the
 * float64 value rounded once more) or out64; the other NULL.
 * exact (float64 targets, float64 rows): Rows.log_softmax, (d - L) + r,
 * with wide_rows' analysis and L from NumPy's log1p loop on the row's s.
 * Else unshifted.log_softmax_unshifted for rows whose maximum m is in
 * [-600, 650]: e = exp(x) of the exact inputs, L = log1p(s / e_k) (s the
 * pairwise sum without the first maximum k), x - (m + L), -L at k; rows
 * where m + L rounds to m for some entry (tie_rows: 0 < L <= (m - min) 2^-53)
 * take below_ties of x - m instead, -L still at k; rows with a finite
 * maximum outside [-600, 650], Rows' shifted log-softmax
 * (shifted_log_softmax_row). redo[i] = 1 (garbage) for the rows the NumPy
 * path takes or treats apart: NaN and infinite maxima, the subnormal floor
 * and L = 0. *nfast (where not NULL): the rows a fast pass or, for
 * float64 targets, cols_exact_log_softmax64 took. Returns the number of
 * rows flagged, or -1 where the row buffers cannot be allocated. */
EXPORT CLONES int64_t wide_log_softmax(const char *x, int64_t rows, int64_t n, int64_t srow, int64_t scol, int64_t f32,
                                       int64_t exact, void *exp_loop, void *exp_data, void *log1p_loop,
                                       void *log1p_data, float *out32, double *out64, int8_t *redo,
                                       int64_t *nfast)
{
    double *buf = malloc((size_t)3 * (size_t)n * sizeof(double));
    if (!buf)
        return -1;
    double *d = buf, *e = buf + n, *r = buf + 2 * n;
    int64_t flagged = 0, fast = 0;
    const int fast32 = FAST32(f32, scol, out32, exact, n);
    /* rows of 17 to 64 columns: their fast pass eight rows at a time
     * (_wide_fast_cols.h); a row it does not settle takes the pass below */
    const int colsg = fast32 && n >= COLS_MIN && n <= COLS_MAX;
    /* float64 targets' contiguous rows of 17 to 64 columns: eight at a time
     * too (_wide_exact_cols.h), the same bits */
    const int colsx = exact && !f32 && out64 && scol == (int64_t)sizeof(double) && n >= COLS_MIN && n <= COLS_MAX;
    double xt[LANES * COLS_MAX], et[LANES * COLS_MAX], rt[LANES * COLS_MAX];
    int done[LANES] = {0};
    for (int64_t i = 0; i < rows; i++) {
        double *o64 = out64 ? out64 + i * n : NULL;
        float *o32 = out32 ? out32 + i * n : NULL;
        if (colsx && i % LANES == 0) {
            const int R = rows - i < LANES ? (int)(rows - i) : LANES;
            cols_exact_log_softmax64(x + i * srow, srow, R, n, exp_loop, exp_data, log1p_loop, log1p_data, xt, rt, et,
                                     o64, done);
        }
        if (colsx && done[i % LANES]) {
            redo[i] = 0;
            fast++;
            continue;
        }
        if (colsg && i % LANES == 0) {
            const int R = rows - i < LANES ? (int)(rows - i) : LANES;
            cols_log_softmax32(x + i * srow, srow, R, n, log1p_loop, log1p_data, xt, et, o32, done);
        }
        if (colsg && done[i % LANES]) {
            redo[i] = 0;
            fast++;
            continue;
        }
        redo[i] = 1;
        const char *xi = x + i * srow;
        const float *xf;
        const double *xr;
        double mn, mi;
        const int64_t k = scan_any(xi, n, scol, f32, fast32, d, &xf, &xr, &mn, &mi);
        if (k < 0 || !isfinite(mi)) {
            flagged++;
            continue;
        }
        if (!exact && !(mi >= -600.0 && mi <= 650.0)) {
            /* outside the unshifted range: Rows' shifted rows, here */
            if (shifted_log_softmax_row(xf ? row_of(xi, n, scol, 1, d) : xr, n, k, mi, d, e, exp_loop, exp_data,
                                        log1p_loop, log1p_data, o32, o64))
                redo[i] = 0;
            else
                flagged++;
            continue;
        }
        double L, q;
        if (exact) {
            double s, lo;
            if (!exact_sums(xr, n, k, mn, exp_loop, exp_data, d, e, r, &s, &lo) ||
                (L = exact_L(s, lo, log1p_loop, log1p_data)) == 0.0) {
                flagged++;
                continue;
            }
            for (int64_t j = 0; j < n; j++)
                o64[j] = (d[j] - L) + r[j];
            redo[i] = 0;
            continue;
        }
        if (xf) {
            if (fast_log_softmax_row(xf, n, k, mn, e, log1p_loop, log1p_data, o32)) {
                redo[i] = 0;
                fast++;
                continue;
            }
            xr = row_of(xi, n, scol, 1, d);
        }
        exp_call_from(exp_loop, exp_data, xr, e, n, mn);
        const double winner = e[k];
        e[k] = 0.0;
        q = pairwise(e, NULL, n, 0.0, PLAIN).q / winner;
        unary_loop(log1p_loop, log1p_data, &q, &L, 1);
        /* tie_rows (L = 0 too: a winner 745 ahead, whose exact L > 0) */
        const int tied = L <= (mi - mn) * TIE_SPAN;
        const double mL = mi + L;
        for (int64_t j = 0; j < n; j++) {
            double v;
            if (tied) {
                v = below_ties(xr[j] - mi, L);
            } else {
                v = xr[j] - mL;
            }
            put(o32, o64, j, v);
        }
        put(o32, o64, k, -L);
        redo[i] = 0;
    }
    free(buf);
    if (nfast)
        *nfast = fast;
    return flagged;
}
