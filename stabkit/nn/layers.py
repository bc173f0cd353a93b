"""Layers: ``Dense`` (the only one the lecture needs) and ``Input`` (not a
layer: the input shape a Sequential model is built for); ``Dropout``,
``Conv2D``, ``MaxPooling2D`` and ``Flatten`` live in :mod:`stabkit.nn.dropout`,
:mod:`stabkit.nn.conv` and :mod:`stabkit.nn.pooling`, the activation layers
(``Activation``, ``ReLU``, ...) in :mod:`stabkit.nn.actlayers`; all are importable from
here too, as every layer is from ``keras.layers`` (loaded on first use:
those modules import this one).

A layer owns no arrays of its own: the model packs every weight into one flat
master vector and hands each layer views into it (``kernel``, ``bias``), into
the flat gradient vector (``dW``, ``db``) and, in mixed precision, into a
float16-rounded copy used for the matmuls. The optimizer then updates all
parameters with a handful of in-place operations on one array.
"""

from __future__ import annotations

import importlib

import numpy as np

from . import activations, defaults
from .copying import CopyLayer
from .weightroles import WeightRoles
from .kernelopts import KernelOptions
from .errors import NNError

__all__ = ["Layer", "Dense", "Dropout", "Input", "Conv2D", "MaxPooling2D", "Flatten", "Activation", "ReLU", "LeakyReLU",
           "ELU", "Softmax", "BatchNormalization", "Normalization", "features", "keras_name"]

#: layers defined in modules that import this one: re-exported on first use (PEP 562)
_ELSEWHERE = {"Conv2D": "conv", "Flatten": "conv", "MaxPooling2D": "pooling", "Dropout": "dropout",
              "Activation": "actlayers", "ReLU": "actlayers", "LeakyReLU": "actlayers", "ELU": "actlayers",
              "Softmax": "actlayers", "BatchNormalization": "batchnorm", "Normalization": "normalization"}  # fmt: skip


def __getattr__(name: str):
    if name not in _ELSEWHERE:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(f"{__package__}.{_ELSEWHERE[name]}"), name)
    globals()[name] = value  # later lookups skip __getattr__
    return value


