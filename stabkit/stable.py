"""The stable tier: the standard remedies, as the frameworks ship them.

Evaluated in the input format, operation by operation, like the CPU kernels of
SciPy, PyTorch and Keras:

* softmax, log-softmax and logsumexp shift by the row maximum, so ``exp``
  never overflows;
* softplus uses PyTorch's threshold (``x`` itself past 20);
* binary cross-entropy from logits is Keras's
  ``max(x, 0) - x*y + log1p(exp(-|x|))``;
* cross-entropy from logits is ``logsumexp(z) - z_y``;
* cross-entropy from probabilities follows Keras: rows are rescaled to sum to
  1 and probabilities are clipped to ``[1e-7, 1 - 1e-7]`` before the log.

None of these overflow, but they keep large *relative* errors in the tails:
the log-softmax of a winning class, the loss of a confidently correct sample,
softplus past the threshold, any loss whose probability was clipped.

Edge contract (shared by all tiers unless a docstring says otherwise): NaN
propagates; a row whose maximum is -inf (all masked) gives NaN probabilities;
the output format is the input format.
"""

from __future__ import annotations

import numpy as np

from ._accurate import lossopts
from ._accurate.inputs import as_input, check_same_shape, last_axis, take_label, targets_in
from ._accurate.weights import plain_sign, signed_result, weights_in

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

#: Keras's ``backend.epsilon()``, used to clip probabilities.
KERAS_EPSILON = 1e-7
#: PyTorch's default ``softplus`` threshold.
SOFTPLUS_THRESHOLD = 20.0
#: Bytes per buffer of the blocked cross-entropy from logits (measured on
#: (1000, 1000) rows: 0.5-2 MiB alike, 4 MiB slower in float64).
_CCE_BLOCK_BYTES = 1 << 20


def sigmoid(x):
    """``1/(1+exp(-x))`` for ``x >= 0`` and ``exp(x)/(1+exp(x))`` below, so
    ``exp`` only ever sees a non-positive argument (SciPy's ``expit``)."""
    x, _ = as_input(x)
    flat = x.reshape(-1)
    out = np.empty_like(flat)
    # blocks of 2**15 keep the temporaries in cache (the same arithmetic)
    for i in range(0, flat.size, 1 << 15):
        b = flat[i : i + (1 << 15)]
        # exp(-800) underflowing to 0 is the intended limit: no error under
        # np.seterr(under="raise"), as SciPy's expit and the frameworks
        with np.errstate(under="ignore"):
            e = np.exp(-np.abs(b))
        # the numerator is 1 for x >= 0 and e below; e <= 1, so max(e, x >= 0)
        # picks it without a random-mask np.where (3x slower)
        den = np.add(np.ones((), x.dtype), e)
        np.divide(np.maximum(e, b >= 0, out=e), den, out=out[i : i + (1 << 15)])
    return out.reshape(x.shape)


def log_sigmoid(x):
    """``min(x, 0) - log1p(exp(-|x|))`` (PyTorch's ``logsigmoid``)."""
    x, _ = as_input(x)
    with np.errstate(under="ignore"):  # as sigmoid: exp(-800) = 0 is the limit
        return np.minimum(x, np.zeros((), x.dtype)) - np.log1p(np.exp(-np.abs(x)))


def softplus(x):
    """``log1p(exp(x))``; the public function replaces it by ``x`` for
    ``x > 20`` (PyTorch's default threshold), which drops ``log1p(exp(-x))``
    ~ 2e-9 relative at 20."""
    x, _ = as_input(x)
    with np.errstate(over="ignore"):
        return np.log1p(np.exp(x))


def _softplus_beta(x, beta):
    """``log1p(exp(beta*x)) / beta`` in the input format (PyTorch's formula)."""
    x, _ = as_input(x)
    b = np.asarray(beta, dtype=x.dtype)
    with np.errstate(over="ignore"):
        return np.log1p(np.exp(b * x)) / b


def _rowmax(x, axis):
    """``np.max(x, axis, keepdims=True)``; for short rows column by column, as
    NumPy's reduction along a short contiguous axis is 3-5x slower than a few
    elementwise maxima across rows (the maximum is exact in any order)."""
    if x.ndim < 2 or x.shape[axis] > 16:
        return np.maximum.reduce(x, axis=axis, keepdims=True)  # np.max, without its Python layer
    last = axis == -1 or axis == x.ndim - 1
    xl = x if last else np.moveaxis(x, axis, -1)
    m = xl[..., 0].copy()
    for j in range(1, xl.shape[-1]):
        np.maximum(m, xl[..., j], out=m)  # propagates NaN, like np.max
    return m[..., None] if last else np.expand_dims(m, axis)


