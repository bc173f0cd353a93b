"""Keras's ``Normalization`` preprocessing layer (importable from
:mod:`stabkit.nn.layers`), along the last axis, as the Coffee Roasting lab
uses it::

    norm_l = Normalization(axis=-1)
    norm_l.adapt(X)        # each feature's mean and variance
    Xn = norm_l(X)         # (X - mean) / sqrt(variance), a float32 array

``adapt(data)`` learns each feature (the last axis) its mean and biased
variance over every other axis, with NumPy's ``np.mean`` and ``np.var`` in
float64, rounded once to float32 where they are kept. For float64 data,
integers and lists (the lab's) these are Keras 3's calls and its values bit
for bit; float32 data Keras sums in float32, off by float32 round-off, which
matters for a constant column: Keras's mean of a column of 100 entries 0.1
(float32) is 1 ulp off 0.1, and the division by 1e-7 below gives -0.149
where this gives 0. A call then gives, in float32 (the inputs rounded to float32 first)::

    y = (x - mean) / max(sqrt(variance), 1e-7)          # invert=False
    y = mean + x * max(sqrt(variance), 1e-7)            # invert=True

1e-7 being Keras's ``backend.epsilon()``: a feature of variance 0 (a
constant column) gives ``(x - mean) * 1e7``, 0 on the data it learnt from.
The quotient is the correctly rounded one, bit for bit Keras 3's on its NumPy
backend; Keras on JAX multiplies by the rounded reciprocal instead (XLA
rewrites a division by a per-feature divisor), within 1 ulp of this.

Weights, in ``get_weights`` order: ``mean``, ``variance`` (float32, one per
feature) and ``count`` (Keras keeps it for old files and leaves it 0; int32
on a layer alone, the model's float format inside a model); none when
``mean=`` and ``variance=`` are given (they are constants then, and in
``get_config``, as in Keras). Inside a ``Sequential`` the three are
``fixed_names``: ``fit`` never changes them and ``summary`` counts them as
non-trainable, as Keras does; ``adapt`` before or after the model is built
sets them. The layer passes gradients through (``dL/dx = dL/dy /
denominator``).

Edge contract (each an :class:`NNError` with one message): a call before
``adapt`` (without ``mean=``/``variance=``) says to call ``adapt`` first,
where Keras normalises with mean 0 and variance 1, i.e. returns the inputs;
a model holding such a layer has NaN statistics until ``adapt`` or
``set_weights`` gives them, and its first ``predict`` or training step says
so. ``axis`` other than -1; data for ``adapt`` with fewer than 2 axes (Keras
would learn one statistic per sample), no samples, or a NaN or infinite
value; inputs whose last axis is not the number of features the layer knows
(Keras broadcasts a single column against every feature); ``mean=`` without
``variance=``, of different shapes, of more than one axis, not finite, or
a negative variance.
"""

from __future__ import annotations

import numpy as np

from . import defaults
from .errors import NNError
from .layers import Layer, first_shape

__all__ = ["Normalization"]

#: Keras's backend.epsilon(): the smallest denominator, for a feature of variance 0
EPSILON = 1e-7
_NAMES = ("mean", "variance", "count")


def _number_array(value, what: str) -> np.ndarray:
    """``value`` as an array of real numbers (NNError otherwise)."""
    try:
        a = np.asarray(value)
    except (TypeError, ValueError) as e:
        raise NNError(f"{what} must be numbers, got {value!r} ({e})") from None
    if a.dtype.kind not in "biuf":
        raise NNError(f"{what} must be numbers (floating point, integers or booleans), got dtype {a.dtype}")
    return a


def _batches(data) -> np.ndarray:
    """An iterable of batches (arrays, as Keras's ``adapt`` takes them) as one
    array of rows: the statistics of the last axis do not depend on how the
    other axes are cut."""
    arrays = [_number_array(b, "adapt's batches") for b in data]
    if not arrays:
        raise NNError("adapt got no data (an empty iterable of batches)")
    if any(a.ndim < 2 for a in arrays) or len({a.shape[-1] for a in arrays}) > 1:
        raise NNError(f"adapt's batches must be (samples, features) arrays with one number of features, got "
                      f"shapes {[a.shape for a in arrays]}")  # fmt: skip
    return np.concatenate([a.reshape(-1, a.shape[-1]) for a in arrays])