class Layer(CopyLayer, WeightRoles):
    """Base class: ``forward(x, training)`` and ``backward(dLdy)``.

    The model builds a layer from the per-sample shape of its input
    (``(784,)``, ``(28, 28, 1)``): ``output_shape(shape)``, and
    ``param_shapes(shape)`` and ``initial_weights(shape, rng)``, dicts keyed
    by ``weight_names`` (the layer's weights in the order of ``get_weights``;
    none by default). ``flat_input`` says what the layer takes: True,
    ``(batch, features)`` (the model flattens images in front of a first such
    layer); False, the shape as it comes (images, :mod:`stabkit.nn.conv`);
    None, either, keeping the shape (Dropout). ``get_config`` returns the
    keyword arguments that rebuild the layer (``model.save`` stores them).
    """

    name: str | None = None
    weight_names: tuple[str, ...] = ()
    fixed_names: tuple[str, ...] = ()  # weights fit never trains (BatchNormalization's moving statistics)
    flat_input: bool | None = True
    input_shape: tuple[int, ...] | None = None  # Keras's ``input_shape=`` on a first layer
    _trainable = True

    def __repr__(self) -> str:
        return f"{type(self).__name__}()"

    @property
    def trainable(self) -> bool:
        """Whether ``fit`` updates the layer's weights (Keras's ``layer.trainable``,
        True by default). A change takes effect on the next ``fit``: the
        optimizer skips a frozen layer's weights and leaves its state for them
        as it is; ``summary()`` counts them as non-trainable."""
        return self._trainable

    @trainable.setter
    def trainable(self, value) -> None:
        self._trainable = bool(value)

    def count_params(self) -> int:
        """The number of scalars in the layer's weights (Keras's
        ``layer.count_params()``): 0 for a layer without weights; NNError
        (a ValueError, as Keras raises) while its model is not built."""
        if self.weight_names and not self.weights:
            name = self.name or type(self).__name__
            raise NNError(f"You tried to call `count_params` on layer {name!r}, but the layer isn't built; "
                          "build its model first (model.build(input_shape), or fit or call it once)")  # fmt: skip
        return int(sum(a.size for a in self.weights))

    def output_shape(self, input_shape: tuple[int, ...]) -> tuple[int, ...]:
        """The per-sample output shape for per-sample inputs of ``input_shape``."""
        return tuple(input_shape)

    def param_shapes(self, input_shape: tuple[int, ...]) -> dict[str, tuple[int, ...]]:
        return {}

    def initial_weights(self, input_shape, rng: np.random.Generator) -> dict[str, np.ndarray]:
        return {}

    def macs(self) -> int:
        """Multiply-adds per sample of the layer's largest matmul (for fit's
        choice of BLAS threads); 0 without weights."""
        return 0

    def get_config(self) -> dict:
        raise NNError(f"{type(self).__name__} does not say how to rebuild it (no get_config); it cannot be saved")

    def bind(self, params: dict, grads: dict, compute: dict | None, mixed: bool) -> None:
        """Attach views of the model's flat buffers (layers with weights)."""

    @property
    def weights(self) -> list[np.ndarray]:
        """The layer's live weight arrays (views of its model's flat master
        vector), in the order of ``weight_names`` (Keras's ``layer.weights``,
        whose variables hold these values); ``[]`` while unbuilt."""
        arrays = [getattr(self, n, None) for n in self.weight_names]
        return [] if any(a is None for a in arrays) else arrays

    def get_weights(self) -> list[np.ndarray]:
        """Copies of the layer's master weights, in the order of
        ``weight_names`` (Keras's ``layer.get_weights()``); ``[]`` for a
        layer without weights or one whose model is not built yet."""
        return [a.copy() for a in self.weights]

    #: ``{name: (master view, float16-rounded compute view or None)}``, set by the model that holds the layer
    _views: dict | None = None

    def set_weights(self, weights) -> None:
        """Replace the layer's weights in place (Keras's ``layer.set_weights``):
        one array of numbers per name in ``weight_names`` (integers are cast,
        as Keras casts them; bool and complex are refused), each of the
        shape the layer has. The model must be built. NNError naming the
        weight otherwise; nothing is changed then."""
        if not self.weight_names:
            if len(weights):
                raise NNError(f"layer {self.name or type(self).__name__} has no weights, got {len(weights)} arrays")
            return
        if not self._views:
            raise NNError(f"layer {self.name or type(self).__name__} has no weights yet: build the model first "
                          "(model.build(input_shape), or fit or call it once)")  # fmt: skip
        # integer arrays (the Coursera lab's np.array([[2]])) are cast, as Keras casts them
        arrays = [np.asarray(w, np.float64) if np.asarray(w).dtype.kind in "iu" else np.asarray(w) for w in weights]
        if len(arrays) != len(self.weight_names):
            raise NNError(f"layer {self.name} takes {len(self.weight_names)} arrays ({', '.join(self.weight_names)}), "
                          f"got {len(arrays)}")  # fmt: skip
        for n, w in zip(self.weight_names, arrays):
            want = self._views[n][0].shape
            if w.shape != want:
                raise NNError(f"layer {self.name} needs a {n} of shape {want}, got {w.shape}")
            if w.dtype.kind != "f":
                raise NNError(f"layer {self.name}: weights must be numbers (floating point or integers), got "
                              f"{w.dtype} for its {n}")
        self._weights_set = True
        for n, w in zip(self.weight_names, arrays):
            master, compute = self._views[n]
            master[...] = w
            if compute is not None:  # mixed precision: the float16-rounded copy the matmuls read
                with np.errstate(over="ignore"):
                    compute[...] = master.astype(np.float16)

    #: the one-layer model a call on the layer alone built (see __call__), and the views it bound
    _solo = None
    _solo_views = None
    #: a weak reference to the model whose buffers the layer's weights live in
    _owner = None
    _weights_set = False  # set_weights since the model bound it: its weights are the caller's

    def __call__(self, x, training: bool = False) -> np.ndarray:
        """Keras's ``layer(x)`` on the layer alone (a course's first
        "neurons and layers" cells): see :func:`stabkit.nn.alone.call`."""
        from .alone import call  # alone imports this module

        return call(self, x, training)

    def forward(self, x: np.ndarray, training: bool = False) -> np.ndarray:
        return x

    def backward(self, dLdy: np.ndarray, need_input_grad: bool = True):
        return dLdy if need_input_grad else None


