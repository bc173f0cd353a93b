/* The weighted logsumexp (stabkit/_accurate/weighted.py) of float64 rows:
 * lse_weighted_rows gives each row's correctly rounded float64 log|S| and
 * the sign of S = sum_j b_j exp(x_j), or says it could not decide (Ziv's
 * rounding test) or that the row is an edge (a NaN or +inf entry, a
 * non-finite weight, no nonzero term), which the NumPy steps settle. Every
 * step of the chain rounds correctly, so a row has the same bits
 * whichever settles it.
 *
 * - b_j = f_j 2^k_j exactly (1 <= |f_j| < 2; from the bits, subnormal
 *   weights scaled by 2^64 first). The leading entry T has the largest
 *   z_j = x_j + k_j LN2A (the first of equal ones), m = x_T, K = k_T, and
 *   S = 2^K e^m S', S' = sum_j f_j 2^(k_j - K) exp(a_j), a_j = x_j - m.
 *   With w_j = a_j + (k_j - K) ln2 <= ~0, every term is below ~2.
 * - Terms with w_j < -200 (estimated) are left out: each is below 2^-287
 *   (f_j < 2), n 2^-287 in all, absolute. A live term needs a_j in
 *   [-200, 177] (exp_term's domain, _exp_term.h): a row with one outside
 *   (weights 2^250 apart against entries as far apart the other way) is
 *   undecided, and so is one with a live w_j above 2 (the estimate z
 *   missed the leading term: |x| past 2^53 absorbs k LN2A). Then 2^(k_j -
 *   K) lies in [2^-545, 2^292], a normal double.
 * - Each term f_j (eh + el) 2^(k_j - K): exp_term within 2^-77.9, Dekker's
 *   product f eh exact, f el rounded (2^-105 of the term), the power of two
 *   exact: within TERM_ERR = 2^-77 of itself.
 * - S' in eight lanes of (hi, lo) as _lse_fast.c sums them, the lanes'
 *   lo renormalised by TwoSum (a signed sum may cancel below its lo):
 *   between renormalisations |lo| <= 49 u A (u = 2^-53, A the sum of the
 *   terms' magnitudes), so the n additions into lo round by n 2^-103 A at
 *   most; the lanes folded in double-double, 2^-100 A.
 * - L = log|S'| from y0 = log|S'.hi| (libm) by one Newton step with
 *   exp(y0) by exp_term, as _lse_fast.c does (|S'| in [2^-280, 2^250]):
 *   the sum's relative error delta passes to L as delta / (1 - delta),
 *   exp(y0)'s as 2^-77, the step's own error as c^2 for its correction c
 *   (|c| about 2^-45: y0 is within an ulp), its roundings 2^-90.
 * - m + K ln2 + L in double-double (ln2 = LN2A + LN2B + LN2C, the first two
 *   of 29 bits: K LN2A and K LN2B are exact for |K| <= 1075), each
 *   addition 2^-102 of the magnitudes; Ziv's test with twice that bound,
 *   as lse_finish does.
 */
#include <math.h>
#include <stdint.h>
#include <string.h>

#include "_common.h"
#include "_dd.h"
#include "_exp_term.h" /* exp_term, its constants and table */

#define LN2A 0x1.62e42ff000000p-1
#define LN2B -0x1.718432a000000p-35
#define LN2C -0x1.b0e2633fe0685p-67
#define W_TERM_ERR 0x1p-77
#define W_BLOCK 512
#define W_RENORM 16

/* a row's outcome, as lse_weighted_rows reports it */
enum { W_UNDECIDED = 0, W_DONE = 1, W_EDGE = 2 };

static FORCE_INLINE uint64_t bits_of(double a)
{
    uint64_t b;
    memcpy(&b, &a, 8);
    return b;
}

static FORCE_INLINE double of_bits(uint64_t b)
{
    double a;
    memcpy(&a, &b, 8);
    return a;
}

