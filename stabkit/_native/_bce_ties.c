/* stabkit._native._kernels: the binary cross-entropy from logits (without
 * options) where its float64 value is within a few float64 ulps of a
 * midpoint of the narrow format it is rounded to, for the loops of
 * _bce_logits.c. The NumPy path's oracle is stabkit/_accurate/bceties.py
 * (settle_plain), with double_double.py's exp and log1p: this file repeats
 * their operations in their order (-ffp-contract=off; NumPy's own log1p
 * loop for the one libm-like call, as double_double.log1p calls np.log1p),
 * so the decision, and the bits, are the same.
 *
 * Identity: with t = log1p(exp(-|z|)), the loss y softplus(-z) + (1 - y)
 * softplus(z) is M + t, M = max(z, 0) - y z; y z is exact in float64 for
 * float32, float16 and bfloat16 inputs, so M - m (m the midpoint) comes to
 * 2^-104 of itself in double-double (a zero exactly), and t > 0,
 * transcendental, is known to about 2^-88:
 * the exact loss lies above m iff (M - m) + t > 0, decided wherever that
 * sum exceeds 2^-80 t in magnitude, and M = m means above. Edges: a NaN,
 * infinite or non-positive loss (targets outside [0, 1] reach the ufunc
 * unchecked) and an infinite logit keep their float64 value, as does an
 * undecided loss (never seen).
 */
#include <math.h>
#include <stdint.h>
#include <string.h>

#include "_common.h"
/* (this file uses _dd.h's error-free transformations, not its exp and log1p) */
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wunused-function"
#include "_dd.h"
#pragma GCC diagnostic pop
#include "_bce_ties.h"

/* double_double.py's constants: ln 2 in three pieces (the first of 32
 * significant bits) and 1/n! for n = 1..9 in double-double */
#define DD_LN2_1 0x1.62e42ff000000p-1
#define DD_LN2_2 (-0x1.718432a1b0e26p-35)
#define DD_LN2_3 (-0x1.9ff0342542fc3p-90)
static const dd INV_FACT[9] = {
    {0x1.0000000000000p+0, 0x0.0p+0},
    {0x1.0000000000000p-1, 0x0.0p+0},
    {0x1.5555555555555p-3, 0x1.5555555555555p-57},
    {0x1.5555555555555p-5, 0x1.5555555555555p-59},
    {0x1.1111111111111p-7, 0x1.1111111111111p-63},
    {0x1.6c16c16c16c17p-10, -0x1.f49f49f49f49fp-65},
    {0x1.a01a01a01a01ap-13, 0x1.a01a01a01a01ap-73},
    {0x1.a01a01a01a01ap-16, 0x1.a01a01a01a01ap-76},
    {0x1.71de3a556c734p-19, -0x1.c154f8ddc6c00p-73},
};
#define SQUARINGS 10

/* double_double._reduced: x = k ln2 + r, expm1(r) in double-double */
static CLONES dd reduced(dd x, double *k_out)
{
    double k = nearbyint(x.hi / DD_LN2_1);
    dd r = dd_add(x, (dd){-k * DD_LN2_1, 0.0});
    dd p = two_prod(k, DD_LN2_2);
    r = dd_add(r, (dd){-p.hi, -p.lo - k * DD_LN2_3});
    dd a = {ldexp(r.hi, -SQUARINGS), ldexp(r.lo, -SQUARINGS)};
    dd q = INV_FACT[8];
    for (int j = 7; j >= 0; j--) {
        q = dd_mul(q, a);
        q = dd_add(q, INV_FACT[j]);
    }
    dd e = dd_mul(q, a);
    for (int i = 0; i < SQUARINGS; i++)
        e = dd_mul(e, dd_add(e, (dd){2.0, 0.0}));
    *k_out = k;
    return e;
}

/* double_double.exp of (x, 0) for -746 <= x <= 0 (below -745.2: 0) */
static dd exp_neg(double x)
{
    if (x < -745.2)
        return (dd){0.0, 0.0};
    double k;
    dd e = dd_add((dd){1.0, 0.0}, reduced((dd){x, 0.0}, &k));
    return (dd){ldexp(e.hi, (int)k), ldexp(e.lo, (int)k)};
}

/* double_double.expm1 of (x, 0), |x| <= 1 */
static dd expm1_small(double x)
{
    double k;
    dd e = reduced((dd){x, 0.0}, &k);
    if (k == 0)
        return e;
    dd f = dd_add((dd){1.0, 0.0}, e);
    return dd_add((dd){ldexp(f.hi, (int)k), ldexp(f.lo, (int)k)}, (dd){-1.0, 0.0});
}

