/* The row-wise functions of the accurate tier as NumPy gufuncs (a fragment
 * of _elementwise.c, which owns the module and NumPy's C API tables).
 *
 * make_gufunc(name, signature, doc, rows, dtypes) gives a gufunc such as
 * logsumexp '(n)->()' or softmax '(n)->(n)' whose loop hands each run of
 * rows NumPy gives it, as two array views on NumPy's own buffers (no copy),
 * to the Python callable rows(x, out); stabkit/ufuncs.py passes one that
 * writes the accurate tier's values for the rows, computed by its compiled
 * row kernels and NumPy. So the bits are the accurate tier's by
 * construction, and NumPy supplies the calling convention: broadcasting
 * of the loop dimensions, axes= and axis=, out=, keepdims=, casting, and
 * __array_ufunc__ dispatch for array types that define it.
 *
 * The loops are ArrayMethods (NumPy >= 2.0) flagged as needing the Python
 * API, so NumPy keeps the GIL and an exception raised by rows (a
 * KeyboardInterrupt, a MemoryError) reaches the caller; and flagged as
 * raising no floating-point errors, since rows works under its own
 * errstate. A promoter sends every input dtype without a loop (integers,
 * bool) to float64, as stabkit.accurate computes integer input. */

#define STABKIT_GUFUNCS 8

/* the gufuncs made so far and the callable of each */
static struct {
    PyObject *ufunc, *rows;
    int out_core; /* 1 for '(n)->(n)', 0 for '(n)->()' */
} gufuncs[STABKIT_GUFUNCS];
static int n_gufuncs = 0;

static int gufunc_loop(PyArrayMethod_Context *context, char *const *data, const npy_intp *dims,
                       const npy_intp *strides, NpyAuxData *auxdata)
{
    (void)auxdata;
    int k = 0;
    while (k < n_gufuncs && gufuncs[k].ufunc != context->caller)
        k++;
    if (k == n_gufuncs) {
        PyErr_SetString(PyExc_RuntimeError, "stabkit: a gufunc loop was called without its gufunc");
        return -1;
    }
    /* dims: the loop length, then the core length n; strides: each
     * operand's step along the loop, then the input's and (for (n)->(n))
     * the output's step along a row */
    npy_intp shape[2] = {dims[0], dims[1]};
    npy_intp in_st[2] = {strides[0], strides[2]};
    npy_intp out_st[2] = {strides[1], gufuncs[k].out_core ? strides[3] : 0};
    PyArray_Descr *din = context->descriptors[0], *dout = context->descriptors[1];
    Py_INCREF(din); /* PyArray_NewFromDescr takes a reference to each, failing or not */
    Py_INCREF(dout);
    PyObject *x = PyArray_NewFromDescr(&PyArray_Type, din, 2, shape, in_st, data[0], NPY_ARRAY_ALIGNED, NULL);
    PyObject *out = PyArray_NewFromDescr(&PyArray_Type, dout, gufuncs[k].out_core ? 2 : 1, shape, out_st,
                                         data[1], NPY_ARRAY_ALIGNED | NPY_ARRAY_WRITEABLE, NULL);
    PyObject *r = NULL;
    if (x != NULL && out != NULL) {
        PyArray_UpdateFlags((PyArrayObject *)x, NPY_ARRAY_C_CONTIGUOUS | NPY_ARRAY_F_CONTIGUOUS);
        PyArray_UpdateFlags((PyArrayObject *)out, NPY_ARRAY_C_CONTIGUOUS | NPY_ARRAY_F_CONTIGUOUS);
        r = PyObject_CallFunctionObjArgs(gufuncs[k].rows, x, out, NULL);
    }
    Py_XDECREF(x);
    Py_XDECREF(out);
    if (r == NULL)
        return -1;
    Py_DECREF(r);
    return 0;
}

/* every dtype without a loop computes in float64 (integers, bool), but
 * long double, which would lose its extra bits unasked (refused, as the
 * elementwise ufuncs and stabkit.accurate refuse it); a dtype= (or
 * signature=) names the loop for both operands, as it does for the
 * elementwise ufuncs (float64 input, dtype=float32: the float32 loop) */
static int gufunc_promoter(PyObject *ufunc, PyArray_DTypeMeta *const op_dtypes[], PyArray_DTypeMeta *const signature[],
                           PyArray_DTypeMeta *new_op_dtypes[])
{
    PyArray_DTypeMeta *fixed = signature[0] != NULL ? signature[0] : signature[1];
    if (fixed == NULL && op_dtypes[0] != NULL &&
        (op_dtypes[0]->type_num == NPY_LONGDOUBLE || op_dtypes[0]->type_num == NPY_CLONGDOUBLE)) {
        PyErr_Format(PyExc_TypeError,
                     "ufunc '%s' has no long double loop (float16, bfloat16, float32, float64); "
                     "pass dtype= to round the input to one of them",
                     ((PyUFuncObject *)ufunc)->name);
        return -1;
    }
    PyArray_Descr *d = PyArray_DescrFromType(NPY_DOUBLE);
    if (d == NULL)
        return -1;
    for (int i = 0; i < 2; i++) {
        PyArray_DTypeMeta *t = signature[i] != NULL ? signature[i] : fixed != NULL ? fixed : NPY_DTYPE(d);
        Py_INCREF(t);
        new_op_dtypes[i] = t;
    }
    Py_DECREF(d);
    return 0;
}

