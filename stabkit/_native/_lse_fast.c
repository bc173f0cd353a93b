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

/* ln2/128 = C1 + C2 + C3 (+ 2^-143): C1 has 37 significant bits, C2 36 */
#define LC_C1 0x1.62e42fefa0000p-8
#define LC_C2 0x1.cf79abc9e0000p-47
#define LC_C3 0x1.d9cc01f97b57ap-86
#define LC_INV 0x1.71547652b82fep+7 /* 128 / ln2 */
#define LC_SHIFT 0x1.8p52
#define LC_SPLIT 134217729.0 /* 2^27 + 1 */
/* the terms' relative error used in B (derived above: 2^-77.9) */
#define TERM_ERR 0x1p-77
/* entries per block of terms (a multiple of 8 and of 8 * RENORM) */
#define LC_BLOCK 512
#define RENORM 16

/* 2^(i/128) = hi + lo, correctly rounded pairs (mpmath) */
static const double EXP2_128[128][2] = {
    {0x1.0000000000000p+0, 0x0.0p+0},
    {0x1.0163da9fb3335p+0, 0x1.b61299ab8cdb7p-54},
    {0x1.02c9a3e778061p+0, -0x1.19083535b085dp-56},
    {0x1.04315e86e7f85p+0, -0x1.0a31c1977c96ep-54},
    {0x1.059b0d3158574p+0, 0x1.d73e2a475b465p-55},
    {0x1.0706b29ddf6dep+0, -0x1.c91dfe2b13c27p-55},
    {0x1.0874518759bc8p+0, 0x1.186be4bb284ffp-57},
    {0x1.09e3ecac6f383p+0, 0x1.1487818316136p-54},
    {0x1.0b5586cf9890fp+0, 0x1.8a62e4adc610bp-54},
    {0x1.0cc922b7247f7p+0, 0x1.01edc16e24f71p-54},
    {0x1.0e3ec32d3d1a2p+0, 0x1.03a1727c57b53p-59},
    {0x1.0fb66affed31bp+0, -0x1.b9bedc44ebd7bp-57},
    {0x1.11301d0125b51p+0, -0x1.6c51039449b3ap-54},
    {0x1.12abdc06c31ccp+0, -0x1.1b514b36ca5c7p-58},
    {0x1.1429aaea92de0p+0, -0x1.32fbf9af1369ep-54},
    {0x1.15a98c8a58e51p+0, 0x1.2406ab9eeab0ap-55},
    {0x1.172b83c7d517bp+0, -0x1.19041b9d78a76p-55},
    {0x1.18af9388c8deap+0, -0x1.11023d1970f6cp-54},
    {0x1.1a35beb6fcb75p+0, 0x1.e5b4c7b4968e4p-55},
    {0x1.1bbe084045cd4p+0, -0x1.95386352ef607p-54},
    {0x1.1d4873168b9aap+0, 0x1.e016e00a2643cp-54},
    {0x1.1ed5022fcd91dp+0, -0x1.1df98027bb78cp-54},
    {0x1.2063b88628cd6p+0, 0x1.dc775814a8495p-55},
    {0x1.21f49917ddc96p+0, 0x1.2a97e9494a5eep-55},
    {0x1.2387a6e756238p+0, 0x1.9b07eb6c70573p-54},
    {0x1.251ce4fb2a63fp+0, 0x1.ac155bef4f4a4p-55},
    {0x1.26b4565e27cddp+0, 0x1.2bd339940e9d9p-55},
    {0x1.284dfe1f56381p+0, -0x1.a4c3a8c3f0d7ep-54},
    {0x1.29e9df51fdee1p+0, 0x1.612e8afad1255p-55},
    {0x1.2b87fd0dad990p+0, -0x1.10adcd6381aa4p-59},
    {0x1.2d285a6e4030bp+0, 0x1.0024754db41d5p-54},
    {0x1.2ecafa93e2f56p+0, 0x1.1ca0f45d52383p-56},
    {0x1.306fe0a31b715p+0, 0x1.6f46ad23182e4p-55},
    {0x1.32170fc4cd831p+0, 0x1.a9ce78e18047cp-55},
    {0x1.33c08b26416ffp+0, 0x1.32721843659a6p-54},
    {0x1.356c55f929ff1p+0, -0x1.b5cee5c4e4628p-55},
    {0x1.371a7373aa9cbp+0, -0x1.63aeabf42eae2p-54},
    {0x1.38cae6d05d866p+0, -0x1.e958d3c9904bdp-54},
    {0x1.3a7db34e59ff7p+0, -0x1.5e436d661f5e3p-56},
    {0x1.3c32dc313a8e5p+0, -0x1.efff8375d29c3p-54},
    {0x1.3dea64c123422p+0, 0x1.ada0911f09ebcp-55},
    {0x1.3fa4504ac801cp+0, -0x1.7d023f956f9f3p-54},
    {0x1.4160a21f72e2ap+0, -0x1.ef3691c309278p-58},
    {0x1.431f5d950a897p+0, -0x1.1c7dde35f7999p-55},
    {0x1.44e086061892dp+0, 0x1.89b7a04ef80d0p-59},
    {0x1.46a41ed1d0057p+0, 0x1.c944bd1648a76p-54},
    {0x1.486a2b5c13cd0p+0, 0x1.3c1a3b69062f0p-56},
    {0x1.4a32af0d7d3dep+0, 0x1.9cb62f3d1be56p-54},
    {0x1.4bfdad5362a27p+0, 0x1.d4397afec42e2p-56},
    {0x1.4dcb299fddd0dp+0, 0x1.8ecdbbc6a7833p-54},
    {0x1.4f9b2769d2ca7p+0, -0x1.4b309d25957e3p-54},
    {0x1.516daa2cf6642p+0, -0x1.f768569bd93efp-55},
    {0x1.5342b569d4f82p+0, -0x1.07abe1db13cadp-55},
    {0x1.551a4ca5d920fp+0, -0x1.d689cefede59bp-55},
    {0x1.56f4736b527dap+0, 0x1.9bb2c011d93adp-54},
    {0x1.58d12d497c7fdp+0, 0x1.295e15b9a1de8p-55},
    {0x1.5ab07dd485429p+0, 0x1.6324c054647adp-54},
    {0x1.5c9268a5946b7p+0, 0x1.c4b1b816986a2p-60},
    {0x1.5e76f15ad2148p+0, 0x1.ba6f93080e65ep-54},
    {0x1.605e1b976dc09p+0, -0x1.3e2429b56de47p-54},
    {0x1.6247eb03a5585p+0, -0x1.383c17e40b497p-54},
    {0x1.6434634ccc320p+0, -0x1.c483c759d8933p-55},
    {0x1.6623882552225p+0, -0x1.bb60987591c34p-54},
    {0x1.68155d44ca973p+0, 0x1.038ae44f73e65p-57},
    {0x1.6a09e667f3bcdp+0, -0x1.bdd3413b26456p-54},
    {0x1.6c012750bdabfp+0, -0x1.2895667ff0b0dp-56},
    {0x1.6dfb23c651a2fp+0, -0x1.bbe3a683c88abp-57},
    {0x1.6ff7df9519484p+0, -0x1.83c0f25860ef6p-55},
    {0x1.71f75e8ec5f74p+0, -0x1.16e4786887a99p-55},
    {0x1.73f9a48a58174p+0, -0x1.0a8d96c65d53cp-54},
    {0x1.75feb564267c9p+0, -0x1.0245957316dd3p-54},
    {0x1.780694fde5d3fp+0, 0x1.866b80a02162dp-54},
    {0x1.7a11473eb0187p+0, -0x1.41577ee04992fp-55},
    {0x1.7c1ed0130c132p+0, 0x1.f124cd1164dd6p-54},
    {0x1.7e2f336cf4e62p+0, 0x1.05d02ba15797ep-56},
    {0x1.80427543e1a12p+0, -0x1.27c86626d972bp-54},
    {0x1.82589994cce13p+0, -0x1.d4c1dd41532d8p-54},
    {0x1.8471a4623c7adp+0, -0x1.8d684a341cdfbp-55},
    {0x1.868d99b4492edp+0, -0x1.fc6f89bd4f6bap-54},
    {0x1.88ac7d98a6699p+0, 0x1.994c2f37cb53ap-54},
    {0x1.8ace5422aa0dbp+0, 0x1.6e9f156864b27p-54},
    {0x1.8cf3216b5448cp+0, -0x1.0d55e32e9e3aap-56},
    {0x1.8f1ae99157736p+0, 0x1.5cc13a2e3976cp-55},
    {0x1.9145b0b91ffc6p+0, -0x1.dd6792e582524p-54},
    {0x1.93737b0cdc5e5p+0, -0x1.75fc781b57ebcp-57},
    {0x1.95a44cbc8520fp+0, -0x1.64b7c96a5f039p-56},
    {0x1.97d829fde4e50p+0, -0x1.d185b7c1b85d1p-54},
    {0x1.9a0f170ca07bap+0, -0x1.173bd91cee632p-54},
    {0x1.9c49182a3f090p+0, 0x1.c7c46b071f2bep-56},
    {0x1.9e86319e32323p+0, 0x1.824ca78e64c6ep-56},
    {0x1.a0c667b5de565p+0, -0x1.359495d1cd533p-54},
    {0x1.a309bec4a2d33p+0, 0x1.6305c7ddc36abp-54},
    {0x1.a5503b23e255dp+0, -0x1.d2f6edb8d41e1p-54},
    {0x1.a799e1330b358p+0, 0x1.bcb7ecac563c7p-54},
    {0x1.a9e6b5579fdbfp+0, 0x1.0fac90ef7fd31p-54},
    {0x1.ac36bbfd3f37ap+0, -0x1.f9234cae76cd0p-55},
    {0x1.ae89f995ad3adp+0, 0x1.7a1cd345dcc81p-54},
    {0x1.b0e07298db666p+0, -0x1.bdef54c80e425p-54},
    {0x1.b33a2b84f15fbp+0, -0x1.2805e3084d708p-57},
    {0x1.b59728de5593ap+0, -0x1.c71dfbbba6de3p-54},
    {0x1.b7f76f2fb5e47p+0, -0x1.5584f7e54ac3bp-56},
    {0x1.ba5b030a1064ap+0, -0x1.efcd30e54292ep-54},
    {0x1.bcc1e904bc1d2p+0, 0x1.23dd07a2d9e84p-55},
    {0x1.bf2c25bd71e09p+0, -0x1.efdca3f6b9c73p-54},
    {0x1.c199bdd85529cp+0, 0x1.11065895048ddp-55},
    {0x1.c40ab5fffd07ap+0, 0x1.b4537e083c60ap-54},
    {0x1.c67f12e57d14bp+0, 0x1.2884dff483cadp-54},
    {0x1.c8f6d9406e7b5p+0, 0x1.1acbc48805c44p-56},
    {0x1.cb720dcef9069p+0, 0x1.503cbd1e949dbp-56},
    {0x1.cdf0b555dc3fap+0, -0x1.dd83b53829d72p-55},
    {0x1.d072d4a07897cp+0, -0x1.cbc3743797a9cp-54},
    {0x1.d2f87080d89f2p+0, -0x1.d487b719d8578p-54},
    {0x1.d5818dcfba487p+0, 0x1.2ed02d75b3707p-55},
    {0x1.d80e316c98398p+0, -0x1.11ec18beddfe8p-54},
    {0x1.da9e603db3285p+0, 0x1.c2300696db532p-54},
    {0x1.dd321f301b460p+0, 0x1.2da5778f018c3p-54},
    {0x1.dfc97337b9b5fp+0, -0x1.1a5cd4f184b5cp-54},
    {0x1.e264614f5a129p+0, -0x1.7b627817a1496p-54},
    {0x1.e502ee78b3ff6p+0, 0x1.39e8980a9cc8fp-55},
    {0x1.e7a51fbc74c83p+0, 0x1.2d522ca0c8de2p-54},
    {0x1.ea4afa2a490dap+0, -0x1.e9c23179c2893p-54},
    {0x1.ecf482d8e67f1p+0, -0x1.c93f3b411ad8cp-54},
    {0x1.efa1bee615a27p+0, 0x1.dc7f486a4b6b0p-54},
    {0x1.f252b376bba97p+0, 0x1.3a1a5bf0d8e43p-54},
    {0x1.f50765b6e4540p+0, 0x1.9d3e12dd8a18bp-54},
    {0x1.f7bfdad9cbe14p+0, -0x1.dbb12d006350ap-54},
    {0x1.fa7c1819e90d8p+0, 0x1.74853f3a5931ep-55},
    {0x1.fd3c22b8f71f1p+0, 0x1.2eb74966579e7p-57},
};

