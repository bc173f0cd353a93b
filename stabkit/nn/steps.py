"""The trainer's step and Adam's update behind one seam: NumPy or C.

A :class:`Step` does forward and backward on one batch: ``step(order, start,
stop)`` leaves the gradient in the model's flat gradient vector, the batch's
logits in ``zbuf[start:stop]`` (its outputs in ``obuf``), and returns whether
the gradient is finite. :func:`choose_step` picks the implementation once per
``fit`` and says why, which ``History.params['step']`` and ``['step_reason']``
report:

* :class:`NumPyStep` is the reference (``Sequential._backprop``), skipping
  the input columns that are zero in a whole batch where that pays (see
  :mod:`stabkit.nn._columns`);
* :class:`NativeStep` runs the C kernel (:mod:`stabkit.nn._native`) and
  hands a step whose gradient is not finite to the NumPy step, so non-finite
  values spread and are reported exactly as the NumPy step reports them.

Both steps compute the gradient of every weight; the update skips the
frozen layers' (see :mod:`stabkit.nn.structure`), and only the trained
weights' gradient must be finite (a step the C kernel finds non-finite is
redone by the NumPy step, which looks at those only).

Adam's update has the same two sides: :func:`adam_update` returns the C
kernel where it applies to the buffers (bit-identical), else :class:`NumPyAdam`.
It is chosen by the buffers, not by the step: a mixed-precision model runs the
NumPy step but has float32 master weights, which the C update takes.
"""

from __future__ import annotations

import math
from typing import Protocol

import numpy as np

from . import _columns, _native
from .layers import Dense

__all__ = ["Step", "NumPyStep", "NativeStep", "choose_step", "AdamUpdate", "NumPyAdam", "adam_update"]


class Step(Protocol):
    """One training step on the rows ``order[start:stop]``; True if the
    gradient is finite. ``name`` is ``'NumPy'`` or ``'C'``; ``failed`` is
    ``(labels, logits, outputs)`` of the last batch whose gradient was not
    finite (None after a finite one)."""

    name: str
    failed: tuple[np.ndarray, np.ndarray, np.ndarray] | None

    def __call__(self, order: np.ndarray, start: int, stop: int) -> bool: ...


def choose_step(model, X, Y, zbuf, obuf, batch_size: int, epochs: int, W=None) -> tuple[Step, str | None]:
    """The step ``fit`` runs on ``(X, Y)`` with sample weights ``W`` (or
    None), and None or why it is not the C step. The C step knows neither
    sample weights nor layers other than Dense (``_native.unsupported``
    says which), so those run the NumPy step. Warns once per process
    (NativeStepWarning) where the C step would run but the extension is
    missing."""
    why_not = "sample weights (sample_weight or class_weight)" if W is not None else _native.unsupported(model)
    if why_not is None:
        return NativeStep(model, X, Y, zbuf, obuf, batch_size), None
    if W is None:
        _native.warn_if_missing(model, stacklevel=4)  # the caller of fit
    return NumPyStep(model, X, Y, zbuf, obuf, batch_size, epochs, W=W), why_not


