/* float16 <-> float64 as NumPy converts them (its float16 is IEEE binary16
 * stored as uint16): widening is exact; narrowing rounds once, to nearest
 * even, as NumPy's float64 -> float16 cast (the NumPy path's store), which
 * keeps a NaN's sign and the top 10 bits of its payload (a payload whose top
 * bits are 0 becomes 1, so that the result stays a NaN) and gives signed inf
 * past the range. The loops that use these are checked against NumPy's cast
 * at load (stabkit/_accurate/native64.py), so a NumPy that converts
 * otherwise keeps its own path. */
#ifndef STABKIT_HALF_H
#define STABKIT_HALF_H

#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "_common.h"

/* Without branches, so that the loops over a block stay straight-line
 * code: widening puts the 15 value bits where a double's exponent and
 * significand start and scales by 2^1008 (exact: a subnormal half gives a
 * subnormal double, m 2^-1032, and the product m 2^-24 is normal), inf and
 * NaN taking their own bits; narrowing computes the subnormal, normal and
 * inf/NaN results and selects one. */
/* 0 <= s < 2^51 rounded to an integer, ties to even: adding 2^52 rounds
 * it there, and the sum's low significand bits are that integer (read from
 * the bits: a double -> int64 conversion has no AVX-512F or AVX2 vector
 * instruction, and would keep the loops scalar) */
static FORCE_INLINE uint64_t stabkit_round_int(double s)
{
    double t = s + 0x1p52, b = 0x1p52;
    uint64_t tb, bb;
    memcpy(&tb, &t, 8);
    memcpy(&bb, &b, 8);
    return tb - bb;
}

static FORCE_INLINE double stabkit_half_to_double(uint16_t h)
{
    uint64_t sign = (uint64_t)(h & 0x8000u) << 48, v = (uint64_t)(h & 0x7fffu) << 42, bits;
    double d;
    memcpy(&d, &v, 8);
    d *= 0x1p1008;
    memcpy(&bits, &d, 8);
    /* inf or NaN: the payload moves up, as NumPy's cast */
    bits = v >= 0x01f0000000000000ull ? 0x7ff0000000000000ull | (v & 0x000ffc0000000000ull) : bits;
    bits |= sign;
    memcpy(&d, &bits, 8);
    return d;
}

static FORCE_INLINE uint64_t stabkit_double_to_half64(double x)
{
    uint64_t d;
    memcpy(&d, &x, 8);
    uint64_t sign = (d >> 48) & 0x8000u, a = d & 0x7fffffffffffffffull;
    /* inf, NaN: the top 10 payload bits, 1 where they are all 0 */
    uint64_t sig = a & 0x000fffffffffffffull, hnan = 0x7c00u + (sig >> 42);
    hnan += sig != 0 && hnan == 0x7c00u ? 1 : 0;
    /* normal (2^-14 <= |x| < 2^16): drop 42 bits of the significand, ties
     * to even; a carry into the exponent (up to inf) is the right result */
    uint64_t t = a - 0x3f00000000000000ull, rest = t & 0x3ffffffffffull, hn = t >> 42;
    /* (selects, not a comparison's 0/1 widened: GCC 12 vectorises those) */
    hn += rest > 0x20000000000ull ? 1 : rest == 0x20000000000ull ? (hn & 1) : 0;
    /* below 2^-14: a multiple of 2^-24; |x| 2^24 is exact and adding and
     * subtracting 2^52 rounds it to an integer, ties to even */
    double s;
    memcpy(&s, &a, 8);
    s = a < 0x3f10000000000000ull ? s * 0x1p24 : 0.0;
    uint64_t hs = stabkit_round_int(s);
    uint64_t h = a < 0x3f10000000000000ull ? hs : hn;
    h = a >= 0x40f0000000000000ull ? 0x7c00u : h;
    h = a >= 0x7ff0000000000000ull ? hnan : h;
    return sign | h;
}

/* bfloat16 (ml_dtypes; the top half of a float32): widened through float32
 * as ml_dtypes' cast does (a signalling NaN comes out quiet); narrowed once
 * to nearest even as stabkit's round_float64 (the NumPy path's store for
 * bfloat16) rounds, with signed inf past the range, and a NaN as ml_dtypes'
 * cast leaves it: the quiet NaN 0x7fc0 with the sign. Branch-free as above. */
static FORCE_INLINE double stabkit_bf16_to_double(uint16_t b)
{
    uint32_t u = (uint32_t)b << 16;
    float f;
    memcpy(&f, &u, 4);
    return (double)f;
}

static FORCE_INLINE uint64_t stabkit_double_to_bf16_64(double x)
{
    uint64_t d;
    memcpy(&d, &x, 8);
    uint64_t sign = (d >> 48) & 0x8000u, a = d & 0x7fffffffffffffffull;
    /* normal (2^-126 <= |x| < 2^128): rebias the exponent by 1023 - 127,
     * drop 45 bits of the significand, ties to even (a carry is right) */
    uint64_t t = a - 0x3800000000000000ull, rest = t & 0x1fffffffffffull, hn = t >> 45;
    hn += rest > 0x100000000000ull ? 1 : rest == 0x100000000000ull ? (hn & 1) : 0;
    /* below 2^-126: a multiple of 2^-133, rounded as for float16 */
    double s;
    memcpy(&s, &a, 8);
    s = a < 0x3810000000000000ull ? s * 0x1p133 : 0.0;
    uint64_t hs = stabkit_round_int(s);
    uint64_t h = a < 0x3810000000000000ull ? hs : hn;
    h = a >= 0x47f0000000000000ull ? 0x7f80u : h;
    h = a > 0x7ff0000000000000ull ? 0x7fc0u : h;
    return sign | h;
}

/* the same in a uint16_t (the 64-bit forms keep a loop in 64-bit lanes,
 * which GCC vectorises where a 16-bit value in the middle stops it) */
static FORCE_INLINE uint16_t stabkit_double_to_half(double x) { return (uint16_t)stabkit_double_to_half64(x); }
static FORCE_INLINE uint16_t stabkit_double_to_bf16(double x) { return (uint16_t)stabkit_double_to_bf16_64(x); }

/* the loops over a block of 16-bit values (bf: bfloat16, else float16;
 * _bce_probs.c: cloned for AVX-512 and AVX2, where they vectorise) */
HIDDEN void stabkit_widen16(const char *src, ptrdiff_t st, int bf, double *restrict d, int m);
HIDDEN void stabkit_narrow16(char *dst, ptrdiff_t st, int bf, const double *restrict y, int m);

#endif
