/* Narrow rows (n <= 16 columns) of the accurate tier, included by _rows.c.
 *
 * stabkit/_accurate/rows.py reduces narrow rows column by column in NumPy:
 * the row maximum (np.maximum, column after column), the shift d = x - m and
 * its TwoSum error r, exp(d), the terms below the maximum summed with TwoSum
 * (sum2_cols), the ties counted, the residual dot sum e r (column after
 * column), the pair normalised, log1p. With ten columns that is some sixty
 * NumPy calls on columns of a block, each a pass over memory. narrow_rows()
 * below does the same arithmetic per row in registers, in the same order,
 * and calls NumPy's own float64 exp and log1p inner loops (the function
 * pointers of the np.exp and np.log1p ufunc objects, found and checked bit
 * for bit by stabkit/_native/rows.py at load time) on the whole block: every
 * value is the NumPy path's, and the block costs one call from Python.
 *
 * Layout: the block is done in chunks of CHUNK rows, each column-major
 * (entry j of row i at c n + j w + (i - c) for the chunk of w rows from row
 * c), as NumPy's narrow path holds its columns: every loop below runs down
 * a column of a chunk, the rows independent, one operation per row per step
 * in the NumPy path's order, which the compiler turns into vector
 * operations (masked where there is a choice) without changing any row's
 * arithmetic (-ffp-contract=off, no -ffast-math). A row's own additions
 * depend on each other; side by side across rows they run at the adders'
 * throughput. A chunk's arrays stay in the L1/L2 cache from pass to pass
 * (whole-block columns went to memory and back: 2x slower).
 *
 * Rows the kernel leaves to the NumPy path are flagged in redo[] (their
 * outputs are garbage): a NaN or infinite maximum (the edge contract's
 * patches), a zero maximum held by both +0 and -0 (which zero np.maximum
 * keeps depends on its loop; d's zero signs follow it; a maximum of one
 * sign of zero has those bits whichever it keeps), float64 targets
 * whose sum is below n 2^-1020 (Rows._tiny_sums), and, with an lse output,
 * rows where m + L cancels (stabkit._accurate.cancelling).
 */

typedef void (*npy_loop)(char **args, const int64_t *dims, const int64_t *steps, void *data);

/* One NumPy unary float64 inner loop over n contiguous doubles. The loop may
 * raise floating-point flags (underflow in exp): NumPy clears them before
 * each ufunc call and checks them after, so nothing reads these. */
static void unary_loop(void *loop, void *data, const double *in, double *out, int64_t n)
{
    char *args[2] = {(char *)in, (char *)out};
    int64_t dims[1] = {n}, steps[2] = {sizeof(double), sizeof(double)};
    if (n > 0)
        ((npy_loop)loop)(args, dims, steps, data);
}

/* Below this argument NumPy's exp loop returns +0 (set by set_exp_zero once
 * narrowrows has checked it on the loop; -inf until then: nothing is below) */
static double exp_zero = -INFINITY;

/* NumPy's exp loop over in[0, n) into out (a separate buffer), with the
 * arguments below exp_zero, whose results are +0 all the same, kept out of
 * it: its SIMD loops take a slow path (a scalar call per lane) for them, and
 * a tenth of the arguments at -inf (a mask) or far below the row's maximum
 * made np.exp of 10^6 values 3.3x slower. Such arguments are replaced by 0
 * in out, the loop runs on out in place (as np.exp(a, out=a) runs it; each
 * lane's value is its own argument's), and their results set to +0: three
 * passes of selects, in lanes. */
static FORCE_INLINE void exp_call(void *loop, void *data, const double *restrict in, double *restrict out,
                                  int64_t n)
{
    const double z = exp_zero;
    int64_t below = 0;
    for (int64_t i = 0; i < n; i++)
        below += in[i] < z;
    if (!below) {
        unary_loop(loop, data, in, out, n);
        return;
    }
    for (int64_t i = 0; i < n; i++)
        out[i] = in[i] < z ? 0.0 : in[i];
    unary_loop(loop, data, out, out, n);
    for (int64_t i = 0; i < n; i++)
        out[i] = in[i] < z ? 0.0 : out[i];
}

/* exp_call where least bounds every argument below: where least is at or
 * above exp_zero no argument is, and the loop runs without exp_call's
 * counting pass (a row's least entry, or its least shifted term, which
 * x + (-m) keeps below the others: rounding is monotonic) */
static FORCE_INLINE void exp_call_from(void *loop, void *data, const double *restrict in, double *restrict out,
                                       int64_t n, double least)
{
    if (least >= exp_zero)
        unary_loop(loop, data, in, out, n);
    else
        exp_call(loop, data, in, out, n);
}

