/* The float64 categorical loss from logits of each row again, as a
 * double-double (hi, lo), for the losses a sample weight will multiply:
 * stabkit/_accurate/rowrest.py's numpy_rest is the oracle, whose IEEE
 * operations this repeats in its order (the build has -ffp-contract=off:
 * nothing fuses). Included by _rows.c after _sum2.h (pairwise, two_sum,
 * sum2_row); bound with ctypes by stabkit/_native/rows.py.
 *
 * Per entry (x the logits, m the row's maximum, L its log1p(s), y the raw
 * targets, w the class weights or NULL, c = (oh, ol, q, ql) with
 * 1 - ls = oh + ol and ls / k = q + ql), into t and u:
 *   d + r   = x - m                               (TwoSum)
 *   th + tl = w (y oh + q + (y ol + ql))          (TwoProduct, TwoSum, TwoProduct)
 *   a + ea  = L - d, b + eb = a - r               (TwoSum)
 *   t = p, u = pe + (th (ea + eb) + tl b)         (p + pe = th b, TwoProduct)
 *   t = u = 0 where th is 0                       (0 log 0 = 0)
 * then per row eft.sum2 of t (column by column up to 16 columns, sum2_row's
 * halving past that) and eft.rowsum of u (left to right up to 16 columns,
 * np.add.reduce's pairwise order past that): hi, and lo = sum2's lo plus
 * that rowsum. TwoProduct is Veltkamp and Dekker's, as double_double.py's
 * two_prod, so that both give the same bits where its split overflows. */
#ifndef STABKIT_CE_REST_H
#define STABKIT_CE_REST_H

#define CE_VSPLIT 134217729.0 /* 2^27 + 1 */

static FORCE_INLINE void ce_two_prod(double a, double b, double *p, double *e)
{
    double ca = CE_VSPLIT * a, cb = CE_VSPLIT * b;
    double ah = ca - (ca - a), bh = cb - (cb - b);
    double al = a - ah, bl = b - bh;
    *p = a * b;
    *e = ((ah * bh - *p) + ah * bl + al * bh) + al * bl;
}

/* one entry's term p and its rest u (see above) */
static FORCE_INLINE void ce_entry(double x, double neg, double Li, double y, double wj, int weighted, double oh,
                                  double ol, double q, double ql, double *p, double *u)
{
    double ph, pe, pq;
    const double d = x + neg, r = two_sum(x, neg, d);
    ce_two_prod(y, oh, &ph, &pe);
    double th = ph + q;
    double tl = two_sum(ph, q, th) + (pe + (y * ol + ql));
    if (weighted) {
        double wh, we;
        ce_two_prod(th, wj, &wh, &we);
        tl = we + tl * wj;
        th = wh;
    }
    const double a = Li + -d, ea = two_sum(Li, -d, a);
    const double b = a + -r, eb = two_sum(a, -r, b);
    double pp;
    ce_two_prod(th, b, &pp, &pq);
    const double lo = pq + (th * (ea + eb) + tl * b);
    *p = th == 0.0 ? 0.0 : pp;
    *u = th == 0.0 ? 0.0 : lo;
}

/* rows over 16 columns: the terms of each row into t and u (one loop the
 * compiler lays in vector lanes), then sum2_row's halving of t and
 * np.add.reduce's pairwise sum of u */
static FORCE_INLINE void ce_wide(const double *x, const double *m, const double *L, const double *y, const double *w,
                                 int weighted, const double *c, int64_t rows, int64_t n, double *t, double *u,
                                 double *hi, double *lo)
{
    /* the constants in locals: t and u might alias c for all the compiler knows */
    const double oh = c[0], ol = c[1], q = c[2], ql = c[3];
    for (int64_t i = 0; i < rows; i++) {
        const double *xi = x + i * n, *yi = y + i * n, neg = -m[i], Li = L[i];
        double *ti = t + i * n, *ui = u + i * n;
        for (int64_t j = 0; j < n; j++)
            ce_entry(xi[j], neg, Li, yi[j], weighted ? w[j] : 1.0, weighted, oh, ol, q, ql, &ti[j], &ui[j]);
        double h, hl;
        sum2_row(ti, n, &h, &hl); /* overwrites ti */
        hi[i] = h;
        lo[i] = hl + pairwise(ui, NULL, n, 0.0, PLAIN).q;
    }
}

