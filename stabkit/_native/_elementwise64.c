/* stabkit._native._elementwise, float64 part: the 'd->d' loops of sigmoid,
 * softplus and log_sigmoid, and the binary cross-entropy from logits
 * (a ufunc of its own), each giving the same bits as the NumPy path of
 * stabkit.accurate (stabkit/_accurate/sigmoid64.py, elementwise.py and
 * crossentropy.py: the oracle the tests compare against bit for bit).
 *
 * Bit-identity comes from doing the same IEEE operations in the same order
 * (-ffp-contract=off, no -ffast-math: setup.py) and from calling, for exp
 * and log1p, the very inner loops NumPy runs for np.exp and np.log1p on
 * float64 (the functions[] of those ufunc objects, CPU-dispatched by NumPy
 * at its import), on contiguous buffers as the NumPy path does. (Sigmoid's
 * expm1 is a series of stabkit's own, on both paths.)
 * The tables (sigmoid on its grid in double-double, 2^(j/1024)) and the
 * constants come from the NumPy path too: bind_float64() receives them, and
 * stabkit/_accurate/native64.py checks the loops against the NumPy path
 * before they are used. Until bound, the float64 loops give NaN.
 *
 * Rare elements take a scalar path with the same operations: sigmoid beyond
 * the table (x < -40: sigmoid64.py's _tail; x > 40: 1), |x| < 2^-10 for
 * softplus (its series), NaN (the input made quiet, which is what every
 * NumPy operation on the path does with it; where two NaNs meet, the first
 * operand's, as in the body of NumPy's SIMD loops). The loops of the plain
 * loss (binary_logits_plain) are in _bce_logits.c.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <fenv.h>
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <numpy/ndarraytypes.h>
#include <numpy/ufuncobject.h>

#include "_bce_ties.h"
#include "_elementwise64.h"
#include "_half.h"


static FORCE_INLINE uint64_t bits64(double d) { uint64_t u; memcpy(&u, &d, 8); return u; }
static FORCE_INLINE double from64(uint64_t u) { double d; memcpy(&d, &u, 8); return d; }
/* what NumPy's arithmetic gives for a NaN operand: the NaN made quiet */
static FORCE_INLINE double quiet(double x) { return from64(bits64(x) | 0x0008000000000000ull); }

/* ------------------------------------------------------------ NumPy's loops */

static nploop L_EXP, L_LOG1P;

/* y = f(x) for n contiguous doubles through NumPy's own float64 loop (y may be x) */
static inline void run(const nploop *l, double *x, double *y, npy_intp n) { stabkit_run_loop(l, x, y, n); }

/* ------------------------------------------------------------ tables */

#define SIG_I 5120            /* the grid: i 2^-7, |i| <= 5120 (|x| <= 40) */
#define SIG_ROWS (2 * SIG_I + 1)
#define SIG_M 0x1.8p45        /* x + M rounds x to the grid (sigmoid64.py's _M) */
#define P2_N 1024

/* the sigmoid table as pairs (sh, sl) side by side: one cache line holds
 * both halves of an entry (separate tables cost two misses per element on
 * inputs spread over [-40, 40]) */
static double *SIG_HL, *P2_H, *P2_L;
/* Tang's reduction constants (sigmoid64.py) and ln 2 in two parts (elementwise.py) */
static double C1, C2, INV, LN2_HI, LN2_LO;
static int bound = 0;

int stabkit_float64_bound(void) { return bound; }

/* ------------------------------------------------------------ scalar parts */

/* sigmoid64.py's _tail for x <= -40 (not NaN), operation for operation,
 * without a libm call, so that a loop of it runs in lanes:
 * - np.rint(a INV) as (a INV + 1.5 2^52) - 1.5 2^52, the same integer
 *   (|a INV| < 2^21; ties to even either way), k from the low bits;
 * - np.ldexp(1, m + 128) built in the exponent bits (m + 128 lies in
 *   [-1012, 71] for a in [-790, -40]: a normal power of two);
 * - the divisions by the powers of two down and up as products by their
 *   reciprocals, exact powers of two too: the same real quotient, so the
 *   same rounding, subnormal or not.
 * Any other x (a lane beyond the grid on the positive side, a NaN) is
 * clamped into [-790, -1] first, so that every step stays defined; the
 * caller discards those lanes. */
