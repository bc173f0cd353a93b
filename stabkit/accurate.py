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
  of about the size of the log term), the correctly rounded float64: a
  vectorised double-double step in C, then 80-bit extended precision and
  double-double arithmetic (:mod:`stabkit._accurate.double_double`) for the
  rows it leaves; rows whose result is too close to 0 even for that (float64
  log-probability rows, logsumexp ~ 1e-17) are summed exactly in NumPy
  arrays (:mod:`stabkit._accurate.near_zero`), and MPFR (gmpy2) takes the
  few rows no step can certify (:mod:`stabkit._accurate.cancelling`);
* cache-sized blocks of rows, reused scratch: 2-3x faster than whole-array passes;
* the row-wise functions run as fused C passes with the same bits, one call
  per block of rows (:mod:`stabkit._native.rows`, :mod:`stabkit._accurate.narrow`,
  :mod:`stabkit._accurate.wide`; ``STABKIT_NATIVE=0`` or no C compiler: NumPy);
* sigmoid, log_sigmoid and softplus run as compiled ufuncs that give the same
  bits in every format, and so does the binary cross-entropy from logits for
  float64 and float32 (:mod:`stabkit._native`, :mod:`stabkit._accurate.native64`;
  ``STABKIT_NATIVE=0`` or a build without a C compiler: the NumPy code here).

Edge contract, common to the row-wise functions (checked by the tests):

* NaN anywhere in a row makes the whole row's result NaN;
* ``-inf`` entries are masked classes: probability 0, log-probability -inf;
* a row of only ``-inf``: logsumexp -inf, softmax and log-softmax NaN;
* exactly one ``+inf`` in a row: softmax is 1 there and 0 elsewhere, log-softmax
  0 and -inf, logsumexp +inf (the limit); two or more ``+inf``: softmax and
  log-softmax NaN (the limit depends on how they grow), logsumexp +inf;
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

from ._accurate.blocks import BLOCK, ELEMENTWISE_BLOCK, NARROW_BLOCK_ROWS  # noqa: F401 - the tier's block sizes
from ._accurate.blocks import blocks as _blocks, elementwise as _elementwise, finish as _finish, rowwise as _rowwise
from ._accurate.blocks import step as _step, store as _store
from ._accurate.rows import Rows
from ._accurate.inputs import as_input, check_same_shape, last_axis, restore_axis, targets_in, silent, xmul
from ._accurate.elementwise import log_sigmoid_f64, sigmoid_f64, softplus_f64
from ._accurate.scaled import softplus_beta_f64
from ._accurate.eft import NARROW, workspace
from ._accurate.unshifted import softmax_unshifted, unshifted_rows
from ._accurate.crossentropy import binary_terms, crossentropy_rows, renormalised_log_prob_at, renormalised_log_probs
from ._accurate import longprobs as _longprobs, longrows as _long, lossopts, narrow as _narrow, native64, targets64, threads as _threads  # noqa: F401 - native64 binds float64 loops
from ._accurate import bceties as _ties, rowrest as _rest, wide as _wide
from ._accurate.threads import workers
from ._accurate.weighted_front import logsumexp_weighted
from ._accurate.weights import plain_sign
from .floats import Format
from ._native import elementwise as _native, narrowrows as _narrowrows

__all__ = ["sigmoid", "log_sigmoid", "softplus", "softmax", "log_softmax", "logsumexp", "binary_crossentropy",
           "sparse_categorical_crossentropy", "categorical_crossentropy", "workers"]  # fmt: skip

# ------------------------------------------------------------ elementwise


@silent
def sigmoid(x):
    """Logistic function ``1 / (1 + exp(-x))``.

    Identity: ``e/(1+e)`` with ``e = exp(-|x|)`` below zero, ``1/(1+e)`` above.
    Edges: ``sigmoid(+-0) = 0.5``, ``sigmoid(inf) = 1``, ``sigmoid(-inf) = 0``,
    NaN propagates; results in the subnormal range are kept, not flushed.
    """
    narrower = as_input(x)[1].name != "float64"
    return _elementwise(lambda b: sigmoid_f64(b, narrower), x, native="sigmoid")


