/* stabkit.nn._cstep: the trainer's step and Adam update in C (optional).
 *
 * The NumPy step in stabkit/nn/model.py is the reference; this is the same
 * arithmetic without the interpreter between the ~60 NumPy calls of a step,
 * and with the first layer reading its inputs as a sparse matrix (CSR): on
 * MNIST 81% of the pixels are zero, and a zero input adds exactly nothing
 * while the kernel is finite. stabkit/nn/_native.py loads it with ctypes and
 * documents what differs (round-off only). If this file cannot be compiled
 * (no C compiler), the extension is skipped and every step runs in NumPy.
 *
 * Built with -O3 -ffp-contract=off -fno-math-errno (see setup.py): no fused
 * multiply-adds, so that Adam is bit-identical to its NumPy passes, and no
 * errno, so that sqrt vectorises. On x86-64 with GCC and glibc each exported
 * function is compiled three times (AVX-512, AVX2, baseline) and the loader
 * picks the one the processor runs.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <math.h>
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

#define FORCE_INLINE inline __attribute__((always_inline))
#define EXPORT __attribute__((visibility("default")))
#if defined(__GNUC__) && !defined(__clang__) && defined(__x86_64__) && defined(__GLIBC__)
#define CLONES __attribute__((target_clones("avx512f", "avx2", "default")))
#else
#define CLONES
#endif

/* Everything a step needs, filled once per fit by _native.py (which mirrors
 * this layout as a ctypes Structure). Pointers are to NumPy buffers the
 * Python side keeps alive. */
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
#define EXP expf
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

/* the layout check: _native.py compares this with its ctypes Structure */
EXPORT int64_t plan_size(void) { return (int64_t)sizeof(plan_t); }

static struct PyModuleDef module = {PyModuleDef_HEAD_INIT, "_cstep",
                                    "The trainer's compiled step; loaded with ctypes by stabkit.nn._native.", -1, NULL};

PyMODINIT_FUNC PyInit__cstep(void) { return PyModule_Create(&module); }