/* k (as a double) and f with b = f 2^k, 1 <= |f| < 2, for a finite b != 0
 * (junk for 0). Branch-free and without int64 -> double conversions
 * (AVX-512F has none: GCC would not vectorise the loops calling it): the
 * exponent field is read into a double's mantissa, 2^52 + e, then 2^52
 * taken off, exactly. */
static FORCE_INLINE double split_weight(double b, double *f)
{
    const int sub = fabs(b) < 0x1p-1022;
    const double s = sub ? b * 0x1p64 : b;
    const uint64_t sb = bits_of(s);
    *f = of_bits((sb & 0x800fffffffffffffULL) | 0x3ff0000000000000ULL);
    const double e = of_bits(0x4330000000000000ULL | ((sb >> 52) & 0x7ff)) - 0x1p52;
    return e - (sub ? 1087.0 : 1023.0);
}

/* 2^j for an integer-valued double j in [-1022, 1023] (junk elsewhere) */
static FORCE_INLINE double pow2(double j)
{
    return of_bits((bits_of(j + (0x1p52 + 1023.0)) & 0x7ff) << 52);
}

/* the estimate of x + k ln 2 that weighted.py's _split forms, -inf for an
 * entry out of the sum (b = 0 or x = -inf) */
static FORCE_INLINE double estimate(double x, double b)
{
    double f;
    const double z = x + split_weight(b, &f) * LN2A;
    const uint64_t live = -(uint64_t)((b != 0.0) & (x > -INFINITY));
    return of_bits((bits_of(z) & live) | (bits_of(-INFINITY) & ~live));
}

typedef double vd8 __attribute__((vector_size(8 * sizeof(double))));
typedef int64_t vi8 __attribute__((vector_size(8 * sizeof(double))));

/* A block of nb <= W_BLOCK entries from j0 of a row (float64, or float32
 * where f32) and its weights into xs, bs as doubles, padded with entries
 * of weight 0 (out of the sum) to a multiple of 8: the loops over a block
 * then run whole vectors, and no scalar remainder */
static FORCE_INLINE int64_t load_block(const void *x, int64_t f32, const double *b, int64_t j0, int64_t nb, double *xs,
                                       double *bs)
{
    if (f32) {
        const float *xf = (const float *)x + j0;
        for (int64_t j = 0; j < nb; j++)
            xs[j] = (double)xf[j];
    } else {
        memcpy(xs, (const double *)x + j0, (size_t)nb * sizeof(double));
    }
    memcpy(bs, b + j0, (size_t)nb * sizeof(double));
    int64_t j = nb;
    for (; j % 8; j++)
        xs[j] = bs[j] = 0.0;
    return j;
}

/* Pass 1 of one row: W_EDGE, or 1 with the leading entry's m and K. The
 * largest estimate in eight lanes, then the first entry that has it (the
 * estimates formed again, a block at a time: no scratch as long as the
 * row). */
static FORCE_INLINE int leading(const void *x, int64_t f32, const double *b, int64_t n, double *m, double *K,
                                double *xs, double *bs, int64_t loaded)
{
    vd8 best = {0};
    best -= INFINITY;
    vi8 bad = {0};
    for (int64_t j0 = 0; j0 < n; j0 += W_BLOCK) {
        const int64_t nb = n - j0 < W_BLOCK ? n - j0 : W_BLOCK;
        const int64_t n8 = loaded ? (nb + 7) / 8 * 8 : load_block(x, f32, b, j0, nb, xs, bs);
        for (int64_t j = 0; j < n8; j += 8) {
            vd8 z;
            for (int t = 0; t < 8; t++) {
                const double xv = xs[j + t], bv = bs[j + t];
                bad[t] |= (xv != xv) | (xv == INFINITY) | !isfinite(bv);
                z[t] = estimate(xv, bv);
            }
            const vi8 gt = z > best;
            best = (vd8)((gt & (vi8)z) | (~gt & (vi8)best));
        }
    }
    double top = best[0];
    int64_t any_bad = 0;
    for (int t = 0; t < 8; t++) {
        top = best[t] > top ? best[t] : top;
        any_bad |= bad[t];
    }
    if (any_bad || top == -INFINITY)
        return W_EDGE;
    for (int64_t j0 = 0; j0 < n; j0 += W_BLOCK) {
        const int64_t nb = n - j0 < W_BLOCK ? n - j0 : W_BLOCK;
        if (!loaded)
            load_block(x, f32, b, j0, nb, xs, bs);
        for (int64_t j = 0; j < nb; j++)
            if (estimate(xs[j], bs[j]) == top) {
                double f;
                *K = split_weight(bs[j], &f);
                *m = xs[j];
                return 1;
            }
    }
    return W_EDGE; /* not reached: some entry has the largest estimate */
}

