/* The binary cross-entropy from logits rounded to float32, float16 or
 * bfloat16 where its float64 value lies within TIE_WINDOW float64 ulps of a
 * midpoint of the format (_bce_ties.c; the NumPy path's oracle is
 * stabkit/_accurate/bceties.py, whose constants these are). */
#ifndef STABKIT_BCE_TIES_H
#define STABKIT_BCE_TIES_H

#include <stdint.h>
#include <string.h>

#include "_common.h"

/* the formats: float64 significand bits below their last place (SHIFT) and
 * their smallest normal number (TINY) */
#define TIE_F32 0
#define TIE_F16 1
#define TIE_BF16 2
#define TIE_SHIFT(fmt) ((fmt) == TIE_F32 ? 29 : (fmt) == TIE_F16 ? 42 : 45)
#define TIE_TINY(fmt) ((fmt) == TIE_F16 ? 0x1p-14 : 0x1p-126)
/* bceties.WINDOW: the float64 loss is off by less than 12 ulps */
#define TIE_WINDOW 32

/* Whether the float64 loss l lies within TIE_WINDOW ulps of a midpoint of
 * the format (bceties.near_midpoints): its last `shift` significand bits
 * within TIE_WINDOW of 10...0, tested on l + tiny below the smallest normal
 * tiny (whose midpoints are those of [tiny, 2 tiny) shifted by tiny). A
 * select and three integer operations: it runs in lanes. */
static FORCE_INLINE int stabkit_near_midpoint(double l, int shift, double tiny)
{
    double v = l < tiny ? l + tiny : l;
    uint64_t b;
    memcpy(&b, &v, 8);
    const uint64_t half = (uint64_t)1 << (shift - 1), mask = ((uint64_t)1 << shift) - 1;
    return ((b + ((uint64_t)TIE_WINDOW - half)) & mask) <= 2 * TIE_WINDOW;
}

/* the float64 loss l of the target y and the logit z (both of the format
 * fmt, widened), moved next to the midpoint on the exact loss's side where
 * l is near one (bceties.settle_plain for one element) */
HIDDEN double stabkit_bce_settle(double y, double z, double l, int fmt);
/* the same for n elements, l in place: one test per element, the
 * double-double only where it fires */
HIDDEN void stabkit_bce_ties(const double *y, const double *z, double *l, int n, int fmt);

/* NumPy's float64 log1p of one value (defined in _elementwise64.c, which
 * holds NumPy's loops) */
HIDDEN double stabkit_numpy_log1p(double x);

#endif
