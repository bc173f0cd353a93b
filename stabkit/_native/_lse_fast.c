/* The cancelling logsumexp rows (stabkit/_accurate/cancelling.py, every
 * format's rows in float64) in vectorised double-double: lse_rows_fast
 * gives each row's correctly rounded float64 logsumexp, or says it could
 * not decide (Ziv's rounding test), for
 * the next step (lse_rows_dd, then MPFR) to settle. Every step of that
 * chain rounds correctly, so a row has the same bits whichever settles it.
 *
 * A row x of n doubles (maximum m finite, entries finite or -inf) gives
 * m + L, L = log(S), S = sum_j exp(a_j), a_j = x_j - m in [-200, 0]:
 *
 * - a_j = ah + al exactly (TwoSum); entries below -200 (and -inf) are left
 *   out, each less than e^-200 < 2^-288 of S >= 1;
 * - exp(a) = 2^e 2^(i/128) exp(r), a = (128 e + i) ln2/128 + r: k = 128 e +
 *   i is ah 128/ln2 rounded to an integer (|k| < 2^15), r = ah - k C1 (exact:
 *   k C1 is, C1 having 37 bits, and Sterbenz), minus k C2 (exact, 36 bits)
 *   by TwoSum, plus al - k C3: r = rh + rl, |rh| <= 2^-8.53, |rl| < 2^-45;
 * - exp(r) - 1 = rh + rh^2/2 + rh^3 Q(rh) + rl exp(rh): rh^2 exactly
 *   (Dekker), Q = 1/6 + rh/24 + ... + rh^5/8! (Taylor: the rest is below
 *   2^-95); the tail rh^3 Q, below 2^-28.2, in double to 4.1 roundings
 *   (2^-79.2), the three additions of the small parts 2^-79.6;
 * - T (1 + v), T = 2^(i/128) = Th + Tl from the table (to 2^-107): Th vh
 *   exactly (Dekker), the rest in double (2^-80): each term as hi + lo
 *   within 2^-77.9 of itself (measured: 2^-78.8 at most over 44,100
 *   arguments, tests/test_native_lse_fast.py);
 * - S in eight lanes of (hi, lo): TwoSum of each hi, the lo parts and the
 *   errors added, renormalised (Fast2Sum) every 16 terms of a lane, then
 *   the lanes folded in double-double (rows of up to 32 entries go eight
 *   at a time, a row a lane: no fold);
 * - L from y0 = log(S.hi) (libm, within 2^-46 for S < 2^60) by one Newton
 *   step y0 + (S - exp(y0)) / exp(y0), exp(y0) by the same term (y0 <= 42);
 * - m + L by TwoSum, and Ziv's test.
 *
 * The bound B on |m + L - value| (absolute): the terms' relative error,
 * taken as 2^-77 (TERM_ERR), passes to L as 2^-77 absolute, the sum's
 * roundings as n 2^-99 (each of 2n additions to a lo part rounds by 2^-53
 * of it, a lo part staying below 17 2^-52 S between renormalisations),
 * exp(y0) and Newton's step 2^-90, the dropped terms n 2^-288, and the last additions 2^-103
 * (|m| + L). With E = 2B, hi + (lo -+ E) both rounding to hi means that no
 * rounding boundary lies within B of the value: hi is the correctly
 * rounded result (E twice B: those additions round too).
 *
 * The loop forming a block's terms has no branch (the table read is a
 * gather, which GCC's generic tuning emulates with scalar loads), so GCC
 * vectorises it in each clone; the files compile with -ffp-contract=off,
 * which keeps TwoSum and Dekker's products exact.
 */
#include <math.h>
#include <stdint.h>
#include <string.h>

#include "_common.h"
#include "_dd.h"
#include "_exp_term.h" /* exp_term, its constants and table */

/* the terms' relative error used in B (derived above: 2^-77.9) */
#define TERM_ERR 0x1p-77
/* entries per block of terms (a multiple of 8 and of 8 * RENORM) */
#define LC_BLOCK 512
#define RENORM 16

/* the terms of one block of nb <= LC_BLOCK entries, zeros up to the next
 * multiple of 8 */