def features(layer: Layer, shape) -> int:
    """The input size of a flat layer from an int or a per-sample shape ``(n,)``."""
    if isinstance(shape, (int, np.integer)):
        return int(shape)
    if len(shape) != 1:
        raise NNError(
            f"{layer!r} takes flat inputs (batch, features), got per-sample shape {tuple(shape)}; put Flatten() before it"
        )
    return int(shape[0])


def keras_name(cls: type) -> str:
    """The name Keras gives a layer of class ``cls`` (before its ``_k``
    suffix): the class name in snake case, a word being a capital followed
    by small letters: ``Dense`` -> ``dense``, ``MaxPooling2D`` ->
    ``max_pooling2d``, ``Conv2D`` -> ``conv2d`` (``2D`` is no word)."""
    name, out = cls.__name__, []
    for i, c in enumerate(name):
        before, after = name[i - 1 : i], name[i + 1 : i + 2]
        if c.isupper() and before and (before.islower() or after.islower()):
            out.append("_")
        out.append(c.lower())
    return "".join(out)


def _shape(shape, what: str) -> tuple[int, ...]:
    """``shape`` (an int or a tuple of positive ints, no batch axis) as a tuple."""
    shape = (shape,) if isinstance(shape, (int, np.integer)) and not isinstance(shape, bool) else shape
    try:
        out = tuple(int(d) for d in shape)
        ok = len(out) >= 1 and all(d >= 1 and d == s for d, s in zip(out, shape))
    except (TypeError, ValueError):
        ok = False
    if not ok:
        raise NNError(f"{what} must be a tuple of positive integers without the batch axis, e.g. (784,), got {shape!r}")
    return out


class Input:
    """``Input(shape)``, Keras's ``keras.Input``: put first in a Sequential
    model to build it at once for samples of this shape (no batch axis).
    It is not a layer: ``model.layers`` does not list it, as in Keras."""

    def __init__(self, shape=None, batch_size=None, dtype=None, sparse=None, batch_shape=None, name: str | None = None,
                 tensor=None, optional=False):  # fmt: skip
        # Keras 3's signature: a fixed batch size changes nothing here (any batch is taken)
        if batch_shape is not None and shape is None:
            shape = tuple(batch_shape)[1:]
        bad = {k: v for k, v in (("dtype", dtype), ("sparse", sparse), ("tensor", tensor), ("optional", optional)) if v}
        if shape is None or set(bad) - {"dtype"} or dtype not in (None, "float32"):
            raise NNError("Input needs shape=, the per-sample shape (or batch_shape=)" if shape is None else
                          f"Input takes no {', '.join(bad)} here (compile's dtype= sets the model's); got {bad}")
        self.shape = _shape(shape, "Input shape")
        self.name = name

    def __repr__(self) -> str:
        return f"Input(shape={self.shape})"


def first_shape(shape) -> tuple[int, ...] | None:
    """A layer's ``input_shape=`` argument, checked (None stays None)."""
    return None if shape is None else _shape(shape, "input_shape")