@silent
def log_sigmoid(x):
    """``log(sigmoid(x)) = -softplus(-x)``.

    Edges: ``log_sigmoid(inf) = -0.0``, ``log_sigmoid(-inf) = -inf``, NaN
    propagates. For large x the result is ``-exp(-x)``, tiny but nonzero.
    """
    to32 = as_input(x)[1].name == "float32"
    return _elementwise(lambda b: log_sigmoid_f64(b, to32), x, native="log_sigmoid")


@silent
def softplus(x):
    """``log(1 + exp(x)) = max(x, 0) + log1p(exp(-|x|))``.

    Edges: ``softplus(inf) = inf``, ``softplus(-inf) = 0``, NaN propagates.
    No threshold: ``softplus(30) = 30 + 9.4e-14`` in float64.
    """
    to32 = as_input(x)[1].name == "float32"
    return _elementwise(lambda b: softplus_f64(b, to32), x, native="softplus")


@silent
def _softplus_beta(x, beta):
    """``log(1 + exp(beta*x)) / beta`` (:func:`softplus_beta_f64`), rounded once."""
    return _elementwise(lambda b: softplus_beta_f64(b, beta), x)


# ------------------------------------------------------------ row-wise


def _rows(r64: np.ndarray, fmt: Format) -> Rows:
    """The shift analysis of a block of float64 rows; float64 targets get the
    exact shift residuals and compensated sums."""
    return Rows(r64, fmt.name == "float64", block_rows=_step(r64.shape[-1]))


def _class_shape(x, axis):
    """``x`` validated, its format, and its shape with the class axis last."""
    a, fmt = as_input(x)
    return a, fmt, last_axis(a, axis).shape


def _softmax_numpy(r: np.ndarray, fmt: Format, exact: bool, dst: np.ndarray | None = None) -> np.ndarray:
    """The NumPy path of softmax on a block of rows: each row unshifted
    where it can be, else shifted (:class:`Rows`), into ``dst`` where given
    and every row is of one kind."""
    fast = unshifted_rows(r, exact)
    if fast.all():
        return softmax_unshifted(r, exact, dst, _step(r.shape[-1]))
    if not fast.any():
        return _rows(r, fmt).softmax(dst)
    p = np.empty(r.shape)
    p[fast] = softmax_unshifted(r[fast], exact, None, _step(r.shape[-1]))
    p[~fast] = _rows(r[~fast], fmt).softmax()
    return p


@silent
def softmax(x, axis=-1, _into=None):
    """``exp(x_i) / sum_j exp(x_j)`` on rows where no exp can overflow (or
    underflow into the subnormals for float64 results), else
    ``exp(x_i - m) / (1 + s)`` with ``s`` the sum without the maximum term.

    Unshifted, ``exp`` sees the exact inputs; shifted, the shift's rounding
    error is folded into ``exp``. Either way the row sum is compensated, so
    every probability, down to subnormals, has a small relative error. Each
    row's path depends on that row alone. Edges: see the module docstring
    (masking, all ``-inf``, ``+inf``, NaN).
    """
    a, fmt, shape = _class_shape(x, axis)
    if a.size == 0:
        return np.zeros(a.shape, dtype=fmt.dtype)
    exact = fmt.name == "float64"

    def numpy_rows(r, dst=None):
        # narrow rows: float32's fast pass, else the narrow kernel (same bits; a buffer the caller rounds)
        got = None
        if r.shape[-1] <= NARROW:
            if _wide.narrow_fast32(r, dst, numpy_rows):
                return dst
            direct = dst is not None and dst.dtype == np.float64 and dst.flags.c_contiguous
            got = _narrowrows.narrow_softmax(r, exact, dst if direct else _wide._buffer(*r.shape))
        if got is None:
            return _softmax_numpy(r, fmt, exact, dst)
        p, redo = got
        if redo.any():
            p[redo] = _softmax_numpy(r[redo], fmt, exact)
        return p

    def rows(r, _=None, dst=None):  # wide rows: one compiled call per block first
        return _wide.softmax(r, exact, dst, numpy_rows)

    if _long.takes(shape[-1]):  # rows of millions: chunk by chunk, the same bits
        return _longprobs.rowwise(a, axis, fmt, _longprobs.softmax_row, rows)
    return _rowwise(a, fmt, axis, rows, keep32=True, into=_into)