def _shifted(x, axis, out=None):
    """``x - max`` per row (written into ``out`` when given) and the maximum,
    0 where it is not finite."""
    m = _rowmax(x, axis)
    if not np.logical_and.reduce(np.isfinite(m), axis=None):  # .all(), without its Python layer
        m = np.where(np.isfinite(m), m, np.zeros((), x.dtype))
    return np.subtract(x, m, out=out), m


def softmax(x, axis=-1):
    """``exp(x - max) / sum(exp(x - max))`` per row."""
    x, _ = as_input(x)
    last_axis(x, axis)
    if x.size == 0:
        return x.copy()
    # the row maximum as it is, +inf too (x - inf: NaN, the row NaN), as
    # SciPy's softmax, torch.softmax and jax.nn.softmax shift; _shifted's
    # zero for it (SciPy's logsumexp) gave [nan, 0] for [inf, 1]
    z = np.subtract(x, _rowmax(x, axis))
    # in place: the same arithmetic as SciPy's, without two more temporaries
    e = np.exp(z, out=z)
    return np.divide(e, np.add.reduce(e, axis=axis, keepdims=True), out=e)  # np.sum, without its Python layer


def log_softmax(x, axis=-1):
    """``(x - max) - log(sum(exp(x - max)))`` per row (SciPy, PyTorch)."""
    x, _ = as_input(x)
    last_axis(x, axis)
    if x.size == 0:
        return x.copy()
    with np.errstate(divide="ignore"):
        return _log_softmax_into(x, axis)


def _log_softmax_into(x, axis, out=None, scratch=None):
    """:func:`log_softmax`'s arithmetic, its result written into ``out`` and
    ``exp(x - max)`` into ``scratch`` when they are given (fresh arrays
    otherwise): the cross-entropy's blocks reuse two buffers. The caller
    ignores the divide-by-zero of ``log(0)`` (a row of -inf logits)."""
    z, _ = _shifted(x, axis, out)
    lse = np.log(np.add.reduce(np.exp(z, out=scratch), axis=axis, keepdims=True))
    return np.subtract(z, lse, out=z)


def logsumexp(x, axis=-1, keepdims=False, b=None, return_sign=False):
    """``max + log(sum(exp(x - max)))`` per row; -inf for an empty row.

    With weights ``b`` (broadcast against ``x``, rounded to its format; SciPy's
    method in the input format): ``m + log|sum(b * exp(x - m))|``, ``m`` the
    maximum over the entries whose weight is not 0. A zero weight drops its
    entry, even an infinite or NaN one; an infinite weight at ``x = -inf``, or
    where ``exp(x - m)`` underflows, gives NaN (``inf * 0``). With
    ``return_sign``: ``(log|sum|, sign)``, the sign 1, -1, or 0 for a zero sum
    (log -inf); without it a negative sum gives NaN. Terms of opposite sign
    cancel in plain arithmetic: the log of a cancelling sum keeps the sum's
    large relative error (about ``n eps sum|terms| / |sum|``).
    """
    if b is not None:
        return _logsumexp_weighted(x, axis, keepdims, b, return_sign)
    x, _ = as_input(x)
    last_axis(x, axis)
    if x.shape[axis] == 0:
        out = np.full(np.sum(x, axis=axis, keepdims=keepdims).shape, -np.inf, x.dtype)
    else:
        z, m = _shifted(x, axis)
        with np.errstate(divide="ignore"):
            out = m + np.log(np.add.reduce(np.exp(z), axis=axis, keepdims=True))
        out = out if keepdims else np.squeeze(out, axis=axis)
    return (out, plain_sign(out)) if return_sign else out


def _logsumexp_weighted(x, axis, keepdims, b, return_sign):
    """:func:`logsumexp` with weights, in the input format."""
    x, fmt = as_input(x)
    x, w = weights_in(b, x, fmt, exact=False)
    last_axis(x, axis)
    if x.shape[axis] == 0:
        out = np.full(np.sum(x, axis=axis).shape, -np.inf, x.dtype)
        return signed_result(out, np.zeros_like(out), axis, keepdims, return_sign)
    live = w != 0
    with np.errstate(divide="ignore", invalid="ignore"):
        # a zero weight drops its entry: -inf there, so the maximum ignores it
        xl = np.where(live, x, np.array(-np.inf, x.dtype))
        m = np.max(xl, axis=axis, keepdims=True)
        m = np.where(np.isfinite(m), m, np.zeros((), x.dtype))
        s = np.sum(np.where(live, w * np.exp(xl - m), np.zeros((), x.dtype)), axis=axis, keepdims=True)
        out = np.squeeze(np.log(np.abs(s)) + m, axis=axis)
    return signed_result(out, np.squeeze(np.sign(s), axis=axis), axis, keepdims, return_sign)