static FORCE_INLINE double sigmoid_tail(double x)
{
    const double shifter = 0x1.8p52;
    double a = x < -790.0 ? -790.0 : x;
    a = (a > -1.0) | (a != a) ? -1.0 : a;
    const double t = a * INV + shifter;
    const double kf = t - shifter;
    double r = a - kf * C1;
    r = r - kf * C2;
    const int64_t k = (int64_t)(bits64(t) - bits64(shifter));
    const int64_t m = k >> 10; /* floor(k / 1024): arithmetic shift, as np.right_shift */
    const double th = P2_H[k & (P2_N - 1)], tl = P2_L[k & (P2_N - 1)];
    double p = r * (1.0 / 24.0) + 1.0 / 6.0;
    p = p * r + 0.5;
    p = p * (r * r) + r;
    double lw = th * p + tl;
    const double up = from64((uint64_t)(m + 128 + 1023) << 52), inv_up = from64((uint64_t)(1023 - 128 - m) << 52);
    const double down = 0x1p-128;
    lw = lw - th * ((th * up) * down);
    const double y = ((th + lw) * up) * down;
    const double hs = (th * up) * down;
    /* (hs / down) / up of sigmoid64.py */
    const double rem = (th - (hs * 0x1p128) * inv_up) + lw;
    const double sub = ((rem * up) * down) + hs;
    return fabs(y) < 0x1p-1022 ? sub : y;
}

/* sigmoid below the table (the caller writes 1 above it): the tail, NaN
 * made quiet; kept out of line, so that the loop over a few such elements
 * branches past the tail instead of computing it for every lane */
static CLONES NOINLINE double sigmoid_far(double x)
{
    return x != x ? quiet(x) : sigmoid_tail(x);
}

/* Knuth's TwoSum error of s = fl(a + b), as eft.py's two_sum_err */
static FORCE_INLINE double two_sum_err(double a, double b, double s)
{
    double bb = s - a;
    double t = s - bb;
    t = a - t;
    bb = b - bb;
    return t + bb;
}

/* elementwise.py's _softplus_near_zero (float64 target) for |x| < 2^-10;
 * inlined into the blocks' loops, which run it in lanes (its two divisions
 * made it some 45 ns an element where it ran one element at a time) */
static FORCE_INLINE double softplus_near_zero(double x)
{
    double x2 = x * x;
    double h = x / 2.0;
    double s1 = LN2_HI + h;
    double e1 = two_sum_err(LN2_HI, h, s1);
    double q = x2 / 8.0;
    double s2 = s1 + q;
    double e2 = two_sum_err(s1, q, s2);
    double lo = ((LN2_LO + e1) + e2) - (x2 * x2) / 192.0 + ((x2 * x2) * x2) / 2880.0;
    return s2 + lo;
}

/* ------------------------------------------------------------ blocks */

/* sigmoid64.py: x0 = (x + M) - M, -r = x0 - x, eps = expm1(-r) (its series),
 * g = (1 - sh) eps, c = sh g / (1 + g), y = sh + (sl - c) */