/* double_double.log1p of e in [0, 1]: one Newton step from NumPy's log1p */
static CLONES dd log1p_unit(dd e)
{
    double y0 = stabkit_numpy_log1p(e.hi);
    dd m = expm1_small(-y0);
    dd t = dd_add(e, m);
    t = dd_add(t, dd_mul(e, m));
    return fast_two_sum(y0, t.hi + t.lo);
}

CLONES NOINLINE double stabkit_bce_settle(double y, double z, double l, int fmt)
{
    if (!(l > 0.0 && isfinite(l) && isfinite(z)))
        return l;
    const int shift = TIE_SHIFT(fmt);
    const double tiny = TIE_TINY(fmt);
    /* the midpoint m: the bits above the last `shift` of l (of l + tiny
     * below tiny, m then in [tiny, 2 tiny), less tiny exactly), then 10...0 */
    double v = l < tiny ? l + tiny : l, m;
    uint64_t b;
    memcpy(&b, &v, 8);
    b = (b & ~(((uint64_t)1 << shift) - 1)) | ((uint64_t)1 << (shift - 1));
    memcpy(&m, &b, 8);
    if (l < tiny)
        m -= tiny;
    /* M = max(z, 0) - y z exactly, d = M - m exactly */
    dd p = two_prod(y, z);
    dd M = dd_add((dd){z > 0.0 ? z : 0.0, 0.0}, (dd){-p.hi, -p.lo});
    dd d = dd_add(M, (dd){-m, 0.0});
    if (d.hi == 0.0) /* M on the midpoint: t > 0 puts the loss above */
        return nextafter(m, INFINITY);
    double x = fabs(z) < 746.0 ? fabs(z) : 746.0;
    /* A filter before the double-double: libm's exp and log1p (each within
     * an ulp) give t to 2^-51 of itself (log1p(e (1 + u)) moves by at most
     * u of itself), so where d + t64 (d exact, the sum in double-double)
     * exceeds 2^-48 t64 and 2^-1000 in magnitude, its sign is the exact
     * loss's side, which the double-double decides alike wherever it
     * decides (the bits agree with bceties.py's). Inputs on a coarse grid
     * (targets of few bits, integer logits) put most losses here: 0.8 us
     * each for the double-double. */
    double t64 = log1p(exp(-x));
    dd D1 = dd_add(d, (dd){t64, 0.0});
    if (fabs(D1.hi) > 0x1p-48 * t64 && fabs(D1.hi) > 0x1p-1000)
        return nextafter(m, D1.hi > 0 ? INFINITY : -INFINITY);
    dd t = log1p_unit(exp_neg(-x));
    double D = dd_add(d, t).hi, err = 0x1p-80 * t.hi;
    int side = d.hi == 0 ? 1 : D > err ? 1 : D < -err ? -1 : 0;
    if (side == 0)
        return l;
    /* Here l, within TIE_WINDOW float64 ulps of the midpoint m, cannot be
     * rounded once to the narrow format as it is: on m itself round-half-
     * even picks the even neighbour whichever side the exact loss is on
     * (y = 0x1.0ep-2, z = 36 in float16: 26.5 for 26.515625), and a few
     * ulps off m its own error may have crossed m. The float64 number next
     * to m on the exact loss's side lies strictly between m and that
     * side's neighbour (2^29 float64 ulps away or more), so its single
     * rounding is the correctly rounded loss. */
    return nextafter(m, side > 0 ? INFINITY : -INFINITY);
}

/* the test in lanes (the AVX2 and AVX-512 clones compare 64-bit integers
 * in vectors; the baseline's SSE2 cannot, and runs it one element at a
 * time), then the rare settling (one function for all clones: NOINLINE) */
HIDDEN CLONES void stabkit_bce_ties(const double *y, const double *z, double *l, int n, int fmt)
{
    const int shift = TIE_SHIFT(fmt);
    const double tiny = TIE_TINY(fmt);
    int any = 0;
    for (int i = 0; i < n; i++)
        any |= stabkit_near_midpoint(l[i], shift, tiny);
    if (!any)
        return;
    for (int i = 0; i < n; i++)
        if (stabkit_near_midpoint(l[i], shift, tiny))
            l[i] = stabkit_bce_settle(y[i], z[i], l[i], fmt);
}
