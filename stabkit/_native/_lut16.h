/* _lut16.h (included by _elementwise.c): the float16 and bfloat16 loops of
 * sigmoid, softplus and log_sigmoid on long runs read a table of the
 * function's result for each of the 2^16 bit patterns.
 *
 * A 16-bit format has 65536 inputs, NaNs included, so the table is the
 * function itself: it is filled by the block functions (the fast pass, the
 * rounding test and the slow pass of _elementwise.c), the same code a
 * short call runs, and then holds their bits for every input. A lookup
 * costs a load where the blocks widen, evaluate an exp in double and round:
 * about 0.26 ns an element against 1.3 ns (10^6 float16 values here).
 *
 * Built on the first call of at least LUT_MIN elements of that function and
 * format (65536 evaluations, about four such calls' worth), 128 KiB each,
 * at most six; shorter calls always run the blocks, so both paths stay
 * reachable (the tests compare each with the NumPy path over every input).
 * Two threads that build at once each fill a table of their own; the first
 * to publish it wins and the other frees its copy, so no reader ever sees a
 * table half-filled. Where malloc fails the blocks run.
 */
#ifndef STABKIT_LUT16_H
#define STABKIT_LUT16_H

#include <stdlib.h>

#define LUT_MIN (1 << 14)
#define LUT_SIZE 65536

typedef struct {
    block16_t block; /* the function on bit patterns, at most BLK at a time */
    uint16_t *table; /* NULL until built, then the result for every pattern */
} lut16_t;

/* the table of l, built if need be: NULL only where malloc fails */
static uint16_t *lut16_table(lut16_t *l)
{
    uint16_t *t = __atomic_load_n(&l->table, __ATOMIC_ACQUIRE);
    if (t != NULL)
        return t;
    uint16_t *fresh = malloc(LUT_SIZE * sizeof(uint16_t));
    if (fresh == NULL)
        return NULL;
    uint16_t xb[BLK];
    for (int s = 0; s < LUT_SIZE; s += BLK) {
        for (int i = 0; i < BLK; i++)
            xb[i] = (uint16_t)(s + i);
        l->block(xb, fresh + s, BLK);
    }
    uint16_t *none = NULL;
    if (__atomic_compare_exchange_n(&l->table, &none, fresh, 0, __ATOMIC_ACQ_REL, __ATOMIC_ACQUIRE))
        return fresh;
    free(fresh); /* another thread published first: none now holds its table */
    return none;
}

/* The 16-bit ufunc loop; data is the function's lut16_t. NumPy hands a loop
 * either separate input and output or the very same memory, so reading
 * x[i] before writing y[i] is safe either way. Status flags raised while
 * the table is built are restored, as in the block loops. */
static void loop16(char **args, npy_intp const *dims, npy_intp const *steps, void *data)
{
    lut16_t *l = (lut16_t *)data;
    npy_intp n = dims[0], is = steps[0], os = steps[1];
    if (n < LUT_MIN) {
        loop16_blocks(args, dims, steps, (void *)l->block);
        return;
    }
    PyThreadState *ts = release_gil(n);
    fexcept_t flags;
    fegetexceptflag(&flags, FE_ALL_EXCEPT);
    const uint16_t *t = lut16_table(l);
    fesetexceptflag(&flags, FE_ALL_EXCEPT);
    if (t == NULL) {
        restore_gil(ts);
        loop16_blocks(args, dims, steps, (void *)l->block);
        return;
    }
    const char *ip = args[0];
    char *op = args[1];
    if (is == 2 && os == 2) {
        const uint16_t *x = (const uint16_t *)ip;
        uint16_t *y = (uint16_t *)op;
        for (npy_intp i = 0; i < n; i++)
            y[i] = t[x[i]];
    } else {
        for (npy_intp i = 0; i < n; i++) {
            uint16_t x;
            memcpy(&x, ip + i * is, 2);
            memcpy(op + i * os, &t[x], 2);
        }
    }
    restore_gil(ts);
}

#endif
