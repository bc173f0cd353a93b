"""The accurate tier: small relative error on the whole domain, in every format.

Tools used (each explained in a comment where it acts):

* float64 working precision for float16, bfloat16 and float32 inputs, then
  one correct rounding to the input format (:func:`stabkit.floats.round_float64`);
* branch identities chosen so that no subtraction cancels
  (``softplus(x) = max(x, 0) + log1p(exp(-|x|))``, binary cross-entropy as
  ``y*softplus(-x) + (1-y)*softplus(x)``), and the series
  ``1/2 + x/4 - x**3/48`` for sigmoid near 0;
* log1p of the sum without the maximum term (Blanchard, Higham & Higham,
  "Accurately computing the log-sum-exp and softmax functions", IMA J. Numer.
  Anal. 41, 2021): ``logsumexp(x) = m + log1p(sum_{i != k} exp(x_i - m))``
  (:mod:`stabkit._accurate.rows`);
* the exact rounding error of the max shift (TwoSum), its effect on the sum
  as one fused row dot, and no shift at all on rows where no exp can
  overflow (:mod:`stabkit._accurate.unshifted`);
* compensated row sums: Rump, Ogita & Oishi's extraction, TwoSum for the
  smallest sums (:mod:`stabkit._accurate.eft`);
* for the logsumexp rows where ``m + log1p(s)`` cancels (a negative maximum
  of about the size of the log term), 80-bit extended precision, then
  double-double arithmetic (:mod:`stabkit._accurate.double_double`); rows
  whose result is too close to 0 even for that (float64 log-probability rows,
  logsumexp ~ 1e-17) are summed exactly in NumPy arrays
  (:mod:`stabkit._accurate.near_zero`), and MPFR (gmpy2) takes the few rows
  that path cannot certify (:mod:`stabkit._accurate.cancelling`);
* work in cache-sized blocks of rows with reused scratch arrays: the same
  arithmetic, 2-3x faster than whole-array NumPy passes.

Edge contract, common to the row-wise functions (checked by the tests):

* NaN anywhere in a row makes the whole row's result NaN;
* ``-inf`` entries are masked classes: probability 0, log-probability -inf;
* a row of only ``-inf``: logsumexp -inf, softmax and log-softmax NaN;
* exactly one ``+inf`` in a row: softmax is 1 there and 0 elsewhere,
  log-softmax 0 and -inf, logsumexp +inf (the limit); two or more ``+inf``:
  softmax and log-softmax NaN (the limit depends on how they grow), logsumexp
  +inf;
* an empty row: logsumexp -inf (the log of an empty sum), softmax empty.

Every function here is silent and correct under any caller's NumPy error
state (``np.seterr(all="raise")`` included) and warning filters: it runs under
its own ``np.errstate(all="ignore")`` and handles every edge explicitly.
Inputs in either byte order are accepted (``>f8`` too); the result is in
native byte order. A zero result carries the sign of the exact value
(``log_softmax([0, -800])[0]`` is -0.0; a zero loss is +0.0).
"""

from __future__ import annotations


import numpy as np

from ._accurate.rows import Rows
from ._accurate.inputs import (
    as_input,
    check_same_shape,
    last_axis,
    restore_axis,
    sparse_labels,
    take_label,
    targets_in,
    silent,
    xmul,
)
from ._accurate.elementwise import log_sigmoid_f64, sigmoid_f64, softplus_f64
from ._accurate.eft import NARROW, workspace
from ._accurate.unshifted import log_softmax_unshifted, softmax_unshifted, unshifted_rows
from ._accurate.crossentropy import crossentropy_rows
from ._accurate.weighted import logsumexp_weighted
from ._accurate.weights import plain_sign
from .floats import Format, round_float64

__all__ = [
    "sigmoid",
    "log_sigmoid",
    "softplus",
    "softmax",
    "log_softmax",
    "logsumexp",
    "binary_crossentropy",
    "sparse_categorical_crossentropy",
    "categorical_crossentropy",
]