/* exp_call for the loop's own output buffer a (in place), as
 * _narrow_softmax.h calls it: the arguments below exp_zero are marked with
 * NaN, whose exp the loop passes through without its slow path, and those
 * results set to +0. A NaN argument also comes out +0: the callers discard
 * the rows that hold one. */
static FORCE_INLINE void exp_call_inplace(void *loop, void *data, double *a, int64_t n)
{
    const double z = exp_zero;
    int64_t below = 0;
    for (int64_t i = 0; i < n; i++)
        below += a[i] < z;
    if (below)
        for (int64_t i = 0; i < n; i++)
            a[i] = a[i] < z ? NAN : a[i];
    unary_loop(loop, data, a, a, n);
    if (below)
        for (int64_t i = 0; i < n; i++)
            a[i] = a[i] != a[i] ? 0.0 : a[i];
}

/* The least entry of a float64 row other than -inf (+inf where every entry
 * is -inf): accurate.unshifted_rows lets masked entries through */
static FORCE_INLINE double least_unmasked(const double *a, int64_t n)
{
    double m = INFINITY;
    for (int64_t j = 0; j < n; j++)
        m = a[j] > -INFINITY && a[j] < m ? a[j] : m;
    return m;
}

/* exp_zero's value, from narrowrows after it checked the loop (z = -inf:
 * every argument goes through the loop) */
EXPORT void set_exp_zero(double z)
{
    exp_zero = z;
}

#define CHUNK 256

/* CHUNK, for the callers that size narrow_rows' lse scratch */
EXPORT int64_t narrow_chunk(void) { return CHUNK; }

/* The exact error of s = fl(a + b), as eft.two_sum_err spells it */
static FORCE_INLINE double two_sum(double a, double b, double s)
{
    double bb = s - a;
    double t = s - bb;
    t = a - t;
    bb = b - bb;
    return t + bb;
}

/* unshifted.below_ties' value at one entry (by bits: libm's nextafter is a
 * call per element, which kept the loops that step ties down scalar): d - L
 * (d = x - mi <= 0, L >= 0), one double ulp down (towards -inf, which
 * stays) where it rounds back to a negative d: the exact L is positive
 * there even where its double is 0. For d < 0 that is min(d - L, the
 * double below d): it never increases with L; d = 0 gives -L. */
static FORCE_INLINE double below_ties(double d, double L)
{
    const double w = d - L;
    uint64_t b;
    memcpy(&b, &d, 8);
    b += d > -INFINITY;
    double down;
    memcpy(&down, &b, 8);
    return w == d && d < 0.0 ? down : w;
}

/* unshifted.TIE_SPAN: tie_rows' threshold, L <= span TIE_SPAN (see there:
 * x - (mi + L) can land on or above a midpoint d = x - mi for L up to
 * 1.5 double ulps of d, below 2^-51.4 |d|) */
#define TIE_SPAN 0x1p-51

/* v - v is +0 for finite v, NaN for inf and NaN */
static FORCE_INLINE int is_fin(double v) { return v - v == 0.0; }

/* Contiguous float64 rows (rows x n, row i at byte offset i * srow) into
 * d column-major (entry j of row i at j * rows + i), eight rows at a time:
 * column j of the eight built in a register and stored whole (gathering a
 * column across the chunk element by element cost 5-8% of a 10-column
 * logsumexp more; float32 rows, converted on the way, gather faster), the
 * last rows % 8 entry by entry */
static FORCE_INLINE void to_cols64(const char *x, int64_t rows, int64_t n, int64_t srow, double *restrict d)
{
    int64_t i = 0;
    for (; i + LANES <= rows; i += LANES) {
        const double *p[LANES];
        for (int r = 0; r < LANES; r++)
            p[r] = (const double *)(x + (i + r) * srow);
        for (int64_t j = 0; j < n; j++)
            store(d + j * rows + i, (vd){p[0][j], p[1][j], p[2][j], p[3][j], p[4][j], p[5][j], p[6][j], p[7][j]});
    }
    for (; i < rows; i++) {
        const double *xi = (const double *)(x + i * srow);
        for (int64_t j = 0; j < n; j++)
            d[j * rows + i] = xi[j];
    }
}

/* Pass 1: the block x (rows x n, float32 with F32 else float64, row i at
 * byte offset i * srow, entry j at j * scol) into d column-major, the row
 * maxima as eft.rowmax finds them (column after column,
 * (m >= x or m is NaN) ? m : x: NaN wins), redo[i] = 1 for the rows the
 * header lists, then d = x + (-m) (garbage for those rows) and, with EXACT,
 * r = TwoSum's error, non-finite ones (beside exp(d) = 0) set to 0 as
 * Rows.residual_sum sets them. */
