"""The training loop behind ``Sequential.fit``: one flat parameter vector
updated in place by the optimizer, the step in C where it applies (see
:mod:`stabkit.nn._native`) else in NumPy, and the losses reported from the
function library once per epoch (see :mod:`stabkit.nn.model`)."""

from __future__ import annotations

import math
import sys
import time

import numpy as np

from . import _columns, _native, diagnostics
from .activations import Linear
from .errors import NonFiniteError
from .history import History, Progress, format_logs
from .layers import Dense

__all__ = ["fit_loop"]


def fit_loop(model, X, Y, epochs, batch_size, validation_data, shuffle, verbose, seed, on_nonfinite, on_step=None):
    """The epochs of ``model.fit`` on checked, converted data: the step (C or
    NumPy), the non-finite checks, the epoch's losses and logs; a History."""
    n, C = len(X), model.layers[-1].units
    steps = -(-n // batch_size)
    rng = np.random.default_rng(seed)
    last = model.layers[-1]
    zbuf = np.empty((n, C), model._compute)
    obuf = zbuf if isinstance(last.activation, Linear) else np.empty((n, C), model._compute)
    loss, opt, P, G = model.loss, model.optimizer, model._P, model._G
    stream = sys.stdout
    history = History()
    mixed = model._mixed
    first = model.layers[0]
    # the step in C where it applies (see _native), else in NumPy
    why_not = _native.unsupported(model)
    if why_not is not None:
        _native.warn_if_missing(model, stacklevel=3)  # once per process: the extension is missing
    native = _native.NativeStep(model, X, Y, zbuf, batch_size) if why_not is None else None
    history.params.update(epochs=epochs, steps=steps, batch_size=batch_size, step="NumPy" if native is None else "C")
    if why_not is not None:
        history.params["step_reason"] = why_not
    cols = _columns.plan(X, batch_size, first.units, epochs) if type(first) is Dense and native is None else None
    # the batch's inputs are gathered into one reused buffer (measured: 56
    # us a step at batch 256 against 67 for a fresh array, 9 against 11 at 32)
    xbuf = np.empty((min(batch_size, n), X.shape[1]), X.dtype)
    for epoch in range(1, epochs + 1):
        t0 = time.perf_counter()
        order = rng.permutation(n) if shuffle else np.arange(n)
        lows = cols.starts(order, batch_size) if cols is not None else None
        bar = Progress(epoch, epochs, steps, stream) if verbose == 1 else None
        bad_steps = set()
        with np.errstate(all="ignore"):  # non-finite values are detected, not warned about
            for step in range(steps):
                s, e = step * batch_size, min(n, (step + 1) * batch_size)
                # the C step leaves the gradient in G and the logits in zbuf; one that
                # is not finite is redone by the NumPy step, so it is reported as before
                if native is None or native(order, s, e) != _native.OK:
                    idx = order[s:e]
                    yb, rows = Y[idx], None
                    # skipping zero input columns is exact for a finite kernel only (0 * inf is NaN)
                    if cols is not None and math.isfinite(first.Wm.sum()):
                        lo = lows[step]
                        xb = np.take(cols.X, idx, axis=0, out=xbuf[: e - s], mode="clip")  # idx is in range
                        out = model._backprop(xb[:, lo:], yb, rows := cols.order[lo:])
                    else:
                        out = model._backprop(np.take(X, idx, axis=0, out=xbuf[: e - s], mode="clip"), yb)
                    finite = _finite(G)
                    if not finite and rows is not None:
                        # redo it densely, so NaN and inf spread through the zero columns as they would
                        out = model._backprop(X[idx], yb)
                        finite = _finite(G)
                    zbuf[s:e] = last._z
                    if obuf is not zbuf:
                        obuf[s:e] = out
                    if not finite:
                        if on_nonfinite == "raise":
                            if bar:
                                stream.write("\n")
                            values = loss.values(yb, out)
                            msg = diagnostics.explain(model.loss, last.activation, G, epoch, step + 1, yb, last._z, out, values)
                            raise NonFiniteError(msg, epoch=epoch, step=step + 1, history=history)
                        bad_steps.add(step)
                opt.apply(P, G)
                if mixed:
                    model._sync()
                if on_step is not None:
                    on_step(epoch, step + 1)
                if bar:
                    bar.update(step + 1)
        # the epoch's losses, from the tier, on every output of the epoch
        Ye = Y[order]
        values = loss.values(Ye, obuf)
        good = np.isfinite(values)  # (not `finite`: the steps' flag)
        if not good.all():
            step = int(np.argmin(good)) // batch_size  # the first non-finite loss's step
            if on_nonfinite == "raise" and step not in bad_steps:
                if bar:
                    stream.write("\n")
                s, e = step * batch_size, min(n, (step + 1) * batch_size)
                msg = diagnostics.explain(
                    model.loss, last.activation, G, epoch, step + 1, Ye[s:e], zbuf[s:e], obuf[s:e], values[s:e]
                )
                raise NonFiniteError(
                    msg + " (the gradient stayed finite; stopped at the end of the epoch)",
                    epoch=epoch,
                    step=step + 1,
                    history=history,
                )
            bad_steps.update(np.unique(np.nonzero(~good)[0] // batch_size).tolist())
        logs = {"loss": float(np.mean(values, dtype=np.float64))}
        if model.metrics:
            logs["accuracy"] = float(np.mean(diagnostics.correct(model.loss, Ye, obuf)))
        seconds = time.perf_counter() - t0
        if validation_data is not None:
            vx, vy = validation_data
            vlogs = model.evaluate(vx, vy, batch_size=max(batch_size, 1024), return_dict=True)
            logs.update({f"val_{k}": v for k, v in vlogs.items()})
        gap, p = diagnostics.true_class(model.loss, last.activation, Ye, zbuf, obuf, values)
        logs["max_logit_gap"] = float(np.nanmax(gap)) if not np.all(np.isnan(gap)) else math.nan
        logs["min_true_prob"] = float(np.nanmin(p)) if not np.all(np.isnan(p)) else math.nan
        logs["nonfinite_steps"] = len(bad_steps)
        history.append(epoch, seconds, logs)
        if bar:
            bar.finish(seconds, logs)
        elif verbose == 2:
            stream.write(f"Epoch {epoch}/{epochs} - {seconds:.3f}s - {format_logs(logs)}\n")
    return history


def _finite(a: np.ndarray) -> bool:
    """Whether every element of the vector ``a`` is finite. ``a @ a`` is
    NaN or inf if one is (and ~3x faster than ``a.sum()``); if it overflows
    for a finite ``a``, the exact check decides."""
    return math.isfinite(a @ a) or bool(np.all(np.isfinite(a)))