#: Elements per block. Every function works through its input in blocks of
#: whole rows this size or smaller, so that the block, converted to float64,
#: and its temporaries stay in the L2 cache: the same NumPy passes over a
#: (1000, 1000) float64 array then run 2.5x faster than over the whole array,
#: whose fresh 8 MB temporaries come from memory and are page-faulted in
#: (measured: 2**17 elements best, 2**14 and 2**20 both ~2x slower).
BLOCK = 1 << 17
#: Elementwise functions keep more temporaries alive per element: smaller
#: blocks (measured: 2**14-2**16 alike, 2**17 25% slower).
ELEMENTWISE_BLOCK = 1 << 15
#: Narrow rows are reduced column by column (see ``_accurate.rows``), one NumPy call
#: per column and step, so their blocks must be long to pay for the calls.
NARROW_BLOCK_ROWS = 1 << 14


def _finish(y64: np.ndarray, fmt: Format) -> np.ndarray:
    """Round a float64 result once to the caller's format."""
    return y64 if fmt.name == "float64" else round_float64(y64, fmt)


def _store(dst: np.ndarray, y64: np.ndarray, fmt: Format) -> None:
    """Write a float64 result into ``dst`` (of the caller's format), rounded once."""
    # NumPy's float64 -> float32 / float16 assignment is one IEEE rounding, so
    # it needs no intermediate array; bfloat16's cast rounds twice with
    # ml_dtypes < 0.7 (through float32), so stabkit rounds it itself.
    with np.errstate(over="ignore"):  # past the format's range: inf, as a rounding should
        dst[...] = round_float64(y64, fmt) if fmt.name == "bfloat16" else y64