@silent
def log_softmax(x, axis=-1, _into=None):
    """``x_i - logsumexp(x) = (d_i - log1p(s)) + r_i``, with ``d_i + r_i = x_i - m``
    exactly. The winning class gets ``-log1p(s)``: not 0 at a gap of 40, but
    ``-4.2e-18``. For float32 and narrower, rows without a winner far ahead
    take ``x_i - log(sum_j exp(x_j))`` in float64, unshifted. Edges: see the
    module docstring."""
    a, fmt, shape = _class_shape(x, axis)
    if a.size == 0:
        return np.zeros(a.shape, dtype=fmt.dtype)
    block = _narrow.log_softmax if fmt.name == "float64" else _narrow.log_softmax_narrower
    if _long.takes(shape[-1]):  # rows of millions: chunk by chunk, the same bits
        return _longprobs.rowwise(a, axis, fmt, _longprobs.log_softmax_row, lambda r: block(r, fmt))
    return _rowwise(a, fmt, axis, lambda r, _, dst: block(r, fmt, dst), keep32=True, into=_into)


@silent
def logsumexp(x, axis=-1, keepdims=False, b=None, return_sign=False, _into=None):
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
        return logsumexp_weighted(x, axis, keepdims, b, return_sign, _logsumexp_core)
    a, fmt, shape = _class_shape(x, axis)
    if shape[-1] == 0:
        out = np.full(shape[:-1], -np.inf, dtype=fmt.dtype)
    elif a.size == 0:
        out = np.zeros(shape[:-1], dtype=fmt.dtype)
    elif _long.takes(shape[-1]):  # rows of millions: chunk by chunk, the same bits
        out = _long.logsumexp(last_axis(a, axis), fmt, lambda r: _narrow.logsumexp(r, fmt))
    else:
        out = _rowwise(a, fmt, axis, lambda r, _b, _d: _narrow.logsumexp(r, fmt, rounded=True), reduce=True,
                       keep32=True, into=_into)
    out = np.expand_dims(out, axis) if keepdims else out
    return (out, plain_sign(out)) if return_sign else out


# ------------------------------------------------------------ losses


@silent
def binary_crossentropy(y_true, y_pred, from_logits=False, label_smoothing=0.0, *, sample_weight=None,
                        pos_weight=None, reduction="none"):
    """Elementwise binary cross-entropy; ``y_true`` is first rounded to the
    format of ``y_pred``. From logits: ``w y softplus(-x) + (1 - y) softplus(x)``
    (``w`` the ``pos_weight``), two terms >= 0: at (x = -40, y = 0) the loss
    is 4.2e-18, not 0. From probabilities: ``-(w y log p + (1 - y) log1p(-p))``,
    exact for tiny ``p``. A zero weight makes its term 0 even where the log is
    infinite (``0 log 0 = 0``). Edges: p = 0 with y > 0 gives inf; NaN
    propagates; shapes must match (ValueError). Options: README, "Loss options"."""
    p, fmt = as_input(y_pred, "y_pred")
    y_raw = np.asarray(y_true)
    check_same_shape(y_raw, p)
    yr = targets_in(y_raw, fmt)
    o = lossopts.binary_options(yr, p, from_logits, label_smoothing, sample_weight, pos_weight, reduction)
    pf, yf = p.reshape(-1), yr.reshape(-1)
    pos = None if o.pos is None else o.pos.reshape(-1)
    # float64 and float32, from logits or probabilities: the compiled loops with binary_terms'
    # bits; without options, one pass over y and p (a = y, b = 1 - y, the loss rounded once inside)
    terms = _native.ufunc("binary_crossentropy", fmt.name, o.plain, logits=from_logits)
    if terms is not None and o.plain:
        loss = np.empty(p.shape, dtype=fmt.dtype)
        _threads.split_call(terms, np.asarray(yr), p, out=loss)
        return o.finish(loss, fmt, accurate=True, weighed=True)
    ofmt = o.per_sample(fmt)
    out = np.empty(pf.shape, dtype=ofmt.dtype)

    def block(blk):
        y64 = np.asarray(yf[blk], dtype=np.float64)
        a, b = (y64, 1.0 - y64) if o.plain else targets64.binary_weights64(y64, o.ls, None if pos is None else pos[blk])
        p64 = np.asarray(pf[blk], dtype=np.float64)
        loss = binary_terms(a, b, p64, from_logits) if terms is None else terms(a, b, p64)
        _store(out[blk], _ties.settle(loss, y64, p64, fmt, o, blk, from_logits), ofmt)

    _threads.each(block, _blocks(pf.size, 1, ELEMENTWISE_BLOCK))
    return o.finish(out.reshape(p.shape), fmt, accurate=True, weighed=True)


