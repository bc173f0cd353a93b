/* The fast passes' exp and log1p in double, of our own, vectorisable (no
 * libm call), to two accuracies: for float32 results (relative error below
 * 2^-45, which a rounding test's margin of 2^-42 covers 8 times) and, with
 * narrow set, for float16 and bfloat16 (below 2^-27: those results are
 * rounded through float32, where the test needs less than half a float32
 * ulp, 2^-25 relative; see half_via32). Included by _elementwise.c (its
 * fast_eval; the Cody-Waite constants and AMIN serve its slow pass too) and
 * by _rows.c (the float32 wide rows' fast pass, _wide_fast.h). */
#ifndef STABKIT_FASTPASS_H
#define STABKIT_FASTPASS_H

#include <stdint.h>
#include <string.h>

/* Cody-Waite ln 2 = LN2_1 + LN2_2 + LN2_3 (+ 4e-48): LN2_1 has 40 significant
 * bits, so k LN2_1 is exact for |k| < 2^13 */
#define LN2_1 0x1.62e42fefa4000p-1
#define LN2_2 (-0x1.8432a1b0e2634p-43)
#define LN2_3 0x1.f97b57a079a19p-103
#define INV_LN2 0x1.71547652b82fep+0
/* the least argument of exp: e^-200 < 2^-288 is far below every format's
 * least subnormal, and 2^k stays a normal double */
#define AMIN (-200.0)

/* Cody-Waite's reduction for exp_fast: a = k ln2 + r, with
 * t = a / ln2 + 1.5 2^52 (k in its low bits) kept for exp_scale */
static FORCE_INLINE double exp_reduce(double a, double *t)
{
    const double shifter = 0x1.8p52;
    /* a / ln2 + 1.5 2^52 rounds a/ln2 to an integer k in the low bits */
    *t = a * INV_LN2 + shifter;
    double k = *t - shifter;
    return (a - k * LN2_1) - k * LN2_2;
}

/* p 2^k, with 2^k put in the exponent bits: k is the difference of the bit
 * patterns of t and the shifter (2^k a normal double for -708 <= a <= 709,
 * where -1021 <= k <= 1023) */
static FORCE_INLINE double exp_scale(double p, double t)
{
    uint64_t tb, sb, kb;
    const double shifter = 0x1.8p52;
    memcpy(&tb, &t, 8);
    memcpy(&sb, &shifter, 8);
    kb = (tb - sb + 1023) << 52;
    double scale;
    memcpy(&scale, &kb, 8);
    return p * scale;
}

/* the polynomial c[0] x^(n-1) + ... + c[n-1] by Horner's rule */
static FORCE_INLINE double horner(const double *c, int n, double x)
{
    double p = c[0];
    for (int i = 1; i < n; i++)
        p = p * x + c[i];
    return p;
}

/* exp(r) on |r| <= 0.3466, leading coefficient first */
static const double EXP_C[10] = {
    0x1.72e107c874e46p-19, 0x1.a17df0d914decp-16, 0x1.a01994c849581p-13, 0x1.6c162bb7d965cp-10,
    0x1.11111123bf154p-7, 0x1.55555588b8403p-5, 0x1.5555555550d88p-3, 0x1.ffffffffe74f1p-2,
    0x1.0000000000006p+0, 0x1.000000000003dp+0};
static const double EXP16_C[7] = {
    0x1.6d7531eae54e7p-10, 0x1.126fa6fd6e894p-7, 0x1.5554ace120b85p-5, 0x1.5554043e289bbp-3,
    0x1.00000028794dfp-1, 0x1.000000a1fd6a7p+0, 1.0};
/* g(w) on [0, 1/9], leading coefficient first */
static const double G_C[9] = {
    0x1.802a0bb9f02a2p-4, 0x1.e11304c45c4bep-5, 0x1.3ee3597079f29p-4, 0x1.741ba346d2a33p-4,
    0x1.c71f00220063cp-4, 0x1.24924201346fep-3, 0x1.999999ad7f2d3p-3, 0x1.555555554ab02p-2,
    0x1.0000000000007p+0};
static const double G16_C[5] = {
    0x1.2055ed2fe71dbp-3, 0x1.1e5cfbadb960ep-3, 0x1.99da132e0f76dp-3, 0x1.5554e18fe2fe3p-2,
    0x1.000000107f177p+0};

/* exp(a) for -708 <= a <= 709 (-1021 <= k <= 1023: the reduction and the
 * scaling below hold on the whole range), relative error below 2^-45.4.
 * a = k ln2 + r, |r| <= ln2/2 (+2^-40): a - k LN2_1 is exact (k LN2_1 is,
 * and a lies within a factor 2 of it when k != 0: Sterbenz); subtracting
 * k LN2_2 rounds by 2^-53 |r| and drops k LN2_3 (< 2^-94). exp(r) by a
 * degree-9 polynomial fitted on |r| <= 0.3466 (Chebyshev interpolation in
 * mpmath, coefficients rounded to double: relative error 2^-45.6, sampled at
 * 20,001 points), Horner in double (about 1.5 ulp), and 2^k put in the
 * exponent bits. (Degree 10 gave 2^-51.4 for one more operation per element
 * than the rounding test needs: the test's margin is set by this bound.)
 * With narrow (the 16-bit formats), degree 6 (EXP16_C, fitted as EXP_C:
 * relative error 2^-28.56), below 2^-28.5 in all. */
static FORCE_INLINE double exp_fast(double a, int narrow)
{
    double t, r = exp_reduce(a, &t);
    double p = narrow ? horner(EXP16_C, 7, r) : horner(EXP_C, 10, r);
    return exp_scale(p, t);
}

/* log1p(t) for 0 < t <= 1 (t within 2^-45.4 relative), relative error below
 * 2^-45.2: log1p(t) = 2 atanh(s) = 2 s g(s^2), s = t / (2 + t) <= 1/3, with
 * g(w) = atanh(sqrt(w))/sqrt(w) by a degree-8 polynomial fitted on
 * [0, 1/9] (Chebyshev interpolation in mpmath, coefficients rounded to
 * double: relative error 2^-48.9). t's error passes through scaled by
 * t / ((1 + t) log1p(t)) <= 1; 2 + t and the division round once each, the
 * polynomial about once, 2 s p once more: 2^-48.3 of its own.
 * With narrow (t within 2^-28.5), g of degree 4 (G16_C: relative error
 * 2^-27.87), below 2^-27.1 in all. */
static FORCE_INLINE double log1p_fast(double t, int narrow)
{
    double s = t / (2.0 + t);
    double w = s * s;
    double p = narrow ? horner(G16_C, 5, w) : horner(G_C, 9, w);
    return 2.0 * s * p;
}

#endif
