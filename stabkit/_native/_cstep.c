/* The trainer's step and Adam update in C (optional), a part of the one
 * compiled extension stabkit._native._kernels (setup.py).
 *
 * The NumPy step in stabkit/nn/model.py is the reference; this is the same
 * arithmetic without the interpreter between the ~60 NumPy calls of a step,
 * and with the first layer reading its inputs as a sparse matrix (CSR): on
 * MNIST 81% of the pixels are zero, and a zero input adds exactly nothing
 * while the kernel is finite. stabkit/_native/step.py loads it with ctypes,
 * and stabkit/nn/_native/__init__.py documents what differs (round-off only).
 * If the extension cannot be compiled (no C compiler), it is skipped and
 * every step runs in NumPy.
 *
 * Built with -O3 -ffp-contract=off -fno-math-errno -fno-trapping-math (see
 * setup.py): no fused multiply-adds, so that Adam is bit-identical to its
 * NumPy passes; no errno and no trapping comparisons, so that sqrt and the
 * selects vectorise. On x86-64 with GCC and glibc each exported
 * function is compiled three times (AVX-512, AVX2, baseline) and the loader
 * picks the one the processor runs.
 */
#include <math.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#define MAXL 16
#define ACT_LINEAR 0
#define ACT_RELU 1
#define ACT_SIGMOID 2
#define LOSS_SPARSE 0
#define LOSS_CATEGORICAL 1
#define LOSS_BINARY 2
#define STEP_OK 0
#define STEP_NONFINITE_GRADIENT 1
#define STEP_NONFINITE_KERNEL 2

/* FORCE_INLINE, EXPORT, CLONES (these clones are built even with STABKIT_NO_CLONES) */
#define STABKIT_ALWAYS_CLONES
#include "_common.h"

/* exp(x) for a float32 x <= 0 (or NaN: the only arguments the step passes,
 * exp(z - max) and exp(-|z|)), evaluated in double and rounded to float32
 * once: x = k ln2 + r with |r| <= ln2 / 2, exp(r) by its Taylor series to
 * r^11 (truncation below 1e-14 relative), times 2^k built in the exponent
 * bits; NaN gives NaN, -inf gives 0. The double result is within ~1e-13 of
 * exp(x), so the float32 result is the correctly rounded one unless exp(x)
 * lies that close to a midpoint. Only arithmetic and integer bit operations:
 * the loops that call it vectorise, where libm's expf would be called once
 * per element. */
static FORCE_INLINE float exp_nonpos_f32(float xf)
{
    /* into [-708, 0], where 2^k is a normal double (exp(-708) rounds to 0 in
     * float32 anyway); NaN stays NaN through both selects and the series */
    double xc = xf > 0.0f ? 0.0 : (double)xf;
    xc = xc < -708.0 ? -708.0 : xc;
    /* k = round(x / ln2): adding 1.5 * 2^52 leaves k in the low bits */
    const double shifter = 0x1.8p52;
    const double t = xc * 0x1.71547652b82fep0 + shifter;
    const double k = t - shifter;
    const double r = xc - k * 0x1.62e42fefa39efp-1;
    double p = 1.0 / 39916800.0; /* 1/11! */
    p = p * r + 1.0 / 3628800.0;
    p = p * r + 1.0 / 362880.0;
    p = p * r + 1.0 / 40320.0;
    p = p * r + 1.0 / 5040.0;
    p = p * r + 1.0 / 720.0;
    p = p * r + 1.0 / 120.0;
    p = p * r + 1.0 / 24.0;
    p = p * r + 1.0 / 6.0;
    p = p * r + 0.5;
    p = p * r + 1.0;
    p = p * r + 1.0;
    /* 2^k: k is the difference of the bit patterns of t and the shifter */
    union { double d; int64_t i; } tb = {t}, sb = {shifter}, scale;
    scale.i = (tb.i - sb.i + 1023) << 52;
    return (float)(p * scale.d);
}

/* exp_nonpos_f32 over an array, for the tests */
EXPORT void exp_nonpos_f32_array(const float *x, float *y, int64_t n)
{
    for (int64_t i = 0; i < n; i++)
        y[i] = exp_nonpos_f32(x[i]);
}