/* add_gufunc_loop(ufunc, dtype): a loop for x and out of that dtype */
static int add_gufunc_loop(PyObject *uf, PyArray_Descr *d)
{
    PyArray_DTypeMeta *dt[2] = {NPY_DTYPE(d), NPY_DTYPE(d)};
    PyType_Slot slots[] = {{NPY_METH_strided_loop, (void *)gufunc_loop}, {0, NULL}};
    PyArrayMethod_Spec spec = {
        .name = "stabkit_rows",
        .nin = 1,
        .nout = 1,
        .casting = NPY_NO_CASTING,
        .flags = NPY_METH_REQUIRES_PYAPI | NPY_METH_NO_FLOATINGPOINT_ERRORS,
        .dtypes = dt,
        .slots = slots,
    };
    return PyUFunc_AddLoopFromSpec(uf, &spec);
}

static PyObject *py_add_gufunc_loop(PyObject *self, PyObject *args)
{
    (void)self;
    PyObject *uf, *dtype;
    PyArray_Descr *d = NULL;
    if (!PyArg_ParseTuple(args, "OO", &uf, &dtype) || !PyArray_DescrConverter(dtype, &d))
        return NULL;
    int bad = add_gufunc_loop(uf, d);
    Py_DECREF(d);
    if (bad < 0)
        return NULL;
    Py_RETURN_NONE;
}

/* make_gufunc(name, signature, doc, rows, dtypes) */
static PyObject *make_gufunc(PyObject *self, PyObject *args)
{
    (void)self;
    const char *name, *signature, *doc;
    PyObject *rows, *dtypes;
    if (!PyArg_ParseTuple(args, "sssOO", &name, &signature, &doc, &rows, &dtypes))
        return NULL;
    if (n_gufuncs == STABKIT_GUFUNCS) {
        PyErr_SetString(PyExc_RuntimeError, "stabkit: too many gufuncs");
        return NULL;
    }
    /* the ufunc keeps pointers to its name, doc and signature strings */
    PyObject *keep = Py_BuildValue("(sss)", name, signature, doc);
    if (keep == NULL)
        return NULL;
    PyObject *uf = PyUFunc_FromFuncAndDataAndSignature(
        NULL, NULL, NULL, 0, 1, 1, PyUFunc_None, PyUnicode_AsUTF8(PyTuple_GET_ITEM(keep, 0)),
        PyUnicode_AsUTF8(PyTuple_GET_ITEM(keep, 2)), 0, PyUnicode_AsUTF8(PyTuple_GET_ITEM(keep, 1)));
    if (uf == NULL) {
        Py_DECREF(keep);
        return NULL;
    }
    /* the strings live as long as the ufunc (kept in its ufunc.obj slot) */
    ((PyUFuncObject *)uf)->obj = keep;
    PyUFuncObject *u = (PyUFuncObject *)uf;
    if (u->core_num_dim_ix != 1 || u->core_num_dims[0] != 1 || u->core_num_dims[1] > 1) {
        PyErr_Format(PyExc_ValueError, "stabkit: gufunc signature %s is not (n)->() or (n)->(n)", signature);
        goto fail;
    }
    PyObject *seq = PySequence_Fast(dtypes, "dtypes must be a sequence");
    if (seq == NULL)
        goto fail;
    for (Py_ssize_t i = 0; i < PySequence_Fast_GET_SIZE(seq); i++) {
        PyArray_Descr *d = NULL;
        if (!PyArray_DescrConverter(PySequence_Fast_GET_ITEM(seq, i), &d)) {
            Py_DECREF(seq);
            goto fail;
        }
        int bad = add_gufunc_loop(uf, d);
        Py_DECREF(d);
        if (bad < 0) {
            Py_DECREF(seq);
            goto fail;
        }
    }
    Py_DECREF(seq);
    PyObject *promoter = PyCapsule_New((void *)gufunc_promoter, "numpy._ufunc_promoter", NULL);
    PyObject *any = Py_BuildValue("(OO)", Py_None, Py_None);
    int bad = promoter == NULL || any == NULL || PyUFunc_AddPromoter(uf, any, promoter) < 0;
    Py_XDECREF(promoter);
    Py_XDECREF(any);
    if (bad)
        goto fail;
    gufuncs[n_gufuncs].ufunc = uf;
    gufuncs[n_gufuncs].rows = Py_NewRef(rows);
    gufuncs[n_gufuncs].out_core = u->core_num_dims[1];
    n_gufuncs++;
    return Py_NewRef(uf); /* one reference stays in gufuncs[] */
fail:
    Py_DECREF(uf);
    return NULL;
}
