/* The exact sums of stabkit/_accurate/near_zero.py, for rows whose
 * logsumexp is about 0 (rows of log-probabilities), included by _rows.c
 * after pairwise().
 *
 * near_zero.lse_near_zero needs, per row, D = S - 1 = (exp(m) - 1) + the sum
 * of exp(x_i) over the other entries, to some 2^-106 of itself. Its NumPy
 * form splits each exp(x_i) into eleven float64 pieces (_pieces), sums each
 * piece exactly on grids scaled per row (_grid_sums), and adds the 31 floats
 * a row gets, with the twelve terms of exp(m) - 1, by math.fsum, per row in
 * Python: some 700 ns an entry on rows of ten, most of it in Python's
 * lists. near_zero_sums() below does the same arithmetic per row:
 *
 * - the pieces with the same IEEE operations in the same order (no fused
 *   multiply-add: setup.py builds with -ffp-contract=off), from the same
 *   table and constants, which Python passes in (near_zero._table and the
 *   module's constants), so they are the NumPy pieces bit for bit;
 * - the grid sums as _grid_sums forms them; a grid's sum is exact in any
 *   order, the leftover's is not and goes through pairwise(), NumPy's own
 *   order for a contiguous row (checked against np.add.reduce at load);
 * - math.fsum's three sums (S_o, then Dh with the top terms, then Dl with
 *   -Dh) as the exact sum rounded once (_fsum.h: fixed point, or Shewchuk's
 *   expansion): fsum returns the correctly rounded sum, which is one number
 *   whatever the method, so these are fsum's results.
 *
 * The caller (near_zero._sums) keeps the rest of lse_near_zero in
 * NumPy (the log1p series, the bounds and the acceptance test), shared by
 * both paths; tests/test_native_near_zero.py compares the five sums of both
 * paths bit for bit.
 */

/* The constants near_zero.py passes in, in this order */
enum {
    NZ_INV_C, NZ_C1, NZ_C2, NZ_C3, NZ_C4, NZ_C3H, NZ_C3L, NZ_C4H, NZ_C4L, NZ_C5, NZ_C6, NZ_C7, NZ_C8,
    NZ_C3S_HI, NZ_C3S_LO, NZ_C4S_HI, NZ_C4S_LO, NZ_SPLITTER, NZ_X_LOW, NZ_LEFT, NZ_COUNT
};
#define NZ_B 12          /* near_zero.B: the table has 2^B entries */
#define NZ_PIECES 11     /* near_zero._PIECES */
#define NZ_PARTS_MAX 64  /* floats per row: 31 for near_zero._PIECES' levels */

typedef struct { double hi, lo; } nz_pair;

/* near_zero._two_sum: s = a + b and its error (Knuth) */
static FORCE_INLINE nz_pair nz_two_sum(double a, double b)
{
    const double s = a + b, bb = s - a;
    return (nz_pair){s, (a - (s - bb)) + (b - bb)};
}

/* near_zero._split (Veltkamp): a = hi + lo, 26 significant bits each */
static FORCE_INLINE nz_pair nz_split(double a, double splitter)
{
    const double c = splitter * a, hi = c - (c - a);
    return (nz_pair){hi, a - hi};
}

/* near_zero._tp: a b = p + e (Dekker), with both factors split, in its
 * order: (((ah bh - p) + ah bl) + al bh) + al bl */
static FORCE_INLINE nz_pair nz_tp(double a, nz_pair as, double b, nz_pair bs)
{
    const double p = a * b;
    return (nz_pair){p, (((as.hi * bs.hi - p) + as.hi * bs.lo) + as.lo * bs.hi) + as.lo * bs.lo};
}

/* near_zero._pieces of one entry x (the order of _PIECES). Dead entries (below X_LOW, -inf) give zeros, as the
 * NumPy form's (its 2^k is multiplied by the bool `live`, a +0 or 1). */
typedef struct { double v[NZ_PIECES]; } nz_eleven;

