"""The checks every entry point runs on its data before anything changes.

``fit``, ``evaluate``, ``predict`` and the ``*_on_batch`` methods refuse bad
input with one :class:`NNError` naming the argument, before any update and
before an unbuilt model is built for the wrong shape: a 1-D ``x`` (Keras:
``expected min_ndim=2``; it is not guessed to be one sample or one feature),
a NaN or infinite value in ``x``, ``y`` or ``validation_data`` (named by its
first index, rather than reported later as an overflowing loss), a value
past the compute dtype's range, labels that do not fit the loss, weights
that are not one finite non-negative number per sample.
"""

from __future__ import annotations

import contextlib

import numpy as np

from .errors import NNError

__all__ = ["DEFAULT_BATCH_SIZE", "batch_size", "verbosity", "one_input", "check_samples", "check_finite",
           "checked_data", "sample_weights", "unbuilt_on_error"]  # fmt: skip


def _positive_int(value, name):
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
        raise NNError(f"{name} must be a positive integer, got {value!r}")


#: Keras's batch size when ``batch_size`` is None (its default)
DEFAULT_BATCH_SIZE = 32


def batch_size(value) -> int:
    """``batch_size`` checked; None is Keras's default, 32."""
    if value is None:
        return DEFAULT_BATCH_SIZE
    _positive_int(value, "batch_size")
    return int(value)


def verbosity(value) -> int:
    """``verbose`` checked: 0 (or None, or False), 1 (or True), 2, or Keras's
    ``'auto'``, which is 1; an integer above 2 is 3, Keras's quietest
    printing mode (``fit`` names the epochs, nothing else). Anything else
    (a negative number, ``'x'``) is one NNError."""
    if isinstance(value, str) and value == "auto":
        return 1
    if value is None or (isinstance(value, (int, np.integer)) and value >= 0):
        return min(int(value or 0), 3)
    raise NNError(f"verbose must be 0 (silent), 1 (progress bar), 2 (one line), 3 (the epochs' names) or 'auto' "
                  f"(1), got {value!r}")


def one_input(x):
    """``x`` without Keras's one-input list: ``[array]`` is ``array``. A
    nested Python list (``[[1.0, 2.0]]``, one sample of two features) is data,
    not such a list, and stays as it is."""
    if isinstance(x, (list, tuple)) and len(x) == 1 and hasattr(x[0], "shape"):
        return x[0]
    return x


def check_samples(x: np.ndarray, name: str = "x") -> None:
    """NNError unless ``x`` is a batch of samples: at least 2-D, samples
    first. A 1-D array is refused (Keras: ``expected min_ndim=2``) rather
    than read as one sample or as one feature per sample."""
    if x.ndim >= 2:
        return
    if x.ndim == 0:
        raise NNError(f"{name} must be an array of samples, shape (samples, features), got a scalar")
    n = len(x)
    raise NNError(f"{name} must be at least 2-D, shape (samples, features), got a 1-D array of shape ({n},); "
                  f"for {n} samples of one feature reshape it to ({n}, 1) with {name}[:, None] or "
                  f"{name}.reshape(-1, 1); for one sample of {n} features, {name}[None, :]")  # fmt: skip


def check_finite(a: np.ndarray, name: str) -> None:
    """NNError naming ``name`` and its first NaN or infinite entry, if any."""
    if a.dtype.kind not in "fc" or a.size == 0:
        return
    bad = ~np.isfinite(a)
    if not bad.any():
        return
    at = tuple(int(i) for i in np.argwhere(bad)[0])
    v = a[at]
    what = "NaN" if np.isnan(v) else ("inf" if v > 0 else "-inf") if a.dtype.kind == "f" else repr(v)
    count = int(bad.sum())
    where = f"{name}[{', '.join(map(str, at))}]" + (f" (sample {at[0]})" if a.ndim > 1 else "")
    raise NNError(f"{name} holds {what} at {where}, {count} non-finite value{'s' * (count > 1)} in all; "
                  f"the trainer needs finite data: drop or impute those samples first "
                  f"(np.isfinite({name}) finds them)")  # fmt: skip


