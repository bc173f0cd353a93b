/* The accurate tier's row passes, fused (optional; a part of stabkit._native._kernels).
 *
 * stabkit/_accurate/rows.py analyses a block of float64 rows (n > 16 columns)
 * in about seventeen NumPy passes: argmax, the shift d = x - m, its exact
 * error r, the terms exp(d), the compensated sum of the terms, the sum of
 * e * r, the log-probabilities (d - L) + r. The functions here do the same
 * arithmetic in three passes over the block, around the one pass that stays
 * in NumPy, np.exp (called from Python between two of them, so every exp(d)
 * is NumPy's, bit for bit: NumPy's SIMD exp and libm's differ in the last
 * bit). stabkit/_native/rows.py loads this file with ctypes; rows.py and
 * crossentropy.py call it on blocks of the common case and keep the NumPy
 * passes for every other block and as the oracle of the tests. The same
 * holds for the softmax denominators (softmax_sums) and for float32 rows
 * (their targets work in float64 without residuals: shift32_rows, top_sums,
 * scale_rows, sub_rows, log_softmax32_rows), whose float32 outputs are
 * rounded twice, to float64 then float32, as NumPy's float64 loops writing
 * into a float32 array round them.
 *
 * Every value that reaches a result is the one the NumPy path computes:
 *
 * - the same IEEE operations in the same order, no fused multiply-add
 *   (setup.py compiles with -ffp-contract=off, never -ffast-math);
 * - errors of the shift are exact (Fast2Sum above the row's floor, TwoSum
 *   below), so either method gives the one number that the error is;
 * - sums whose value is exact (the extracted high parts) may add in any
 *   order, but the others (the rests, the products, a plain row sum) go
 *   through NumPy's own pairwise order: np.add.reduce along a contiguous
 *   last axis starts from the identity +0.0 and adds the pairwise sum of the
 *   row (pairwise() below), which tests/test_native_rows.py checks bit for
 *   bit against np.add.reduce.
 *
 * No global state but _narrow.h's exp_zero, set once at load: each function
 * touches only its arguments, so threads may call them at once (ctypes
 * releases the GIL during a call). On x86-64 with
 * GCC and glibc each exported function is compiled for AVX-512, AVX2 and
 * the baseline; the loader picks the one the processor runs, and all three
 * round the same.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

/* FORCE_INLINE, EXPORT, CLONES (these clones are built even with STABKIT_NO_CLONES) */
#define STABKIT_ALWAYS_CLONES
#include "_common.h"

/* NumPy's blocks: a run of at most 128 terms is added in 8 interleaved
 * accumulators, a longer one split in two halves, the first a multiple of 8. */
#define PW_BLOCK 128
#define LANES 8

/* Eight doubles, and eight 64-bit masks, as GCC's and Clang's vector
 * extensions: lane j of an accumulator is NumPy's accumulator j, and the
 * compiler maps the type onto the widest vectors of the target (one AVX-512
 * register, two AVX2, four SSE2) with the same IEEE operations lane by lane. */
typedef double vd __attribute__((vector_size(LANES * sizeof(double))));
typedef int64_t vi __attribute__((vector_size(LANES * sizeof(double))));

static FORCE_INLINE vd load(const double *p)
{
    vd v;
    memcpy(&v, p, sizeof v);
    return v;
}

static FORCE_INLINE void store(double *p, vd v) { memcpy(p, &v, sizeof v); }

static FORCE_INLINE vd splat(double a) { return (vd){a, a, a, a, a, a, a, a}; }

/* Eight floats (float32 rows), and their 32-bit masks */
typedef float vf __attribute__((vector_size(LANES * sizeof(float))));
typedef int32_t vi32 __attribute__((vector_size(LANES * sizeof(float))));

static FORCE_INLINE vf loadf(const float *p)
{
    vf v;
    memcpy(&v, p, sizeof v);
    return v;
}

static FORCE_INLINE void storef(float *p, vf v) { memcpy(p, &v, sizeof v); }

static FORCE_INLINE vf splatf(float a) { return (vf){a, a, a, a, a, a, a, a}; }

static FORCE_INLINE vf blendf(vi32 mask, vf a, vf b) { return (vf)((mask & (vi32)a) | (~mask & (vi32)b)); }

