"""The naive tier: the textbook formulas, exactly as they appear on a slide.

Each function evaluates its defining formula in the input format, operation by
operation. Nothing is guarded: ``exp`` overflows to inf, ``inf/inf`` gives
NaN, ``log`` of a probability that rounded to 0 gives -inf, and ``0 * log 0``
gives NaN. NumPy's RuntimeWarnings are kept. These failures are the lesson;
:mod:`stabkit.stable` and :mod:`stabkit.accurate` fix them.

Contract common to all tiers: the output format is the input format (integers
become float64); losses return one value per sample (no reduction); labels out
of range and mismatched shapes raise ValueError.
"""

from __future__ import annotations

import numpy as np

from ._accurate.inputs import as_input, check_same_shape, last_axis, sparse_labels, take_label, targets_in
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


def binary_crossentropy(y_true, y_pred, from_logits=False):
    """``-(y log p + (1 - y) log(1 - p))`` elementwise, with
    ``p = sigmoid(y_pred)`` when ``from_logits``. ``log(1 - p)`` is -inf as soon
    as p rounds to 1, and ``0 * -inf`` is NaN."""
    p, fmt = as_input(y_pred, "y_pred")
    y = targets_in(y_true, fmt)
    check_same_shape(y, p)
    if from_logits:
        p = sigmoid(p)
    one = _one(fmt.dtype)
    return -(y * np.log(p) + (one - y) * np.log(one - p))


def sparse_categorical_crossentropy(y_true, y_pred, from_logits=False, axis=-1):
    """``-log(p[y])`` per row, with ``p = softmax(y_pred)`` when
    ``from_logits``."""
    p, _ = as_input(y_pred, "y_pred")
    if from_logits:
        p = softmax(p, axis=axis)
    p_last = last_axis(p, axis)
    y = sparse_labels(y_true, p_last)
    return -np.log(take_label(p_last, y))


def categorical_crossentropy(y_true, y_pred, from_logits=False, axis=-1):
    """``-sum(y * log(p))`` per row, with ``p = softmax(y_pred)`` when
    ``from_logits``."""
    p, fmt = as_input(y_pred, "y_pred")
    y = targets_in(y_true, fmt)
    check_same_shape(y, p)
    if from_logits:
        p = softmax(p, axis=axis)
    last_axis(p, axis)
    return -np.sum(y * np.log(p), axis=axis)