CLONES64 void block_sigmoid(const double *restrict x, double *restrict y, int n)
{
    ALIGNED double r[B64];
    ALIGNED int64_t j[B64];
    const int64_t jbias = (int64_t)(bits64(SIG_M) - SIG_I);
    const double *restrict hl = SIG_HL;
    int far = 0, tails = 0;
    for (int i = 0; i < n; i++) {
        double t = x[i] + SIG_M;
        /* the grid index from t's low bits (|x| <= 40 gives 0..SIG_ROWS-1);
         * beyond, and NaN, a stand-in 0 and the far path below */
        int64_t k = (int64_t)bits64(t) - jbias;
        int out = !(k >= 0 && k < SIG_ROWS);
        far += out;
        tails += out & (x[i] < 0);
        j[i] = out ? 0 : k;
        t = t - SIG_M;
        r[i] = t - x[i];
    }
    for (int i = 0; i < n; i++) {
        double sh = hl[2 * j[i]], sl = hl[2 * j[i] + 1];
        double t = r[i];
        /* eps = expm1(t) for |t| <= 2^-8 by sigmoid64.py's _expm1_small:
         * t + t^2 (1/2 + t (1/6 + t (1/24 + t (1/120 + t/720)))), these
         * roundings in this order (within 1.02u) */
        double p = t * (1.0 / 720.0);
        p = p + 1.0 / 120.0;
        p = p * t;
        p = p + 1.0 / 24.0;
        p = p * t;
        p = p + 1.0 / 6.0;
        p = p * t;
        p = p + 0.5;
        p = p * t;
        p = p * t;
        double eps = t + p;
        double g = 1.0 - sh;
        g = g * eps;
        double c = sh * g;
        g = g + 1.0;
        c = c / g;
        c = sl - c;
        y[i] = sh + c;
    }
    if (tails > n / 16) {
        /* many beyond the grid on the negative side (logits spread over
         * hundreds): 1 above, the tail below, a select in every lane; then
         * the NaNs. (Past +40 alone, the one-by-one pass below is cheaper:
         * it only writes 1.) */
        int nan = 0;
        for (int i = 0; i < n; i++) {
            const double xi = x[i];
            const int64_t k = (int64_t)bits64(xi + SIG_M) - jbias;
            /* the tail in every lane (its table loads made unconditional) */
            const double tail = sigmoid_tail(xi);
            const double v = xi > 0 ? 1.0 : tail;
            y[i] = (k >= 0) & (k < SIG_ROWS) ? y[i] : v;
            nan |= xi != xi;
        }
        if (nan)
            for (int i = 0; i < n; i++)
                y[i] = x[i] != x[i] ? quiet(x[i]) : y[i];
    } else if (far) {
        for (int i = 0; i < n; i++)
            if (j[i] == 0) { /* the stand-in, or the grid's first point, -40 */
                int64_t k = (int64_t)bits64(x[i] + SIG_M) - jbias;
                if (!(k >= 0 && k < SIG_ROWS))
                    y[i] = x[i] > 0 ? 1.0 : sigmoid_far(x[i]);
            }
    }
}

/* t = log1p(exp(-|x|)) through NumPy's loops; returns whether some |x| is
 * below 2^-10 or NaN (the series, or a NaN to pass through). Where every
 * x is (logits at or near 0), no value needs t: the NumPy calls are
 * skipped and t holds -|x|, which the callers' rare passes overwrite. */
CLONES64 int softplus_log_term(const double *restrict x, double *restrict t, int n)
{
    int rare = 0;
    for (int i = 0; i < n; i++) {
        t[i] = -fabs(x[i]);
        rare += !(fabs(x[i]) >= 0x1p-10);
    }
    if (rare == n)
        return 1;
    run(&L_EXP, t, t, n);
    run(&L_LOG1P, t, t, n);
    return rare > 0;
}

/* softplus(x) = max(x, 0) + t, or the series, or the quiet NaN. (The sign of
 * a zero max does not matter: t > 0 wherever max(x, 0) is a zero.) */
static FORCE_INLINE double softplus_from(double x, double t)
{
    return (x > 0 ? x : 0.0) + t;
}

static double softplus_rare(double x, double y)
{
    if (x != x)
        return quiet(x);
    return fabs(x) < 0x1p-10 ? softplus_near_zero(x) : y;
}

CLONES64 void block_softplus(const double *restrict x, double *restrict y, int n)
{
    ALIGNED double t[B64];
    int rare = softplus_log_term(x, t, n);
    for (int i = 0; i < n; i++)
        y[i] = softplus_from(x[i], t[i]);
    if (!rare)
        return;
    /* the series where |x| < 2^-10, a select in every lane; then the NaNs */
    int nan = 0;
    for (int i = 0; i < n; i++) {
        y[i] = fabs(x[i]) < 0x1p-10 ? softplus_near_zero(x[i]) : y[i];
        nan |= x[i] != x[i];
    }
    if (nan)
        for (int i = 0; i < n; i++)
            y[i] = softplus_rare(x[i], y[i]);
}

/* log_sigmoid(x) = -softplus(-x) */
CLONES64 void block_log_sigmoid(const double *restrict x, double *restrict y, int n)
{
    ALIGNED double xn[B64];
    if (n <= 0)
        return;
    for (int i = 0; i < n; i++)
        xn[i] = -x[i];
    block_softplus(xn, y, n);
    for (int i = 0; i < n; i++)
        y[i] = -y[i];
}

/* NumPy's float64 log1p of one value, for _bce_ties.c's double-double
 * log1p (which starts from it, as double_double.log1p starts from np.log1p) */