static FORCE_INLINE nz_eleven nz_pieces(double x, const double *T1, const double *T2, const double *T3,
                                        const double *c)
{
    const double S = c[NZ_SPLITTER];
    const int live = x >= c[NZ_X_LOW];
    const double xs = live ? x : 0.0;
    /* np.rint(xs INV_C) as (xs INV_C + 1.5 2^52) - 1.5 2^52: the same
     * integer (to nearest, ties to even) for |xs INV_C| < 2^51 (here below
     * 2^20.3), and N's value in the low bits of t */
    const double shifter = 0x1.8p52, t_n = xs * c[NZ_INV_C] + shifter, N = t_n - shifter;
    uint64_t tb, sb;
    memcpy(&tb, &t_n, 8);
    memcpy(&sb, &shifter, 8);
    const int64_t Ni = (int64_t)(tb - sb);
    const uint64_t kb = (uint64_t)((Ni >> NZ_B) + 1023) << 52;
    double pow2;
    memcpy(&pow2, &kb, 8);
    pow2 = pow2 * (live ? 1.0 : 0.0);
    const int64_t j = Ni & ((1 << NZ_B) - 1);
    const double A = T1[j] * pow2, Bs = T2[j] * pow2, Cs = T3[j] * pow2;
    const double r1 = xs - N * c[NZ_C1];
    const nz_pair se = nz_two_sum(r1, -(N * c[NZ_C2]));
    const nz_pair rh2 = nz_two_sum(se.hi, -(N * c[NZ_C3]));
    const double rh = rh2.hi;
    const nz_pair rlf = nz_two_sum(se.lo, rh2.lo);
    const double rl_hi = rlf.hi, rl_lo = rlf.lo - N * c[NZ_C4];

    const nz_pair rs = nz_split(rh, S);
    const double h5 = c[NZ_C5] + rh * (c[NZ_C6] + rh * (c[NZ_C7] + rh * c[NZ_C8]));
    const double t = c[NZ_C4L] + rh * h5;
    const nz_pair c4s = {c[NZ_C4S_HI], c[NZ_C4S_LO]}, c3s = {c[NZ_C3S_HI], c[NZ_C3S_LO]};
    const nz_pair q = nz_tp(rh, rs, c[NZ_C4H], c4s);
    const double v3 = (c[NZ_C3L] + q.lo) + rh * t;
    const nz_pair p = nz_tp(rh, rs, c[NZ_C3H], c3s);
    const nz_pair o = nz_tp(rh, rs, q.hi, nz_split(q.hi, S));
    const double m1 = p.hi + o.hi;
    const double m2 = (o.hi - (m1 - p.hi)) + ((p.lo + o.lo) + rh * v3);
    const nz_pair sq = nz_tp(rh, rs, rh, rs);
    const nz_pair shs = nz_split(sq.hi, S);
    const nz_pair a = nz_tp(sq.hi, shs, m1, nz_split(m1, S));
    const double wl = (a.lo + 0.5 * sq.lo) + (sq.hi * m2 + sq.lo * m1);
    const nz_pair W = nz_two_sum(a.hi, rl_hi);
    const double u_rl = ((rh + 0.5 * sq.hi) + a.hi) * (rl_hi + rl_lo);
    const double sm = (W.lo + wl) + (rl_lo + u_rl);
    const nz_pair As = nz_split(A, S);
    const nz_pair P1 = nz_tp(A, As, rh, rs);
    const nz_pair P2 = nz_tp(A, As, 0.5 * sq.hi, (nz_pair){0.5 * shs.hi, 0.5 * shs.lo});
    const nz_pair P3 = nz_tp(A, As, W.hi, nz_split(W.hi, S));
    const nz_pair Q1 = nz_tp(Bs, nz_split(Bs, S), rh, rs);
    const double small = A * sm + (Bs * (0.5 * sq.hi + W.hi) + Cs * (1.0 + rh));
    return (nz_eleven){{A, P1.hi, P1.lo, P2.hi, P2.lo, P3.hi, P3.lo, Bs, Q1.hi, Q1.lo, small}};
}

/* nz_pieces of the m entries xb[0..m) into ws[k m + j]: one loop over
 * contiguous arrays, which the compiler runs in lanes (gathering the
 * table's entries) */
static FORCE_INLINE void nz_pieces_block(const double *restrict xb, int64_t m, const double *restrict T1,
                                         const double *restrict T2, const double *restrict T3,
                                         const double *restrict c, double *restrict ws)
{
    /* the constants in locals, and one pointer per piece: no store can
     * change what another loads */
    double k[NZ_COUNT];
    memcpy(k, c, sizeof k);
    double *restrict p0 = ws, *restrict p1 = ws + m, *restrict p2 = ws + 2 * m, *restrict p3 = ws + 3 * m;
    double *restrict p4 = ws + 4 * m, *restrict p5 = ws + 5 * m, *restrict p6 = ws + 6 * m;
    double *restrict p7 = ws + 7 * m, *restrict p8 = ws + 8 * m, *restrict p9 = ws + 9 * m;
    double *restrict p10 = ws + 10 * m;
    /* (GCC counts the eleven outputs as possible aliases of each other
     * and of the inputs, and gives up without ivdep: they are disjoint) */
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC ivdep
#endif
    for (int64_t j = 0; j < m; j++) {
        const nz_eleven e = nz_pieces(xb[j], T1, T2, T3, k);
        p0[j] = e.v[0], p1[j] = e.v[1], p2[j] = e.v[2], p3[j] = e.v[3], p4[j] = e.v[4], p5[j] = e.v[5];
        p6[j] = e.v[6], p7[j] = e.v[7], p8[j] = e.v[8], p9[j] = e.v[9], p10[j] = e.v[10];
    }
}