static FORCE_INLINE void shift_cols(const char *x, int64_t rows, int64_t n, int64_t srow, int64_t scol, int F32,
                                    int EXACT, double *restrict d, double *restrict r, double *restrict m,
                                    double *restrict redo)
{
    if (!F32 && scol == (int64_t)sizeof(double)) {
        to_cols64(x, rows, n, srow, d);
        /* the running maximum, column after column */
        for (int64_t i = 0; i < rows; i++)
            m[i] = d[i];
        for (int64_t j = 1; j < n; j++) {
            const double *restrict dj = d + j * rows;
            for (int64_t i = 0; i < rows; i++) {
                double a = m[i], b = dj[i];
                m[i] = ((a >= b) | (a != a)) ? a : b;
            }
        }
    } else {
        /* column j gathered from the rows, and the running maximum */
        for (int64_t j = 0; j < n; j++) {
            double *restrict dj = d + j * rows;
            const char *xj = x + j * scol;
            for (int64_t i = 0; i < rows; i++) {
                double b;
                if (F32) {
                    float v;
                    memcpy(&v, xj + i * srow, sizeof v);
                    b = (double)v;
                } else {
                    memcpy(&b, xj + i * srow, sizeof b);
                }
                dj[i] = b;
                double a = j ? m[i] : b;
                m[i] = ((a >= b) | (a != a)) ? a : b;
            }
        }
    }
    for (int64_t i = 0; i < rows; i++) {
        int bad = !is_fin(m[i]);
        if (m[i] == 0.0) {
            /* the zeros among the row's maxima must share a sign (rare: one
             * row at a time) */
            for (int64_t j = 0; j < n; j++) {
                double v = d[j * rows + i];
                bad |= v == 0.0 && signbit(v) != signbit(m[i]);
            }
        }
        redo[i] = bad ? 1.0 : 0.0;
    }
    for (int64_t j = 0; j < n; j++) {
        double *restrict dj = d + j * rows, *restrict rj = EXACT ? r + j * rows : NULL;
        for (int64_t i = 0; i < rows; i++) {
            /* a row to redo may hold NaN here: its values are dropped */
            double nm = -m[i], xj = dj[i], v = xj + nm;
            dj[i] = v;
            if (EXACT) {
                double e = two_sum(xj, nm, v);
                rj[i] = is_fin(e) ? e : 0.0;
            }
        }
    }
}

/* Pass 2: Rows._sums (narrow) and the start of Rows.L, down the columns.
 * The terms below the maximum (d < 0; the maximum and its ties are exact
 * 1s, counted apart) summed left to right into h; with EXACT, their TwoSum
 * errors into l (eft.sum2_cols) and the residual dot sum_j e_j r_j, from
 * +0, left to right (Rows._dot) into c; below counts the terms. */
static FORCE_INLINE void sums_cols(const double *restrict d, const double *restrict e, const double *restrict r,
                                   int64_t rows, int64_t n, int EXACT, double *restrict below, double *restrict h,
                                   double *restrict l, double *restrict c)
{
    for (int64_t i = 0; i < rows; i++) {
        int lt = d[i] < 0.0;
        below[i] = lt ? 1.0 : 0.0;
        h[i] = lt ? e[i] : 0.0;
        l[i] = 0.0;
        /* NumPy's dot starts from zeros: 0 + (-0) is +0 */
        if (EXACT)
            c[i] = 0.0 + e[i] * r[i];
    }
    for (int64_t j = 1; j < n; j++) {
        const double *restrict dj = d + j * rows, *restrict ej = e + j * rows, *restrict rj = EXACT ? r + j * rows : NULL;
        for (int64_t i = 0; i < rows; i++) {
            int lt = dj[i] < 0.0;
            double b = lt ? ej[i] : 0.0, s = h[i] + b;
            below[i] += lt ? 1.0 : 0.0;
            if (EXACT) {
                l[i] += two_sum(h[i], b, s);
                c[i] += ej[i] * rj[i];
            }
            h[i] = s;
        }
    }
}

/* The end of Rows._sums and Rows.sums, per row, into h (what log1p takes)
 * and l (the low part): with EXACT, (h, l) normalised (eft.normalized), the
 * ties added with their TwoSum error and the residual dot c, the pair
 * normalised again; rows whose sum before that last step is below
 * n 2^-1020 flagged (Rows._tiny_sums). Without, h + ties and 0. */