double stabkit_numpy_log1p(double x)
{
    double y;
    run(&L_LOG1P, &x, &y, 1);
    return y;
}

/* the float64 series of softplus near 0, one value (_bce_logits.c) */
double stabkit_softplus_near_zero(double x) { return softplus_near_zero(x); }

/* the float32 binary cross-entropy's logits near 0 (_bce_logits.c) */
CLONES64 void block_series_f32(const float *restrict q, float *restrict r, int n)
{
    for (int i = 0; i < n; i++)
        r[i] = fabsf(q[i]) < 0x1p-10f ? (float)softplus_near_zero((double)q[i]) : r[i];
}

/* ------------------------------------------------------------ binary cross-entropy */

/* u * v and u + v where the result is NaN as NumPy's loops give it on
 * x86-64: the first NaN operand made quiet (a NaN made from numbers, such as
 * inf * 0, is the processor's own). C leaves the operand order of a
 * commutative operation to the compiler, so the order is spelled out. */
double stabkit_mul_nan(double u, double v)
{
    double r = u * v;
    if (r == r)
        return r;
    return u != u ? quiet(u) : v != v ? quiet(v) : r;
}

double stabkit_add_nan(double u, double v)
{
    double r = u + v;
    if (r == r)
        return r;
    return u != u ? quiet(u) : v != v ? quiet(v) : r;
}

/* crossentropy.py's binary_terms from logits for one element, with the rare
 * cases: a (-log q) + b (-log(1 - q)) = xmul(a, softplus(-p)) + xmul(b,
 * softplus(p)), xmul(w, s) = 0 where w == 0 (0 log 0 = 0), else w s */
static CLONES double bce_rare(double a, double b, double p, double t)
{
    double sn, sp;
    if (p != p) {
        sn = quiet(-p);
        sp = quiet(p);
    } else if (fabs(p) < 0x1p-10) {
        sn = softplus_near_zero(-p);
        sp = softplus_near_zero(p);
    } else {
        sn = softplus_from(-p, t);
        sp = softplus_from(p, t);
    }
    double u = a == 0 ? 0.0 : stabkit_mul_nan(a, sn);
    double v = b == 0 ? 0.0 : stabkit_mul_nan(b, sp);
    return stabkit_add_nan(u, v);
}

/* softplus(-p) and softplus(p) share t = log1p(exp(-|p|)) */
CLONES64 void block_bce(const double *restrict a, const double *restrict b, const double *restrict p,
                        double *restrict y, int n)
{
    ALIGNED double t[B64];
    int rare = softplus_log_term(p, t, n);
    int nan = 0;
    for (int i = 0; i < n; i++) {
        double sn = softplus_from(-p[i], t[i]), sp = softplus_from(p[i], t[i]);
        /* both products, then selects (no branch on random labels) */
        double u = a[i] * sn, v = b[i] * sp;
        u = a[i] == 0 ? 0.0 : u;
        v = b[i] == 0 ? 0.0 : v;
        double yi = u + v;
        y[i] = yi;
        nan |= yi != yi;
    }
    if (rare) {
        /* the series where |p| < 2^-10, a select in every lane: a block of
         * logits near 0 (a network's first steps) stays vectorised. A NaN
         * target gives a NaN either way, which nan already flags; a NaN
         * logit gives one in the loop above. */
        for (int i = 0; i < n; i++) {
            const double pi = p[i];
            const double sn = softplus_near_zero(-pi), sp = softplus_near_zero(pi);
            double u = a[i] * sn, v = b[i] * sp;
            u = a[i] == 0 ? 0.0 : u;
            v = b[i] == 0 ? 0.0 : v;
            y[i] = fabs(pi) < 0x1p-10 ? u + v : y[i];
        }
    }
    if (nan || rare)
        for (int i = 0; i < n; i++)
            if (y[i] != y[i])
                y[i] = bce_rare(a[i], b[i], p[i], t[i]);
}

/* ------------------------------------------------------------ ufunc loops */

typedef void (*block64_t)(const double *, double *, int);

static void fill_nan(char *op, npy_intp os, npy_intp n)
{
    double nan = NAN;
    for (npy_intp i = 0; i < n; i++)
        memcpy(op + i * os, &nan, 8);
}