/* 2^e for a normal power of two (-1022 <= e <= 1023), from its bits: the
 * grids' ldexp without a libm call */
static FORCE_INLINE double pow2_normal(int64_t e)
{
    const uint64_t b = (uint64_t)(e + 1023) << 52;
    double d;
    memcpy(&d, &b, 8);
    return d;
}

/* The block's rows are done in chunks of about NZ_CHUNK entries (whole
 * rows): their pieces in one vectorised pass, then each row's grids and
 * sums. A row longer than NZ_COLS (near_zero.CHUNK) is done as near_zero
 * does it, in column chunks of NZ_COLS, each with its own grids' scale. */
#define NZ_CHUNK 2048
#define NZ_COLS ((int64_t)1 << 16)

/* One chunk of one row (n entries, their pieces in ws[k m + j], the
 * chunk's m entries a piece; q scratch of n doubles): _row_sums' floats,
 * added to acc and, where vals is not NULL, stored at vals[*nv..]; returns
 * the grids' scale */
static FORCE_INLINE double nz_chunk_sums(double *ws, int64_t m, int64_t n, const int64_t *exps,
                                         const int64_t *levels, double *restrict q, acc_t *acc, double *vals,
                                         int *nv)
{
    double amax = 0.0;
    for (int64_t j = 0; j < n; j++)
        amax = ws[j] > amax ? ws[j] : amax;
    /* np.ldexp(1.0, np.frexp(max A)[1] - 1): a power of two at or below max A */
    int e2;
    frexp(amax, &e2);
    const double scale = ldexp(1.0, e2 - 1);
    for (int k = 0; k < NZ_PIECES; k++) {
        double *restrict v = ws + k * m;
        int64_t ex = exps[k];
        for (int64_t lv = 0; lv <= levels[k]; lv++, ex -= 36) {
            double sum;
            if (lv < levels[k]) {
                /* _grid_sums: q = (v + sigma) - sigma on a grid of 2^-36 of the bound */
                const double sigma = scale * pow2_normal(ex + 17);
                for (int64_t j = 0; j < n; j++) {
                    q[j] = (v[j] + sigma) - sigma;
                    v[j] = v[j] - q[j];
                }
                /* exact in any order (the grid's multiples); NumPy's order all the same */
                sum = pairwise(q, NULL, n, 0.0, PLAIN).q;
            } else {
                /* the leftover, in NumPy's order */
                sum = pairwise(v, NULL, n, 0.0, PLAIN).q;
            }
            acc_add(acc, sum);
            if (vals)
                vals[(*nv)++] = sum;
        }
    }
    return scale;
}

/* math.fsum's three sums into o[0..3): fsum(vals), fsum(vals + tops),
 * fsum(vals + tops + [-Dh]), with acc holding vals' sum; tops are the
 * pieces of exp(m_top) and -1. By the fixed point, else by the expansion
 * of vals (where vals is not NULL; never for these magnitudes, but said
 * rather than assumed). Returns 0 where neither could. */
static FORCE_INLINE int nz_finish(acc_t *acc, const double *vals, int nv, double m_top, const double *T1,
                                  const double *T2, const double *T3, const double *c, double *o)
{
    double tops[NZ_PIECES + 1];
    const nz_eleven e = nz_pieces(m_top, T1, T2, T3, c);
    memcpy(tops, e.v, sizeof e.v);
    tops[NZ_PIECES] = -1.0;
    int fixed = acc_round(acc, &o[0]);
    for (int k = 0; k <= NZ_PIECES; k++)
        acc_add(acc, tops[k]);
    fixed = fixed && acc_round(acc, &o[1]);
    acc_add(acc, -o[1]);
    fixed = fixed && acc_round(acc, &o[2]);
    if (fixed)
        return 1;
    if (!vals)
        return 0;
    double parts[NZ_PARTS_MAX + NZ_PIECES + 3];
    int len = 0;
    for (int k = 0; k < nv; k++)
        exact_add(parts, &len, vals[k]);
    o[0] = exact_round(parts, len);
    for (int k = 0; k <= NZ_PIECES; k++)
        exact_add(parts, &len, tops[k]);
    o[1] = exact_round(parts, len);
    exact_add(parts, &len, -o[1]);
    o[2] = exact_round(parts, len);
    return 1;
}

