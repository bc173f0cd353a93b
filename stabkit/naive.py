"""The naive tier: the textbook formulas, exactly as they appear on a slide.

Each function evaluates its defining formula in the input format, operation by
operation. Nothing is guarded: ``exp`` overflows to inf, ``inf/inf`` gives
NaN, ``log`` of a probability that rounded to 0 gives -inf, and ``0 * log 0``
gives NaN. NumPy's RuntimeWarnings are kept. These failures are the lesson;
:mod:`stabkit.stable` and :mod:`stabkit.accurate` fix them.

Contract common to all tiers: the output format is the input format (integers
become float64); losses return one value per sample unless ``reduction`` says
otherwise (options: README, "Loss options"); labels out of range and
mismatched shapes raise ValueError.
"""

from __future__ import annotations

import numpy as np

from ._accurate import lossopts
from ._accurate.inputs import as_input, check_same_shape, last_axis, take_label, targets_in
from ._accurate.weights import plain_sign, weights_in

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


def _one(dtype):
    return np.ones((), dtype=dtype)


def sigmoid(x):
    """``1 / (1 + exp(-x))``. Overflows in ``exp(-x)`` for very negative x and
    returns 0 where the true value is tiny but representable."""
    x, _ = as_input(x)
    one = _one(x.dtype)
    return one / (one + np.exp(-x))


def log_sigmoid(x):
    """``log(sigmoid(x))``: -inf once the sigmoid underflows."""
    return np.log(sigmoid(x))


def softplus(x):
    """``log(1 + exp(x))``: inf once ``exp(x)`` overflows; 0 where
    ``1 + exp(x)`` rounds to 1."""
    x, _ = as_input(x)
    return np.log(_one(x.dtype) + np.exp(x))


def _softplus_beta(x, beta):
    """``log(1 + exp(beta*x)) / beta``, in the input format."""
    x, _ = as_input(x)
    b = np.asarray(beta, dtype=x.dtype)
    return np.log(_one(x.dtype) + np.exp(b * x)) / b


def softmax(x, axis=-1):
    """``exp(x) / sum(exp(x))``: NaN (inf/inf) once a logit overflows ``exp``."""
    x, _ = as_input(x)
    last_axis(x, axis)  # a scalar or a bad axis: the same ValueError as the other tiers
    e = np.exp(x)
    return e / np.sum(e, axis=axis, keepdims=True)


def log_softmax(x, axis=-1):
    """``log(softmax(x))``: -inf where a probability rounds to 0."""
    return np.log(softmax(x, axis=axis))


def logsumexp(x, axis=-1, keepdims=False, b=None, return_sign=False):
    """``log(sum(exp(x)))``, or ``log(sum(b * exp(x)))`` with weights ``b``
    (broadcast against ``x``, rounded to its format): inf once a logit
    overflows ``exp``, and NaN where that inf meets a zero weight
    (``0 * inf``) or a weight of the other sign. With ``return_sign``:
    ``(log|sum|, sign(sum))``; without it a negative sum gives NaN (the log of
    a negative number, with NumPy's warning)."""
    x, fmt = as_input(x)
    if b is None:
        last_axis(x, axis)
        out = np.log(np.sum(np.exp(x), axis=axis, keepdims=keepdims))
        return (out, plain_sign(out)) if return_sign else out
    x, w = weights_in(b, x, fmt, exact=False)
    last_axis(x, axis)
    s = np.sum(w * np.exp(x), axis=axis, keepdims=keepdims)
    return (np.log(np.abs(s)), np.sign(s)) if return_sign else np.log(s)