/* lanes of a where the mask is set, of b elsewhere */
static FORCE_INLINE vd blend(vi mask, vd a, vd b) { return (vd)((mask & (vi)a) | (~mask & (vi)b)); }
static FORCE_INLINE vi blendi(vi mask, vi a, vi b) { return (mask & a) | (~mask & b); }

static FORCE_INLINE vi splati(int64_t a) { return (vi){a, a, a, a, a, a, a, a}; }

/* |a|: the sign bit cleared */
static FORCE_INLINE vd vabs(vd a) { return (vd)((vi)a & splati(0x7FFFFFFFFFFFFFFFLL)); }

/* Whether any of n doubles is a NaN. The loops below first add their
 * entries up in lanes (a NaN makes its lane's sum NaN; compilers vectorise a
 * sum, where they may scalarise a NaN test), and look one by one only where a
 * lane's sum is NaN: a NaN, or +inf beside -inf, or an overflow. */
static int64_t has_nan(const double *a, int64_t n)
{
    for (int64_t j = 0; j < n; j++)
        if (a[j] != a[j])
            return 1;
    return 0;
}

static FORCE_INLINE int64_t nan_lane(vd sum)
{
    int64_t any = 0;
    for (int k = 0; k < LANES; k++)
        any |= sum[k] != sum[k];
    return any;
}

/* What one pairwise pass adds up, per term v (e or t) of a row:
 * PLAIN: v; SPLIT: q = (v + sigma) - sigma and v - q; SPLIT_PROD: the same
 * and e * r (the residual's share of the sum); SPLIT_MAX: SPLIT's, and in
 * prod the largest term (of terms that are not NaN: a max is exact, so any
 * order finds it). */
enum { PLAIN, SPLIT, SPLIT_PROD, SPLIT_MAX };

static FORCE_INLINE double max2(double a, double b) { return b > a ? b : a; }

typedef struct {
    double q, rest, prod; /* PLAIN uses q alone */
} sums_t;

static FORCE_INLINE double fold(vd a)
{
    return ((a[0] + a[1]) + (a[2] + a[3])) + ((a[4] + a[5]) + (a[6] + a[7]));
}

/* One block of at most PW_BLOCK terms. Below 8 terms NumPy adds them one by
 * one to 0.0; from 8 on, lane j takes terms j, j + 8, ..., the lanes fold
 * in a fixed tree, and the terms past the last multiple of 8 follow one by
 * one. */
static FORCE_INLINE sums_t leaf(const double *v, const double *r, int64_t n, double sigma, int kind)
{
    sums_t s = {0.0, 0.0, 0.0};
    if (n < LANES) {
        for (int64_t i = 0; i < n; i++) {
            double q = kind == PLAIN ? v[i] : (v[i] + sigma) - sigma;
            s.q += q;
            if (kind != PLAIN)
                s.rest += v[i] - q;
            if (kind == SPLIT_PROD)
                s.prod += v[i] * r[i];
            if (kind == SPLIT_MAX)
                s.prod = max2(s.prod, v[i]);
        }
        return s;
    }
    const vd sg = splat(sigma);
    vd x = load(v);
    vd aq = kind == PLAIN ? x : (x + sg) - sg;
    vd ar = x - aq;
    vd ap = kind == SPLIT_PROD ? x * load(r) : kind == SPLIT_MAX ? x : splat(0.0);
    int64_t i = LANES;
    for (; i < n - n % LANES; i += LANES) {
        x = load(v + i);
        vd q = kind == PLAIN ? x : (x + sg) - sg;
        aq += q;
        if (kind != PLAIN)
            ar += x - q;
        if (kind == SPLIT_PROD)
            ap += x * load(r + i);
        if (kind == SPLIT_MAX)
            ap = blend(x > ap, x, ap);
    }
    s.q = fold(aq);
    if (kind != PLAIN)
        s.rest = fold(ar);
    if (kind == SPLIT_PROD)
        s.prod = fold(ap);
    for (int k = 0; kind == SPLIT_MAX && k < LANES; k++)
        s.prod = max2(s.prod, ap[k]);
    for (; i < n; i++) {
        double q = kind == PLAIN ? v[i] : (v[i] + sigma) - sigma;
        s.q += q;
        if (kind != PLAIN)
            s.rest += v[i] - q;
        if (kind == SPLIT_PROD)
            s.prod += v[i] * r[i];
        if (kind == SPLIT_MAX)
            s.prod = max2(s.prod, v[i]);
    }
    return s;
}

