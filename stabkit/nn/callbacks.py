"""Keras's callbacks: ``fit(callbacks=[...])`` calls their hooks.

Order of the calls, as in Keras 3: ``on_train_begin``; per epoch
``on_epoch_begin(epoch)``, per batch ``on_train_batch_begin(batch)`` and
``on_train_batch_end(batch, logs)`` (``on_batch_begin`` / ``on_batch_end``
are the same hooks under their old names: the default ``on_train_batch_*``
call them), then ``on_epoch_end(epoch, logs)``; ``on_train_end(logs)``.
``epoch`` and ``batch`` are 0-based. Batch logs hold the running means of the
loss and metrics over the epoch so far (computed only when a callback has a
batch-end hook); epoch logs hold everything ``History`` gets that epoch.
Every hook gets its logs as a positional argument (an empty dict where
Keras has none), so a ``LambdaCallback`` function takes ``(logs)`` or
``(epoch, logs)``. Setting ``model.stop_training = True`` ends the fit after
the current batch (its epoch still ends, with logs over the batches run).
"""

from __future__ import annotations

import csv
import math
import os
import warnings

import numpy as np

from . import metrics as metrics_mod
from .errors import NNError
from .saving import _refuse_hdf5

__all__ = ["Callback", "CallbackList", "EarlyStopping", "ModelCheckpoint", "LambdaCallback", "LearningRateScheduler",
           "ReduceLROnPlateau", "TerminateOnNaN", "CSVLogger"]


class Callback:
    """Base class: every hook does nothing. ``self.model`` is the model
    being fitted and ``self.params`` fit's ``History.params``."""

    def __init__(self):
        self.model = None
        self.params: dict = {}

    def set_model(self, model) -> None:
        self.model = model

    def set_params(self, params: dict) -> None:
        self.params = params

    def on_train_begin(self, logs=None): ...
    def on_train_end(self, logs=None): ...
    def on_epoch_begin(self, epoch, logs=None): ...
    def on_epoch_end(self, epoch, logs=None): ...
    def on_batch_begin(self, batch, logs=None): ...
    def on_batch_end(self, batch, logs=None): ...

    def on_train_batch_begin(self, batch, logs=None):
        self.on_batch_begin(batch, logs)

    def on_train_batch_end(self, batch, logs=None):
        self.on_batch_end(batch, logs)

    def wants_batch_logs(self) -> bool:
        """Whether this callback reads batch logs (it overrides a batch-end hook)."""
        cls = type(self)
        return cls.on_train_batch_end is not Callback.on_train_batch_end or cls.on_batch_end is not Callback.on_batch_end


class CallbackList:
    """The callbacks of one fit (a Callback, or a list or tuple of them), called in order."""

    def __init__(self, callbacks, model, params: dict):
        # one callback or a list of them, as Keras takes either
        callbacks = [callbacks] if isinstance(callbacks, Callback) else list(callbacks or [])
        for cb in callbacks:
            if not isinstance(cb, Callback):
                hint = ("; fit returns the History (model.history keeps it too): leave History() out"
                        if type(cb).__name__ == "History" else "")
                raise NNError(f"callbacks must be stabkit.nn.callbacks.Callback instances, got {cb!r}{hint}")
        self.callbacks = callbacks
        for cb in callbacks:
            cb.set_model(model)
            cb.set_params(params)
        self.batch_logs = any(cb.wants_batch_logs() for cb in callbacks)

    def __bool__(self) -> bool:
        return bool(self.callbacks)

    def __getattr__(self, hook):
        if not hook.startswith("on_"):
            raise AttributeError(hook)

        def call(*args, **kwargs):
            for cb in self.callbacks:
                getattr(cb, hook)(*args, **kwargs)

        return call