static FORCE_INLINE void block_terms(const double *x, int64_t nb, double m, double *bh, double *bl)
{
    for (int64_t j = 0; j < nb; j++) {
        dd e = exp_term(x[j], m);
        bh[j] = e.hi;
        bl[j] = e.lo;
    }
    for (int64_t j = nb; j % 8; j++)
        bh[j] = bl[j] = 0.0;
}

/* Eight doubles, and their 64-bit masks (one AVX-512 register; two AVX2
 * ones): the row scan and the lanes' sums are written with them, as GCC
 * does not vectorise those loops from scalar code */
typedef double vd8 __attribute__((vector_size(8 * sizeof(double))));
typedef int64_t vi8 __attribute__((vector_size(8 * sizeof(double))));

static FORCE_INLINE vd8 load8(const double *p)
{
    vd8 v;
    memcpy(&v, p, sizeof v);
    return v;
}

/* Each lane's larger of m and v (v > m skips a NaN v), the NaN lanes of v
 * marked in *nan */
static FORCE_INLINE vd8 max_lanes(vd8 m, vd8 v, vi8 *nan)
{
    *nan |= v != v;
    const vi8 gt = v > m;
    return (vd8)((gt & (vi8)v) | (~gt & (vi8)m));
}

/* The row's maximum, or NaN if it holds a NaN (the lanes are folded at the
 * end; an order of comparisons that skips NaN, as x > m does, is caught by
 * the x != x lanes) */
static FORCE_INLINE double row_max(const double *x, int64_t n)
{
    vd8 m = {0};
    m += x[0];
    vi8 nan = {0};
    int64_t j = 0;
    for (; j + 8 <= n; j += 8)
        m = max_lanes(m, load8(x + j), &nan);
    double top = m[0];
    int64_t bad = 0;
    for (int t = 0; t < 8; t++) {
        top = m[t] > top ? m[t] : top;
        bad |= nan[t];
    }
    for (; j < n; j++) {
        bad |= x[j] != x[j];
        top = x[j] > top ? x[j] : top;
    }
    return bad ? NAN : top;
}

/* The lanes' sums of hi + lo pairs stored eight a group: TwoSum of the
 * lanes' hi and the terms', the errors and the terms' lo into the lanes'
 * lo; every RENORM groups, Fast2Sum (|lh| >= |ll|) */
static FORCE_INLINE void add_groups(const double *bh, const double *bl, int64_t groups, vd8 *lh, vd8 *ll)
{
    for (int64_t g0 = 0; g0 < groups; g0 += RENORM) {
        const int64_t stop = g0 + RENORM < groups ? g0 + RENORM : groups;
        for (int64_t g = g0; g < stop; g++) {
            const vd8 b = load8(bh + 8 * g), s = *lh + b, z = s - *lh;
            *ll += ((*lh - (s - z)) + (b - z)) + load8(bl + 8 * g);
            *lh = s;
        }
        const vd8 s = *lh + *ll;
        *ll = *ll - (s - *lh);
        *lh = s;
    }
}

/* m + log(S) for a row of n entries with maximum m and sum S, given y0 =
 * log(S.hi) and E0 = exp(y0) (exp_term): L by one Newton step, then Ziv's
 * test; 1 and *out where it settles, else 0 */
static FORCE_INLINE int lse_finish(dd S, double m, int64_t n, double y0, dd E0, double *out)
{
    if (!(S.hi >= 1.0 && S.hi < 0x1p60 && isfinite(m)))
        return 0;
    E0 = fast_two_sum(E0.hi, E0.lo);
    /* S.hi - E0.hi is exact (within a factor 2: Sterbenz) */
    const double d = (S.hi - E0.hi) + (S.lo - E0.lo);
    const double corr = d / E0.hi;
    dd o = two_sum(m, y0);
    o = fast_two_sum(o.hi, o.lo + corr);
    const double nd = (double)n;
    double B = (TERM_ERR + nd * 0x1p-99 + 0x1p-90) * (1.0 + 0x1p-40) + nd * 0x1p-288;
    B += 0x1p-103 * (fabs(m) + y0);
    const double E = 2.0 * B;
    if (o.hi + (o.lo + E) != o.hi || o.hi + (o.lo - E) != o.hi)
        return 0;
    *out = o.hi;
    return 1;
}

