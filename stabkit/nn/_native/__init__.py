"""The trainer's compiled step (``stabkit/_native/_cstep.c``, a part of the
one extension ``stabkit._native._kernels``, bound by
:mod:`stabkit._native.step`).

``fit`` runs a step in C where :func:`unsupported` finds nothing against it:
Dense layers (at most 16) with linear, ReLU or sigmoid hidden activations, a
linear output layer, a loss from logits (sparse or categorical
cross-entropy, or binary cross-entropy), float32 or float64. Everything else
(mixed float16, a softmax or sigmoid output layer with a loss on
probabilities) runs the NumPy step, which is the reference: the C step
evaluates the same formulas in the same format. Where the two differ, it is
by round-off:

* the first layer reads the training inputs as a sparse matrix (CSR, built
  once per ``fit``) and visits only the nonzero inputs: a zero input adds
  ``0 * w = 0`` exactly while the kernel is finite (a step whose first kernel
  holds inf or NaN is left to the NumPy step);
* matmuls and row sums add in their own order, not BLAS's.

Adam's update in C is bit-identical to the NumPy passes (same operations,
same order, no fused multiply-adds).

A step reports whether its gradient is finite; ``fit`` redoes a non-finite
step in NumPy, so non-finite values spread and are reported exactly as before.
``STABKIT_NATIVE=0`` turns the C step off. Without a C compiler at install
time the extension is absent: the build says so in one warning line, and
:func:`status` (and :func:`stabkit.kernels`) says which step is available
and why. The first ``fit`` of a process that runs the NumPy step only
because the extension is missing (not built, not loadable, stale) warns once
with :class:`NativeStepWarning`.
"""

from __future__ import annotations

import ctypes
import warnings

import numpy as np

from stabkit._native.step import (
    ACT,
    LOSS,
    MAXL,
    NONFINITE_GRADIENT,
    NONFINITE_KERNEL,
    OK,
    Plan,
    layout_mismatch,
    library,
    status,
)

__all__ = [
    "library", "status", "unsupported", "warn_if_missing", "layout_mismatch",
    "NativeStepWarning", "StepKernel", "AdamKernel", "ACT", "LOSS", "MAXL", "OK", "NONFINITE_GRADIENT",
    "NONFINITE_KERNEL",
]  # fmt: skip

#: rows of the training inputs turned into CSR at a time
CSR_BLOCK = 4096

_WARNED = False  # whether warn_if_missing has warned in this process


class NativeStepWarning(RuntimeWarning):
    """The trainer runs its NumPy step because the C extension is missing."""


def unsupported(model) -> str | None:
    """None if ``model``'s training step runs in C, else why not."""
    if library() is None:
        return status()[1]
    return _unsupported_model(model)


def warn_if_missing(model, stacklevel: int = 2) -> None:
    """Warn, once per process, if ``model`` runs the NumPy step only because
    the extension is missing (not for ``STABKIT_NATIVE=0``, nor for a model
    the C step does not handle)."""
    global _WARNED
    step, why = status()
    if _WARNED or step == "C" or why == "STABKIT_NATIVE=0" or _unsupported_model(model) is not None:
        return
    _WARNED = True
    warnings.warn(f"stabkit.nn: training runs the NumPy step, not the C step: {why}", NativeStepWarning, stacklevel + 1)


def _unsupported_model(model) -> str | None:
    """None if the C step handles ``model``, else why not."""
    from stabkit.nn.layers import Dense

    if model._mixed or model._compute not in (np.float32, np.float64):
        return f"dtype {model.dtype}"
    if len(model.layers) > MAXL:
        return f"more than {MAXL} layers"
    for layer in model.layers:
        if type(layer) is not Dense:
            return f"layer {type(layer).__name__}"
        if not layer.use_bias:
            return "a Dense layer without a bias"
        if layer.kernel_regularizer is not None or layer.bias_regularizer is not None:
            return "a regularizer (the C step adds no penalty)"
    if model.layers[-1].activation.name != "linear":
        return f"a {model.layers[-1].activation.name} output layer"
    for layer in model.layers:
        if layer.activation.name not in ACT:
            return f"a {layer.activation.name} hidden layer"
    if type(model.loss).__name__ not in LOSS or not model.loss.from_logits:
        return "the loss is not computed from logits"
    if model.loss.label_smoothing:
        # the C step's gradient is softmax(z) - onehot(y): it never sees the
        # smoothed targets (it once trained on them silently unsmoothed)
        return "label smoothing"
    return None