/* A contiguous input that does not overlap the output is read in place;
 * otherwise it is copied block by block into a local buffer (the blocks
 * read their input again after writing their output). The output is
 * written in place when contiguous. The GIL is not
 * held (NumPy releases it: no dtype here needs the Python API); the status
 * flags raised inside are restored, so NumPy reports none. */
void stabkit_loop64(char **args, npy_intp const *dims, npy_intp const *steps, void *data)
{
    block64_t block = (block64_t)data;
    npy_intp n = dims[0], is = steps[0], os = steps[1];
    char *ip = args[0], *op = args[1];
    if (!bound) {
        fill_nan(op, os, n);
        return;
    }
    ALIGNED double xb[B64], yb[B64];
    int direct = stabkit_reads_in_place(ip, is, op, os, n, 8);
    fexcept_t flags;
    fegetexceptflag(&flags, FE_ALL_EXCEPT);
    for (npy_intp s = 0; s < n; s += B64) {
        int m = (int)(n - s < B64 ? n - s : B64);
        const char *src = ip + s * is;
        const double *x = direct ? (const double *)src : xb;
        if (direct)
            ;
        else if (is == 8)
            memcpy(xb, src, (size_t)m * 8);
        else
            for (int i = 0; i < m; i++)
                memcpy(&xb[i], src + i * is, 8);
        char *dst = op + s * os;
        if (os == 8) {
            block(x, (double *)dst, m);
        } else {
            block(x, yb, m);
            for (int i = 0; i < m; i++)
                memcpy(dst + i * os, &yb[i], 8);
        }
    }
    fesetexceptflag(&flags, FE_ALL_EXCEPT);
}

/* binary_logits(a, b, p): the three inputs gathered into local buffers */
void stabkit_loop_bce(char **args, npy_intp const *dims, npy_intp const *steps, void *data)
{
    (void)data;
    npy_intp n = dims[0];
    if (!bound) {
        fill_nan(args[3], steps[3], n);
        return;
    }
    ALIGNED double in[3][B64], yb[B64];
    fexcept_t flags;
    fegetexceptflag(&flags, FE_ALL_EXCEPT);
    for (npy_intp s = 0; s < n; s += B64) {
        int m = (int)(n - s < B64 ? n - s : B64);
        for (int k = 0; k < 3; k++) {
            const char *src = args[k] + s * steps[k];
            if (steps[k] == 8)
                memcpy(in[k], src, (size_t)m * 8);
            else
                for (int i = 0; i < m; i++)
                    memcpy(&in[k][i], src + i * steps[k], 8);
        }
        char *dst = args[3] + s * steps[3];
        block_bce(in[0], in[1], in[2], steps[3] == 8 ? (double *)dst : yb, m);
        if (steps[3] != 8)
            for (int i = 0; i < m; i++)
                memcpy(dst + i * steps[3], &yb[i], 8);
    }
    fesetexceptflag(&flags, FE_ALL_EXCEPT);
}

void *const stabkit_data64[3] = {(void *)block_sigmoid, (void *)block_softplus, (void *)block_log_sigmoid};

/* ------------------------------------------------------------ binding */

/* NumPy's float64 loop of the ufunc numpy.<name> (its functions[] entry for
 * the types 'd->d', the CPU-dispatched loop np.<name> itself runs) */
int stabkit_find_loop(PyObject *np, PyObject *uftype, const char *name, nploop *out)
{
    PyObject *u = PyObject_GetAttrString(np, name);
    if (u == NULL)
        return -1;
    int ok = PyObject_TypeCheck(u, (PyTypeObject *)uftype);
    PyUFuncObject *uf = (PyUFuncObject *)u;
    if (ok && uf->nin == 1 && uf->nout == 1 && uf->functions != NULL)
        for (int i = 0; i < uf->ntypes; i++)
            if (uf->types[2 * i] == NPY_DOUBLE && uf->types[2 * i + 1] == NPY_DOUBLE && uf->functions[i] != NULL) {
                out->fn = uf->functions[i];
                out->data = uf->data == NULL ? NULL : uf->data[i];
                Py_DECREF(u); /* numpy keeps the ufunc */
                return 0;
            }
    Py_DECREF(u);
    PyErr_Format(PyExc_ImportError, "numpy.%s has no legacy float64 loop to call", name);
    return -1;
}