/* NumPy's pairwise recursion, sum(a, n) = leaf(a, n) for n <= 128, else
 * sum(a, h) + sum(a + h, n - h) with h = n/2 rounded down to a multiple of
 * 8, walked with an explicit stack (depth <= 64) so that it is inlined into
 * each compiled variant of its callers. Then the identity first, as
 * np.add.reduce: 0.0 + sum (which turns a sum of -0.0 into +0.0). */
static FORCE_INLINE sums_t pairwise(const double *v, const double *r, int64_t n, double sigma, int kind)
{
    struct {
        int64_t off, n;
        int state; /* 0: not started, 1: left half done, 2: both halves done */
        sums_t left;
    } st[64];
    int sp = 0;
    sums_t val = {0.0, 0.0, 0.0};
    st[0].off = 0, st[0].n = n, st[0].state = 0;
    for (;;) {
        int64_t off = st[sp].off, len = st[sp].n, h = len / 2 - (len / 2) % LANES;
        if (st[sp].state == 0 && len > PW_BLOCK) {
            st[sp].state = 1;
            sp++;
            st[sp].off = off, st[sp].n = h, st[sp].state = 0;
            continue;
        }
        if (st[sp].state == 0) {
            val = leaf(v + off, r ? r + off : r, len, sigma, kind);
        } else if (st[sp].state == 1) {
            st[sp].left = val;
            st[sp].state = 2;
            sp++;
            st[sp].off = off + h, st[sp].n = len - h, st[sp].state = 0;
            continue;
        } else {
            sums_t a = st[sp].left;
            val.q = a.q + val.q;
            val.rest = a.rest + val.rest;
            val.prod = kind == SPLIT_MAX ? max2(a.prod, val.prod) : a.prod + val.prod;
        }
        if (sp == 0)
            break;
        sp--;
    }
    sums_t out = {0.0 + val.q, 0.0 + val.rest, 0.0 + val.prod};
    return out;
}

/* np.add.reduce(a, axis=-1) of contiguous rows, for the tests. */
EXPORT CLONES void row_sums(const double *a, int64_t rows, int64_t n, double *out)
{
    for (int64_t i = 0; i < rows; i++)
        out[i] = pairwise(a + i * n, NULL, n, 0.0, PLAIN).q;
}

/* _fast_floor of stabkit/_accurate/eft.py for one finite shift m: the least
 * x for which Fast2Sum(-m, x) is exact. |m| in [2^(E-1), 2^E): -nextbelow(2^E),
 * m's exponent field over a full mantissa; m = 0: -inf (d = x exactly);
 * |m| >= 2^1020: +inf (the shift may overflow: TwoSum everywhere). */
static FORCE_INLINE double fast_floor(double m)
{
    if (m == 0.0)
        return -INFINITY;
    if (fabs(m) >= 0x1p1020)
        return INFINITY;
    uint64_t b;
    memcpy(&b, &m, sizeof b);
    b = (b & 0x7FF0000000000000ULL) + 0x000FFFFFFFFFFFFFULL;
    double f;
    memcpy(&f, &b, sizeof f);
    return -f;
}

/* The shift of one contiguous row (may be d itself): d = x + (-m) and its
 * exact error r. Fast2Sum, x + ((-m) - d), where every entry is at or above
 * the floor; TwoSum's six operations otherwise (exact for every entry; a
 * value of r is the exact error either way). A non-finite r (a masked -inf
 * entry, or a shift that overflows) comes with exp(d) = 0: the NumPy path
 * sets it to 0 when it sums e * r (Rows.residual_sum), so it is 0 here. */
static FORCE_INLINE void shift_row(const double *x, int64_t n, double m, int fast, double *d, double *r)
{
    const double nm = -m;
    if (fast) {
        for (int64_t j = 0; j < n; j++) {
            double xj = x[j], dj = xj + nm;
            double rj = xj + (nm - dj);
            d[j] = dj;
            r[j] = isfinite(rj) ? rj : 0.0;
        }
    } else {
        for (int64_t j = 0; j < n; j++) {
            double xj = x[j], dj = xj + nm;
            double bb = dj - xj;
            double t = xj - (dj - bb);
            double rj = t + (nm - bb);
            d[j] = dj;
            r[j] = isfinite(rj) ? rj : 0.0;
        }
    }
}

