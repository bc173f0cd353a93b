/* The binary cross-entropy from probabilities (_bce_probs.c), as
 * _elementwise.c's module init registers it. */
#ifndef STABKIT_BCE_PROBS_H
#define STABKIT_BCE_PROBS_H

#include "_common.h"

/* the 'ddd->d' loop of binary_probs(a, b, p) */
HIDDEN void stabkit_loop_probs(char **args, npy_intp const *dims, npy_intp const *steps, void *data);
/* the 'ff->f', 'dd->d' and 'ee->e' loops of binary_probs_plain(y, p) */
HIDDEN void stabkit_loop_probs_plain32(char **args, npy_intp const *dims, npy_intp const *steps, void *data);
HIDDEN void stabkit_loop_probs_plain64(char **args, npy_intp const *dims, npy_intp const *steps, void *data);
HIDDEN void stabkit_loop_probs_plain16(char **args, npy_intp const *dims, npy_intp const *steps, void *data);
/* and the bfloat16 one, registered with ml_dtypes' type by register_bfloat16 */
HIDDEN void stabkit_loop_probs_plain_bf16(char **args, npy_intp const *dims, npy_intp const *steps, void *data);
/* bind_probs() (a module method): NumPy's float64 log and log1p loops */
HIDDEN PyObject *stabkit_bind_probs(PyObject *self, PyObject *unused);
/* half_conversions(x, h, g, d) (a module method, for the tests): _half.h's conversions */
HIDDEN PyObject *stabkit_half_conversions(PyObject *self, PyObject *args);

#endif