@silent
def sparse_categorical_crossentropy(y_true, y_pred, from_logits=False, axis=-1, *, ignore_index=None,
                                    class_weight=None, sample_weight=None, label_smoothing=0.0, reduction="none",
                                    ignore_class=None):
    """Per-row ``-w_y log p[y]`` (``w`` the class weights). From logits:
    ``(log1p(s) - d_y) - r_y``, non-negative terms (a gap of 20 gives 2.1e-9,
    not 0). From probabilities: ``log(S / p[y])``, rows renormalised exactly
    (``renormalised_log_prob_at``). Labels: integers in ``[0, n_classes)``, shaped
    as the rows or with a trailing 1 (ValueError naming the label otherwise).
    Label smoothing: the categorical loss of the smoothed one-hot rows."""
    p, fmt = as_input(y_pred, "y_pred")
    pl = last_axis(p, axis)
    y, o = lossopts.sparse_options(y_true, pl, fmt, from_logits, lossopts.ignored_label(ignore_index, ignore_class),
                                   class_weight, sample_weight, label_smoothing, reduction)
    if o.ls:
        t = lossopts.one_hot(y, pl.shape[-1], o.plan.keep, np.float64)
        loss = _categorical_core(t, pl, from_logits, o.ls, class_weight=o.cw, sample_weight=o.plan.sample64,
                                 _outer=o.plan)
        return o.finish(o.plan.kept(loss), fmt, accurate=True, weighed=True)
    if pl.size == 0:
        return o.finish(np.zeros(pl.shape[:-1], dtype=fmt.dtype), fmt, accurate=True, weighed=True)
    labels, cwy = y.reshape(-1), (None if o.cw is None else o.cw[y.reshape(-1)])

    def rows(r, blk, _, lp=None):
        # 0 - lp: lp <= 0 carries its sign (-0.0 for a tiny exact value), the
        # loss of an exact 0 (a single class) is +0.0, never -0.0
        seen = {} if from_logits and fmt.name == "float64" else None  # the kernels' row analysis, for _rest
        if lp is None:
            # plain: the loss 0 - lp goes straight into the output (one rounding)
            lp = (_narrow.log_softmax_at(r, fmt, labels[blk], rounded=o.plain, seen=seen) if from_logits
                  else renormalised_log_prob_at(r, labels[blk], fmt.name != "float64"))
        loss = 0.0 - lp if cwy is None else xmul(cwy[blk], 0.0 - lp)
        again = _rest.sparse(o, r, loss, labels[blk], None if cwy is None else cwy[blk], seen)
        return loss if o.plain else o.plan.apply64(loss, blk, again)

    if from_logits and _long.takes(pl.shape[-1]):  # rows of millions: chunk by chunk, the same bits
        lp = _long.log_softmax_at(pl, fmt, labels, lambda r, cols: _narrow.log_softmax_at(r, fmt, cols))
        loss = _finish(rows(None, slice(None), None, lp), o.per_sample(fmt)).reshape(pl.shape[:-1])
        return o.finish(loss, fmt, accurate=True, weighed=True)
    loss = _rowwise(p, fmt, axis, rows, reduce=True, keep32=True, out_fmt=o.per_sample(fmt))
    return o.finish(loss, fmt, accurate=True, weighed=True)