/* one term f 2^(k - K) exp(x - m) as hi + lo (0 for the terms left out),
 * and whether it is a live term outside exp_term's domain. Branch-free. */
typedef struct {
    double hi, lo;
    int64_t outside;
} wterm;

static FORCE_INLINE wterm weighted_term(double x, double b, double m, double K)
{
    double f;
    const double j = split_weight(b, &f) - K;
    const double a = x - m, w = a + j * LN2A;
    const int64_t live = (b != 0.0) & (x > -INFINITY) & (w >= -200.0);
    /* w > 2: the estimate z did not find the leading term (|x| past 2^53,
     * where x + k LN2A rounds to x), and the terms are not bounded */
    const int64_t out = !((a >= -200.0) & (a <= 177.0) & (w <= 2.0));
    const uint64_t keep = -(uint64_t)(live & !out);
    const dd e = exp_term(x, m);
    /* 2^j, junk where the term is not kept (masked below, bitwise) */
    const double p2 = pow2(j);
    const dd p = two_prod(f, e.hi);
    return (wterm){mask_or_zero(p.hi * p2, keep), mask_or_zero((p.lo + f * e.lo) * p2, keep), live & out};
}

static FORCE_INLINE vd8 load8(const double *p)
{
    vd8 v;
    memcpy(&v, p, sizeof v);
    return v;
}

