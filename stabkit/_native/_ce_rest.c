/* The rest of a float64 categorical loss from logits (what the row kernels'
 * loss lacks of the row's loss carried in double-double), for the losses a
 * sample weight or the sparse loss's class weight will multiply:
 * stabkit/_accurate/rowrest.py's _numpy_rest is the oracle, whose IEEE
 * operations this repeats in its order (the build has -ffp-contract=off:
 * nothing fuses), bound with ctypes by stabkit/_native/rows.py.
 *
 * Per row i of n columns (x the logits, m their maximum, d + r = x - m
 * exactly by TwoSum, L the row's log1p(s), y
 * the raw targets, w the class weights or NULL, c = (oh, ol, q, ql) with
 * 1 - ls = oh + ol and ls / k = q + ql, loss the kernels' float64 loss),
 * column after column:
 *   th + tl = w (y oh + q + (y ol + ql))   (TwoProduct, TwoSum, TwoProduct)
 *   a + ea = L - d_j, b + eb = a - r_j      (TwoSum, no conditions)
 *   p + pe = th_j b                         (TwoProduct by Veltkamp's split,
 *                                            as double_double.two_prod)
 *   lo     = pe + (th_j (ea + eb) + tl_j b), p and lo 0 where th_j is 0
 *   s + e  = s + p (TwoSum), c = c + (e + lo)
 * in the partial sums (s, c) number j % 8, which are then added in order
 * (TwoSum, the errors with the c's), and out[i] = (s - loss[i]) + c. The caller zeroes what is not a
 * correction of a few ulps (rowrest._kept).
 */
#include <stdint.h>

#include "_common.h"

#define VSPLIT 134217729.0 /* 2^27 + 1 */

static FORCE_INLINE void two_sum(double a, double b, double *s, double *e)
{
    double t = a + b, bb = t - a;
    *s = t;
    *e = (a - (t - bb)) + (b - bb);
}

static FORCE_INLINE void vsplit(double a, double *hi, double *lo)
{
    double c = VSPLIT * a;
    *hi = c - (c - a);
    *lo = a - *hi;
}

static FORCE_INLINE void two_prod(double a, double b, double *p, double *e)
{
    double ah, al, bh, bl;
    *p = a * b;
    vsplit(a, &ah, &al);
    vsplit(b, &bh, &bl);
    *e = ((ah * bh - *p) + ah * bl + al * bh) + al * bl;
}

/* LANES_R partial sums per row: column j goes to sum j % LANES_R, so that
 * the columns of a group sit side by side in vector lanes; the partial
 * sums are then added in order, 0 to LANES_R - 1, by TwoSum */
#define LANES_R 8

static FORCE_INLINE void rest_step(double x, double neg, double Li, double y, double wj, int weighted, double oh,
                                   double ol, double q, double ql, double *s, double *acc)
{
    double dj, rj, ph, pe, th, te, a, ea, b, eb, p, e, t;
    two_sum(x, neg, &dj, &rj);
    two_prod(y, oh, &ph, &pe);
    two_sum(ph, q, &th, &te);
    double tl = te + (pe + (y * ol + ql));
    if (weighted) {
        double we;
        two_prod(th, wj, &th, &we);
        tl = we + tl * wj;
    }
    two_sum(Li, -dj, &a, &ea);
    two_sum(a, -rj, &b, &eb);
    two_prod(th, b, &p, &pe);
    double lo = pe + (th * (ea + eb) + tl * b);
    p = th == 0.0 ? 0.0 : p;
    lo = th == 0.0 ? 0.0 : lo;
    two_sum(*s, p, &t, &e);
    *s = t;
    *acc = *acc + (e + lo);
}

static FORCE_INLINE void rest_rows(const double *x, const double *m, const double *L, const double *y,
                                   const double *w, int weighted, const double *c, const double *loss, int64_t rows,
                                   int64_t n, double *out)
{
    const double oh = c[0], ol = c[1], q = c[2], ql = c[3];
    for (int64_t i = 0; i < rows; i++) {
        const double *xi = x + i * n, *yi = y + i * n, neg = -m[i], Li = L[i];
        double s[LANES_R] = {0}, acc[LANES_R] = {0};
        int64_t j = 0;
        for (; j + LANES_R <= n; j += LANES_R)
            for (int k = 0; k < LANES_R; k++)
                rest_step(xi[j + k], neg, Li, yi[j + k], weighted ? w[j + k] : 1.0, weighted, oh, ol, q, ql, &s[k],
                          &acc[k]);
        for (int k = 0; j < n; j++, k++)
            rest_step(xi[j], neg, Li, yi[j], weighted ? w[j] : 1.0, weighted, oh, ol, q, ql, &s[k], &acc[k]);
        double tot = 0.0, lo = 0.0;
        for (int k = 0; k < LANES_R; k++) {
            double t, e;
            two_sum(tot, s[k], &t, &e);
            tot = t;
            lo = lo + (e + acc[k]);
        }
        out[i] = (tot - loss[i]) + lo;
    }
}

EXPORT CLONES void ce_rest(const double *x, const double *m, const double *L, const double *y, const double *w,
                           const double *c, const double *loss, int64_t rows, int64_t n, double *out)
{
    /* two bodies, so that the weight's test is not in the loop */
    if (w)
        rest_rows(x, m, L, y, w, 1, c, loss, rows, n, out);
    else
        rest_rows(x, m, L, y, w, 0, c, loss, rows, n, out);
}
