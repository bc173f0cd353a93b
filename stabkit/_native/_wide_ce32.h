/* The categorical cross-entropy from logits of wide float32 rows into
 * float32, and of widened float16 and bfloat16 rows into the float64
 * values the caller rounds to their format (included by _rows.c after
 * _wide_fast.h, whose row L it uses).
 *
 * The NumPy path forms a row's loss as 0 - einsum(y, lp): lp the
 * log-softmax wide_log_softmax gives a narrower target (unshifted, with
 * tie_rows' below_ties), the products and their sum in float64 in einsum's
 * own order (with or without fused multiply-adds), rounded once to float32.
 * Every lp is a non-increasing function of L and every label y >= 0, so the
 * exact sum of y lp at NumPy's L lies between its values at the ends L_lo,
 * L_hi of _wide_fast.h's interval. Any evaluation of a sum of n products
 * of one sign (each rounded, or fused), in any order, lies within
 * (n + 2) 2^-53 of the magnitude of its exact value, einsum's and ours
 * alike: NumPy's sum lies in [S(L_hi) - B, S(L_lo) + B], with S our sums
 * at the two ends and B = 2 (n + 2) 2^-53 |S(L_hi)| (1 + 2^-30). The row's
 * loss is kept where the two ends of 0 - that interval round to one value
 * of the format (by that width, about one float32 row in 2^17 at 1000
 * columns does not); else the caller takes the NumPy path.
 * Rows with a -inf logit (whose zero labels einsum turns into NaN, which
 * the NumPy path patches) and rows without a finite sum are handed back. */

/* below_ties (_narrow.h) in eight lanes: d - L, or the double below d
 * (d > -inf) where that rounded back to d */
static FORCE_INLINE vd below_ties_v(vd d, vd L)
{
    const vd w = d - L;
    /* a true comparison is -1 in every bit: subtracting it adds one */
    const vd down = (vd)((vi)d - (vi)(d > splat(-INFINITY)));
    return blend(w == d, down, w);
}

/* Adds y lp over entries [j0, j1) (none the maximum) to the lanes *a (lp
 * at L_hi) and *b (at L_lo), eight entries a step, the rest one by one
 * into lane 0: each lane in its own order, any order being within the
 * bound above. lp = x - (mi + L), or with tied below_ties(x - mi, L). */
static FORCE_INLINE void ce_span(const float *xf, const float *y, int64_t j0, int64_t j1, double mi, double L_hi,
                                 double L_lo, int tied, vd *a, vd *b)
{
    const vd ma = splat(mi + L_hi), mb = splat(mi + L_lo), m = splat(mi), la = splat(L_hi), lb = splat(L_lo);
    int64_t j = j0;
    for (; j + LANES <= j1; j += LANES) {
        const vd yv = __builtin_convertvector(loadf(y + j), vd), v = __builtin_convertvector(loadf(xf + j), vd);
        if (tied) {
            const vd d = v - m;
            *a += yv * below_ties_v(d, la);
            *b += yv * below_ties_v(d, lb);
        } else {
            *a += yv * (v - ma);
            *b += yv * (v - mb);
        }
    }
    for (; j < j1; j++) {
        const double yj = (double)y[j], d = (double)xf[j] - mi;
        (*a)[0] += yj * (tied ? below_ties(d, L_hi) : (double)xf[j] - ma[0]);
        (*b)[0] += yj * (tied ? below_ties(d, L_lo) : (double)xf[j] - mb[0]);
    }
}

/* The sums of y lp at L_hi (*sa) and at L_lo (*sb): lp on either side of
 * k (ce_span; below_ties' for the rows tie_rows picks), -L at k. */
static FORCE_INLINE void ce_sums(const float *xf, const float *y, int64_t n, int64_t k, double L_lo, double L_hi,
                                 int tied, double *sa, double *sb)
{
    const double mi = (double)xf[k];
    vd a = splat(0.0), b = splat(0.0);
    /* two loops, each with its own body: the tied one is rare on most inputs */
    if (tied) {
        ce_span(xf, y, 0, k, mi, L_hi, L_lo, 1, &a, &b);
        ce_span(xf, y, k + 1, n, mi, L_hi, L_lo, 1, &a, &b);
    } else {
        ce_span(xf, y, 0, k, mi, L_hi, L_lo, 0, &a, &b);
        ce_span(xf, y, k + 1, n, mi, L_hi, L_lo, 0, &a, &b);
    }
    a[0] += (double)y[k] * -L_hi;
    b[0] += (double)y[k] * -L_lo;
    *sa = fold(a), *sb = fold(b);
}