/* v's lanes, lane t taken from lane t ^ h (h a constant): GCC's
 * __builtin_shuffle takes the order as a vector, Clang's
 * __builtin_shufflevector as constant arguments (GCC has that one only
 * from version 12). MASK: the integer vector type of v's lane width. */
#if defined(__clang__)
#define LANES_XOR8(v, h, MASK) \
    __builtin_shufflevector((v), (v), 0 ^ (h), 1 ^ (h), 2 ^ (h), 3 ^ (h), 4 ^ (h), 5 ^ (h), 6 ^ (h), 7 ^ (h))
#else
#define LANES_XOR8(v, h, MASK) \
    __builtin_shuffle((v), (MASK){0 ^ (h), 1 ^ (h), 2 ^ (h), 3 ^ (h), 4 ^ (h), 5 ^ (h), 6 ^ (h), 7 ^ (h)})
#endif

/* The largest (top) or least of eight lanes (none NaN), and the least of
 * eight integers: three steps of a shuffle (halves of four, two, one lanes
 * swapped) and a select each */
static FORCE_INLINE vd fold_step(vd v, vd w, int top) { return blend(top ? w > v : w < v, w, v); }

static FORCE_INLINE double fold_lanes(vd v, int top)
{
    v = fold_step(v, LANES_XOR8(v, 4, vi), top);
    v = fold_step(v, LANES_XOR8(v, 2, vi), top);
    v = fold_step(v, LANES_XOR8(v, 1, vi), top);
    return v[0];
}

static FORCE_INLINE vi fold_step_i(vi v, vi w) { return blendi(w < v, w, v); }

static FORCE_INLINE int64_t fold_lanes_i(vi v)
{
    v = fold_step_i(v, LANES_XOR8(v, 4, vi));
    v = fold_step_i(v, LANES_XOR8(v, 2, vi));
    v = fold_step_i(v, LANES_XOR8(v, 1, vi));
    return v[0];
}

/* np.argmax of one contiguous row without NaN (the first index of the
 * maximum), and the row's minimum in *mn; -1 if the row holds a NaN. Two
 * sets of lanes, each keeping its greatest entry and where it was first
 * seen (a later equal entry, such as +0 after -0, does not replace it). The
 * first index among the lanes holding the maximum is then the first index
 * of the maximum: entries before it in its lane are smaller. */
static FORCE_INLINE int64_t scan_row(const double *x, int64_t n, double *mn)
{
    vd hi0 = splat(x[0]), hi1 = hi0, lo0 = hi0, lo1 = hi0;
    vi at0 = (vi){0}, at1 = at0;
    vd sum = splat(0.0);
    vi j0 = (vi){0, 1, 2, 3, 4, 5, 6, 7}, j1 = j0 + LANES;
    int64_t j = 0;
    for (; j + 2 * LANES <= n; j += 2 * LANES) {
        vd v0 = load(x + j), v1 = load(x + j + LANES);
        vi gt0 = v0 > hi0, gt1 = v1 > hi1;
        hi0 = blend(gt0, v0, hi0), hi1 = blend(gt1, v1, hi1);
        at0 = blendi(gt0, j0, at0), at1 = blendi(gt1, j1, at1);
        lo0 = blend(v0 < lo0, v0, lo0), lo1 = blend(v1 < lo1, v1, lo1);
        sum += v0 + v1;
        j0 += 2 * LANES, j1 += 2 * LANES;
    }
    /* the lanes' maximum and minimum in a tree of vector steps (a maximum
     * or minimum is exact in any order; only a zero's sign can depend on
     * it, and no caller reads that: mi is read back from x at top), then
     * the least index among the lanes holding the maximum */
    const vd hi = blend(hi1 > hi0, hi1, hi0);
    double mx = fold_lanes(hi, 1), low = fold_lanes(blend(lo1 < lo0, lo1, lo0), 0);
    int64_t anynan = nan_lane(sum) && has_nan(x, j);
    const vi n0 = blendi(hi0 == splat(mx), at0, splati(n)), n1 = blendi(hi1 == splat(mx), at1, splati(n));
    int64_t top = fold_lanes_i(blendi(n1 < n0, n1, n0));
    /* the rest one by one: all of it comes after every lane's entries */
    for (; j < n; j++) {
        double v = x[j];
        if (v > mx)
            mx = v, top = j;
        low = v < low ? v : low;
        anynan |= v != v;
    }
    *mn = low;
    return anynan ? -1 : top;
}