def binary_crossentropy(y_true, y_pred, from_logits=False, label_smoothing=0.0, *, sample_weight=None,
                        pos_weight=None, reduction="none"):
    """From logits: ``max(x, 0) - x*y + log1p(exp(-|x|))`` (Keras); with a
    ``pos_weight`` w, PyTorch's ``(1-y) x + (1 + (w-1) y)(log1p(exp(-|x|)) + max(-x, 0))``.
    From probabilities: clip ``p`` to ``[eps, 1-eps]``, then
    ``-(w y log p + (1-y) log(1-p))``. In float16 the upper clip ``1 - 1e-7``
    rounds to 1, so ``p = 1, y = 0`` still gives inf there."""
    p, fmt = as_input(y_pred, "y_pred")
    y = targets_in(y_true, fmt)
    check_same_shape(y, p)
    o = lossopts.binary_options(y, p, from_logits, label_smoothing, sample_weight, pos_weight, reduction)
    y = lossopts.smooth(y, o.ls, 2)
    one, zero = np.ones((), fmt.dtype), np.zeros((), fmt.dtype)
    if from_logits and o.pos is None:
        loss = np.maximum(p, zero) - p * y + np.log1p(np.exp(-np.abs(p)))
    elif from_logits:
        log_weight = one + (o.pos.astype(fmt.dtype) - one) * y
        loss = (one - y) * p + log_weight * (np.log1p(np.exp(-np.abs(p))) + np.maximum(-p, zero))
    else:
        p = np.clip(p, KERAS_EPSILON, 1 - KERAS_EPSILON).astype(fmt.dtype)
        a = y if o.pos is None else o.pos.astype(fmt.dtype) * y
        loss = -(a * np.log(p) + (one - y) * np.log(one - p))
    return o.finish(loss, fmt)


def _keras_probs(p, axis):
    """Keras's preprocessing of probabilities: rescale rows to sum 1, clip."""
    p = p / np.sum(p, axis=axis, keepdims=True)
    return np.clip(p, KERAS_EPSILON, 1 - KERAS_EPSILON).astype(p.dtype)


def sparse_categorical_crossentropy(y_true, y_pred, from_logits=False, axis=-1, *, ignore_index=None,
                                    class_weight=None, sample_weight=None, label_smoothing=0.0, reduction="none",
                                    ignore_class=None):
    """From logits: ``w_y (logsumexp(z) - z_y)``. From probabilities (Keras):
    rescale, clip to ``[eps, 1-eps]``, ``-w_y log(p_y)``. With label smoothing:
    the categorical loss of the smoothed one-hot rows (PyTorch's)."""
    p, fmt = as_input(y_pred, "y_pred")
    p_last = last_axis(p, axis)
    y, o = lossopts.sparse_options(y_true, p_last, fmt, from_logits, lossopts.ignored_label(ignore_index, ignore_class),
                                   class_weight, sample_weight, label_smoothing, reduction)
    if o.ls:
        t = lossopts.one_hot(y, p_last.shape[-1], o.plan.keep, fmt.dtype)
        loss = categorical_crossentropy(t, p_last, from_logits, o.ls, class_weight=o.cw, sample_weight=o.plan.sample)
        return o.finish(o.plan.kept(loss), fmt, weighed=True)
    if from_logits:
        if p_last.size == 0:
            loss = np.zeros(p_last.shape[:-1], p.dtype)
        else:
            # the core on C-ordered rows, as the public logsumexp(p_last, axis=-1)
            # computes it, without its conventions (~15 us)
            loss = _logsumexp_core(np.ascontiguousarray(p_last), axis=-1) - take_label(p_last, y)
    else:
        loss = -np.log(take_label(_keras_probs(p_last, -1), y))
    return o.finish(loss if o.cw is None else loss * o.cw[y].astype(fmt.dtype), fmt)