def checked_data(model, x, y, sample_weight, class_weight=None, names=("x", "y"), finite=True):
    """``(X, Y, W)``: the inputs in the compute dtype, the prepared targets
    and the sample weights (or None), each checked (NNError naming the
    argument): ``x`` at least 2-D, ``x`` and ``y`` finite (unless not
    ``finite``), one target per sample. Builds an unbuilt model from ``x``
    (see ``Sequential._input``)."""
    xname, yname = names
    if y is None:  # fit(x) / evaluate(x): Keras takes y from a dataset in x, which NumPy arrays are not
        raise NNError(f"no labels: pass {yname} beside {xname} (Keras's {yname}=None is for a data set that yields "
                      "both, which this trainer does not take)")
    x = one_input(x)
    x = np.asarray(x)
    check_samples(x, xname)
    if finite:
        check_finite(x, xname)
    with np.errstate(over="ignore"):  # a value past the compute dtype's range is reported below
        X = model._input(x, xname)
    if finite and X.dtype.kind == "f" and X is not x and not np.isfinite(X).all():  # finite, but not in the compute dtype
        at = tuple(int(i) for i in np.argwhere(~np.isfinite(X))[0])
        raise NNError(f"{xname}[{', '.join(map(str, at))}] = {float(x.reshape(X.shape)[at]):g} overflows {X.dtype} "
                      f"(largest {float(np.finfo(X.dtype).max):g}); scale the inputs")  # fmt: skip
    ya = np.asarray(y)
    if finite:
        check_finite(ya, yname)
    Y = model.loss.prepare(ya, model.layers[-1].units)
    if len(Y) != len(X):
        raise NNError(f"{xname} has {len(X)} samples but {yname} has {len(Y)}")
    W = sample_weights(model.loss, Y, sample_weight, class_weight)
    return X, Y, W


def sample_weights(loss, Y, sample_weight, class_weight) -> np.ndarray | None:
    """Per-sample loss weights (float64) from ``sample_weight`` (one finite,
    non-negative number per sample) or ``class_weight`` (``{class: weight}``;
    1 for a class it does not name, as Keras; the class of a one-hot row is
    its argmax, of a binary label its rounding); None for neither."""
    if sample_weight is not None and class_weight is not None:
        raise NNError("pass class_weight or sample_weight, not both (as Keras)")
    if class_weight is not None:
        if not isinstance(class_weight, dict):
            raise NNError(f"class_weight must be a dict {{class index: weight}}, got {type(class_weight).__name__}")
        t = np.asarray(loss.true_index(Y))
        t = np.round(t[:, 0] if t.ndim == 2 and t.shape[1] == 1 else t).astype(np.int64)
        if t.ndim != 1:
            raise NNError("class_weight needs one class per sample (a single binary output, sparse or one-hot labels)")
        # every key checked before any is used (a str key '0' is no class: Keras's lookup by int never finds it)
        for k in class_weight:
            if isinstance(k, bool) or not isinstance(k, (int, np.integer)) or k < 0:
                hint = f"; write {{{int(k)}: ...}}" if isinstance(k, str) and k.strip().isdigit() else ""
                raise NNError(f"class_weight keys must be class indices (non-negative integers), "
                              f"got {k!r} ({type(k).__name__}){hint}")  # fmt: skip
        table = np.ones(int(t.max(initial=0)) + 1)  # a key past every label weighs no sample
        for k, v in class_weight.items():
            try:
                v = float(v)
            except (TypeError, ValueError):
                raise NNError(f"class_weight[{k}] must be a number, got {v!r}") from None
            if k < len(table):
                table[k] = v
        sample_weight = table[t]
    w = np.asarray(sample_weight, dtype=np.float64) if sample_weight is not None else None
    if w is None:
        return None
    if w.ndim == 2 and w.shape[1] == 1:
        w = w[:, 0]
    if w.shape != (len(Y),):
        raise NNError(f"sample_weight must hold one weight per sample ({len(Y)}), got shape {w.shape}")
    if not np.all(np.isfinite(w) & (w >= 0)):
        raise NNError("sample_weight and class_weight must be finite and non-negative")
    return w


@contextlib.contextmanager
def unbuilt_on_error(model):
    """Undo a build of ``model`` done inside the block if the block raises:
    a call refused for its data leaves an unbuilt model unbuilt (its next
    call builds it for the right inputs)."""
    was_built = model.built
    try:
        yield
    except BaseException:
        if not was_built and model.built:
            model._P = model._G = model._Pc = model._P16 = model._slots = model._in_shape = None
            for layer in model.layers:  # no views of the dropped buffers
                for part in layer.weight_names:
                    setattr(layer, part, None)
                layer._views = None
        raise