def _csr(X: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Row pointers (int64), column indices (int32) and values of ``X``'s
    nonzero entries (NaN counts as nonzero)."""
    ptr = np.zeros(len(X) + 1, np.int64)
    cols, vals = [], []
    # in blocks of rows, so the temporaries (a mask, int64 indices) stay small
    for s in range(0, len(X), CSR_BLOCK):
        block = X[s : s + CSR_BLOCK]
        nz = block != 0
        np.cumsum(nz.sum(axis=1, dtype=np.int64), out=ptr[s + 1 : s + 1 + len(block)])
        ptr[s + 1 : s + 1 + len(block)] += ptr[s]
        r, c = np.nonzero(nz)
        cols.append(c.astype(np.int32))
        vals.append(block[r, c])
    if not cols:
        return ptr, np.zeros(0, np.int32), np.zeros(0, X.dtype)
    return ptr, np.concatenate(cols), np.concatenate(vals)


class StepKernel:
    """The C step bound to one model, its training data and batch size
    (``stabkit.nn.steps.NativeStep`` puts it behind the trainer's seam)."""

    def __init__(self, model, X: np.ndarray, Y: np.ndarray, Z: np.ndarray, batch_size: int):
        from stabkit.nn.losses import SparseCategoricalCrossentropy

        lib = library()
        dt = np.dtype(model._compute)
        self._fn = lib.step_f32 if dt == np.float32 else lib.step_f64
        layers = model.layers
        b = min(batch_size, len(X))
        d, u0 = layers[0].input_dim, layers[0].units
        # every buffer is kept on self: the plan holds raw pointers to them
        self.ptr, self.col, self.val = _csr(np.asarray(X, dt))
        if isinstance(model.loss, SparseCategoricalCrossentropy):
            self.yint, self.ydense = np.ascontiguousarray(Y, np.int64), np.zeros((1, 1))
        else:
            self.yint, self.ydense = np.zeros(1, np.int64), np.ascontiguousarray(Y, np.float64)
        widest = max(l.units for l in layers)
        self.work = np.empty(b * sum(l.units for l in layers), dt)
        self.Da, self.Db = np.empty(b * widest, dt), np.empty(b * widest, dt)
        lanes = 32 // dt.itemsize  # the C code's vectors are 32 bytes
        self.Wt, self.dWt = np.zeros(d * lanes, dt), np.zeros(d * lanes, dt)
        self.row = np.zeros(-(-u0 // lanes) * lanes, dt)
        self.aux = np.zeros(3 * b, dt)
        self.Z = Z
        self.P, self.G = model._P, model._G
        if not (Z.flags.c_contiguous and Z.dtype == dt and self.P.flags.c_contiguous and self.G.flags.c_contiguous):
            raise ValueError("StepKernel needs contiguous buffers in the compute dtype")

        plan = Plan(L=len(layers), d=d, kind=LOSS[type(model.loss).__name__], size=self.P.size)
        for i, layer in enumerate(layers):
            plan.koff[i] = model._slots[f"{layer.name}/kernel"][0].start
            plan.boff[i] = model._slots[f"{layer.name}/bias"][0].start
            plan.din[i], plan.dout[i], plan.act[i] = layer.input_dim, layer.units, ACT[layer.activation.name]
        for name in ("P", "G", "ptr", "col", "val", "yint", "ydense", "Z", "work", "Da", "Db", "Wt", "dWt", "row", "aux"):
            setattr(plan, name, getattr(self, name).ctypes.data)
        self._plan = plan
        self._plan_ref = ctypes.byref(plan)
        self._order = self._order64 = None
        self._base = 0

    def __call__(self, order: np.ndarray, start: int, stop: int) -> int:
        """Forward and backward on the training rows ``order[start:stop]``
        (indices in range): the gradient goes to the model's flat gradient
        vector and the logits to ``Z[start:stop]``. Returns OK,
        NONFINITE_GRADIENT or NONFINITE_KERNEL (then nothing is computed)."""
        if order is not self._order:  # one pointer look-up per epoch, not per step
            self._order64 = np.ascontiguousarray(order, np.int64)  # kept: C reads it
            self._order, self._base = order, self._order64.ctypes.data
        return self._fn(self._plan_ref, self._base + 8 * start, stop - start, start)


class AdamKernel:
    """Adam's update in C for one set of flat buffers (see ``optimizers.Adam``;
    ``stabkit.nn.steps.adam_update`` chooses it or the NumPy passes)."""

    def __init__(self, P: np.ndarray, G: np.ndarray, m: np.ndarray, v: np.ndarray):
        lib = library()
        self._fn = lib.adam_f32 if P.dtype == np.float32 else lib.adam_f64
        # the buffers are kept here, so their pointers stay valid
        self.buffers = (P, G, m, v)
        self._args = tuple(a.ctypes.data for a in self.buffers) + (P.size,)

    @staticmethod
    def applies(*buffers: np.ndarray) -> bool:
        """Whether the C update can run on these flat buffers (P, G, m, v)."""
        P = buffers[0]
        return (
            library() is not None
            and P.dtype in (np.float32, np.float64)
            and all(a.dtype == P.dtype and a.shape == P.shape and a.ndim == 1 and a.flags.c_contiguous for a in buffers)
        )

    def __call__(self, c1: float, c2: float, alpha: float, eps: float) -> None:
        """One update; the scalars are rounded to the buffers' format, as
        NumPy rounds a Python float in an operation with a float32 array."""
        self._fn(*self._args, c1, c2, alpha, eps)