class LambdaCallback(Callback):
    """A callback from plain functions, Keras's ``LambdaCallback``:
    ``on_epoch_begin(epoch, logs)``, ``on_epoch_end(epoch, logs)``,
    ``on_train_begin(logs)``, ``on_train_end(logs)``, ``on_batch_begin(batch,
    logs)``, ``on_batch_end(batch, logs)`` (also ``on_train_batch_*``)."""

    HOOKS = ("on_epoch_begin", "on_epoch_end", "on_train_begin", "on_train_end", "on_batch_begin",
             "on_batch_end", "on_train_batch_begin", "on_train_batch_end")  # fmt: skip

    def __init__(self, **hooks):
        super().__init__()
        unknown = set(hooks) - set(self.HOOKS)
        if unknown:
            raise NNError(f"LambdaCallback has no hook {sorted(unknown)[0]!r}; use {', '.join(self.HOOKS)}")
        self._batch_end = False
        for name, fn in hooks.items():
            if fn is None:
                continue
            if not callable(fn):
                raise NNError(f"LambdaCallback {name} must be callable, got {fn!r}")
            setattr(self, name, fn)
            self._batch_end |= name in ("on_batch_end", "on_train_batch_end")

    def wants_batch_logs(self):
        return self._batch_end


class _Monitor(Callback):
    """What EarlyStopping and ModelCheckpoint share: a monitored log key, its
    direction (``mode``) and what counts as an improvement."""

    def __init__(self, monitor, mode, min_delta=0.0):
        super().__init__()
        if mode not in ("auto", "min", "max"):
            raise NNError(f"mode must be 'auto', 'min' or 'max', got {mode!r}")
        if not isinstance(monitor, str):
            raise NNError(f"monitor must be a log key such as 'val_loss', got {monitor!r}")
        self.monitor, self.mode, self.min_delta = monitor, mode, abs(float(min_delta))
        if mode == "auto":
            mode = metrics_mod.direction(monitor)
            if mode is None:
                raise NNError(f"cannot tell whether {monitor!r} should go up or down; pass mode='min' or mode='max'")
        self._sign = 1.0 if mode == "max" else -1.0  # improvement: sign * (current - reference) > min_delta

    def _is_improvement(self, current, reference) -> bool:
        if reference is None:
            return True
        # Keras's comparisons, kept in its form (the same rounding at the boundary)
        if self._sign > 0:
            return current - self.min_delta > reference
        return current + self.min_delta < reference

    def _current(self, logs):
        value = (logs or {}).get(self.monitor)
        if value is None:
            warnings.warn(
                f"{type(self).__name__} monitors {self.monitor!r}, which is not in the logs "
                f"(available: {', '.join(logs or {})})",
                RuntimeWarning,
                stacklevel=3,
            )
        return value


class EarlyStopping(_Monitor):
    """Stop when ``monitor`` has not improved by more than ``min_delta`` for
    ``patience`` epochs (Keras 3's EarlyStopping, the same arguments and
    rules). ``restore_best_weights`` puts back the weights of the best epoch
    at the end of training (from the first epoch monitored, even if none
    improved). ``stopped_epoch`` (0-based, 0 if it never stopped), ``best``
    and ``best_epoch`` are kept for reading afterwards."""

    def __init__(self, monitor="val_loss", min_delta=0, patience=0, verbose=0, mode="auto", baseline=None,
                 restore_best_weights=False, start_from_epoch=0):  # fmt: skip
        super().__init__(monitor, mode, min_delta)
        if isinstance(patience, bool) or not isinstance(patience, int) or patience < 0:
            raise NNError(f"patience must be a non-negative integer, got {patience!r}")
        self.patience, self.verbose, self.baseline = patience, verbose, baseline
        self.restore_best_weights, self.start_from_epoch = bool(restore_best_weights), start_from_epoch
        self.on_train_begin()

    def on_train_begin(self, logs=None):
        self.wait, self.stopped_epoch, self.best, self.best_weights, self.best_epoch = 0, 0, None, None, 0

    def on_epoch_end(self, epoch, logs=None):
        current = self._current(logs)
        if current is None or epoch < self.start_from_epoch:
            return
        if self.restore_best_weights and self.best_weights is None:
            self.best_weights, self.best_epoch = self.model.get_weights(), epoch
        self.wait += 1
        if self._is_improvement(current, self.best):
            self.best, self.best_epoch = current, epoch
            if self.restore_best_weights:
                self.best_weights = self.model.get_weights()
            if self.baseline is None or self._is_improvement(current, self.baseline):
                self.wait = 0
            return
        if self.wait >= self.patience and epoch > 0:
            self.stopped_epoch = epoch
            self.model.stop_training = True

    def on_train_end(self, logs=None):
        if self.stopped_epoch > 0 and self.verbose > 0:
            print(f"Epoch {self.stopped_epoch + 1}: early stopping")
        if self.restore_best_weights and self.best_weights is not None:
            if self.verbose > 0:
                print(f"Restoring model weights from the end of the best epoch: {self.best_epoch + 1}.")
            self.model.set_weights(self.best_weights)