/* The correctly rounded logsumexp of one row, or 0 where undecided */
static FORCE_INLINE int lse_row_fast(const double *x, int64_t n, double *out, double *bh, double *bl)
{
    const double m = row_max(x, n);
    if (!isfinite(m))
        return 0;
    vd8 lh = {0}, ll = {0};
    for (int64_t j0 = 0; j0 < n; j0 += LC_BLOCK) {
        const int64_t nb = n - j0 < LC_BLOCK ? n - j0 : LC_BLOCK;
        block_terms(x + j0, nb, m, bh, bl);
        add_groups(bh, bl, (nb + 7) / 8, &lh, &ll);
    }
    dd S = {lh[0], ll[0]};
    for (int t = 1; t < 8; t++)
        S = dd_add(S, (dd){lh[t], ll[t]});
    /* a sum out of range gives a y0 whose exp_term is junk or 0 (no branch
     * there can fail): lse_finish turns the row down */
    const double y0 = log(S.hi);
    return lse_finish(S, m, n, y0, exp_term(y0, 0.0), out);
}

/* Rows of at most NARROW8 entries go eight at a time, row t in lane t: the
 * rows copied column by column (xt[8 j + t] = row t's entry j), so that
 * the scan, the terms, the sums, and exp(y0) run on eight rows at once and
 * no lanes are folded. The same operations on each row as lse_row_fast
 * but for the order of its sum, which the bound B covers either way. */
#define NARROW8 32

static FORCE_INLINE void lse_rows8(const double *x, int64_t n, double *out, int8_t *done, double *bh, double *bl)
{
    double xt[8 * NARROW8], mt[8 * NARROW8];
    for (int t = 0; t < 8; t++)
        for (int64_t j = 0; j < n; j++)
            xt[8 * j + t] = x[t * n + j];
    vd8 m = {0};
    m -= INFINITY;
    vi8 nan = {0};
    for (int64_t j = 0; j < n; j++)
        m = max_lanes(m, load8(xt + 8 * j), &nan);
    for (int64_t j = 0; j < n; j++)
        memcpy(mt + 8 * j, &m, sizeof m);
    for (int64_t k = 0; k < 8 * n; k++) {
        const dd e = exp_term(xt[k], mt[k]);
        bh[k] = e.hi;
        bl[k] = e.lo;
    }
    vd8 lh = {0}, ll = {0};
    add_groups(bh, bl, n, &lh, &ll);
    /* exp(y0) for the eight rows in one vectorised pass (a sum out of
     * range, as in lse_row_fast: lse_finish turns the row down) */
    double y0[8], zero[8] = {0}, eh[8], el[8];
    for (int t = 0; t < 8; t++)
        y0[t] = log(lh[t]);
    for (int t = 0; t < 8; t++) {
        const dd e = exp_term(y0[t], zero[t]);
        eh[t] = e.hi;
        el[t] = e.lo;
    }
    for (int t = 0; t < 8; t++)
        done[t] = (int8_t)(!nan[t] && lse_finish((dd){lh[t], ll[t]}, m[t], n, y0[t], (dd){eh[t], el[t]}, out + t));
}

/* lse_row_fast for `rows` contiguous rows of n >= 1 doubles: out[i] and
 * done[i] (1: out[i] is the correctly rounded logsumexp; 0: undecided,
 * out[i] untouched) */
EXPORT CLONES void lse_rows_fast(const double *x, int64_t rows, int64_t n, double *out, int8_t *done)
{
    double bh[LC_BLOCK], bl[LC_BLOCK];
    int64_t i = 0;
    if (n <= NARROW8)
        for (; i + 8 <= rows; i += 8)
            lse_rows8(x + i * n, n, out + i, done + i, bh, bl);
    for (; i < rows; i++)
        done[i] = (int8_t)lse_row_fast(x + i * n, n, out + i, bh, bl);
}

/* exp(x[j] - m) as hi[j] + lo[j] (the terms lse_row_fast sums; for the
 * tests, which measure their error against mpmath) */
EXPORT CLONES void lse_fast_terms(const double *x, int64_t n, double m, double *hi, double *lo)
{
    for (int64_t j = 0; j < n; j++) {
        const dd e = exp_term(x[j], m);
        hi[j] = e.hi;
        lo[j] = e.lo;
    }
}
