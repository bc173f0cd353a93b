/* The float64 part of stabkit._native._elementwise (_elementwise64.c), as
 * _elementwise.c's module init uses it. */
#ifndef STABKIT_ELEMENTWISE64_H
#define STABKIT_ELEMENTWISE64_H

#include "_common.h" /* FORCE_INLINE, HIDDEN, CLONES */

#define B64 512 /* elements per block: a few buffers of 4 KiB stay in L1 */
#define ALIGNED _Alignas(64)
/* AVX-512, AVX2 and baseline clones of the block functions (as in
 * _elementwise.c): the same IEEE operations in each, so the same bits; the
 * wider ones vectorise more per instruction, the divisions included (the
 * table lookups stay scalar loads under GCC's generic tuning; a clone tuned
 * for gather instructions measured no faster at 10^6 elements) */
#define CLONES64 HIDDEN CLONES

/* whether bind_float64 has run (until then the float64 loops give NaN) */
HIDDEN int stabkit_float64_bound(void);
/* binary_terms from logits on n <= B64 contiguous elements: the loss with
 * weights a (on -log q) and b (on -log(1 - q)) of the logits p */
HIDDEN void block_bce(const double *restrict a, const double *restrict b, const double *restrict p,
                      double *restrict y, int n);

/* r[i] = (float)softplus_f64(q[i]) for |q[i]| < 2^-10 (the float64 series,
 * rounded once: the float32 loss of a 0/1 target), r[i] kept elsewhere */
HIDDEN void block_series_f32(const float *restrict q, float *restrict r, int n);

/* softplus_f64(x) for |x| < 2^-10 (its float64 series), one value */
HIDDEN double stabkit_softplus_near_zero(double x);

/* the 'd->d' loop of sigmoid, softplus, log_sigmoid; its data: one of stabkit_data64 */
HIDDEN void stabkit_loop64(char **args, npy_intp const *dims, npy_intp const *steps, void *data);
HIDDEN extern void *const stabkit_data64[3];
/* the 'ddd->d' loop of binary_logits */
HIDDEN void stabkit_loop_bce(char **args, npy_intp const *dims, npy_intp const *steps, void *data);
/* the 'ff->f', 'dd->d' and 'ee->e' loops of binary_logits_plain(y, p) (_bce_logits.c) */
HIDDEN void stabkit_loop_bce_plain32(char **args, npy_intp const *dims, npy_intp const *steps, void *data);
HIDDEN void stabkit_loop_bce_plain64(char **args, npy_intp const *dims, npy_intp const *steps, void *data);
HIDDEN void stabkit_loop_bce_plain16(char **args, npy_intp const *dims, npy_intp const *steps, void *data);
/* and the bfloat16 one, registered with ml_dtypes' type by register_bfloat16 */
HIDDEN void stabkit_loop_bce_plain_bf16(char **args, npy_intp const *dims, npy_intp const *steps, void *data);
/* one of NumPy's own inner loops, as a ufunc object lists it */
typedef struct {
    PyUFuncGenericFunction fn;
    void *data;
} nploop;
/* the 'd->d' loop of the ufunc numpy.<name> (np: numpy, uftype: numpy.ufunc),
 * 0; else -1 with ImportError set */
HIDDEN int stabkit_find_loop(PyObject *np, PyObject *uftype, const char *name, nploop *out);
/* y = f(x) for n contiguous doubles through the loop l (y may be x) */
static inline void stabkit_run_loop(const nploop *l, double *x, double *y, npy_intp n)
{
    char *args[2] = {(char *)x, (char *)y};
    npy_intp dims[1] = {n}, steps[2] = {8, 8};
    l->fn(args, dims, steps, l->data);
}
/* Whether a loop whose blocks read their input again after writing their
 * output may read a contiguous input of n elements of `size` bytes (stride
 * is == size) in place: the bytes the output spans (stride os; a negative
 * stride spans downwards) must not meet the input's. Else it copies. */
static inline int stabkit_reads_in_place(const char *ip, npy_intp is, const char *op, npy_intp os, npy_intp n,
                                         npy_intp size)
{
    if (is != size || n <= 0)
        return 0;
    const char *olo = os < 0 ? op + (n - 1) * os : op;
    npy_intp ispan = n * size, ospan = (n - 1) * (os < 0 ? -os : os) + size;
    return ip + ispan <= olo || olo + ospan <= ip;
}
/* u * v and u + v with NumPy's NaN on x86-64: the first NaN operand made quiet */
HIDDEN double stabkit_mul_nan(double u, double v);
HIDDEN double stabkit_add_nan(double u, double v);
/* bind_float64(sig_hi, sig_lo, pow2_hi, pow2_lo, constants) and
 * numpy_loop(name, x, out) (module methods) */
HIDDEN PyObject *stabkit_bind_float64(PyObject *self, PyObject *args);
HIDDEN PyObject *stabkit_numpy_loop(PyObject *self, PyObject *args);

#endif