def _step(n_cols: int, block: int | None = None) -> int:
    """Rows per block (see :func:`_blocks`)."""
    step = max(1, (block or BLOCK) // max(n_cols, 1))
    return max(step, NARROW_BLOCK_ROWS) if 1 < n_cols <= NARROW else step


def _blocks(n_rows: int, n_cols: int, block: int | None = None):
    """Slices of whole rows holding at most ``block`` (default ``BLOCK``)
    elements, at least one row, or ``NARROW_BLOCK_ROWS`` rows when the rows
    are narrow."""
    step = _step(n_cols, block)
    for start in range(0, n_rows, step):
        yield slice(start, min(start + step, n_rows))


def _elementwise(fn, x, name: str = "x") -> np.ndarray:
    """``fn`` (float64 -> float64) over ``x`` block by block, rounded once to
    the input's format; the result has the input's shape (0-d stays 0-d)."""
    a, fmt = as_input(x, name)
    flat = a.reshape(-1)
    out = np.empty(flat.shape, dtype=fmt.dtype)
    for blk in _blocks(flat.size, 1, ELEMENTWISE_BLOCK):
        _store(out[blk], fn(np.asarray(flat[blk], dtype=np.float64)), fmt)
    return out.reshape(a.shape)


# ------------------------------------------------------------ elementwise


@silent
def sigmoid(x):
    """Logistic function ``1 / (1 + exp(-x))``.

    Identity: ``e/(1+e)`` with ``e = exp(-|x|)`` below zero, ``1/(1+e)`` above.
    Edges: ``sigmoid(+-0) = 0.5``, ``sigmoid(inf) = 1``, ``sigmoid(-inf) = 0``,
    NaN propagates; results in the subnormal range are kept, not flushed.
    """
    narrower = as_input(x)[1].name != "float64"
    return _elementwise(lambda b: sigmoid_f64(b, narrower), x)


@silent
def log_sigmoid(x):
    """``log(sigmoid(x)) = -softplus(-x)``.

    Edges: ``log_sigmoid(inf) = -0.0``, ``log_sigmoid(-inf) = -inf``, NaN
    propagates. For large x the result is ``-exp(-x)``, tiny but nonzero.
    """
    to32 = as_input(x)[1].name == "float32"
    return _elementwise(lambda b: log_sigmoid_f64(b, to32), x)


@silent
def softplus(x):
    """``log(1 + exp(x)) = max(x, 0) + log1p(exp(-|x|))``.

    Edges: ``softplus(inf) = inf``, ``softplus(-inf) = 0``, NaN propagates.
    No threshold: ``softplus(30) = 30 + 9.4e-14`` in float64.
    """
    to32 = as_input(x)[1].name == "float32"
    return _elementwise(lambda b: softplus_f64(b, to32), x)


# ------------------------------------------------------------ row-wise


def _rows(r64: np.ndarray, fmt: Format) -> Rows:
    """The shift analysis of a block of float64 rows; float64 targets get the
    exact shift residuals and compensated sums."""
    return Rows(r64, fmt.name == "float64", block_rows=_step(r64.shape[-1]))


def _rowwise(a: np.ndarray, fmt: Format, axis: int, fn, *, reduce: bool = False, keep32: bool = False) -> np.ndarray:
    """``fn(rows, block, dst)`` over blocks of rows of ``a`` (classes on
    ``axis``, at least one element), each block converted to float64 (float32
    blocks kept as they are with ``keep32``, for a ``fn`` that converts them
    itself) and its result rounded once to ``fmt``. ``fn`` gives one value per
    row when ``reduce``, else one per element; it may write its result into
    ``dst`` (the block's slice of the output, or None) and return it. The
    result has ``axis`` restored, or removed."""
    xl = last_axis(a, axis)
    x2 = xl.reshape(-1, xl.shape[-1])
    out = np.empty(x2.shape[:1] if reduce else x2.shape, dtype=fmt.dtype)
    work = None if keep32 and x2.dtype == np.float32 else np.float64
    # results can be written straight into float64, float32 and float16
    # outputs (one IEEE rounding); bfloat16 goes through round_float64
    direct = fmt.name != "bfloat16"
    for blk in _blocks(*x2.shape):
        dst = out[blk]
        y = fn(np.asarray(x2[blk], dtype=work), blk, dst if direct else None)
        if y is not dst:
            _store(dst, y, fmt)
    if reduce:
        return out.reshape(xl.shape[:-1])
    return restore_axis(out.reshape(xl.shape), axis, a.ndim)


def _class_shape(x, axis):
    """``x`` validated, its format, and its shape with the class axis last."""
    a, fmt = as_input(x)
    return a, fmt, last_axis(a, axis).shape


@silent
def softmax(x, axis=-1):
    """``exp(x_i) / sum_j exp(x_j)`` on rows where no exp can overflow (or
    underflow into the subnormals for float64 results), else
    ``exp(x_i - m) / (1 + s)`` with ``s`` the sum without the maximum term.

    Unshifted, ``exp`` sees the exact inputs; shifted, the shift's rounding
    error is folded into ``exp``. Either way the row sum is compensated, so
    every probability, down to subnormals, has a small relative error. Each
    row's path depends on that row alone. Edges: see the module docstring
    (masking, all ``-inf``, ``+inf``, NaN).
    """
    a, fmt, _ = _class_shape(x, axis)
    if a.size == 0:
        return np.zeros(a.shape, dtype=fmt.dtype)
    exact = fmt.name == "float64"

    def rows(r, _, dst):
        fast = unshifted_rows(r, exact)
        if fast.all():
            return softmax_unshifted(r, exact, dst, _step(r.shape[-1]))
        if not fast.any():
            return _rows(r, fmt).softmax(dst)
        p = np.empty(r.shape)
        p[fast] = softmax_unshifted(r[fast], exact, None, _step(r.shape[-1]))
        p[~fast] = _rows(r[~fast], fmt).softmax()
        return p

    return _rowwise(a, fmt, axis, rows, keep32=True)


def _log_softmax_narrow(r: np.ndarray, dst: np.ndarray | None = None) -> np.ndarray:
    """Log-softmax of a block for a float32 or narrower target: unshifted
    where the row's maximum allows, shifted elsewhere and on short rows (whose
    winner NumPy finds faster by a maximum than by an argmax)."""
    if r.shape[-1] <= NARROW:
        return Rows(r, False, block_rows=_step(r.shape[-1])).log_softmax(dst)
    lp, ok = log_softmax_unshifted(r, dst, _step(r.shape[-1]))
    if not ok.all():
        lp[~ok] = Rows(r[~ok], False, block_rows=_step(r.shape[-1])).log_softmax()
    return lp


@silent
def log_softmax(x, axis=-1):
    """``x_i - logsumexp(x) = (d_i - log1p(s)) + r_i``, with ``d_i + r_i = x_i - m``
    exactly. The winning class gets ``-log1p(s)``: not 0 at a gap of 40, but
    ``-4.2e-18``. For float32 and narrower, rows without a winner far ahead
    take ``x_i - log(sum_j exp(x_j))`` in float64, unshifted. Edges: see the
    module docstring."""
    a, fmt, _ = _class_shape(x, axis)
    if a.size == 0:
        return np.zeros(a.shape, dtype=fmt.dtype)
    if fmt.name == "float64":
        return _rowwise(a, fmt, axis, lambda r, _, dst: _rows(r, fmt).log_softmax(dst), keep32=True)

    return _rowwise(a, fmt, axis, lambda r, _, dst: _log_softmax_narrow(r, dst), keep32=True)


@silent
def logsumexp(x, axis=-1, keepdims=False, b=None, return_sign=False):
    """``log(sum(exp(x))) = m + log1p(s)`` (Blanchard, Higham & Higham 2021).

    Rows where ``m + log1p(s)`` cancels (a negative maximum; the logsumexp of
    log-probabilities, which is about 0) are evaluated in double-double or
    summed exactly, and in MPFR where neither is enough, so the result keeps
    a small relative error there too. Edges: an empty row gives -inf; see the module
    docstring for NaN, ``-inf`` and ``+inf``. Weights ``b`` (broadcast against ``x``,
    taken exactly; the result stays in ``x``'s format) give ``log|sum(b exp(x))|``,
    accurate even where terms of both signs cancel; ``return_sign`` returns
    ``(log|sum|, sign)``, sign 1, -1, or 0 for a zero sum (log -inf); without it a
    negative sum is NaN. Method, bounds, edges: :mod:`stabkit._accurate.weighted`.
    """
    if b is not None:
        return logsumexp_weighted(x, axis, keepdims, b, return_sign, logsumexp)
    a, fmt, shape = _class_shape(x, axis)
    if shape[-1] == 0:
        out = np.full(shape[:-1], -np.inf, dtype=fmt.dtype)
    elif a.size == 0:
        out = np.zeros(shape[:-1], dtype=fmt.dtype)
    else:
        out = _rowwise(a, fmt, axis, lambda r, _b, _d: _rows(r, fmt).logsumexp(fmt), reduce=True, keep32=True)
    out = np.expand_dims(out, axis) if keepdims else out
    return (out, plain_sign(out)) if return_sign else out


# ------------------------------------------------------------ losses


def _bce64(y, p, from_logits):
    with np.errstate(invalid="ignore", divide="ignore"):
        if from_logits:
            return xmul(y, softplus_f64(-p)) + xmul(1.0 - y, softplus_f64(p))
        # 0 - (...): both logs are <= 0, so an exact 0 (p = y = 0 or 1) is +0.0
        return 0.0 - (xmul(y, np.log(p)) + xmul(1.0 - y, np.log1p(-p)))


@silent
def binary_crossentropy(y_true, y_pred, from_logits=False):
    """Elementwise binary cross-entropy; ``y_true`` is first rounded to the
    format of ``y_pred``.

    From logits: ``y * softplus(-x) + (1 - y) * softplus(x)``. For labels in
    [0, 1] both terms are >= 0, so nothing cancels: at (x = -40, y = 0) the
    loss is 4.2e-18, not 0. From probabilities:
    ``-(y log p + (1 - y) log1p(-p))``, exact for tiny ``p`` where ``log(1 - p)``
    rounds to 0. A zero weight makes its term 0 even where the log is
    infinite (``0 log 0 = 0``). Edges: p = 0 with y > 0 gives inf; NaN
    propagates; shapes must match (ValueError).
    """
    p, fmt = as_input(y_pred, "y_pred")
    y_raw = np.asarray(y_true)
    check_same_shape(y_raw, p)
    pf, yf = p.reshape(-1), targets_in(y_raw, fmt).reshape(-1)
    out = np.empty(pf.shape, dtype=fmt.dtype)
    for blk in _blocks(pf.size, 1, ELEMENTWISE_BLOCK):
        y64 = np.asarray(yf[blk], dtype=np.float64)
        _store(out[blk], _bce64(y64, np.asarray(pf[blk], dtype=np.float64), from_logits), fmt)
    return out.reshape(p.shape)


@silent
def sparse_categorical_crossentropy(y_true, y_pred, from_logits=False, axis=-1):
    """Per-row ``-log p[y]``.

    From logits: ``-log_softmax(z)[y] = (log1p(s) - d_y) - r_y``, a sum of
    non-negative terms (the loss of a confidently correct sample at a gap of 20
    is 2.1e-9, not 0). From probabilities: ``-log(p[y])`` with ``p`` taken as
    given (no rescaling, no clipping). Labels must be integers in
    ``[0, n_classes)`` of the logits' shape without the class axis
    (ValueError naming the label otherwise).
    """
    p, fmt = as_input(y_pred, "y_pred")
    pl = last_axis(p, axis)
    y = sparse_labels(y_true, pl)
    if pl.size == 0:
        return np.zeros(pl.shape[:-1], dtype=fmt.dtype)
    if not from_logits:
        # only the labelled probabilities are read, then converted
        with np.errstate(divide="ignore", invalid="ignore"):
            return _finish(0.0 - np.log(take_label(pl, y).astype(np.float64)), fmt)
    labels = y.reshape(-1)
    # 0 - lp: lp <= 0 carries its sign (-0.0 for a tiny exact value), the
    # loss of an exact 0 (a single class) is +0.0, never -0.0
    return _rowwise(p, fmt, axis, lambda r, blk, _: 0.0 - _rows(r, fmt).log_softmax_at(labels[blk]), reduce=True, keep32=True)


@silent
def categorical_crossentropy(y_true, y_pred, from_logits=False, axis=-1):
    """Per-row ``-sum_i y_i log p_i`` with soft or one-hot labels (rounded to
    the format of ``y_pred``).

    From logits, ``log p`` is the accurate log-softmax; from probabilities,
    ``log p`` as given. Zero labels contribute 0 even at masked (``-inf``)
    logits. For non-negative labels every term is >= 0; for float64 the row
    sum is compensated (extraction, or TwoSum on narrow rows). Shapes must
    match (ValueError). Rows whose log-softmax overflows at a finite logit
    (``[1.8e308, -1.8e308, 0]``) are summed scaled: a finite loss stays
    finite. A zero loss is +0.0.
    """
    p, fmt = as_input(y_pred, "y_pred")
    y_raw = np.asarray(y_true)
    check_same_shape(y_raw, p)
    pl = last_axis(p, axis)
    if pl.shape[-1] == 0 or pl.size == 0:
        return np.zeros(pl.shape[:-1], dtype=fmt.dtype)
    y2 = last_axis(targets_in(y_raw, fmt), axis).reshape(-1, pl.shape[-1])

    exact = fmt.name == "float64"

    def rows(r, blk, _dst):
        yb = y2[blk] if y2.dtype in (np.float32, np.float64) else np.asarray(y2[blk], dtype=np.float64)
        with np.errstate(divide="ignore", invalid="ignore"):
            if not from_logits:
                logp = np.log(r, dtype=np.float64)
            elif exact:
                logp = _rows(r, fmt).log_softmax()
            else:
                logp = _log_softmax_narrow(r)
            scratch = [w[: r.shape[0]] for w in workspace(_step(r.shape[-1]), r.shape[-1], 5)[3:]] if exact else None
            return crossentropy_rows(yb, logp, exact, scratch, r if exact and from_logits else None)

    return _rowwise(p, fmt, axis, rows, reduce=True, keep32=True)