static FORCE_INLINE void finish_sums(int64_t rows, int64_t n, int EXACT, const double *restrict below,
                                     double *restrict h, double *restrict l, const double *restrict c,
                                     double *restrict redo)
{
    const double tiny = (double)n * 0x1p-1020;
    for (int64_t i = 0; i < rows; i++) {
        double ties = ((double)n - 1.0) - below[i];
        if (!EXACT) {
            h[i] = redo[i] != 0.0 ? 0.0 : h[i] + ties;
            l[i] = 0.0;
            continue;
        }
        double l0 = is_fin(h[i]) ? l[i] : 0.0;
        double s = h[i] + l0, err = two_sum(h[i], l0, s);
        double s_hi = s, s_lo = is_fin(s) ? err : 0.0;
        double t = s_hi + ties;
        double tlo = (s_lo + two_sum(s_hi, ties, t)) + c[i];
        s = t + tlo;
        err = two_sum(t, tlo, s);
        int flag = (redo[i] != 0.0) | (t < tiny);
        redo[i] = flag ? 1.0 : 0.0;
        h[i] = flag ? 0.0 : s;
        l[i] = flag ? 0.0 : (is_fin(s) ? err : 0.0);
    }
}

/* For a block of rows x (rows x n, float32 with f32 else float64, row i at
 * byte offset i * srow, entry j at j * scol): m[i] (the maximum), d, r
 * (exact only; r may be NULL else) and e = exp(d), in chunks (rows n
 * doubles each; see the header), L[i] = log1p(s) as Rows.L forms it, ws scratch of 5 rows
 * doubles, redo[i] as the header says (1). With lse (not NULL), also the
 * logsumexp m + L of each row and its cancellation test (Rows.logsumexp:
 * L / |m + L| above 1.125 for exact, (|m| + L) / |m + L| above 2^12 else,
 * m < 0), which flags the row with redo[i] = 2; d, r and e are then
 * scratch of one chunk (CHUNK n doubles each, narrow_chunk()), which every
 * chunk reuses: the logsumexp needs none of them afterwards, and a whole
 * block's d, r and e (3.2 MB with x for 10^4 rows of 10) went through the
 * caches to memory and back on every call (a 10000 x 10 logsumexp 15%
 * slower, 100000 x 10 1.6x). Returns the number of rows flagged. */
EXPORT CLONES int64_t narrow_rows(const char *x, int64_t rows, int64_t n, int64_t srow, int64_t scol, int64_t f32,
                                  int64_t exact, void *exp_loop, void *exp_data, void *log1p_loop, void *log1p_data,
                                  double *d, double *r, double *e, double *m, double *L, double *ws, int8_t *redo,
                                  double *lse)
{
    /* the flags as doubles while the chunks are done (loops that mix bytes
     * and doubles stay scalar without AVX-512BW) */
    double *below = ws, *h = ws + rows, *l = ws + 2 * rows, *c = ws + 3 * rows, *flag = ws + 4 * rows;
    for (int64_t c0 = 0; c0 < rows; c0 += CHUNK) {
        const int64_t w = rows - c0 < CHUNK ? rows - c0 : CHUNK;
        const char *xc = x + c0 * srow;
        /* with lse, one chunk's scratch, the same for every chunk (see above) */
        const int64_t o = lse ? 0 : c0 * n;
        double *dc = d + o, *rc = exact ? r + o : NULL, *ec = e + o;
        /* each case an inlined copy with its flags constant */
        if (f32)
            shift_cols(xc, w, n, srow, scol, 1, 0, dc, NULL, m + c0, flag + c0);
        else if (exact)
            shift_cols(xc, w, n, srow, scol, 0, 1, dc, rc, m + c0, flag + c0);
        else
            shift_cols(xc, w, n, srow, scol, 0, 0, dc, NULL, m + c0, flag + c0);
        exp_call(exp_loop, exp_data, dc, ec, w * n);
        if (exact) {
            sums_cols(dc, ec, rc, w, n, 1, below + c0, h + c0, l + c0, c + c0);
            finish_sums(w, n, 1, below + c0, h + c0, l + c0, c + c0, flag + c0);
        } else {
            sums_cols(dc, ec, NULL, w, n, 0, below + c0, h + c0, l + c0, c + c0);
            finish_sums(w, n, 0, below + c0, h + c0, l + c0, c + c0, flag + c0);
        }
    }
    unary_loop(log1p_loop, log1p_data, h, L, rows);
    int64_t flagged = 0;
    for (int64_t i = 0; i < rows; i++)
        redo[i] = flag[i] != 0.0;
    for (int64_t i = 0; i < rows; i++) {
        if (exact)
            L[i] = L[i] + l[i] / (1.0 + h[i]);
        if (lse && !redo[i]) {
            double out = m[i] + L[i];
            double amp = exact ? L[i] / fabs(out) : (fabs(m[i]) + L[i]) / fabs(out);
            lse[i] = out;
            redo[i] = m[i] < 0.0 && amp > (exact ? 1.125 : 0x1p12) ? 2 : 0;
        }
        flagged += redo[i];
    }
    return flagged;
}