/* For each row of x (rows x n doubles, row i at byte offset i * srow, entry j
 * at j * scol): top[i], the first index of the row's maximum (np.argmax), m[i]
 * = x[top[i]], and the shift d, r (contiguous rows x n). Returns 0, or 1 as
 * soon as a row holds a NaN or its maximum is infinite (such a block is left
 * to the NumPy path, which patches those rows). */
EXPORT CLONES int64_t shift_rows(const char *x, int64_t rows, int64_t n, int64_t srow, int64_t scol, double *d,
                                 double *r, int64_t *top, double *m)
{
    for (int64_t i = 0; i < rows; i++) {
        double *di = d + i * n, *ri = r + i * n;
        const double *xi = (const double *)(x + i * srow);
        if (scol != (int64_t)sizeof(double)) {
            /* a strided row is gathered into d first, then shifted in place */
            for (int64_t j = 0; j < n; j++)
                di[j] = *(const double *)(x + i * srow + j * scol);
            xi = di;
        }
        double mn;
        int64_t k = scan_row(xi, n, &mn);
        if (k < 0 || !isfinite(xi[k]))
            return 1;
        top[i] = k;
        m[i] = xi[k]; /* the entry itself: its zero's sign, as x[rows, top] */
        shift_row(xi, n, m[i], mn >= fast_floor(m[i]), di, ri);
    }
    return 0;
}

/* Rows.sums' passes over the terms e = exp(d) (rows x n, each row's top entry
 * set to 0 for the pass and put back, as in Rows._sums) with sigma a power of
 * two above 2n (eft.sum_split): hi = sum of q = (e + sigma) - sigma, exact in
 * any order; lo = the sum of the rests e - q and corr = the sum of e * r,
 * both in NumPy's pairwise order (np.add.reduce). At the top entry d = r = 0,
 * so e * r is +0 with or without the 1 put back. */
EXPORT CLONES void split_sums(double *e, const double *r, const int64_t *top, int64_t rows, int64_t n, double sigma,
                              double *hi, double *lo, double *corr)
{
    for (int64_t i = 0; i < rows; i++) {
        double *ei = e + i * n;
        double kept = ei[top[i]];
        ei[top[i]] = 0.0;
        sums_t s = pairwise(ei, r + i * n, n, sigma, SPLIT_PROD);
        ei[top[i]] = kept;
        hi[i] = s.q, lo[i] = s.rest, corr[i] = s.prod;
    }
}

/* Log-probabilities (d - L) + r (Rows.log_softmax), into out (may be d). */
EXPORT CLONES void log_softmax_rows(const double *d, const double *r, const double *L, int64_t rows, int64_t n,
                                    double *out)
{
    for (int64_t i = 0; i < rows; i++) {
        const double Li = L[i], *di = d + i * n, *ri = r + i * n;
        double *oi = out + i * n;
        for (int64_t j = 0; j < n; j++)
            oi[j] = (di[j] - Li) + ri[j];
    }
}

/* Cross-entropy sums from logits (crossentropy_rows with eft.sum_split_scaled),
 * per row: the terms t = y * ((d - L) + r) into t; scale = n max|t| (NaN if a
 * term is NaN); where it is finite, sigma = 2^(E + 1) with scale in
 * [2^(E-1), 2^E) (frexp's exponent; exact) and hi, lo the extraction's two
 * sums (hi exact, lo pairwise), ok[i] = 1; elsewhere ok[i] = 0 and hi the
 * plain pairwise sum of the terms (np.add.reduce), lo = 0. */
