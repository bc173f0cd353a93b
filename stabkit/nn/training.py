"""The training loop behind ``Sequential.fit``: one flat parameter vector
updated in place by the optimizer, the step in C where it applies else in
NumPy (one seam: :mod:`stabkit.nn.steps`), and the losses reported from the
function library once per epoch (see :mod:`stabkit.nn.model`).

A fit is: check and split the data (:func:`prepare_fit`); choose the step
(:func:`fit_loop`); per epoch, run the steps and updates (:func:`_train_epoch`,
which stops at a non-finite gradient or when a callback sets
``model.stop_training``), check the epoch's losses (:func:`_check_losses`,
which stops at a non-finite loss whose gradient stayed finite), and write the
logs (:func:`_epoch_logs`), which the callbacks then see.
"""

from __future__ import annotations

import math
import sys
import time
import warnings
from dataclasses import dataclass

import numpy as np

from . import diagnostics, seeding, steps
from .activations import Linear
from .callbacks import CallbackList
from .checks import batch_size as _batch_size, check_samples, checked_data, one_input, sample_weights
from .checks import verbosity
from .errors import NNError, NonFiniteError
from .history import History, Progress, final_line

__all__ = ["FitOptions", "prepare_fit", "sample_weights", "fit_loop"]


@dataclass
class FitOptions:
    """``fit``'s arguments past the data, checked."""

    epochs: int
    initial_epoch: int
    batch_size: int
    validation_data: tuple | None
    shuffle: bool
    verbose: int
    seed: int | None
    on_nonfinite: str
    on_step: object
    callbacks: object
    validation_batch_size: int | None = None
    validation_freq: int = 1


def prepare_fit(model, x, y, *, epochs, batch_size, verbose, callbacks, validation_split, validation_data, shuffle,
                class_weight, sample_weight, initial_epoch, seed, on_nonfinite, on_step, extras=(None, 1)):  # fmt: skip
    """``fit``'s arguments checked (NNError naming the argument), the model
    built if it is not, the data converted and split as Keras splits it:
    ``(X, Y, W, options)``, ``W`` the sample weights or None.

    Keras's rules: ``validation_split`` holds out the *last* fraction of the
    data (and of the sample weights) before shuffling; ``validation_data``
    is ``(x, y)`` or ``(x, y, sample_weight)`` and wins over the split;
    ``class_weight`` (``{class: weight}``, 1 for a class it leaves out) or
    ``sample_weight`` (one per sample; not both) weight the loss as ``sum(w
    * loss) / n`` per batch; ``initial_epoch`` (0-based) resumes an earlier
    fit, running the epochs ``initial_epoch + 1 .. epochs`` (none where
    ``initial_epoch >= epochs``, ``epochs=0`` included); ``callbacks``:
    see :mod:`stabkit.nn.callbacks`."""
    _count(epochs, "epochs")
    batch_size, verbose = _batch_size(batch_size), verbosity(verbose)
    # as in Keras, initial_epoch >= epochs (epochs=0 too) trains nothing: an
    # empty History, the callbacks' on_train_begin and on_train_end only
    _count(initial_epoch, "initial_epoch")
    if not isinstance(shuffle, (bool, np.bool_)) and shuffle not in (0, 1):
        # Keras's shuffle="batch" (batch-sized chunks) would have been a full shuffle here
        raise NNError(f"shuffle must be True or False, got {shuffle!r}")
    if on_nonfinite not in ("raise", "continue"):
        raise NNError(f"on_nonfinite must be 'raise' or 'continue', got {on_nonfinite!r}")
    if on_step is not None and not callable(on_step):
        raise NNError(f"on_step must be callable, got {on_step!r}")
    if not 0 <= validation_split < 1:
        raise NNError(f"validation_split must be in [0, 1), got {validation_split!r}")
    if validation_data is not None and (not isinstance(validation_data, (tuple, list)) or len(validation_data) not in (2, 3)):
        raise NNError("validation_data must be (x_val, y_val) or (x_val, y_val, sample_weight_val)")
    x = one_input(x)
    x = np.asarray(x)
    check_samples(x, "x")
    if not model.built:
        model._build(x.shape[1:], seed)
    elif seed is not None and model._unseeded and not all(l._weights_set for l in model.layers if l.weight_names):
        warnings.warn(f"fit(seed={seed!r}) fixes only the shuffling here: this model's weights were drawn unseeded "
                      "when it was built (Input or input_shape=, before fit); call stabkit.nn.utils.set_random_seed"
                      f"({seed!r}) before building it, as in Keras, or model.build(input_shape, seed={seed!r})",
                      stacklevel=3)
    # NaN or inf in the data: refused here, unless the caller asked to train past non-finite steps
    finite = on_nonfinite == "raise"
    X, Y, W = checked_data(model, x, y, sample_weight, class_weight, finite=finite)
    if validation_data is not None:
        # checked now, not at the end of the first epoch
        vx, vy, *vw = validation_data
        if np.ndim(one_input(vx)) >= 1 and len(one_input(vx)) == 0:
            raise NNError("validation_data holds no samples; pass some or leave it out (Keras 3 warns that its "
                          "input ran out of data and logs no val_ metrics)")  # fmt: skip
        VX, VY, VW = checked_data(model, vx, vy, vw[0] if vw else None,
                                  names=("validation_data[0]", "validation_data[1]"), finite=finite)  # fmt: skip
        validation_data = (VX, VY) + (() if VW is None else (VW,))
    elif validation_split:
        # Keras holds out the last fraction, before any shuffling, and keeps
        # floor(n * (1 - split)) samples for training (its rounding, exactly)
        cut = int(math.floor(len(X) * (1.0 - validation_split)))
        if cut in (0, len(X)):
            raise NNError(f"validation_split={validation_split} of {len(X)} samples leaves no "
                          f"{'training' if cut == 0 else 'validation'} samples")  # fmt: skip
        validation_data = (X[cut:], Y[cut:]) + (() if W is None else (W[cut:],))
        X, Y, W = X[:cut], Y[:cut], None if W is None else W[:cut]
    if len(X) == 0:
        raise NNError("no training samples")
    opts = FitOptions(epochs, int(initial_epoch), batch_size, validation_data, shuffle, verbose, seed, on_nonfinite,
                      on_step, callbacks, *extras)  # fmt: skip
    return X, Y, W, opts