def _data(data) -> tuple[np.ndarray, int]:
    """``adapt``'s data as an array, and the rank Keras builds the layer for
    (a batch's, for batches)."""
    if isinstance(data, (list, tuple)) and data and hasattr(data[0], "shape"):
        return _batches(data), np.ndim(data[0])  # a list of arrays: Keras's batches
    if not isinstance(data, (np.ndarray, list, tuple)) and not hasattr(data, "__array__") and hasattr(data, "__iter__"):
        data = list(data)  # a generator of batches
        return _batches(data), np.ndim(data[0]) if data else 2
    a = _number_array(data, "adapt's data")
    return a, a.ndim


def _checked_axis(axis) -> tuple[int]:
    if isinstance(axis, (list, tuple)) and len(axis) == 1:
        axis = axis[0]
    if isinstance(axis, (bool, np.bool_)) or not isinstance(axis, (int, np.integer)) or axis != -1:
        raise NNError(f"Normalization(axis={axis!r}): stabkit normalises each feature of the last axis only; leave "
                      "axis=-1 (Keras's axis=None, one mean and variance for every entry, and other axes are not here)")
    return (-1,)


class Normalization(Layer):
    """Keras 3's ``Normalization(axis=-1, mean=None, variance=None,
    invert=False)``: see the module docstring for the formulas and the edge
    contract. ``name``, ``input_shape`` (on a first layer) and ``trainable``
    (which changes nothing: its weights are never trained) as on every layer;
    ``dtype`` None or ``'float32'`` (its statistics are float32)."""

    flat_input = None  # keeps the shape: images stay images before a Conv2D
    fixed_names = _NAMES

    def __init__(self, axis=-1, mean=None, variance=None, invert=False, name=None, input_shape=None, trainable=True,
                 dtype=None, **unsupported):  # fmt: skip
        if unsupported:
            names = ", ".join(map(repr, sorted(unsupported)))
            raise TypeError(f"Normalization does not support the argument{'s' * (len(unsupported) > 1)} {names}; it "
                            "takes axis, mean, variance, invert, name, input_shape, trainable and dtype")  # fmt: skip
        defaults.check("Normalization", dtype=dtype)
        self.axis = _checked_axis(axis)
        if not isinstance(invert, (bool, np.bool_)):
            raise NNError(f"Normalization(invert=...) takes True or False, got {invert!r}")
        self.invert = bool(invert)
        self.name, self.trainable = name, trainable
        self.input_shape = first_shape(input_shape)
        self.mean = self.variance = self.count = None  # the weights: views of a model's, or the layer's own
        self._own = self._own_views = None  # the statistics adapt gave the layer alone (kept if a model drops it)
        self._ndim = 2  # the rank of adapt's data: Keras's broadcast shape for a call
        self._given = None
        if (mean is None) != (variance is None):
            raise NNError(f"Normalization needs both mean= and variance=, or neither (then call adapt); got "
                          f"mean={mean!r} and variance={variance!r}")  # fmt: skip
        if mean is not None:
            m, v = _number_array(mean, "mean"), _number_array(variance, "variance")
            if m.shape != v.shape or m.ndim > 1:
                raise NNError(f"Normalization's mean and variance must be numbers or 1-D arrays (one per feature) "
                              f"of one shape, got shapes {m.shape} and {v.shape}")  # fmt: skip
            if not (np.all(np.isfinite(m)) and np.all(np.isfinite(v)) and np.all(v >= 0)):
                raise NNError(f"Normalization's mean must be finite and its variance finite and >= 0, got mean={mean!r}, "
                              f"variance={variance!r}")  # fmt: skip
            # the caller's values for get_config (Keras keeps them as given), float32 ones to compute with
            self._config = (m.tolist(), v.tolist())
            self._given = (m.astype(np.float32), v.astype(np.float32))
            self.weight_names = ()
        else:
            self._config = (None, None)
            self.weight_names = _NAMES

    def __repr__(self) -> str:
        return f"Normalization(axis=-1{', invert=True' * self.invert})"

    def get_config(self) -> dict:
        """Keras's keys but ``dtype``: ``name``, ``trainable``, ``axis`` (``(-1,)``),
        ``invert``, and ``mean``, ``variance`` as given (None after ``adapt``)."""
        return {"name": self.name, "trainable": self.trainable, "axis": self.axis, "invert": self.invert,
                "mean": self._config[0], "variance": self._config[1]}  # fmt: skip

    # ------------------------------------------------------------ the statistics

    def _restore(self) -> None:
        """The layer's own statistics again where a model that failed to build
        dropped its views (see ``checks.unbuilt_on_error``)."""
        if self._views is None and self._own_views is not None:
            self.mean, self.variance, self.count = (self._own[n] for n in _NAMES)
            self._views = self._own_views

    def _bound(self) -> bool:
        """Whether the weights are views of a model's flat vector."""
        return self._views is not None and self._views is not self._own_views

    def _features(self) -> int | None:
        """The number of features the layer knows (None: a scalar mean fits any)."""
        if self._given is not None:
            return int(self._given[0].shape[0]) if self._given[0].ndim else None
        self._restore()
        return None if self.mean is None else int(self.mean.shape[0])

    def _check_features(self, n: int, where: str) -> None:
        f = self._features()
        if f is not None and n != f:
            name = self.name or "normalization"
            raise NNError(f"layer {name!r} (Normalization) normalises {f} features (the last axis), but {where} has {n}")

    def _stats(self, dtype) -> tuple[np.ndarray, np.ndarray]:
        """``(mean, max(sqrt(variance), 1e-7))`` in ``dtype``; NNError before adapt."""
        if self._given is not None:
            mean, var = self._given
        else:
            self._restore()
            mean, var = self.mean, self.variance
            if mean is None or np.isnan(mean).any() or np.isnan(var).any():
                name = self.name or "normalization"
                raise NNError(f"layer {name!r} (Normalization) has no mean and variance yet: call {name}.adapt(x) "
                              "first with the training data (or set them: Normalization(mean=..., variance=...))")  # fmt: skip
        mean, var = mean.astype(dtype, copy=False), var.astype(dtype, copy=False)
        return mean, np.maximum(np.sqrt(var), dtype.type(EPSILON))

    def adapt(self, data) -> None:
        """Learn each feature's mean and biased variance from ``data``: an
        array of shape ``(samples, ..., features)`` (a list, a JAX array, a
        DataFrame, ...), or Keras's batches (a list or generator of such
        arrays, taken together). Over every axis but the last, by
        ``np.mean`` and ``np.var`` in float64 (Keras's calls for float64
        data), kept as float32. A layer that has statistics (adapted, or built in a
        model) keeps its number of features. NNError for the cases in the
        module docstring; nothing is changed then."""
        if self._given is not None:
            raise NNError("this Normalization was given mean= and variance=; adapt learns them from data instead: "
                          "make it as Normalization(axis=-1)")  # fmt: skip
        a, ndim = _data(data)
        if a.ndim < 2:
            raise NNError(f"adapt takes (samples, features) data, got shape {a.shape}; for one feature use "
                          "x.reshape(-1, 1)")  # fmt: skip
        if a.size == 0:
            raise NNError(f"adapt got no data (shape {a.shape})")
        bad = ~np.isfinite(a) if a.dtype.kind == "f" else None
        if bad is not None and bad.any():
            at = tuple(int(i) for i in np.argwhere(bad)[0])
            raise NNError(f"adapt's data holds {a[at]} at index {at}; the mean and variance need finite values")
        self._check_features(a.shape[-1], "adapt's data")
        axes = tuple(range(a.ndim - 1))
        # in float64 (Keras 3's own calls for float64 data, integers and lists), rounded once to float32
        mean = np.mean(a, axis=axes, dtype=np.float64).astype(np.float32)
        var = np.var(a, axis=axes, dtype=np.float64).astype(np.float32)
        self._ndim = ndim
        own = {"mean": mean, "variance": var, "count": np.array(0, np.int32)}
        if self._bound():  # in a built model: into its weights (Keras assigns its variables)
            Layer.set_weights(self, [mean, var, self.count])
            own["count"] = np.array(self.count, np.int32)
        else:
            self.mean, self.variance, self.count = (own[n] for n in _NAMES)
            self._own_views = self._views = {n: (own[n], None) for n in _NAMES}
        self._own = own

    # ------------------------------------------------------------ weights

    @property
    def weights(self) -> list[np.ndarray]:
        """``[mean, variance, count]``, live (``[]`` before adapt, and with
        ``mean=`` given, as Keras)."""
        if self._given is not None:
            return []
        self._restore()
        return super().weights

    def set_weights(self, weights) -> None:
        """Replace ``[mean, variance, count]`` (Keras's ``set_weights``; the
        calls use them at once, where Keras 3 keeps the old ones until it
        loads the layer again). NNError before adapt: the layer has no
        weights yet, as Keras says."""
        self._restore()
        if self._given is None and self._views is None:
            name = self.name or "normalization"
            raise NNError(f"layer {name!r} (Normalization) has no weights until adapt(x) (or a model builds it); "
                          f"got {len(weights)} arrays")  # fmt: skip
        super().set_weights(weights)  # the layer's own arrays, or its model's views

    # ------------------------------------------------------------ in a model

    def output_shape(self, input_shape):
        self._check_features(int(input_shape[-1]), f"its input, of per-sample shape {tuple(input_shape)},")
        return tuple(input_shape)

    def param_shapes(self, input_shape):
        f = int(input_shape[-1])
        return {} if self._given is not None else {"mean": (f,), "variance": (f,), "count": ()}

    def initial_weights(self, input_shape, rng):
        """The statistics the layer has (adapted, or another model's); NaN
        before adapt (the model refuses to run until it gets them)."""
        if self._given is not None:
            return {}
        self._check_features(int(input_shape[-1]), f"its input, of per-sample shape {tuple(input_shape)},")
        self._restore()
        if self.mean is not None:
            return {n: np.array(getattr(self, n), np.float64) for n in _NAMES}
        f = int(input_shape[-1])
        return {"mean": np.full(f, np.nan), "variance": np.full(f, np.nan), "count": np.zeros(())}

    def bind(self, params, grads, compute, mixed):
        self.mean, self.variance, self.count = (params[n] for n in _NAMES)
        self._grads = grads

    def forward(self, x, training=False):
        mean, d = self._stats(x.dtype)
        if training:
            self._d = d
        return mean + x * d if self.invert else (x - mean) / d

    def backward(self, dLdy, need_input_grad=True):
        for n in self.weight_names:
            self._grads[n][...] = 0  # never trained
        if not need_input_grad:
            return None
        d = self._d.astype(dLdy.dtype, copy=False)
        return dLdy * d if self.invert else dLdy / d

    # ------------------------------------------------------------ alone

    def __call__(self, x, training: bool = False) -> np.ndarray:
        """The normalised ``x`` (any shape whose last axis is the features),
        a float32 NumPy array (see the module docstring); ``training`` changes
        nothing. Before ``adapt``: NNError."""
        a = _number_array(x, "Normalization's inputs")
        if a.ndim < 1:
            raise NNError(f"Normalization takes arrays of features (samples, features), got the scalar {x!r}")
        self._check_features(a.shape[-1], f"the input, of shape {a.shape},")
        if self.name is None:
            self.name = _auto_name()
        mean, d = self._stats(np.dtype(np.float32))
        if self._given is None and self._ndim > 1:  # Keras's broadcast shape: (1, ..., features)
            mean, d = (v.reshape((1,) * (self._ndim - 1) + v.shape) for v in (mean, d))
        x32 = a.astype(np.float32)
        return mean + x32 * d if self.invert else (x32 - mean) / d


def _auto_name() -> str:
    """``normalization``, then ``normalization_1``, ...: as a layer called on its own is named."""
    from .alone import _name  # alone imports layers, which loads this module lazily

    return _name(Normalization)
