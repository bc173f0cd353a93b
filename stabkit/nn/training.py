"""The training loop behind ``Sequential.fit``: one flat parameter vector
updated in place by the optimizer, the step in C where it applies else in
NumPy (one seam: :mod:`stabkit.nn.steps`), and the losses reported from the
function library once per epoch (see :mod:`stabkit.nn.model`).

A fit is: choose the step (:func:`fit_loop`); per epoch, run the steps and
updates (:func:`_train_epoch`, which stops at a non-finite gradient), check
the epoch's losses (:func:`_check_losses`, which stops at a non-finite loss
whose gradient stayed finite), and write the logs (:func:`_epoch_logs`).
"""

from __future__ import annotations

import math
import sys
import time
from dataclasses import dataclass

import numpy as np

from . import diagnostics, steps
from .activations import Linear
from .errors import NonFiniteError
from .history import History, Progress, format_logs

__all__ = ["fit_loop"]


@dataclass
class _Fit:
    """What every epoch of one fit shares."""

    model: object
    step: steps.Step
    Y: np.ndarray
    zbuf: np.ndarray  # the logits of every training row of the epoch
    obuf: np.ndarray  # and the last layer's outputs (zbuf itself for a linear one)
    batch_size: int
    on_nonfinite: str
    on_step: object
    history: History
    stream: object


def fit_loop(model, X, Y, epochs, batch_size, validation_data, shuffle, verbose, seed, on_nonfinite, on_step=None):
    """The epochs of ``model.fit`` on checked, converted data: the step (C or
    NumPy), the non-finite checks, the epoch's losses and logs; a History."""
    n, C = len(X), model.layers[-1].units
    nsteps = -(-n // batch_size)
    zbuf = np.empty((n, C), model._compute)
    obuf = zbuf if isinstance(model.layers[-1].activation, Linear) else np.empty((n, C), model._compute)
    step, why_not = steps.choose_step(model, X, Y, zbuf, obuf, batch_size, epochs)
    history = History()
    history.params.update(epochs=epochs, steps=nsteps, batch_size=batch_size, step=step.name)
    if why_not is not None:
        history.params["step_reason"] = why_not
    fit = _Fit(model, step, Y, zbuf, obuf, batch_size, on_nonfinite, on_step, history, sys.stdout)
    rng = np.random.default_rng(seed)
    for epoch in range(1, epochs + 1):
        t0 = time.perf_counter()
        order = rng.permutation(n) if shuffle else np.arange(n)
        bar = Progress(epoch, epochs, nsteps, fit.stream) if verbose == 1 else None
        bad_steps = _train_epoch(fit, epoch, order, bar)
        # the epoch's losses, from the tier, on every output of the epoch
        Ye = Y[order]
        values = model.loss.values(Ye, obuf)
        bad_steps |= _check_losses(fit, epoch, Ye, values, bad_steps, bar)
        logs, seconds = _epoch_logs(fit, Ye, values, bad_steps, validation_data, t0)
        history.append(epoch, seconds, logs)
        if bar:
            bar.finish(seconds, logs)
        elif verbose == 2:
            fit.stream.write(f"Epoch {epoch}/{epochs} - {seconds:.3f}s - {format_logs(logs)}\n")
    return history


def _train_epoch(fit: _Fit, epoch: int, order: np.ndarray, bar) -> set[int]:
    """The epoch's steps and updates, on the rows in ``order``; the steps
    (0-based) whose gradient was not finite. With ``on_nonfinite='raise'``
    the first of them stops the fit before its update."""
    model, b = fit.model, fit.batch_size
    bad_steps = set()
    with np.errstate(all="ignore"):  # non-finite values are detected, not warned about
        for k in range(-(-len(order) // b)):
            if not fit.step(order, k * b, min(len(order), (k + 1) * b)):
                if fit.on_nonfinite == "raise":
                    _raise_nonfinite_gradient(fit, epoch, k + 1, bar)
                bad_steps.add(k)
            model.optimizer.apply(model._P, model._G)
            if model._mixed:
                model._sync()
            if fit.on_step is not None:
                fit.on_step(epoch, k + 1)
            if bar:
                bar.update(k + 1)
    return bad_steps


def _raise_nonfinite_gradient(fit: _Fit, epoch: int, step: int, bar):
    """Stop at the (1-based) step whose gradient is not finite, explaining why."""
    if bar:
        fit.stream.write("\n")
    model = fit.model
    yb, z, out = fit.step.failed
    values = model.loss.values(yb, out)
    msg = diagnostics.explain(model.loss, model.layers[-1].activation, model._G, epoch, step, yb, z, out, values)
    raise NonFiniteError(msg, epoch=epoch, step=step, history=fit.history)


def _check_losses(fit: _Fit, epoch: int, Ye, values, bad_steps: set[int], bar) -> set[int]:
    """The steps whose loss ``values`` (the epoch's, labels ``Ye``) are not
    finite. With ``on_nonfinite='raise'`` the first one whose gradient stayed
    finite stops the fit (the updates of the epoch are applied)."""
    good = np.isfinite(values)
    if good.all():
        return set()
    b, model = fit.batch_size, fit.model
    step = int(np.argmin(good)) // b  # the first non-finite loss's step
    if fit.on_nonfinite == "raise" and step not in bad_steps:
        if bar:
            fit.stream.write("\n")
        s, e = step * b, min(len(values), (step + 1) * b)
        last = model.layers[-1].activation
        zs, os_ = fit.zbuf[s:e], fit.obuf[s:e]
        msg = diagnostics.explain(model.loss, last, model._G, epoch, step + 1, Ye[s:e], zs, os_, values[s:e])
        raise NonFiniteError(
            msg + " (the gradient stayed finite; stopped at the end of the epoch)",
            epoch=epoch,
            step=step + 1,
            history=fit.history,
        )
    return set(np.unique(np.nonzero(~good)[0] // b).tolist())


def _epoch_logs(fit: _Fit, Ye, values, bad_steps: set[int], validation_data, t0: float) -> tuple[dict, float]:
    """The epoch's logs (loss, accuracy, validation, diagnostics) and its
    training time in seconds since ``t0`` (without the validation)."""
    model = fit.model
    logs = {"loss": float(np.mean(values, dtype=np.float64))}
    if model.metrics:
        logs["accuracy"] = float(np.mean(diagnostics.correct(model.loss, Ye, fit.obuf)))
    seconds = time.perf_counter() - t0
    if validation_data is not None:
        vx, vy = validation_data
        vlogs = model.evaluate(vx, vy, batch_size=max(fit.batch_size, 1024), return_dict=True)
        logs.update({f"val_{k}": v for k, v in vlogs.items()})
    last = model.layers[-1].activation
    gap, p = diagnostics.true_class(model.loss, last, Ye, fit.zbuf, fit.obuf, values)
    logs["max_logit_gap"] = float(np.nanmax(gap)) if not np.all(np.isnan(gap)) else math.nan
    logs["min_true_prob"] = float(np.nanmin(p)) if not np.all(np.isnan(p)) else math.nan
    logs["nonfinite_steps"] = len(bad_steps)
    return logs, seconds
