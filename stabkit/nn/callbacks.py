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

import math
import os
import warnings

from . import metrics as metrics_mod
from .errors import NNError
from .saving import _refuse_hdf5

__all__ = ["Callback", "CallbackList", "EarlyStopping", "ModelCheckpoint", "LambdaCallback"]


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