EXPORT CLONES void crossentropy_sums(const double *d, const double *r, const double *L, const double *y, int64_t rows,
                                     int64_t n, double *t, double *hi, double *lo, int64_t *ok)
{
    for (int64_t i = 0; i < rows; i++) {
        const double Li = L[i], *di = d + i * n, *ri = r + i * n, *yi = y + i * n;
        double *ti = t + i * n;
        const vd Lv = splat(Li);
        vd amax = splat(0.0), sum = amax;
        int64_t j = 0;
        for (; j + LANES <= n; j += LANES) {
            vd v = load(yi + j) * ((load(di + j) - Lv) + load(ri + j));
            vd a = vabs(v);
            store(ti + j, v);
            amax = blend(a > amax, a, amax);
            sum += v;
        }
        double big = 0.0;
        int64_t anynan = nan_lane(sum) && has_nan(ti, j);
        for (int k = 0; k < LANES; k++)
            big = amax[k] > big ? amax[k] : big;
        for (; j < n; j++) {
            double v = yi[j] * ((di[j] - Li) + ri[j]);
            double a = fabs(v);
            ti[j] = v;
            big = a > big ? a : big;
            anynan |= a != a;
        }
        double scale = big * (double)n;
        if (anynan || !isfinite(scale)) {
            ok[i] = 0;
            hi[i] = pairwise(ti, NULL, n, 0.0, PLAIN).q;
            lo[i] = 0.0;
            continue;
        }
        int e;
        frexp(scale, &e);
        sums_t s = pairwise(ti, NULL, n, ldexp(1.0, e + 1), SPLIT);
        ok[i] = 1;
        hi[i] = s.q, lo[i] = s.rest;
    }
}

/* Softmax denominators (Rows.softmax and softmax_unshifted, float64
 * targets), per row of the terms e (rows x n, contiguous): first, where r is
 * given, e += e * r (each probability's residual, exp(d + r) = e (1 + r));
 * then the sums of eft.sum_split (sigma > 0: the row sums of
 * q = (e + sigma) - sigma, exact, and of e - q, pairwise; ok[i] = 1) or of
 * eft.sum_split_scaled with nonneg (sigma = 0: per row, scale = n max e, NaN
 * if a term is NaN; where it is finite sigma = 2^(E + 1) with scale in
 * [2^(E-1), 2^E), ok[i] = 1; elsewhere hi = the plain pairwise sum, lo = 0,
 * ok[i] = 0). The pairs are not normalised (the caller does, as NumPy's). */
EXPORT CLONES void softmax_sums(double *e, const double *r, int64_t rows, int64_t n, double sigma, double *hi,
                                double *lo, int64_t *ok)
{
    for (int64_t i = 0; i < rows; i++) {
        double *ei = e + i * n;
        if (r) {
            const double *ri = r + i * n;
            for (int64_t j = 0; j < n; j++)
                ei[j] = ei[j] + ei[j] * ri[j];
        }
        double sg = sigma;
        if (!(sigma > 0.0)) {
            /* np.maximum.reduce: NaN wins; here a NaN term makes its row's
             * lane sum NaN, then the row is looked at one by one */
            vd amax = splat(ei[0]), sum = splat(0.0);
            int64_t j = 0;
            for (; j + LANES <= n; j += LANES) {
                vd v = load(ei + j);
                amax = blend(v > amax, v, amax);
                sum += v;
            }
            double big = ei[0];
            int64_t anynan = nan_lane(sum) && has_nan(ei, j);
            for (int k = 0; k < LANES; k++)
                big = amax[k] > big ? amax[k] : big;
            for (; j < n; j++) {
                big = ei[j] > big ? ei[j] : big;
                anynan |= ei[j] != ei[j];
            }
            double scale = big * (double)n;
            if (anynan || !isfinite(scale)) {
                ok[i] = 0;
                hi[i] = pairwise(ei, NULL, n, 0.0, PLAIN).q;
                lo[i] = 0.0;
                continue;
            }
            int ex;
            frexp(scale, &ex);
            sg = ldexp(1.0, ex + 1);
        }
        sums_t s = pairwise(ei, NULL, n, sg, SPLIT);
        ok[i] = 1;
        hi[i] = s.q, lo[i] = s.rest;
    }
}

/* softmax_sums' pair for one row of n terms e >= 0, none NaN, whose largest
 * should be e[k] (wide_softmax's: e = exp(x) with x's first maximum at k):
 * sigma from n e[k], and the row's largest term found in the same pass as
 * the sums instead of a pass of its own. Where n times that largest term
 * has another binary exponent than n e[k] (NumPy's exp is not promised to
 * be monotonic), the sums again with its sigma, so the pair is always
 * softmax_sums'. Returns softmax_sums' ok. */
static FORCE_INLINE int64_t split_sums_at(double *e, int64_t n, int64_t k, double *hi, double *lo)
{
    const double guess = e[k] * (double)n;
    int64_t ok = 1;
    if (isfinite(guess)) {
        int ex, top_ex;
        frexp(guess, &ex);
        sums_t s = pairwise(e, NULL, n, ldexp(1.0, ex + 1), SPLIT_MAX);
        const double top = s.prod * (double)n;
        if (isfinite(top)) {
            frexp(top, &top_ex);
            if (top_ex != ex)
                s = pairwise(e, NULL, n, ldexp(1.0, top_ex + 1), SPLIT);
            *hi = s.q, *lo = s.rest;
            return 1;
        }
    }
    softmax_sums(e, NULL, 1, n, 0.0, hi, lo, &ok);
    return ok;
}