class ModelCheckpoint(_Monitor):
    """Save the model (``model.save``) or its weights (``save_weights_only``:
    ``model.save_weights``) at the end of every epoch, or only when
    ``monitor`` improved (``save_best_only``). ``filepath`` may hold
    ``{epoch}`` (1-based, as Keras) and any log key, e.g.
    ``'ckpt-{epoch:02d}-{val_loss:.3f}.zip'``. Each file is written atomically."""

    def __init__(self, filepath, monitor="val_loss", verbose=0, save_best_only=False, save_weights_only=False,
                 mode="auto", initial_value_threshold=None):  # fmt: skip
        super().__init__(monitor, mode)
        # refused now, not after the first epoch has trained
        self.filepath = _refuse_hdf5(filepath, "ModelCheckpoint", weights_h5=save_weights_only)
        self.verbose, self.save_best_only, self.save_weights_only = verbose, save_best_only, save_weights_only
        self.best = initial_value_threshold

    def on_epoch_end(self, epoch, logs=None):
        logs = logs or {}
        try:
            path = self.filepath.format(epoch=epoch + 1, **logs)
        except (KeyError, IndexError, ValueError) as e:
            raise NNError(f"ModelCheckpoint cannot format filepath {self.filepath!r}: {e!r} (log keys: {', '.join(logs)})") from None
        if self.save_best_only:
            current = self._current(logs)
            if current is not None:
                if not (math.isfinite(current) and self._is_improvement(current, self.best)):
                    if self.verbose > 0:
                        print(f"\nEpoch {epoch + 1}: {self.monitor} did not improve from {self.best}")
                    return
                self.best = current
        if os.path.dirname(path):
            os.makedirs(os.path.dirname(path), exist_ok=True)
        (self.model.save_weights if self.save_weights_only else self.model.save)(path)
        if self.verbose > 0:
            print(f"\nEpoch {epoch + 1}: saved the model to {path}")


def _rate_of(model) -> float:
    """The model's optimizer's rate of the next update, as a float."""
    if model is None or model.optimizer is None:
        raise NNError("this callback needs a compiled model (its optimizer's learning rate)")
    return float(model.optimizer.learning_rate)


class LearningRateScheduler(Callback):
    """Keras's LearningRateScheduler: at the start of each epoch the rate
    becomes ``schedule(epoch, lr)`` (or ``schedule(epoch)``, for a function
    of one argument), ``epoch`` 0-based and ``lr`` the current rate; the
    epoch's logs get ``learning_rate``. An optimizer built with a schedule
    object refuses it, as Keras does."""

    def __init__(self, schedule, verbose=0):
        super().__init__()
        if not callable(schedule):
            raise NNError(f"LearningRateScheduler needs a function schedule(epoch, lr), got {schedule!r}")
        self.schedule, self.verbose = schedule, verbose

    def on_epoch_begin(self, epoch, logs=None):
        lr = _rate_of(self.model)
        try:
            new = self.schedule(epoch, lr)
        except TypeError:  # a function of the epoch alone, as Keras's fallback
            new = self.schedule(epoch)
        if not isinstance(new, (float, np.floating)):  # Keras refuses an int too
            raise NNError(f"the output of the schedule function should be a float, got {new!r} at epoch {epoch}")
        self.model.optimizer.learning_rate = float(new)
        if self.verbose > 0:
            print(f"\nEpoch {epoch + 1}: LearningRateScheduler setting learning rate to {float(new)}.")

    def on_epoch_end(self, epoch, logs=None):
        if logs is not None:
            logs["learning_rate"] = _rate_of(self.model)