/* For each row of x (rows x n, n > 16, contiguous rows at byte stride
 * srow) with the labels y (rows x n, contiguous, each in [0, 1]): float32
 * both (f32), or float64 both holding widened float16 or bfloat16 values
 * (each row converted to float32 exactly, or handed back): out[i], a double
 * that rounds to the NumPy path's loss in rfmt (R_F32, R_F16, R_BF16), and
 * redo[i] = 0; or redo[i] = 1 (out[i] garbage) for the rows the NumPy path
 * must form: a NaN, a maximum outside [-600, 650] (which
 * log_softmax_unshifted leaves to Rows), a -inf logit, the fast pass's
 * fallbacks, an unsettled loss. *nfast (where not NULL): the rows settled.
 * Returns the number of rows flagged, or -1 where the row buffer cannot be
 * allocated. */
EXPORT CLONES int64_t wide_ce32(const char *x, int64_t rows, int64_t n, int64_t srow, int64_t f32, const char *y,
                                int64_t rfmt, void *log1p_loop, void *log1p_data, double *out, int8_t *redo,
                                int64_t *nfast)
{
    double *e = malloc((size_t)(n + n + 1) * sizeof(double));
    if (!e)
        return -1;
    float *xs = (float *)(e + n), *ys = xs + n;
    int64_t flagged = 0, fast = 0;
    /* float32 rows of 17 to 64 columns: their L eight rows at a time
     * (_wide_fast_cols.h); rows it does not take are handed back */
    const int colsg = f32 && n >= COLS_MIN && n <= COLS_MAX;
    double xt[LANES * COLS_MAX], et[LANES * COLS_MAX], gLlo[LANES], gLhi[LANES];
    int64_t gk[LANES];
    int gtied[LANES], guse[LANES] = {0};
    for (int64_t i = 0; i < rows; i++) {
        const float *xf = (const float *)(x + i * srow), *yi = (const float *)y + i * n;
        if (!f32) {
            const int narrow = narrow_row((const double *)(x + i * srow), n, xs) &&
                               narrow_row((const double *)y + i * n, n, ys);
            xf = narrow ? xs : NULL, yi = ys;
        }
        double mn, L_lo, L_hi, sa, sb;
        int tied, ok = 0, use;
        int64_t k;
        if (colsg) {
            const int g = (int)(i % LANES);
            if (g == 0)
                cols_ce_L32(x + i * srow, srow, rows - i < LANES ? (int)(rows - i) : LANES, n, log1p_loop,
                            log1p_data, xt, et, gk, gLlo, gLhi, gtied, guse);
            use = guse[g], k = gk[g], L_lo = gLlo[g], L_hi = gLhi[g], tied = gtied[g];
        } else {
            k = xf && n <= FAST_MAX_N ? scan_row32(xf, n, &mn) : -1;
            use = k >= 0 && (double)xf[k] >= -600.0 && (double)xf[k] <= 650.0 && mn > -INFINITY &&
                  fast_unshifted_L(xf, n, k, mn, e, log1p_loop, log1p_data, &L_lo, &L_hi, &tied);
        }
        if (use) {
            ce_sums(xf, yi, n, k, L_lo, L_hi, tied, &sa, &sb);
            /* the terms are <= 0: sa <= sb <= 0 up to the roundings B covers */
            const double B = 2.0 * (double)(n + 2) * 0x1p-53 * fabs(sa) * (1.0 + 0x1p-30);
            const double lo = (0.0 - sb) - B, hi = (0.0 - sa) + B;
            ok = isfinite(sa) && isfinite(sb) && same_rounding(lo, hi, (int)rfmt);
            out[i] = hi;
        }
        redo[i] = !ok;
        flagged += !ok;
        fast += ok;
    }
    free(e);
    if (nfast)
        *nfast = fast;
    return flagged;
}
