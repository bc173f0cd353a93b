"""Accuracy and the stability diagnostics of a training run.

``true_class`` measures how close a batch came to the formats' limits (the
gap between the largest and the true logit, the smallest true-class
probability); ``explain`` turns the first non-finite loss or gradient into one
line that says what overflowed and what to change.
"""

from __future__ import annotations

import math

import numpy as np

from stabkit._accurate.eft import rowmax
from .activations import Linear, Sigmoid
from .losses import BinaryCrossentropy, Loss, SparseCategoricalCrossentropy

__all__ = ["correct", "true_class", "explain"]


def correct(loss: Loss, y, out) -> np.ndarray:
    """Per-sample accuracy, as Keras's ``'accuracy'`` metric for ``loss``."""
    if isinstance(loss, BinaryCrossentropy):
        cut = 0 if loss.from_logits else 0.5
        return np.mean((out > cut) == (y > 0.5), axis=1)
    return np.argmax(out, axis=1) == loss.true_index(y)


def true_class(loss: Loss, last, y, z, out, values=None):
    """Per-sample logit gap and true-class probability, in float64.

    ``last`` is the output activation, ``z`` its input (the logits) and
    ``out`` its output. For the binary loss the gap is how far a logit sits
    on the wrong side of 0. For sparse labels from logits, ``values`` (the
    tier's losses) give ``p_y = exp(-loss)`` without another softmax.
    """
    with np.errstate(all="ignore"):
        if isinstance(loss, BinaryCrossentropy):
            z64, pos = z.astype(np.float64), y > 0.5
            p = out.astype(np.float64) if isinstance(last, Sigmoid) else 1 / (1 + np.exp(-z64))
            gap = np.max(np.where(pos, -z64, z64), axis=1)
            return gap, np.min(np.where(pos, p, 1 - p), axis=1)
        t = loss.true_index(y)
        rows = np.arange(len(t))
        # the row maximum column by column: 10x faster than z.max(axis=1) on short rows
        gap = rowmax(z).astype(np.float64) - z[rows, t].astype(np.float64)
        if not isinstance(last, Linear):
            p = out[rows, t].astype(np.float64)
        elif values is not None and isinstance(loss, SparseCategoricalCrossentropy):
            p = np.exp(-values.astype(np.float64))  # -log p_y is the loss itself
        else:
            z64 = z.astype(np.float64)
            e = np.exp(z64 - z64.max(axis=1, keepdims=True))
            p = e[rows, t] / e.sum(axis=1)
        return gap, p


def explain(loss: Loss, last, grads, epoch, step, y, z, out, loss_values) -> str:
    """The one-line message for the first non-finite loss or gradient of a
    batch: what became NaN or inf, where, why, and what to change."""
    dt = z.dtype.name
    fmax = float(np.finfo(z.dtype).max)
    bad = loss_values[~np.isfinite(loss_values)]
    if bad.size:
        what, value = "loss", "NaN" if np.isnan(bad).any() else "inf"
    else:
        what, value = "gradient", "NaN" if np.isnan(grads).any() else "inf"
    head = f"{what} became {value} at epoch {epoch}, step {step}"
    if not np.all(np.isfinite(z)):
        k = int(np.sum(~np.isfinite(z)))
        return f"{head}: the logits overflowed in {dt} ({k} of {z.size} are inf or NaN); lower the learning rate"
    gap, p = true_class(loss, last, y, z, out)
    pmin, gmax = float(np.min(p)), float(np.max(gap))
    if not loss.from_logits:
        if pmin == 0:
            why = f"p_y underflowed to 0 in {dt} (logit gap {gmax:.3g}), so -log p_y and 1/p_y are inf"
        elif 1 / pmin > fmax:
            why = f"1/p overflowed in {dt} (smallest p_y = {pmin:.2g} < 1/{fmax:.6g})"
        else:
            why = f"the gradient through the {last.name} output overflowed in {dt} (smallest p_y = {pmin:.2g})"
        return f"{head}: {why}; use from_logits=True"
    if loss.tier == "naive" and what == "loss":
        zmax, limit = float(np.max(z)), math.log(fmax)
        if zmax > limit:
            why = f"exp(z) overflowed in the naive softmax in {dt} (largest logit {zmax:.3g} > log max = {limit:.3g})"
        else:
            why = f"the naive softmax rounded p_y to 0 in {dt} (logit gap {gmax:.3g}), so -log p_y = inf"
        return f"{head}: {why}; use tier='stable' or 'accurate'"
    g = np.abs(grads[np.isfinite(grads)])
    return (
        f"{head}: a gradient overflowed in {dt} (largest finite |gradient| = {float(np.max(g, initial=0)):.3g}); "
        "lower the learning rate"
    )