class ReduceLROnPlateau(_Monitor):
    """Keras's ReduceLROnPlateau: where ``monitor`` has not improved by more
    than ``min_delta`` for ``patience`` epochs, the rate becomes ``max(lr *
    factor, min_lr)`` (if it is above ``min_lr``), then ``cooldown`` epochs
    pass before counting again; the epoch's logs get ``learning_rate``."""

    def __init__(self, monitor="val_loss", factor=0.1, patience=10, verbose=0, mode="auto", min_delta=1e-4,
                 cooldown=0, min_lr=0.0, **kwargs):  # fmt: skip
        super().__init__(monitor, mode, min_delta)
        if kwargs.keys() - {"epsilon"}:
            raise NNError(f"ReduceLROnPlateau has no argument {sorted(kwargs.keys() - {'epsilon'})[0]!r}")
        if isinstance(factor, bool) or not isinstance(factor, (int, float)) or not 0 <= factor < 1:
            raise NNError(f"ReduceLROnPlateau does not support a factor >= 1.0 (or below 0), got {factor!r}")
        for name, v in (("patience", patience), ("cooldown", cooldown)):
            if isinstance(v, bool) or not isinstance(v, int) or v < 0:
                raise NNError(f"{name} must be a non-negative integer, got {v!r}")
        self.factor, self.patience, self.verbose = float(factor), patience, verbose
        self.cooldown, self.min_lr = cooldown, float(min_lr)
        if "epsilon" in kwargs:  # Keras's old name for min_delta
            self.min_delta = abs(float(kwargs["epsilon"]))
        self.on_train_begin()

    def on_train_begin(self, logs=None):
        self.wait, self.cooldown_counter, self.best = 0, 0, None

    def on_epoch_end(self, epoch, logs=None):
        logs = logs if logs is not None else {}
        logs["learning_rate"] = _rate_of(self.model)
        current = self._current(logs)
        if current is None:
            return
        if self.cooldown_counter > 0:
            self.cooldown_counter -= 1
            self.wait = 0
        if self._is_improvement(current, self.best):
            self.best, self.wait = current, 0
        elif self.cooldown_counter <= 0:
            self.wait += 1
            if self.wait >= self.patience:
                old = _rate_of(self.model)
                # Keras compares with min_lr in float32
                if old > float(np.float32(self.min_lr)):
                    new = max(old * self.factor, self.min_lr)
                    self.model.optimizer.learning_rate = new
                    if self.verbose > 0:
                        print(f"\nEpoch {epoch + 1}: ReduceLROnPlateau reducing learning rate to {new}.")
                    self.cooldown_counter, self.wait = self.cooldown, 0


class TerminateOnNaN(Callback):
    """Keras's TerminateOnNaN: stop the fit after a batch whose running
    loss is NaN or infinite (fit's ``on_nonfinite`` catches a non-finite
    gradient before this sees it, unless ``on_nonfinite='continue'``)."""

    def on_batch_end(self, batch, logs=None):
        loss = (logs or {}).get("loss")
        if loss is not None and not math.isfinite(loss):
            print(f"Batch {batch}: Invalid loss, terminating training")
            self.model.stop_training = True


class CSVLogger(Callback):
    """Keras's CSVLogger: one row per epoch (``epoch``, 0-based, then the
    logs' keys in sorted order) written to ``filename`` as the epoch ends
    (``append=True`` adds to an existing file, without a second header)."""

    def __init__(self, filename, separator=",", append=False):
        super().__init__()
        self.filename, self.sep, self.append = os.fspath(filename), separator, bool(append)
        self._file = self._keys = None

    def on_train_begin(self, logs=None):
        exists = self.append and os.path.exists(self.filename) and os.path.getsize(self.filename) > 0
        try:
            self._file = open(self.filename, "a" if self.append else "w", newline="")
        except OSError as e:
            raise NNError(f"CSVLogger cannot write {self.filename!r}: {e.strerror}") from None
        self._keys = None
        self._header = not exists

    def on_epoch_end(self, epoch, logs=None):
        logs = logs or {}
        if self._keys is None:
            self._keys = sorted(logs)
        row = csv.DictWriter(self._file, fieldnames=["epoch", *self._keys], delimiter=self.sep)
        if self._header:
            row.writeheader()
            self._header = False
        row.writerow({"epoch": epoch, **{k: logs.get(k, "NA") for k in self._keys}})
        self._file.flush()

    def on_train_end(self, logs=None):
        if self._file is not None:
            self._file.close()
            self._file = None