/* ---- narrower targets (float32 rows, float64 working precision) ---- */

/* softmax_unshifted for a narrower target: per row of the terms e (float64),
 * the plain sum (np.add.reduce), its reciprocal, and each probability
 * e * (1 / sum) rounded to float64, into out64 (may be e), or into out32
 * rounded once more to float32 (NumPy's float64 loop writing into a float32
 * output rounds the same two times); the other one NULL. */
EXPORT CLONES void scale_rows(double *e, int64_t rows, int64_t n, float *out32, double *out64)
{
    for (int64_t i = 0; i < rows; i++) {
        const double *ei = e + i * n;
        const double inv = 1.0 / pairwise(ei, NULL, n, 0.0, PLAIN).q;
        if (out32) {
            float *oi = out32 + i * n;
            for (int64_t j = 0; j < n; j++) {
                double p = ei[j] * inv;
                oi[j] = (float)p;
            }
        } else {
            double *oi = out64 + i * n;
            for (int64_t j = 0; j < n; j++)
                oi[j] = ei[j] * inv;
        }
    }
}

/* log_softmax_unshifted's output pass for float32 rows x (rows x n,
 * contiguous): x - c (c = m + L per row, the float32 entry converted exactly,
 * the difference rounded to float64), -L at the row's top entry, into out32
 * (rounded to float32 once more) or out64 (the other NULL); mn[i] = the
 * row's least entry (NaN ignored: a row with a NaN is not the caller's). */
EXPORT CLONES void log_softmax32_rows(const float *x, int64_t rows, int64_t n, const double *c, const double *L,
                                      const int64_t *top, float *out32, double *out64, double *mn)
{
    for (int64_t i = 0; i < rows; i++) {
        const float *xi = x + i * n;
        const double ci = c[i];
        const vd cv = splat(ci);
        float *o32 = out32 ? out32 + i * n : NULL;
        double *o64 = out64 ? out64 + i * n : NULL;
        /* in lanes (a compiler keeps a scalar minimum scalar): the entries
         * widened exactly, the difference, its float32 rounding */
        vf lo = splatf(xi[0]);
        int64_t j = 0;
        for (; j + LANES <= n; j += LANES) {
            vf v = loadf(xi + j);
            vd d = __builtin_convertvector(v, vd) - cv;
            if (o32)
                storef(o32 + j, __builtin_convertvector(d, vf));
            else
                store(o64 + j, d);
            lo = blendf(v < lo, v, lo);
        }
        float low = xi[0];
        for (int k = 0; k < LANES; k++)
            low = lo[k] < low ? lo[k] : low;
        for (; j < n; j++) {
            float v = xi[j];
            double d = (double)v - ci;
            if (o32)
                o32[j] = (float)d;
            else
                o64[j] = d;
            low = v < low ? v : low;
        }
        if (o32)
            o32[top[i]] = (float)(-L[i]);
        else
            o64[top[i]] = -L[i];
        mn[i] = (double)low;
    }
}

/* Rows' shift for a narrower target (float32 rows, no residuals): d = x + (-m)
 * in float64 (each entry widened exactly) into d (contiguous rows x n), for
 * rows i of x at byte offset i * srow, entries at j * scol, m[i] finite; and
 * dmin[i], the least d of the row (no NaN: a row holding one has a NaN
 * maximum, which the caller leaves to NumPy). */