/* The correctly rounded log|S| and sign of one row, or W_UNDECIDED / W_EDGE */
static FORCE_INLINE int weighted_row(const void *x, int64_t f32, const double *b, int64_t n, double *out,
                                     double *sign, double *bh, double *bl, double *xs, double *bs)
{
    double m, K;
    /* a row of one block is loaded once, for both passes */
    const int64_t loaded = n <= W_BLOCK;
    if (loaded)
        load_block(x, f32, b, 0, n, xs, bs);
    if (leading(x, f32, b, n, &m, &K, xs, bs, loaded) == W_EDGE)
        return W_EDGE;
    vd8 lh = {0}, ll = {0}, mag = {0};
    int64_t bad = 0;
    for (int64_t j0 = 0; j0 < n; j0 += W_BLOCK) {
        const int64_t nb = n - j0 < W_BLOCK ? n - j0 : W_BLOCK;
        const int64_t n8 = loaded ? (nb + 7) / 8 * 8 : load_block(x, f32, b, j0, nb, xs, bs);
        int64_t outside = 0;
        /* the padding's weights are 0: its terms are +0 */
        for (int64_t j = 0; j < n8; j++) {
            const wterm t = weighted_term(xs[j], bs[j], m, K);
            bh[j] = t.hi;
            bl[j] = t.lo;
            outside |= t.outside;
        }
        bad |= outside;
        const int64_t groups = n8 / 8;
        for (int64_t g0 = 0; g0 < groups; g0 += W_RENORM) {
            const int64_t stop = g0 + W_RENORM < groups ? g0 + W_RENORM : groups;
            for (int64_t g = g0; g < stop; g++) {
                const vd8 v = load8(bh + 8 * g), s = lh + v, z = s - lh;
                ll += ((lh - (s - z)) + (v - z)) + load8(bl + 8 * g);
                lh = s;
                mag += (vd8)((vi8)v & 0x7fffffffffffffffLL);
            }
            /* TwoSum, not Fast2Sum: a signed lane may cancel below its lo */
            const vd8 s = lh + ll, z = s - lh;
            ll = (lh - (s - z)) + (ll - z);
            lh = s;
        }
    }
    if (bad)
        return W_UNDECIDED;
    /* the lanes folded pairwise: three rounds of independent additions */
    dd L8[8];
    for (int t = 0; t < 8; t++)
        L8[t] = (dd){lh[t], ll[t]};
    for (int w = 4; w >= 1; w /= 2)
        for (int t = 0; t < w; t++)
            L8[t] = dd_add(L8[t], L8[t + w]);
    const dd S = L8[0];
    double A = 0.0;
    for (int t = 0; t < 8; t++)
        A += mag[t];
    const double nd = (double)n;
    /* A's own roundings (n u) and the lo parts: 2^-40 spare */
    const double errS = (W_TERM_ERR + nd * 0x1p-103 + 0x1p-100) * A * (1.0 + 0x1p-40) + nd * 0x1p-287;
    const double sabs = fabs(S.hi);
    if (!(sabs >= 0x1p-280 && sabs <= 0x1p250))
        return W_UNDECIDED;
    /* |S'| >= |S.hi| (1 - 2^-52) - errS: the relative error, with room */
    const double delta = errS / sabs * (1.0 + 0x1p-18);
    if (!(delta <= 0x1p-20))
        return W_UNDECIDED;
    const double sg = S.hi < 0.0 ? -1.0 : 1.0;
    const dd Sa = {sg * S.hi, sg * S.lo};
    const double y0 = log(Sa.hi);
    dd E0 = exp_term(y0, 0.0);
    E0 = fast_two_sum(E0.hi, E0.lo);
    /* Sa.hi - E0.hi is exact (within a factor 2: Sterbenz) */
    const double d = (Sa.hi - E0.hi) + (Sa.lo - E0.lo);
    const double corr = d / E0.hi;
    const double Kd = K;
    dd o = two_sum(m, Kd * LN2A);
    o = dd_add(o, two_sum(y0, Kd * LN2B));
    o = fast_two_sum(o.hi, o.lo + (corr + Kd * LN2C));
    /* Newton's step drops log(1 + c) - c, below c^2 / 2 (c = corr, to 2^-52) */
    double B = delta / (1.0 - delta) + W_TERM_ERR + 0x1p-90 + corr * corr;
    B += 0x1p-102 * (fabs(m) + fabs(Kd) + fabs(y0) + 1.0);
    const double E = 2.0 * B;
    if (o.hi + (o.lo + E) != o.hi || o.hi + (o.lo - E) != o.hi)
        return W_UNDECIDED;
    *out = o.hi;
    *sign = sg;
    return W_DONE;
}

/* rows x n entries x (float64, or float32 where f32) and float64 weights b
 * (n >= 1): status[i] W_DONE with out[i] and sign[i] (the correctly
 * rounded log|S| and sign S), W_UNDECIDED or W_EDGE (out[i], sign[i]
 * untouched) */
EXPORT CLONES void lse_weighted_rows(const void *x, int64_t f32, const double *b, int64_t rows, int64_t n,
                                     double *out, double *sign, int8_t *status)
{
    double bh[W_BLOCK], bl[W_BLOCK], xs[W_BLOCK], bs[W_BLOCK];
    for (int64_t i = 0; i < rows; i++) {
        const void *xi = f32 ? (const void *)((const float *)x + i * n) : (const void *)((const double *)x + i * n);
        status[i] = (int8_t)weighted_row(xi, f32, b + i * n, n, out + i, sign + i, bh, bl, xs, bs);
    }
}