/* a copy of a contiguous float64 buffer of n values */
static double *table_copy(PyObject *obj, Py_ssize_t n, const char *what)
{
    Py_buffer view;
    if (PyObject_GetBuffer(obj, &view, PyBUF_C_CONTIGUOUS | PyBUF_FORMAT) < 0)
        return NULL;
    double *t = NULL;
    if (view.itemsize != 8 || view.format == NULL || strcmp(view.format, "d") != 0 || view.len != n * 8)
        PyErr_Format(PyExc_ValueError, "%s must hold %zd contiguous float64 values", what, n);
    else if ((t = malloc((size_t)n * 8)) == NULL)
        PyErr_NoMemory();
    else
        memcpy(t, view.buf, (size_t)n * 8);
    PyBuffer_Release(&view);
    return t;
}

/* bind_float64(sig_hi, sig_lo, pow2_hi, pow2_lo, (c1, c2, inv, ln2_hi, ln2_lo)):
 * the tables and constants of the NumPy path, and NumPy's exp and log1p
 * loops. Once per process (later calls change nothing). */
PyObject *stabkit_bind_float64(PyObject *self, PyObject *args)
{
    (void)self;
    PyObject *sh, *sl, *ph, *pl;
    double c[5];
    if (!PyArg_ParseTuple(args, "OOOO(ddddd):bind_float64", &sh, &sl, &ph, &pl, &c[0], &c[1], &c[2], &c[3], &c[4]))
        return NULL;
    if (bound)
        Py_RETURN_NONE;
    PyObject *np = PyImport_ImportModule("numpy");
    if (np == NULL)
        return NULL;
    PyObject *uftype = PyObject_GetAttrString(np, "ufunc");
    int fail = uftype == NULL || stabkit_find_loop(np, uftype, "exp", &L_EXP) < 0 ||
               stabkit_find_loop(np, uftype, "log1p", &L_LOG1P) < 0;
    Py_XDECREF(uftype);
    Py_DECREF(np);
    if (fail)
        return NULL;
    double *t[4] = {table_copy(sh, SIG_ROWS, "sig_hi"), NULL, NULL, NULL};
    if (t[0] != NULL)
        t[1] = table_copy(sl, SIG_ROWS, "sig_lo");
    if (t[1] != NULL)
        t[2] = table_copy(ph, P2_N, "pow2_hi");
    if (t[2] != NULL)
        t[3] = table_copy(pl, P2_N, "pow2_lo");
    if (t[3] == NULL) {
        for (int i = 0; i < 4; i++)
            free(t[i]);
        return NULL;
    }
    double *hl = malloc((size_t)2 * SIG_ROWS * sizeof(double));
    if (hl == NULL) {
        for (int i = 0; i < 4; i++)
            free(t[i]);
        return PyErr_NoMemory();
    }
    for (int i = 0; i < SIG_ROWS; i++)
        hl[2 * i] = t[0][i], hl[2 * i + 1] = t[1][i];
    free(t[0]);
    free(t[1]);
    SIG_HL = hl, P2_H = t[2], P2_L = t[3];
    C1 = c[0], C2 = c[1], INV = c[2], LN2_HI = c[3], LN2_LO = c[4];
    bound = 1;
    Py_RETURN_NONE;
}

/* numpy_loop(name, x, out): out = name(x) through the bound NumPy loop (exp
 * or log1p), on contiguous float64 buffers: for the tests, which
 * compare it with np.<name> */
PyObject *stabkit_numpy_loop(PyObject *self, PyObject *args)
{
    (void)self;
    const char *name;
    Py_buffer x, y;
    if (!PyArg_ParseTuple(args, "sy*w*:numpy_loop", &name, &x, &y))
        return NULL;
    const nploop *l = strcmp(name, "exp") == 0 ? &L_EXP : strcmp(name, "log1p") == 0 ? &L_LOG1P : NULL;
    PyObject *res = NULL;
    if (!bound)
        PyErr_SetString(PyExc_RuntimeError, "bind_float64 was not called");
    else if (l == NULL)
        PyErr_Format(PyExc_ValueError, "no bound loop %s", name);
    else if (x.len != y.len || x.len % 8 != 0)
        PyErr_SetString(PyExc_ValueError, "x and out must hold as many float64 values");
    else {
        run(l, (double *)x.buf, (double *)y.buf, x.len / 8);
        res = Py_NewRef(Py_None);
    }
    PyBuffer_Release(&x);
    PyBuffer_Release(&y);
    return res;
}