/* a where mask is all ones, +0 where it is 0 */
static FORCE_INLINE double mask_or_zero(double a, uint64_t mask)
{
    uint64_t b;
    memcpy(&b, &a, 8);
    b &= mask;
    memcpy(&a, &b, 8);
    return a;
}

/* exp(x - m) for x - m in [-200, 200] as hi + lo (unnormalised), 0 for
 * x - m below -200 or -inf; branch-free */
static FORCE_INLINE dd exp_term(double x, double m)
{
    /* TwoSum: a = x - m = ah + al exactly */
    double ah = x - m, bb = ah - x, al = (x - (ah - bb)) + (-m - bb);
    /* all ones where the entry counts, as a bit mask: the selects below
     * are bitwise, so that no branch (nor masked load) appears */
    const uint64_t live = -(uint64_t)(ah >= -200.0);
    ah = mask_or_zero(ah, live);
    al = mask_or_zero(al, live);
    /* k = ah 128/ln2 rounded to an integer, in t's low bits */
    const double t = ah * LC_INV + LC_SHIFT, k = t - LC_SHIFT;
    /* exact: k C1 has at most 52 bits, and ah lies within a factor 2 of it */
    const double r1 = ah - k * LC_C1, kc2 = -(k * LC_C2);
    double rh = r1 + kc2;
    bb = rh - r1;
    double rl = (r1 - (rh - bb)) + (kc2 - bb);
    rl += al - k * LC_C3;
    /* rh^2 = P + Pe exactly (Dekker: rh's halves of 26 and 27 bits) */
    const double c = LC_SPLIT * rh, sh = c - (c - rh), sl = rh - sh;
    const double P = rh * rh, Pe = ((sh * sh - P) + 2.0 * sh * sl) + sl * sl;
    double q = 1.0 / 40320.0;
    q = q * rh + 1.0 / 5040.0;
    q = q * rh + 1.0 / 720.0;
    q = q * rh + 1.0 / 120.0;
    q = q * rh + 1.0 / 24.0;
    q = q * rh + 1.0 / 6.0;
    const double tail = rh * P * q;
    /* v = exp(r) - 1: Fast2Sum of rh and P/2 (|rh| >= P/2), then the small
     * parts; rl exp(rh) with exp(rh) to 2^-52 */
    const double vh = rh + 0.5 * P, vl0 = 0.5 * P - (vh - rh);
    const double vl = vl0 + (0.5 * Pe + (tail + rl * (1.0 + (vh + tail))));
    /* table entry i = k mod 128 and 2^e, e = floor(k / 128), from t's bits
     * (k biased to stay positive: |k| < 2^15) */
    uint64_t tb, sb;
    memcpy(&tb, &t, 8);
    const double shift = LC_SHIFT;
    memcpy(&sb, &shift, 8);
    const uint64_t kb = tb - sb + ((uint64_t)1 << 22);
    /* dead entries are scaled by +0 */
    const uint64_t i = kb & 127, sbits = (((kb >> 7) - ((uint64_t)1 << 15) + 1023) << 52) & live;
    double scale;
    memcpy(&scale, &sbits, 8);
    const double Th = EXP2_128[i][0], Tl = EXP2_128[i][1];
    /* Th vh = p + pe exactly (Dekker) */
    const double ct = LC_SPLIT * Th, th = ct - (ct - Th), tl = Th - th;
    const double cv = LC_SPLIT * vh, v1 = cv - (cv - vh), v2 = vh - v1;
    const double p = Th * vh, pe = ((th * v1 - p) + th * v2 + tl * v1) + tl * v2;
    /* Fast2Sum: |Th| > |p| */
    const double uh = Th + p, ul = (p - (uh - Th)) + (pe + (Th * vl + Tl * (1.0 + vh)));
    return (dd){uh * scale, ul * scale};
}

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