def binary_crossentropy(y_true, y_pred, from_logits=False, label_smoothing=0.0, *, sample_weight=None,
                        pos_weight=None, reduction="none"):
    """``-(w y log p + (1 - y) log(1 - p))`` elementwise, with
    ``p = sigmoid(y_pred)`` when ``from_logits`` and ``w`` the ``pos_weight``.
    ``log(1 - p)`` is -inf as soon as p rounds to 1, and ``0 * -inf`` is NaN.
    Options: see :mod:`stabkit._accurate.lossopts` (the same in every tier)."""
    p, fmt = as_input(y_pred, "y_pred")
    y = targets_in(y_true, fmt)
    check_same_shape(y, p)
    o = lossopts.binary_options(y, p, from_logits, label_smoothing, sample_weight, pos_weight, reduction)
    if from_logits:
        p = sigmoid(p)
    a, b = (y, _one(fmt.dtype) - y) if o.plain else o.binary_targets(y)
    return o.finish(-(a * np.log(p) + b * np.log(_one(fmt.dtype) - p)), fmt)


def sparse_categorical_crossentropy(y_true, y_pred, from_logits=False, axis=-1, *, ignore_index=None,
                                    class_weight=None, sample_weight=None, label_smoothing=0.0, reduction="none",
                                    ignore_class=None):
    """``-w_y log(p[y])`` per row, with ``p = softmax(y_pred)`` when
    ``from_logits`` (probabilities as given, not renormalised) and ``w`` the
    class weights. With label smoothing: the categorical loss of the smoothed
    one-hot rows (PyTorch's ``cross_entropy``)."""
    p, fmt = as_input(y_pred, "y_pred")
    pl = last_axis(p, axis)
    y, o = lossopts.sparse_options(y_true, pl, fmt, from_logits, lossopts.ignored_label(ignore_index, ignore_class),
                                   class_weight, sample_weight, label_smoothing, reduction)
    if o.ls:
        t = lossopts.one_hot(y, pl.shape[-1], o.plan.keep, fmt.dtype)
        loss = categorical_crossentropy(t, pl, from_logits, o.ls, class_weight=o.cw, sample_weight=o.plan.sample)
        return o.finish(o.plan.kept(loss), fmt, weighed=True)
    if from_logits:
        pl = last_axis(softmax(p, axis=axis), axis)
    loss = -np.log(take_label(pl, y))
    return o.finish(loss if o.cw is None else loss * o.cw[y].astype(fmt.dtype), fmt)


def categorical_crossentropy(y_true, y_pred, from_logits=False, label_smoothing=0.0, axis=-1, *, class_weight=None,
                             sample_weight=None, reduction="none"):
    """``-sum(w * y * log(p))`` per row, with ``p = softmax(y_pred)`` when
    ``from_logits`` (probabilities as given) and ``w`` the class weights."""
    p, fmt = as_input(y_pred, "y_pred")
    y = targets_in(y_true, fmt)
    check_same_shape(y, p)
    o = lossopts.categorical_options(y, last_axis(p, axis), fmt, from_logits, label_smoothing, class_weight,
                                     sample_weight, reduction, axis)
    if from_logits:
        p = softmax(p, axis=axis)
    y = y if o.plain else o.categorical_targets(y, axis)
    return o.finish(-np.sum(y * np.log(p), axis=axis), fmt)


# ------------------------------------------------------------ public signatures
# The defs above are the cores (NumPy arrays, one int axis); the public
# functions add the conventions shared by all tiers (stabkit._api).
from ._api import wrap as _wrap  # noqa: E402
from .registry import attribute_hints as _hints  # noqa: E402

__getattr__ = _hints(__name__)  # another library's name (expit) is answered with ours

sigmoid = _wrap.elementwise(sigmoid)
log_sigmoid = _wrap.elementwise(log_sigmoid)
softplus = _wrap.softplus(softplus, _softplus_beta)
softmax = _wrap.rowwise(softmax)
log_softmax = _wrap.rowwise(log_softmax)
logsumexp = _wrap.logsumexp(logsumexp)
binary_crossentropy = _wrap.loss(binary_crossentropy)
sparse_categorical_crossentropy = _wrap.loss(sparse_categorical_crossentropy)
categorical_crossentropy = _wrap.loss(categorical_crossentropy)