/* rows of at most 16 columns: CE_CH rows at a time, column after column,
 * each row's term then its step of eft.sum2_cols (left to right, then
 * normalised) and of eft.rowsum (left to right): each row's operations in
 * its own order, the rows side by side (one row's sum is one chain of
 * dependent additions, too short to fill vector lanes) */
#define CE_CH 8

/* one step of a narrow row's sums: h + p with its TwoSum error into l, u into us */
static FORCE_INLINE void ce_step(double p, double u, double *h, double *l, double *us)
{
    const double s = *h + p;
    *l = *l + two_sum(*h, p, s);
    *h = s;
    *us += u;
}

/* eft.normalized of (h, l) (l dropped where h is not finite), us added to its lo */
static FORCE_INLINE void ce_close(double h, double l, double us, double *hi, double *lo)
{
    const double low = isfinite(h) ? l : 0.0, s = h + low;
    *hi = s;
    *lo = (isfinite(s) ? two_sum(h, low, s) : 0.0) + us;
}

static FORCE_INLINE void ce_narrow(const double *x, const double *m, const double *L, const double *y,
                                   const double *w, int weighted, const double *c, int64_t rows, int64_t n,
                                   double *hi, double *lo)
{
    const double oh = c[0], ol = c[1], q = c[2], ql = c[3];
    int64_t i = 0;
    for (; i + CE_CH <= rows; i += CE_CH) {
        double h[CE_CH], l[CE_CH], us[CE_CH];
        for (int k = 0; k < CE_CH; k++) {
            const int64_t o = (i + k) * n;
            ce_entry(x[o], -m[i + k], L[i + k], y[o], weighted ? w[0] : 1.0, weighted, oh, ol, q, ql, &h[k], &us[k]);
            l[k] = 0.0;
        }
        for (int64_t j = 1; j < n; j++)
            for (int k = 0; k < CE_CH; k++) {
                const int64_t o = (i + k) * n + j;
                double p, u;
                ce_entry(x[o], -m[i + k], L[i + k], y[o], weighted ? w[j] : 1.0, weighted, oh, ol, q, ql, &p, &u);
                ce_step(p, u, &h[k], &l[k], &us[k]);
            }
        for (int k = 0; k < CE_CH; k++)
            ce_close(h[k], l[k], us[k], &hi[i + k], &lo[i + k]);
    }
    for (; i < rows; i++) { /* the last rows, one at a time */
        const double *xi = x + i * n, *yi = y + i * n;
        double h, l = 0.0, us, p, u;
        ce_entry(xi[0], -m[i], L[i], yi[0], weighted ? w[0] : 1.0, weighted, oh, ol, q, ql, &h, &us);
        for (int64_t j = 1; j < n; j++) {
            ce_entry(xi[j], -m[i], L[i], yi[j], weighted ? w[j] : 1.0, weighted, oh, ol, q, ql, &p, &u);
            ce_step(p, u, &h, &l, &us);
        }
        ce_close(h, l, us, &hi[i], &lo[i]);
    }
}

EXPORT CLONES void ce_rest(const double *x, const double *m, const double *L, const double *y, const double *w,
                           const double *c, int64_t rows, int64_t n, double *t, double *u, double *hi, double *lo)
{
    /* two bodies each, so that the weight's test is not in the loops */
    if (n > SUM2_NARROW) {
        if (w)
            ce_wide(x, m, L, y, w, 1, c, rows, n, t, u, hi, lo);
        else
            ce_wide(x, m, L, y, w, 0, c, rows, n, t, u, hi, lo);
    } else if (w) {
        ce_narrow(x, m, L, y, w, 1, c, rows, n, hi, lo);
    } else {
        ce_narrow(x, m, L, y, w, 0, c, rows, n, hi, lo);
    }
}

#endif