def _count(value, name: str) -> None:
    """NNError unless ``value`` is an integer >= 0 (not a bool)."""
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 0:
        raise NNError(f"{name} must be a non-negative integer, got {value!r}")


@dataclass
class _Fit:
    """What every epoch of one fit shares."""

    model: object
    step: steps.Step
    Y: np.ndarray
    W: np.ndarray | None  # the sample weights, or None
    zbuf: np.ndarray  # the logits of every training row of the epoch
    obuf: np.ndarray  # and the last layer's outputs (zbuf itself for a linear one)
    batch_size: int
    on_nonfinite: str
    on_step: object
    callbacks: CallbackList
    history: History
    stream: object
    runs: list | None  # the slices of the flat weights the optimizer updates (None: all; see structure)


def fit_loop(model, X, Y, W, opts: FitOptions) -> History:
    """The epochs of ``model.fit`` on checked, converted data (see
    :func:`prepare_fit`): the step (C or NumPy), the non-finite checks, the
    epoch's losses and logs, the callbacks; a History."""
    n, C = len(X), model.layers[-1].units
    b = opts.batch_size
    nsteps = -(-n // b)
    zbuf = np.empty((n, C), model._compute)
    obuf = zbuf if isinstance(model.layers[-1].activation, Linear) else np.empty((n, C), model._compute)
    step, why_not = steps.choose_step(model, X, Y, zbuf, obuf, b, opts.epochs, W)
    history = History(model)
    history.params.update(verbose=opts.verbose, epochs=opts.epochs, steps=nsteps, batch_size=b, step=step.name)
    if why_not is not None:
        history.params["step_reason"] = why_not
    callbacks = CallbackList(opts.callbacks, model, history.params)
    fit = _Fit(model, step, Y, W, zbuf, obuf, b, opts.on_nonfinite, opts.on_step, callbacks, history, sys.stdout,
               model._trainable_runs())  # read at every fit: a layer frozen since the last one stays put
    rng = seeding.rng(opts.seed)
    model.stop_training = False
    callbacks.on_train_begin({})
    logs = {}
    for epoch in range(opts.initial_epoch, opts.epochs):  # 0-based, as Keras counts
        t0 = time.perf_counter()
        order = rng.permutation(n) if opts.shuffle else np.arange(n)
        bar = Progress(epoch + 1, opts.epochs, nsteps, fit.stream) if opts.verbose == 1 else None
        if opts.verbose >= 2 and opts.epochs > 1:  # Keras 3 names the epoch only when there are several
            fit.stream.write(f"Epoch {epoch + 1}/{opts.epochs}\n")
        callbacks.on_epoch_begin(epoch, {})
        bad_steps, done, penalties = _train_epoch(fit, epoch + 1, order, bar)
        # the epoch's losses, from the tier, on every output of the epoch
        Ye, We = Y[order[:done]], None if W is None else W[order[:done]]
        values = model.loss.values(Ye, obuf[:done])
        bad_steps |= _check_losses(fit, epoch + 1, Ye, values, bad_steps, bar)
        # validation_freq: Keras validates after the epochs whose 1-based number it divides
        val = opts.validation_data if (epoch + 1) % opts.validation_freq == 0 else None
        logs, seconds = _epoch_logs(fit, Ye, We, values, done, bad_steps, val, t0, opts.validation_batch_size)
        if penalties:
            # Keras's loss: the batches' (data loss + penalty) averaged by batch size
            logs["loss"] += penalties / max(done, 1)
        # the callbacks first, as Keras appends its History and progress bar after them: what a
        # callback adds to the logs (the learning_rate of LearningRateScheduler) reaches both
        callbacks.on_epoch_end(epoch, logs)
        history.append(epoch, seconds, logs)
        if bar:
            bar.finish(seconds, logs)
        elif opts.verbose == 2:  # Keras 3's line: its time counts the validation too
            fit.stream.write(final_line(nsteps, time.perf_counter() - t0, logs, 2))
        if model.stop_training:
            break
    callbacks.on_train_end(logs)
    return history


def _train_epoch(fit: _Fit, epoch: int, order: np.ndarray, bar) -> tuple[set[int], int, float]:
    """The epoch's steps and updates, on the rows in ``order``: the steps
    (0-based) whose gradient was not finite, how many rows were trained on
    (fewer than all when a callback stopped the fit), and the regularizers'
    penalties summed over the steps, each times its batch's size (0.0
    without any). With ``on_nonfinite='raise'`` the first non-finite step
    stops the fit before its update."""
    model, b = fit.model, fit.batch_size
    cbs = fit.callbacks if fit.callbacks else None  # None: no hook to call per batch
    bad_steps, running = set(), _Running(fit) if cbs is not None and cbs.batch_logs else None
    stop, penalties = 0, 0.0
    with np.errstate(all="ignore"):  # non-finite values are detected, not warned about
        for k in range(-(-len(order) // b)):
            start, stop = k * b, min(len(order), (k + 1) * b)
            if cbs is not None:
                cbs.on_train_batch_begin(k, {})
            if not fit.step(order, start, stop):
                if fit.on_nonfinite == "raise":
                    _raise_nonfinite_gradient(fit, epoch, k + 1, bar)
                bad_steps.add(k)
            penalty = getattr(model, "_penalty", 0.0)  # set by the NumPy step's backprop (a regularized model runs it)
            penalties += (stop - start) * penalty
            model.optimizer.apply(model._P, model._G, fit.runs)
            if model._mixed:
                model._sync()
            if fit.on_step is not None:
                fit.on_step(epoch, k + 1)
            if bar:
                bar.update(k + 1)
            if cbs is not None:
                cbs.on_train_batch_end(k, running.add(order, start, stop, penalty) if running else {})
                if model.stop_training:
                    break
    return bad_steps, stop, penalties


class _Running:
    """Keras's batch logs: the loss and metrics averaged over the epoch's
    batches so far (each weighted by its size, as Keras's trackers are)."""

    def __init__(self, fit: _Fit):
        self.fit, self.sums, self.count = fit, {}, 0

    def add(self, order, start, stop, penalty: float = 0.0) -> dict:
        fit, idx = self.fit, order[start:stop]
        y, out = fit.Y[idx], fit.obuf[start:stop]
        loss = fit.model.loss.values(y, out).astype(np.float64)
        # the batch's regularizer penalty joins each row's loss (Keras's batch loss)
        batch = {"loss": (loss if fit.W is None else loss * fit.W[idx]) + penalty}
        batch.update({m.name: m.values(y, out) for m in fit.model._metrics})
        self.count += stop - start
        for key, v in batch.items():
            self.sums[key] = self.sums.get(key, 0.0) + float(np.sum(v))
        return {key: v / self.count for key, v in self.sums.items()}


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


def _epoch_logs(fit: _Fit, Ye, We, values, done: int, bad_steps: set[int], validation_data, t0: float,
                validation_batch_size: int | None = None) -> tuple[dict, float]:  # fmt: skip
    """The epoch's logs (loss, metrics, validation, diagnostics) over its
    first ``done`` rows, and its training time in seconds since ``t0``
    (without the validation)."""
    model = fit.model
    zb, ob = fit.zbuf[:done], fit.obuf[:done]
    logs = {"loss": float(np.mean(values if We is None else values * We, dtype=np.float64))}
    logs.update({m.name: m(Ye, ob) for m in model._metrics})
    seconds = time.perf_counter() - t0
    if validation_data is not None:
        vx, vy, *vw = validation_data
        # checked and converted by prepare_fit
        vb = validation_batch_size or max(fit.batch_size, 1024)
        vlogs = model._evaluate(vx, vy, vw[0] if vw else None, vb, return_dict=True)
        logs.update({f"val_{k}": v for k, v in vlogs.items()})
    last = model.layers[-1].activation
    gap, p = diagnostics.true_class(model.loss, last, Ye, zb, ob, values)
    logs["max_logit_gap"] = float(np.nanmax(gap)) if gap.size and not np.all(np.isnan(gap)) else math.nan
    logs["min_true_prob"] = float(np.nanmin(p)) if p.size and not np.all(np.isnan(p)) else math.nan
    logs["nonfinite_steps"] = len(bad_steps)
    return logs, seconds