/* Entry (i, j) in the chunks of d, r and e */
static FORCE_INLINE int64_t at(int64_t i, int64_t j, int64_t rows, int64_t n)
{
    const int64_t c0 = i / CHUNK * CHUNK, w = rows - c0 < CHUNK ? rows - c0 : CHUNK;
    return c0 * n + j * w + (i - c0);
}

/* Rows.log_softmax after narrow_rows, row-major into out (rows x n): for
 * float64 targets (r given) (d - L) + r; for narrower ones (r NULL) d - L,
 * one ulp further down where it rounded back to d (L > 0), as the NumPy
 * path settles its ties. */
EXPORT CLONES void narrow_log_softmax(const double *d, const double *r, const double *L, int64_t rows, int64_t n,
                                      double *out)
{
    for (int64_t c0 = 0; c0 < rows; c0 += CHUNK) {
        const int64_t w = rows - c0 < CHUNK ? rows - c0 : CHUNK;
        const double *dc = d + c0 * n, *rc = r ? r + c0 * n : NULL;
        for (int64_t i = 0; i < w; i++) {
            const double Li = L[c0 + i];
            for (int64_t j = 0; j < n; j++) {
                const double dj = dc[j * w + i], v = dj - Li;
                if (rc) {
                    out[(c0 + i) * n + j] = v + rc[j * w + i];
                } else {
                    /* unshifted.below_ties, which Rows applies to tie_rows
                     * (L <= span TIE_SPAN). Here on every entry: d - L (d <= 0,
                     * L > 0) rounds back to d only where L <= |d| 2^-53 (at
                     * most half an ulp below d), and |d| <= span, so only
                     * entries of those rows can take the step down */
                    out[(c0 + i) * n + j] = Li > 0.0 ? below_ties(dj, Li) : v;
                }
            }
        }
    }
}

/* Rows.log_softmax_at after narrow_rows: (d - L) + r at column cols[i] of row i */
EXPORT CLONES void narrow_log_softmax_at(const double *d, const double *r, const double *L, const int64_t *cols,
                                         int64_t rows, int64_t n, double *out)
{
    for (int64_t i = 0; i < rows; i++) {
        const int64_t k = at(i, cols[i], rows, n);
        out[i] = (d[k] - L[i]) + r[k];
    }
}

/* The categorical cross-entropy of float64 rows from logits after
 * narrow_rows (crossentropy_rows on Rows.log_softmax, narrow): the terms
 * t = y * ((d - L) + r) row-major into t (y row-major), and per row
 * out[i] = hi + lo of eft.sum2 (the terms left to right with TwoSum errors,
 * sum2_cols, then normalised), the loss before crossentropy._finish's
 * patches and negation; ws: scratch of rows doubles. */
EXPORT CLONES void narrow_ce(const double *d, const double *r, const double *L, const double *y, int64_t rows,
                             int64_t n, double *t, double *out, double *ws)
{
    for (int64_t c0 = 0; c0 < rows; c0 += CHUNK) {
        const int64_t w = rows - c0 < CHUNK ? rows - c0 : CHUNK;
        const double *dc = d + c0 * n, *rc = r + c0 * n;
        double *restrict h = out + c0, *restrict l = ws + c0;
        for (int64_t j = 0; j < n; j++) {
            const double *restrict dj = dc + j * w, *restrict rj = rc + j * w;
            for (int64_t i = 0; i < w; i++) {
                double v = y[(c0 + i) * n + j] * ((dj[i] - L[c0 + i]) + rj[i]);
                t[(c0 + i) * n + j] = v;
                double s = h[i] + v;
                if (j == 0)
                    h[i] = v, l[i] = 0.0;
                else
                    l[i] += two_sum(h[i], v, s), h[i] = s;
            }
        }
        for (int64_t i = 0; i < w; i++) {
            double lo = is_fin(h[i]) ? l[i] : 0.0, s = h[i] + lo, err = two_sum(h[i], lo, s);
            h[i] = s + (is_fin(s) ? err : 0.0);
        }
    }
}
