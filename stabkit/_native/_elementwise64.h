/* The float64 part of stabkit._native._elementwise (_elementwise64.c), as
 * _elementwise.c's module init uses it. */
#ifndef STABKIT_ELEMENTWISE64_H
#define STABKIT_ELEMENTWISE64_H

#include "_common.h" /* FORCE_INLINE, HIDDEN, CLONES */

/* the 'd->d' loop of sigmoid, softplus, log_sigmoid; its data: one of stabkit_data64 */
HIDDEN void stabkit_loop64(char **args, npy_intp const *dims, npy_intp const *steps, void *data);
HIDDEN extern void *const stabkit_data64[3];
/* the 'ddd->d' loop of binary_logits */
HIDDEN void stabkit_loop_bce(char **args, npy_intp const *dims, npy_intp const *steps, void *data);
/* the 'ff->f' and 'dd->d' loops of binary_logits_plain(y, p) */
HIDDEN void stabkit_loop_bce_plain32(char **args, npy_intp const *dims, npy_intp const *steps, void *data);
HIDDEN void stabkit_loop_bce_plain64(char **args, npy_intp const *dims, npy_intp const *steps, void *data);
/* bind_float64(sig_hi, sig_lo, pow2_hi, pow2_lo, constants) and
 * numpy_loop(name, x, out) (module methods) */
HIDDEN PyObject *stabkit_bind_float64(PyObject *self, PyObject *args);
HIDDEN PyObject *stabkit_numpy_loop(PyObject *self, PyObject *args);

#endif