EXPORT CLONES void shift32_rows(const char *x, int64_t rows, int64_t n, int64_t srow, int64_t scol, const double *m,
                                double *d, double *dmin)
{
    for (int64_t i = 0; i < rows; i++) {
        const char *xi = x + i * srow;
        double *di = d + i * n;
        const double nm = -m[i];
        if (scol != (int64_t)sizeof(float)) {
            double low = INFINITY;
            for (int64_t j = 0; j < n; j++) {
                double v = (double)*(const float *)(xi + j * scol) + nm;
                di[j] = v;
                low = v < low ? v : low;
            }
            dmin[i] = low;
            continue;
        }
        const float *xf = (const float *)xi;
        const vd nv = splat(nm);
        vd lo = splat(INFINITY);
        int64_t j = 0;
        for (; j + LANES <= n; j += LANES) {
            vd v = __builtin_convertvector(loadf(xf + j), vd) + nv;
            store(di + j, v);
            lo = blend(v < lo, v, lo);
        }
        double low = INFINITY;
        for (int k = 0; k < LANES; k++)
            low = lo[k] < low ? lo[k] : low;
        for (; j < n; j++) {
            double v = (double)xf[j] + nm;
            di[j] = v;
            low = v < low ? v : low;
        }
        dmin[i] = low;
    }
}

/* Rows._sums for a narrower target: per row, the plain sum (np.add.reduce)
 * of the terms e without the top entry (set to 0 for the pass and put back). */
EXPORT CLONES void top_sums(double *e, const int64_t *top, int64_t rows, int64_t n, double *s)
{
    for (int64_t i = 0; i < rows; i++) {
        double *ei = e + i * n;
        double kept = ei[top[i]];
        ei[top[i]] = 0.0;
        s[i] = pairwise(ei, NULL, n, 0.0, PLAIN).q;
        ei[top[i]] = kept;
    }
}

/* Rows.log_softmax for a narrower target: d - L per row, into out32
 * (rounded to float64, then float32) or out64 (may be d); the other NULL. */
EXPORT CLONES void sub_rows(const double *d, const double *L, int64_t rows, int64_t n, float *out32, double *out64)
{
    for (int64_t i = 0; i < rows; i++) {
        const double Li = L[i], *di = d + i * n;
        if (out32) {
            float *oi = out32 + i * n;
            for (int64_t j = 0; j < n; j++) {
                double v = di[j] - Li;
                oi[j] = (float)v;
            }
        } else {
            double *oi = out64 + i * n;
            for (int64_t j = 0; j < n; j++)
                oi[j] = di[j] - Li;
        }
    }
}

/* ---- narrow rows (n <= 16): one call per block ---- */
#include "_narrow.h"

/* ---- the float32 wide rows' fast pass (exp_fast and a rounding test) ---- */
#include "_fastpass.h"
#include "_half.h" /* the 16-bit roundings of the per-row fast tests */
#include "_wide_fast.h"
#include "_wide_fast_cols.h" /* its log-softmax across rows, 17 to 64 columns */
#include "_wide_exact_cols.h" /* float64 targets' sums across rows, 17 to 64 columns */
#include "_wide_ce32.h"

/* ---- wide rows (n > 16): one call per block (logsumexp, softmax, log-softmax, the cross-entropies) ---- */
#include "_divide.h" /* the float64 softmax's quotients */
#include "_sum2.h"   /* the float64 rows below sum_split's floor */
#include "_winner_rest.h" /* the sparse loss from probabilities: argmax and sum2 of the rest */
#include "_wide.h"
#include "_ce_rest.h" /* the weighted categorical losses' rows in double-double (rowrest.py) */

/* ---- narrow rows' softmax (after both: _narrow.h's exp call, _wide.h's row gather) ---- */
#include "_narrow_softmax.h"

/* ---- float32 narrow rows' fast pass (after _narrow_softmax.h, _wide_fast_cols.h) ---- */
#include "_narrow_fast32.h"

/* ---- logsumexp rows about 0 (log-probabilities): near_zero.py's exact sums ---- */
#include "_fsum.h"
#include "_near_zero.h"

/* ---- for the tests: the float64 softmax's sums and quotients, and sum2, alone ---- */

/* split_sums_at of one row e (n terms >= 0, none NaN; k any index) */
EXPORT CLONES int64_t sums_at(double *e, int64_t n, int64_t k, double *hi, double *lo)
{
    return split_sums_at(e, n, k, hi, lo);
}

/* sum2_row of one row a (n >= 1 terms, no NaN; overwritten) */
EXPORT CLONES void row_sum2(double *a, int64_t n, double *hi, double *lo)
{
    sum2_row(a, n, hi, lo);
}

/* quotients of a (n entries in [lo, hi]) by b into out (float64); 1 where
 * they were formed by Markstein's correction */
EXPORT int64_t row_quotients(const double *a, double b, int64_t n, double lo, double hi, double *out)
{
    return quotients(a, b, n, lo, hi, NULL, out);
}