@silent
def categorical_crossentropy(y_true, y_pred, from_logits=False, label_smoothing=0.0, axis=-1, *, class_weight=None,
                             sample_weight=None, reduction="none", _outer=None):
    """Per-row ``-sum_i w_i y_i log p_i``, soft or one-hot labels rounded to
    ``y_pred``'s format (smoothed, class-weighted in float64). ``log p``: the
    accurate log-softmax, or ``log(p_i / S)`` (rows renormalised exactly).
    Zero labels count 0 even at masked logits; terms >= 0, compensated sums
    for float64; shapes must match (ValueError); a finite loss whose
    log-softmax overflows (``[1.8e308, -1.8e308, 0]``) stays finite; 0 is +0.0."""
    p, fmt = as_input(y_pred, "y_pred")
    y_raw = np.asarray(y_true)
    check_same_shape(y_raw, p)
    pl = last_axis(p, axis)
    yr = targets_in(y_raw, fmt)
    o = lossopts.categorical_options(yr, pl, fmt, from_logits, label_smoothing, class_weight, sample_weight, reduction,
                                     axis, by_block=pl.size > 0)
    if pl.size == 0:
        return o.finish(np.zeros(pl.shape[:-1], dtype=fmt.dtype), fmt, accurate=True, weighed=True)
    if _outer is not None:  # the sparse loss's smoothed rows: its reduction keeps their terms and notes
        o.plan.share_notes(_outer)
    y1 = last_axis(yr, axis).reshape(-1, pl.shape[-1])
    y2 = y1 if o.plain else targets64.categorical_targets64(y1, o.ls, o.cw)
    exact = fmt.name == "float64"

    def narrower(yb, r):  # float32 and narrower targets from logits
        return crossentropy_rows(yb, _narrow.log_softmax_narrower(r, fmt), False, None, None)

    def rows(r, blk, _dst):
        o.targets(y1[blk])
        yb = y2[blk] if y2.dtype in (np.float32, np.float64) else np.asarray(y2[blk], dtype=np.float64)
        seen = {} if exact and from_logits else None  # the kernels' row analysis, for _rest
        with np.errstate(divide="ignore", invalid="ignore"):
            scratch = [w[: r.shape[0]] for w in workspace(_step(r.shape[-1]), r.shape[-1], 5)[3:]] if exact else None
            if exact and from_logits:
                loss = _narrow.crossentropy(yb, r, fmt, scratch, seen)
            elif from_logits and o.plain:
                # plain: each loss goes straight into the output (one rounding)
                loss = _wide.crossentropy_rounded(yb, r, fmt.name, narrower)
            elif from_logits:
                loss = narrower(yb, r)
            else:
                loss = crossentropy_rows(yb, renormalised_log_probs(r, not exact), exact, scratch, None)
        again = _rest.categorical(o, r, loss, y1[blk], seen)
        return loss if o.plain else o.plan.apply64(loss, blk, again)

    loss = _rowwise(p, fmt, axis, rows, reduce=True, keep32=True, out_fmt=o.per_sample(fmt))
    return o.finish(loss, fmt, accurate=True, weighed=True)

# ------------------------------------------------------------ public signatures
# The defs above are the cores (NumPy arrays, one int axis); the public
# functions add the conventions shared by all tiers (stabkit._api).
from ._api import wrap as _wrap  # noqa: E402
from .registry import attribute_hints as _hints  # noqa: E402
__getattr__ = _hints(__name__)  # another library's name (expit) is answered with ours

#: the row-wise cores, for the gufuncs of stabkit.ufuncs: ``f(x, -1, _into=out)``
#: writes into ``out`` where it can (see _rowwise) and returns the result
ROW_CORES = {"softmax": softmax, "log_softmax": log_softmax, "logsumexp": logsumexp}
# every public function also takes ``workers=`` (threads: stabkit._accurate.threads)
sigmoid = _threads.keyword(_wrap.elementwise(sigmoid))
log_sigmoid = _threads.keyword(_wrap.elementwise(log_sigmoid))
softplus = _threads.keyword(_wrap.softplus(softplus, _softplus_beta))
softmax = _threads.keyword(_wrap.rowwise(softmax))
log_softmax = _threads.keyword(_wrap.rowwise(log_softmax))
_logsumexp_core = logsumexp  # the weighted path calls the core back (one int axis)
logsumexp = _threads.keyword(_wrap.logsumexp(logsumexp))
binary_crossentropy = _threads.keyword(_wrap.loss(binary_crossentropy))
sparse_categorical_crossentropy = _threads.keyword(_wrap.loss(sparse_categorical_crossentropy))
_categorical_core = categorical_crossentropy  # the sparse loss's smoothed rows call the core (its _outer)
categorical_crossentropy = _threads.keyword(_wrap.loss(categorical_crossentropy))
