"""Layers. ``Dense`` is the only one the lecture needs; ``Conv2D``,
``MaxPooling2D`` and ``Flatten`` are in :mod:`stabkit.nn.conv`.

A layer owns no arrays of its own: the model packs every weight into one flat
master vector and hands each layer views into it (``kernel``, ``bias``), into
the flat gradient vector (``dW``, ``db``) and, in mixed precision, into a
float16-rounded copy used for the matmuls. The optimizer then updates all
parameters with a handful of in-place operations on one array.
"""

from __future__ import annotations

import numpy as np

from . import activations
from .errors import NNError

__all__ = ["Layer", "Dense", "features"]


class Layer:
    """Base class: ``forward(x, training)`` and ``backward(dLdy)``.

    The model builds a layer from the per-sample shape of its input:
    ``output_shape(shape)``, and ``initial_weights(shape, rng)``, a dict keyed
    by the names in ``parts`` (their order is :meth:`Sequential.get_weights`'s;
    empty for a layer without weights). A ``flat_input`` layer takes
    ``(batch, features)`` (the model flattens images in front of a first such
    layer); the others take the shape as it comes (``stabkit.nn.conv``).
    """

    name: str | None = None
    parts: tuple[str, ...] = ()
    flat_input = True

    def __repr__(self) -> str:
        return f"{type(self).__name__}()"

    def param_shapes(self, input_dim: int) -> dict[str, tuple[int, ...]]:
        return {}

    def output_dim(self, input_dim: int) -> int:
        return input_dim

    def output_shape(self, input_shape: tuple[int, ...]) -> tuple[int, ...]:
        """The per-sample output shape for per-sample inputs of ``input_shape``."""
        return (self.output_dim(features(self, input_shape)),)

    def initial_weights(self, input_dim, rng: np.random.Generator) -> dict[str, np.ndarray]:
        return {}

    def bind(self, params: dict, grads: dict, compute: dict | None, mixed: bool) -> None:
        """Attach views of the model's flat buffers (see the module docstring)."""

    def macs(self) -> int:
        """Multiply-adds per sample of the layer's largest matmul (for fit's
        choice of BLAS threads); 0 without weights."""
        return 0


def features(layer: Layer, shape) -> int:
    """The input size of a flat layer from an int or a per-sample shape ``(n,)``."""
    if isinstance(shape, (int, np.integer)):
        return int(shape)
    if len(shape) != 1:
        raise NNError(
            f"{layer!r} takes flat inputs (batch, features), got per-sample shape {tuple(shape)}; put Flatten() before it"
        )
    return int(shape[0])


class Dense(Layer):
    """``y = activation(x @ kernel + bias)``.

    Parameters
    ----------
    units : int
        Output size.
    activation : None, 'linear', 'relu', 'sigmoid', 'softmax' or an
        :class:`~stabkit.nn.activations.Activation`. ``None`` and ``'linear'``
        output logits.
    name : str, optional

    The input size is inferred on the first call, as in Keras; the kernel is
    Glorot-uniform (``U(-l, l)``, ``l = sqrt(6 / (fan_in + fan_out))``) and the
    bias zero, Keras's defaults.
    """

    parts = ("kernel", "bias")

    def __init__(self, units: int, activation=None, name: str | None = None):
        if not isinstance(units, (int, np.integer)) or isinstance(units, bool) or units < 1:
            raise NNError(f"Dense needs a positive integer number of units, got {units!r}")
        self.units = int(units)
        self.activation = activations.get(activation)
        self.name = name
        self.input_dim: int | None = None
        self.kernel = self.bias = None  # master weights (views)
        self._mixed = False
        self._rows = None

    def __repr__(self) -> str:
        return f"Dense({self.units}, activation={self.activation.name!r})"

    def param_shapes(self, input_dim):
        return {"kernel": (input_dim, self.units), "bias": (self.units,)}

    def output_dim(self, input_dim):
        return self.units

    def initial_weights(self, input_dim: int, rng: np.random.Generator) -> dict[str, np.ndarray]:
        """Glorot-uniform kernel and zero bias, in float64; ``input_dim`` is
        an int or a per-sample shape ``(n,)``."""
        input_dim = features(self, input_dim)
        limit = np.sqrt(6.0 / (input_dim + self.units))
        return {
            "kernel": rng.uniform(-limit, limit, size=(input_dim, self.units)),
            "bias": np.zeros(self.units),
        }

    def macs(self) -> int:
        return self.kernel.size

    def bind(self, params: dict, grads: dict, compute: dict | None, mixed: bool) -> None:
        """Attach views of the model's flat buffers (see the module docstring)."""
        self.kernel, self.bias = params["kernel"], params["bias"]
        self.dW, self.db = grads["kernel"], grads["bias"]
        # the matmul operands: the master weights themselves, or their
        # float16-rounded copy held in float32 (mixed precision)
        self.Wm, self.bm = (compute["kernel"], compute["bias"]) if mixed else (self.kernel, self.bias)
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
        z += self.bm
        if self._mixed:
            z = z.astype(np.float16)
        a = self.activation.forward(z)
        if training:
            self._x, self._z, self._a, self._rows = xm, z, a, rows
        return a

    def backward(self, dLda: np.ndarray, need_input_grad: bool = True):
        """Write ``dL/dkernel`` and ``dL/dbias`` into the gradient buffer and
        return ``dL/dx`` (``None`` when ``need_input_grad`` is false)."""
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
        dLdz.sum(axis=0, out=self.db)
        if not need_input_grad:
            return None
        dLdx = dLdz @ self.Wm.T
        return dLdx.astype(np.float16) if self._mixed else dLdx