class NumPyStep:
    """The reference step: ``model._backprop`` on the batch's rows."""

    name = "NumPy"

    def __init__(self, model, X, Y, zbuf, obuf, batch_size: int, epochs: int, columns: bool = True, W=None):
        self.model, self.X, self.Y, self.zbuf, self.obuf, self.W = model, X, Y, zbuf, obuf, W
        self.batch_size = batch_size
        first = model.layers[0]
        use = columns and type(first) is Dense
        self.cols = _columns.plan(X, batch_size, first.units, epochs) if use else None
        # the batch's inputs are gathered into one reused buffer (measured: 56
        # us a step at batch 256 against 67 for a fresh array, 9 against 11 at 32)
        self.xbuf = np.empty((min(batch_size, len(X)), *X.shape[1:]), X.dtype)
        self.failed = None
        self._order = self._lows = None
        # a frozen layer's gradient is not used: only the trained weights' must be finite
        self.runs = model._trainable_runs()

    def __repr__(self):
        return f"NumPyStep(batch_size={self.batch_size}, skips_zero_columns={self.cols is not None})"

    def __call__(self, order, start, stop):
        model, X, first, last = self.model, self.X, self.model.layers[0], self.model.layers[-1]
        idx = order[start:stop]
        yb, rows, xbuf = self.Y[idx], None, self.xbuf[: stop - start]
        wb = None if self.W is None else self.W[idx]
        # skipping zero input columns is exact for a finite kernel only (0 * inf is NaN)
        if self.cols is not None and math.isfinite(first.Wm.sum()):
            lo = self._first_column(order, start)
            xb = np.take(self.cols.X, idx, axis=0, out=xbuf, mode="clip")  # idx is in range
            out = model._backprop(xb[:, lo:], yb, rows := self.cols.order[lo:], wb)
        else:
            out = model._backprop(np.take(X, idx, axis=0, out=xbuf, mode="clip"), yb, wb=wb)
        finite = _finite(model._G, self.runs)
        if not finite and rows is not None:
            # redo it densely, so NaN and inf spread through the zero columns as they would
            out = model._backprop(X[idx], yb, wb=wb)
            finite = _finite(model._G, self.runs)
        self.zbuf[start:stop] = last._z
        if self.obuf is not self.zbuf:
            self.obuf[start:stop] = out
        self.failed = None if finite else (yb, last._z, out)
        return finite

    def _first_column(self, order, start) -> int:
        """The batch's first nonzero column in the plan's order (all of an
        epoch's batches at once, the first time the epoch's order is seen)."""
        if order is not self._order:
            self._order, self._lows = order, self.cols.starts(order, self.batch_size)
        return self._lows[start // self.batch_size]


class NativeStep:
    """The C step; a step whose gradient is not finite is redone by the
    NumPy step (which then reports it)."""

    name = "C"

    def __init__(self, model, X, Y, zbuf, obuf, batch_size: int):
        self.kernel = _native.StepKernel(model, X, Y, zbuf, batch_size)
        self.numpy = NumPyStep(model, X, Y, zbuf, obuf, batch_size, 0, columns=False)
        self.failed = None

    def __repr__(self):
        return f"NativeStep(batch_size={self.numpy.batch_size})"

    def __call__(self, order, start, stop):
        if self.kernel(order, start, stop) == _native.OK:
            self.failed = None
            return True
        finite = self.numpy(order, start, stop)
        self.failed = self.numpy.failed
        return finite


class AdamUpdate(Protocol):
    """Adam's update of flat buffers bound at construction:
    ``update(1 - beta_1, 1 - beta_2, alpha, epsilon)`` (see ``optimizers.Adam``)."""

    def __call__(self, c1: float, c2: float, alpha: float, eps: float) -> None: ...


def adam_update(P: np.ndarray, G: np.ndarray, m: np.ndarray, v: np.ndarray, tmp: np.ndarray) -> AdamUpdate:
    """Adam's update of ``P`` from ``G`` with the moments ``m``, ``v``: in C
    where the kernel applies to these buffers, else the NumPy passes (in
    ``tmp``); the two are bit-identical."""
    if _native.AdamKernel.applies(P, G, m, v):
        return _native.AdamKernel(P, G, m, v)
    return NumPyAdam(P, G, m, v, tmp)


class NumPyAdam:
    """Adam's update in twelve in-place NumPy passes over one vector; no
    temporaries. With ``v_hat`` (AMSGrad), the step divides by the square
    root of ``v_hat = max(v_hat, v)`` instead of ``v``'s."""

    def __init__(self, P, G, m, v, tmp, v_hat=None):
        self.buffers = (P, G, m, v, tmp)
        self.v_hat = v_hat

    def __call__(self, c1, c2, alpha, eps):
        P, G, m, v, tmp = self.buffers
        np.subtract(G, m, out=tmp)
        tmp *= c1
        m += tmp
        np.multiply(G, G, out=tmp)
        tmp -= v
        tmp *= c2
        v += tmp
        if self.v_hat is not None:
            np.maximum(self.v_hat, v, out=self.v_hat)
            v = self.v_hat
        np.sqrt(v, out=tmp)
        tmp += eps
        np.divide(m, tmp, out=tmp)
        tmp *= alpha
        P -= tmp


def _finite(a: np.ndarray, runs: list[slice] | None = None) -> bool:
    """Whether every element of the vector ``a`` (of its slices ``runs``,
    if given) is finite. ``a @ a`` is NaN or inf if one is (and ~3x faster
    than ``a.sum()``); if it overflows for a finite ``a``, the exact check
    decides."""
    if runs is not None:
        return all(_finite(a[sl]) for sl in runs)
    return math.isfinite(a @ a) or bool(np.all(np.isfinite(a)))
