/* The accurate losses' smoothed and weighted targets, each rounded once:
 * stabkit/_accurate/targets64.py's _fast (its NumPy code is the oracle),
 * the same IEEE operations in the same order for every element (the build
 * has -ffp-contract=off, so no product fuses into an addition), bound with
 * ctypes by stabkit/_native/targets.py.
 *
 * For each y[i] (in [0, 1]) and weight w (none, one per column of a row of
 * ncols, or one per element), with 1 - ls = oh + ol and ls / k = q + ql
 * exact (the caller's scalars, c[0..5] = oh, ol, q, ql and oh's Veltkamp
 * halves):
 *   y' = sh + sl = y oh (TwoProduct, oh split once) + q (TwoSum) + the rests
 *   t  = y' w     (TwoProduct again), rounded once
 *   b  = 1 - y'   (TwoSum of 1 - sh, the rest of y' off it), when asked
 * and marks the elements whose t (or b) the caller forms again by scaling
 * (targets64.parts): t or y' below 2^-900, t not finite from a finite
 * weight; b below 2^-40. Returns how many are marked.
 */
#include <float.h>
#include <math.h>
#include <stddef.h>
#include <stdint.h>

#include "_common.h"

#define SPLITTER 134217729.0 /* 2^27 + 1 */
#define LOW 0x1p-900
#define B_LOW 0x1p-40
#define WBLOCK 1024

static FORCE_INLINE void split(double a, double *hi, double *lo)
{
    double c = SPLITTER * a;
    *hi = c - (c - a);
    *lo = a - *hi;
}

/* One element (see the header), with the weight's and b's presence known
 * at compile time in each loop below (so that each loop vectorises without
 * branches): t, and b where has_b; the redo flags; returns how many of the
 * two are marked. Finiteness as |x| <= DBL_MAX (false for NaN), which
 * vectorises. */
static FORCE_INLINE int one(double yi, double wi, int has_w, int has_b, const double *restrict c, double *restrict t,
                            double *restrict b, uint8_t *restrict redo_t, uint8_t *restrict redo_b)
{
    const double oh = c[0], ol = c[1], q = c[2], ql = c[3], OH = c[4], OL = c[5], ls = c[6];
    double p = yi * oh, yh, yl;
    split(yi, &yh, &yl);
    double e = (((yh * OH - p) + yh * OL) + yl * OH) + yl * OL;
    double sh = p + q;
    double bb = sh - p;
    double sl = ((p - (sh - bb)) + (q - bb)) + (e + (yi * ol + ql));
    /* y' is exactly 0 for a zero label without smoothing */
    int plain = (yi == 0.0) & (ls == 0.0);
    double ti;
    if (has_w) {
        double m = sh * wi, th, tl, wh, wl;
        split(sh, &th, &tl);
        split(wi, &wh, &wl);
        ti = m + (((((th * wh - m) + th * wl) + tl * wh) + tl * wl) + sl * wi);
        /* a zero, infinite or NaN weight, or y' = 0: the plain product */
        plain |= (wi == 0.0) | (!(fabs(wi) <= DBL_MAX));
        ti = plain ? m : ti;
    } else {
        ti = sh + sl;
    }
    /* tiny, or not finite (an overflow, or a huge weight's split): formed
     * again by the caller; NaN labels stand */
    int bad = (fabs(ti) < LOW) | (sh < LOW) | (!(fabs(ti) <= DBL_MAX));
    int ok = !(bad & !plain & (fabs(yi) <= DBL_MAX));
    *t = ti;
    *redo_t = (uint8_t)!ok;
    int marked = !ok;
    if (has_b) {
        double bh = 1.0 - sh;
        double bb2 = bh - 1.0;
        double bi = bh + (((1.0 - (bh - bb2)) - (sh + bb2)) - sl);
        /* (b is exactly 0 for a label of 1 without smoothing) */
        int low = (fabs(bi) < B_LOW) & !((yi == 1.0) & (ls == 0.0));
        *b = bi;
        *redo_b = (uint8_t)low;
        marked += low;
    }
    return marked;
}

#define LOOP(HAS_W, HAS_B, WI)                                                                                     \
    for (int64_t i = 0; i < n; i++)                                                                                \
        marked += one(y[i], WI, HAS_W, HAS_B, c, t + i, HAS_B ? b + i : NULL, redo_t + i, HAS_B ? redo_b + i : NULL);

/* n labels y; w NULL (no weight), one weight per element (w_full), or
 * ncols weights that repeat along rows of ncols labels (n a multiple of
 * ncols); c: oh, ol, q, ql, oh's halves, ls; b and redo_b NULL for the
 * categorical targets. */
EXPORT CLONES int64_t smooth_targets(const double *restrict y, int64_t n, int64_t ncols, const double *restrict w,
                                     int w_full, const double *restrict c, double *restrict t, double *restrict b,
                                     uint8_t *restrict redo_t, uint8_t *restrict redo_b)
{
    int64_t marked = 0;
    if (!w) {
        if (b)
            LOOP(0, 1, 0.0)
        else
            LOOP(0, 0, 0.0)
    } else if (w_full) {
        if (b)
            LOOP(1, 1, w[i])
        else
            LOOP(1, 0, w[i])
    } else {
        /* the weights of whole rows tiled once into a block of WBLOCK (rows
         * of a few classes vectorise poorly one by one: 6.7 ns a target at
         * 10 classes, against ~1 over a block) */
        double wbuf[WBLOCK];
        int64_t step = ncols <= WBLOCK ? WBLOCK / ncols * ncols : ncols;
        const double *wb = w;
        if (ncols <= WBLOCK) {
            for (int64_t j = 0; j < step; j++)
                wbuf[j] = w[j % ncols];
            wb = wbuf;
        }
        for (int64_t r = 0; r < n; r += step) {
            int64_t m = n - r < step ? n - r : step;
            const double *yr = y + r;
            double *tr = t + r;
            uint8_t *rr = redo_t + r;
            for (int64_t i = 0; i < m; i++)
                marked += one(yr[i], wb[i], 1, 0, c, tr + i, NULL, rr + i, NULL);
        }
    }
    return marked;
}