/* Everything a step needs, filled once per fit by StepKernel in
 * stabkit/nn/_native/__init__.py (stabkit/_native/step.py mirrors this layout
 * as a ctypes Structure, checked against plan_layout). Pointers are to NumPy
 * buffers the Python side keeps alive. */
typedef struct {
    int64_t L;    /* layers */
    int64_t d;    /* inputs */
    int64_t kind; /* LOSS_* */
    int64_t size; /* parameters (the length of P and G) */
    int64_t koff[MAXL], boff[MAXL], din[MAXL], dout[MAXL], act[MAXL];
    void *P, *G;            /* flat parameters and gradients */
    const int64_t *ptr;     /* CSR of the training inputs: row pointers, */
    const int32_t *col;     /* column indices */
    const void *val;        /* and values */
    const int64_t *yint;    /* sparse labels, or */
    const double *ydense;   /* one-hot / soft / binary labels (rows x classes) */
    void *Z;                /* logits of every training row of the epoch */
    void *work;             /* every layer's outputs for a batch */
    void *Da, *Db;          /* deltas for a batch, widest layer */
    void *Wt, *dWt;         /* the first kernel's last columns, one padded vector a row */
    void *row;              /* one row of the first layer's outputs, padded */
    void *aux;              /* 3 x batch scratch values */
} plan_t;

#define T float
#define VT vf32
#define V 8
#define FN(name) name##_f32
#define EXP exp_nonpos_f32
#define SQRT sqrtf
typedef float vf32 __attribute__((vector_size(32)));
#include "_cstep_impl.h"
#undef T
#undef VT
#undef V
#undef FN
#undef EXP
#undef SQRT

#define T double
#define VT vf64
#define V 4
#define FN(name) name##_f64
#define EXP exp
#define SQRT sqrt
typedef double vf64 __attribute__((vector_size(32)));
#include "_cstep_impl.h"

EXPORT CLONES int step_f32(const plan_t *pl, const int64_t *idx, int64_t n, int64_t z0)
{
    return step_impl_f32(pl, idx, n, z0);
}

EXPORT CLONES int step_f64(const plan_t *pl, const int64_t *idx, int64_t n, int64_t z0)
{
    return step_impl_f64(pl, idx, n, z0);
}

EXPORT CLONES void adam_f32(float *P, const float *G, float *m, float *v, int64_t n, float c1, float c2, float alpha,
                            float eps)
{
    adam_impl_f32(P, G, m, v, n, c1, c2, alpha, eps);
}

EXPORT CLONES void adam_f64(double *P, const double *G, double *m, double *v, int64_t n, double c1, double c2,
                            double alpha, double eps)
{
    adam_impl_f64(P, G, m, v, n, c1, c2, alpha, eps);
}

/* The layout check: stabkit/_native/step.py compares this table with
 * its ctypes Structure field by field, so that two fields of the same size
 * swapped on one side only (which leaves sizeof unchanged) are caught. Every
 * field of plan_t, by name: offsetof and sizeof are the compiler's. */
#define PLAN_FIELDS(X)                                                                                        \
    X(L) X(d) X(kind) X(size) X(koff) X(boff) X(din) X(dout) X(act) X(P) X(G) X(ptr) X(col) X(val) X(yint)    \
    X(ydense) X(Z) X(work) X(Da) X(Db) X(Wt) X(dWt) X(row) X(aux)

#define FIELD_NAME(f) #f " "
#define FIELD_COUNT(f) +1
#define FIELD_LAYOUT(f) out[i++] = (int64_t)offsetof(plan_t, f), out[i++] = (int64_t)sizeof(((plan_t *)0)->f);

/* the field names, separated by spaces, in the order of plan_layout */
EXPORT const char *plan_fields(void) { return PLAN_FIELDS(FIELD_NAME); }

/* offsetof and sizeof of every field into out[0 : 2 * count], and
 * sizeof(plan_t) after them; returns count, or -1 if cap (the length of
 * out) is too small */
EXPORT int64_t plan_layout(int64_t *out, int64_t cap)
{
    const int64_t count = 0 PLAN_FIELDS(FIELD_COUNT);
    if (cap < 2 * count + 1)
        return -1;
    int64_t i = 0;
    PLAN_FIELDS(FIELD_LAYOUT)
    out[i] = (int64_t)sizeof(plan_t);
    return count;
}
