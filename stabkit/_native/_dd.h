/* Double-double arithmetic of the slow passes, shared by _elementwise.c
 * (the correctly rounded sigmoid, softplus and log_sigmoid of the narrow
 * formats) and _extended.c (the cancelling logsumexp rows): error-free
 * transformations without FMA (the files compile with -ffp-contract=off),
 * exp and log1p to about 2^-93 relative. Include after _common.h; the
 * Cody-Waite constants come from _fastpass.h. */
#ifndef STABKIT_DD_H
#define STABKIT_DD_H

#include <math.h>

#include "_fastpass.h"

typedef struct { double hi, lo; } dd;

/* on the functions some includers do not call (_lse_fast.c takes only the
 * additions) */
#define DD_MAYBE_UNUSED __attribute__((unused))

/* Knuth's TwoSum: s + err = a + b exactly */
static FORCE_INLINE dd two_sum(double a, double b)
{
    double s = a + b, bb = s - a;
    return (dd){s, (a - (s - bb)) + (b - bb)};
}

/* |a| >= |b| (or a == 0): Dekker's Fast2Sum */
static FORCE_INLINE dd fast_two_sum(double a, double b)
{
    double s = a + b;
    return (dd){s, b - (s - a)};
}

/* Dekker's TwoProduct (no FMA: -ffp-contract=off, portable), exact while
 * |a|, |b| < 2^995 */
static FORCE_INLINE dd two_prod(double a, double b)
{
    const double split = 134217729.0; /* 2^27 + 1 */
    double p = a * b;
    double ca = split * a, ah = ca - (ca - a), al = a - ah;
    double cb = split * b, bh = cb - (cb - b), bl = b - bh;
    return (dd){p, ((ah * bh - p) + ah * bl + al * bh) + al * bl};
}

static dd dd_add(dd a, dd b)
{
    dd s = two_sum(a.hi, b.hi), t = two_sum(a.lo, b.lo);
    s = fast_two_sum(s.hi, s.lo + t.hi);
    return fast_two_sum(s.hi, s.lo + t.lo);
}

static dd dd_mul(dd a, dd b)
{
    dd p = two_prod(a.hi, b.hi);
    return fast_two_sum(p.hi, p.lo + (a.hi * b.lo + a.lo * b.hi));
}

/* a / b: three quotient digits, each from the exact remainder so far */
static dd dd_div(dd a, dd b)
{
    double q1 = a.hi / b.hi;
    dd r = dd_add(a, dd_mul((dd){-q1, 0.0}, b));
    double q2 = r.hi / b.hi;
    r = dd_add(r, dd_mul((dd){-q2, 0.0}, b));
    double q3 = r.hi / b.hi;
    dd q = fast_two_sum(q1, q2);
    return dd_add(q, (dd){q3, 0.0});
}

/* expm1(r) for |r| <= 0.75 in double-double, relative error below 2^-96:
 * expm1(r/64) by Taylor to degree 12 (the rest is below 2^-110 relative),
 * Horner as 1 + (r/n)(...), then six doublings expm1(2u) = expm1(u) (2 +
 * expm1(u)), each of which at most doubles the relative error (2^-104 at
 * the start). */
static dd expm1_dd(dd r)
{
    r.hi *= 1.0 / 64.0;
    r.lo *= 1.0 / 64.0;
    dd q = {1.0, 0.0};
    for (int n = 12; n >= 2; n--) {
        dd rn = dd_div(r, (dd){(double)n, 0.0});
        q = dd_add((dd){1.0, 0.0}, dd_mul(rn, q));
    }
    dd p = dd_mul(r, q);
    for (int i = 0; i < 6; i++)
        p = dd_mul(p, dd_add((dd){2.0, 0.0}, p));
    return p;
}

/* exp(a) for AMIN <= a <= 700 in double-double, relative error below
 * 2^-95: a = k ln2 + r with r = (a - k LN2_1) - k LN2_2 - k LN2_3 in
 * double-double (the first difference is exact, k LN2_2 is taken exactly by
 * TwoProduct), then 2^k (1 + expm1(r)); |k| <= 1010 keeps both halves
 * normal (the slow pass of _elementwise.c calls it for a <= 0, the
 * logsumexp rows of _extended.c for a up to ~45). */
static CLONES DD_MAYBE_UNUSED dd exp_dd(double a)
{
    double k = nearbyint(a * INV_LN2);
    dd r = two_sum(a - k * LN2_1, 0.0);
    dd m = two_prod(k, LN2_2);
    r = dd_add(r, (dd){-m.hi, -m.lo});
    r = dd_add(r, (dd){-k * LN2_3, 0.0});
    dd e = dd_add((dd){1.0, 0.0}, expm1_dd(r));
    return (dd){ldexp(e.hi, (int)k), ldexp(e.lo, (int)k)};
}

/* log1p(t) for 0 < t <= 1 in double-double, relative error below 2^-93:
 * one Newton step on expm1(y) = t from libm's y0 = log1p(t.hi) (within a
 * few ulps): y = y0 - (expm1(y0) - t) / (1 + expm1(y0)). expm1(y0) - t is
 * formed in double-double from two values accurate to 2^-96 relative, so it
 * is accurate to 2^-95 t even for tiny t; the step's own error is of the
 * order of the square of y0's (2^-100). */
static CLONES DD_MAYBE_UNUSED dd log1p_dd(dd t)
{
    double y0 = log1p(t.hi);
    dd m = expm1_dd((dd){y0, 0.0});
    dd d = dd_add(m, (dd){-t.hi, -t.lo});
    double corr = (d.hi + d.lo) / (1.0 + m.hi);
    return two_sum(y0, -corr);
}

#endif