class Dense(KernelOptions, Layer):
    """``y = activation(x @ kernel + bias)``.

    Parameters
    ----------
    units : int
        Output size.
    activation : None, 'linear', 'relu', 'sigmoid', 'softmax' or an
        :class:`~stabkit.nn.activations.Activation`. ``None`` and ``'linear'``
        output logits.
    name : str, optional
    input_shape, input_dim : optional
        The per-sample input shape (or Keras's older ``input_dim=n``, the
        same as ``input_shape=(n,)``), on a first layer only: the model is
        built at once.
    use_bias : bool
        Whether the layer adds a bias (Keras's default, True). Without one,
        ``get_weights()`` is ``[kernel]``, as in Keras, and the layer trains
        with the NumPy step (the C step knows layers with a bias only).
    trainable : bool
        False freezes the layer: ``fit`` leaves its weights as they are
        (Keras's; also ``layer.trainable = False`` later).
    kernel_initializer, bias_initializer
        Keras's names, classes or callables (:mod:`stabkit.nn.initializers`);
        by default the kernel is Glorot-uniform (``U(-l, l)``,
        ``l = sqrt(6 / (fan_in + fan_out))``) and the bias zero, Keras's defaults.
    kernel_regularizer, bias_regularizer
        None (Keras's default), or a penalty on the weight added to the loss
        (:mod:`stabkit.nn.regularizers`: ``'l2'``, ``L2(0.1)``, ...);
        ``activity_regularizer``, the constraints and ``dtype`` at Keras's
        defaults only (:func:`stabkit.nn.defaults.check`).

    The input size is inferred on the first call, as in Keras.
    """

    weight_names = ("kernel", "bias")

    def __init__(self, units: int, activation=None, name: str | None = None, input_shape=None, *,
                 input_dim: int | None = None, use_bias: bool = True, trainable: bool = True,
                 kernel_initializer="glorot_uniform", bias_initializer="zeros", kernel_regularizer=None,
                 bias_regularizer=None, activity_regularizer=None, kernel_constraint=None, bias_constraint=None,
                 dtype=None, **unsupported):  # fmt: skip
        if unsupported:
            names = ", ".join(map(repr, sorted(unsupported)))
            raise TypeError(f"Dense does not support the argument{'s' * (len(unsupported) > 1)} {names}; it takes "
                            "units, activation, name, input_shape (or input_dim), use_bias, trainable, "
                            "kernel_initializer, bias_initializer, kernel_regularizer and bias_regularizer, and "
                            "Keras's activity_regularizer, constraints and dtype at their defaults")  # fmt: skip
        defaults.check("Dense", activity_regularizer=activity_regularizer, kernel_constraint=kernel_constraint,
                       bias_constraint=bias_constraint, dtype=dtype)  # fmt: skip
        if not isinstance(units, (int, np.integer)) or isinstance(units, bool) or units < 1:
            raise NNError(f"Dense needs a positive integer number of units, got {units!r}")
        if not isinstance(use_bias, (bool, np.bool_)):
            raise NNError(f"Dense(use_bias=...) takes True or False, got {use_bias!r}")
        if input_dim is not None:
            if input_shape is not None:
                raise NNError("pass input_shape or input_dim, not both")
            if isinstance(input_dim, bool) or not isinstance(input_dim, (int, np.integer)) or input_dim < 1:
                raise NNError(f"input_dim must be a positive integer, got {input_dim!r}")
            input_shape = (int(input_dim),)
        self.units = int(units)
        self.activation = activations.get(activation)
        self.name = name
        self.input_shape = first_shape(input_shape)
        self.input_dim: int | None = None
        self.use_bias = bool(use_bias)
        self.trainable = trainable
        self._kernel_options(kernel_initializer, bias_initializer, kernel_regularizer, bias_regularizer)
        if not self.use_bias:
            self.weight_names = ("kernel",)
        self.kernel = self.bias = None  # master weights (views; no bias without use_bias)
        self._mixed = False
        self._rows = None

    def __repr__(self) -> str:
        return f"Dense({self.units}, activation={self.activation.name!r})"

    def param_shapes(self, input_shape):
        kernel = {"kernel": (features(self, input_shape), self.units)}
        return {**kernel, "bias": (self.units,)} if self.use_bias else kernel

    def get_config(self):
        return {"name": self.name, "units": self.units, "activation": self.activation.name, "use_bias": self.use_bias,
                "trainable": self.trainable, **self._kernel_config()}  # fmt: skip

    def output_shape(self, input_shape):
        features(self, input_shape)  # NNError for images
        return (self.units,)

    def initial_weights(self, input_shape, rng: np.random.Generator) -> dict[str, np.ndarray]:
        """The kernel, then the bias, from their initializers (drawing from
        ``rng`` in that order), in float64; ``input_shape`` is a per-sample
        shape ``(n,)`` or an int."""
        return self._kernel_weights((features(self, input_shape), self.units), rng)

    def macs(self) -> int:
        return self.kernel.size

    def bind(self, params: dict, grads: dict, compute: dict | None, mixed: bool) -> None:
        """Attach views of the model's flat buffers (see the module docstring)."""
        self.kernel, self.bias = params["kernel"], params.get("bias")
        self.dW, self.db = grads["kernel"], grads.get("bias")
        # the matmul operands: the master weights themselves, or their
        # float16-rounded copy held in float32 (mixed precision)
        self.Wm, self.bm = (compute["kernel"], compute.get("bias")) if mixed else (self.kernel, self.bias)
        self._mixed = mixed
        self.input_dim = self.kernel.shape[0]
        self._wbuf = None  # kernel rows gathered for a batch that skips input columns

    def forward(self, x: np.ndarray, training: bool = False, rows: np.ndarray | None = None) -> np.ndarray:
        """``activation(x @ kernel + bias)``. With ``rows`` (the trainer's
        zero-column skip, see ``_columns``), ``x`` holds only the input
        columns ``rows``: every other column is zero in the whole batch."""
        # mixed precision: float16 activations, float32 matmul accumulation of
        # float16 values (exact products, as tensor cores do), one rounding
        xm = x.astype(np.float32) if self._mixed else x
        W = self.Wm
        if rows is not None:
            if self._wbuf is None:
                self._wbuf = np.empty_like(W)
            # a zero input column j adds x[:, j] * kernel[j] = 0 (exactly, for a
            # finite kernel: the trainer checks) to every output, so leaving its
            # row out changes only the order of the sum over the kept rows
            W = np.take(W, rows, axis=0, out=self._wbuf[: len(rows)], mode="clip")
        z = xm @ W
        if self.bm is not None:
            z += self.bm
        if self._mixed:
            z = z.astype(np.float16)
        a = self.activation.forward(z)
        if training:
            self._x, self._z, self._a, self._rows = xm, z, a, rows
        return a

    def backward(self, dLda: np.ndarray, need_input_grad: bool = True):
        """Write ``dL/dkernel`` (and ``dL/dbias``) into the gradient buffer
        and return ``dL/dx`` (``None`` when ``need_input_grad`` is false)."""
        dLdz = self.activation.backward(dLda, self._z, self._a)
        if self._mixed:
            dLdz = dLdz.astype(np.float32)
        if self._rows is None:
            np.matmul(self._x.T, dLdz, out=self.dW)
        else:
            # row j of x.T @ dLdz is x[:, j] @ dLdz: exactly 0 for a column
            # that is zero in the batch (dLdz is finite: the trainer redoes a
            # non-finite step densely), so only the kept rows are computed
            self.dW.fill(0)
            self.dW[self._rows] = self._x.T @ dLdz
        if self.db is not None:
            dLdz.sum(axis=0, out=self.db)
        if not need_input_grad:
            return None
        dLdx = dLdz @ self.Wm.T
        return dLdx.astype(np.float16) if self._mixed else dLdx