def categorical_crossentropy(y_true, y_pred, from_logits=False, label_smoothing=0.0, axis=-1, *, class_weight=None,
                             sample_weight=None, reduction="none"):
    """From logits: ``-sum(w * y * log_softmax(z))``. From probabilities
    (Keras): rescale, clip, ``-sum(w * y * log p)``."""
    p, fmt = as_input(y_pred, "y_pred")
    y = targets_in(y_true, fmt)
    check_same_shape(y, p)
    # float32 and float64 in blocks of rows with reused buffers (measured on
    # (1000, 1000): 1.04-1.24x the whole-array formula in float32, three
    # A/Bs); float16 and bfloat16, whose NumPy/ml_dtypes loops are
    # compute-bound, whole (blocks measured 0.84-1.0x there)
    blocked = from_logits and p.size > 0 and p.dtype in (np.float32, np.float64)
    o = lossopts.categorical_options(y, last_axis(p, axis), fmt, from_logits, label_smoothing, class_weight,
                                     sample_weight, reduction, axis)
    if blocked:
        return o.finish(_cce_logits_blocks(y, p, axis, o), fmt)
    y = y if o.plain else o.categorical_targets(y, axis)
    logp = log_softmax(p, axis=axis) if from_logits else np.log(_keras_probs(p, axis))
    # a plain product, as the frameworks compute it: 0 * -inf (a masked logit
    # with a zero target) is NaN here; the accurate tier treats it as 0. It is
    # written into logp (a fresh array): no second temporary of the whole
    # array to fault in
    prod = np.multiply(y, logp, out=logp) if logp.dtype == np.result_type(y, logp) else y * logp
    return o.finish(-np.sum(prod, axis=axis), fmt)


def _cce_logits_blocks(y, p, axis, o):
    """``-sum(y * log_softmax(z))`` per row, in blocks of rows whose
    temporaries stay in cache: the same operations row by row as on the
    whole array (NumPy's sum of a contiguous row does not depend on the rows
    beside it, and every row is summed from a C-contiguous buffer, as the
    whole-array formula sums its C-ordered rows), so the same bits."""
    last = axis in (-1, p.ndim - 1)
    zl, yl = (p, y) if last else (last_axis(p, axis), last_axis(y, axis))
    n = zl.shape[-1]
    z2, y2 = zl.reshape(-1, n), yl.reshape(-1, n)
    step = max(1, _CCE_BLOCK_BYTES // (n * p.itemsize))
    # two buffers for all blocks (the first blocked version, with fresh
    # temporaries and a two-pass range check in every block, ran float32 at
    # 0.85x the whole array)
    logp_buf = np.empty((min(step, z2.shape[0]), n), dtype=p.dtype)
    exp_buf = np.empty_like(logp_buf)
    out = np.empty(z2.shape[0], dtype=p.dtype)
    with np.errstate(divide="ignore"):
        for i in range(0, z2.shape[0], step):
            zb, yb = z2[i : i + step], y2[i : i + step]
            yb = yb if o.plain else o.categorical_targets(yb, -1)
            logp = _log_softmax_into(zb, -1, logp_buf[: len(zb)], exp_buf[: len(zb)])
            # the targets have the logits' format (targets_in): the product
            # fits in logp
            np.add.reduce(np.multiply(yb, logp, out=logp), axis=-1, out=out[i : i + step])
    # negated once at the end (exact), as -sum(...) does per row
    return np.negative(out, out=out).reshape(zl.shape[:-1])


# ------------------------------------------------------------ public signatures
# The defs above are the cores (NumPy arrays, one int axis); the public
# functions add the conventions shared by all tiers (stabkit._api).
from ._api import wrap as _wrap  # noqa: E402
from .registry import attribute_hints as _hints  # noqa: E402

__getattr__ = _hints(__name__)  # another library's name (expit) is answered with ours

sigmoid = _wrap.elementwise(sigmoid)
log_sigmoid = _wrap.elementwise(log_sigmoid)
softplus = _wrap.softplus(softplus, _softplus_beta, SOFTPLUS_THRESHOLD)
softmax = _wrap.rowwise(softmax)
log_softmax = _wrap.rowwise(log_softmax)
_logsumexp_core = logsumexp  # the sparse cross-entropy calls the core (one int axis)
logsumexp = _wrap.logsumexp(logsumexp)
binary_crossentropy = _wrap.loss(binary_crossentropy)
sparse_categorical_crossentropy = _wrap.loss(sparse_categorical_crossentropy)
categorical_crossentropy = _wrap.loss(categorical_crossentropy)