/* The dead entries below X_LOW (not -inf) among n: _row_sums' dropped */
static FORCE_INLINE double nz_dropped(const double *xb, int64_t n, double x_low)
{
    double dropped = 0.0;
    for (int64_t j = 0; j < n; j++)
        dropped += (xb[j] < x_low) & (xb[j] > -INFINITY);
    return dropped;
}

/* For each row i of rows (n_rows x n, C-contiguous float64, a finite
 * maximum at column top[i]): near_zero's per-row sums into out[5 i ..]:
 * S_o = fsum(vals), Dh = fsum(vals + tops), Dl = fsum(vals + tops +
 * [-Dh]), left and dropped, where vals are _row_sums' floats (31 per
 * column chunk; the row with its top entry set to -inf) and tops
 * _top_terms' twelve (the pieces of exp(m) and -1). exps and levels:
 * _PIECES' exponents and grid counts; T1..T3 the table (2^B entries each);
 * c the constants in the enum's order; ws scratch of 13 max(min(n,
 * NZ_COLS), NZ_CHUNK) doubles. Returns 0, or -1 where the pieces' grids
 * exceed NZ_PARTS_MAX floats or a grid is not a normal power of two, or a
 * long row's sums fall outside the fixed point (out is garbage then). */
EXPORT CLONES int64_t near_zero_sums(const double *rows, int64_t n_rows, int64_t n, const int64_t *top,
                                     const double *T1, const double *T2, const double *T3, const double *c,
                                     const int64_t *exps, const int64_t *levels, double *ws, double *out)
{
    int64_t count = 0;
    for (int k = 0; k < NZ_PIECES; k++) {
        count += levels[k] + 1;
        if (levels[k] < 0 || exps[k] + 17 > 1023 || exps[k] - 36 * levels[k] + 17 < -1022)
            return -1;
    }
    if (count > NZ_PARTS_MAX)
        return -1;
    if (n > NZ_COLS) {
        /* one row at a time, in column chunks: the floats go straight into
         * the fixed point (no expansion to fall back on) */
        double *xb = ws + NZ_PIECES * NZ_COLS, *q = xb + NZ_COLS;
        for (int64_t i = 0; i < n_rows; i++) {
            const double *x = rows + i * n;
            double left = 0.0, dropped = 0.0;
            acc_t acc;
            acc_init(&acc);
            for (int64_t c0 = 0; c0 < n; c0 += NZ_COLS) {
                const int64_t w = n - c0 < NZ_COLS ? n - c0 : NZ_COLS;
                memcpy(xb, x + c0, sizeof(double) * (size_t)w);
                if (top[i] >= c0 && top[i] < c0 + w)
                    xb[top[i] - c0] = -INFINITY;
                dropped += nz_dropped(xb, w, c[NZ_X_LOW]);
                nz_pieces_block(xb, w, T1, T2, T3, c, ws);
                const double scale = nz_chunk_sums(ws, w, w, exps, levels, q, &acc, NULL, NULL);
                left += ((double)w * c[NZ_LEFT]) * scale;
            }
            double *o = out + 5 * i;
            if (!nz_finish(&acc, NULL, 0, x[top[i]], T1, T2, T3, c, o))
                return -1;
            o[3] = 0.0 + left, o[4] = 0.0 + dropped;
        }
        return 0;
    }
    const int64_t per = n >= NZ_CHUNK ? 1 : NZ_CHUNK / n, cap = per * n;
    double *xb = ws + NZ_PIECES * cap, *q = xb + cap;
    for (int64_t r0 = 0; r0 < n_rows; r0 += per) {
        const int64_t w = n_rows - r0 < per ? n_rows - r0 : per, m = w * n;
        const double *x = rows + r0 * n;
        /* the top entries enter as -inf, as _row_sums sets them */
        memcpy(xb, x, sizeof(double) * (size_t)m);
        for (int64_t i = 0; i < w; i++)
            xb[i * n + top[r0 + i]] = -INFINITY;
        nz_pieces_block(xb, m, T1, T2, T3, c, ws);
        for (int64_t i = 0; i < w; i++) {
            double vals[NZ_PARTS_MAX], *o = out + 5 * (r0 + i);
            int nv = 0;
            acc_t acc;
            acc_init(&acc);
            const double scale = nz_chunk_sums(ws + i * n, m, n, exps, levels, q, &acc, vals, &nv);
            nz_finish(&acc, vals, nv, x[i * n + top[r0 + i]], T1, T2, T3, c, o);
            o[3] = 0.0 + ((double)n * c[NZ_LEFT]) * scale;
            o[4] = 0.0 + nz_dropped(xb + i * n, n, c[NZ_X_LOW]);
        }
    }
    return 0;
}
