"""Image layers, channels last as in Keras: ``Conv2D`` and ``Flatten`` here,
``MaxPooling2D`` in :mod:`stabkit.nn.pooling`.

Images are ``(batch, height, width, channels)``. MNIST from
:func:`~stabkit.nn.read_mnist` is ``(n, 784)``; the lecture's Keras code adds
the channel axis with ``x.reshape(-1, 28, 28, 1)`` (or
``np.expand_dims(x, -1)`` on ``(n, 28, 28)`` images), and so does stabkit.

``padding='same'`` is Keras's (TensorFlow's): ``ceil(size / stride)`` outputs,
``max((out - 1) * stride + k - size, 0)`` zeros in all, the extra one at the
bottom and on the right when that is odd. Kernels are ``(kh, kw, in, out)``
and Glorot-uniform, biases zero: Keras's layout and defaults, so
``get_weights`` and ``set_weights`` exchange arrays with Keras unchanged.

A convolution is one matmul over columns of patches (im2col): the patches are
a strided view of the input (``sliding_window_view``), copied once into a
``(kh * kw * channels, batch * pixels)`` matrix. The product comes out
channel-major, ``(filters, batch * pixels)``, and the layer returns it as a
channels-last *view*: every per-pixel operation downstream (bias, ReLU,
pooling) then runs along long contiguous rows instead of rows of ``filters``
numbers, and ``Flatten`` copies it into Keras's ``(h, w, c)`` order.
"""

from __future__ import annotations

import math

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

from . import activations, defaults
from .errors import NNError
from .kernelopts import KernelOptions
from .layers import Layer, first_shape

__all__ = ["Conv2D", "Flatten", "window", "pair", "padding_mode", "image_shape", "padded", "taps", "matmul_nt"]


def pair(value, name: str) -> tuple[int, int]:
    """``(a, b)`` from a positive int or a pair of positive ints."""
    v = (value, value) if isinstance(value, (int, np.integer)) else value
    ok = isinstance(v, (tuple, list)) and len(v) == 2
    if not ok or any(isinstance(n, bool) or not isinstance(n, (int, np.integer)) or n < 1 for n in v):
        raise NNError(f"{name} must be a positive integer or a pair of them, got {value!r}")
    return int(v[0]), int(v[1])


def padding_mode(padding) -> str:
    if not isinstance(padding, str) or padding.lower() not in ("valid", "same"):
        raise NNError(f"padding must be 'valid' or 'same', got {padding!r}")
    return padding.lower()


def window(size: int, k: int, stride: int, padding: str) -> tuple[int, int, int]:
    """``(outputs, pad_before, pad_after)`` along one axis of ``size`` pixels
    for a window of ``k`` moved by ``stride``, as Keras pads.

    'valid': ``(size - k) // stride + 1`` outputs, no padding (size >= k).
    'same': ``ceil(size / stride)`` outputs; the padding the last window needs,
    ``(out - 1) * stride + k - size`` (at least 0), split with the odd one
    after (bottom, right)."""
    if padding == "valid":
        return (size - k) // stride + 1, 0, 0
    out = -(-size // stride)
    total = max((out - 1) * stride + k - size, 0)
    return out, total // 2, total - total // 2


def image_shape(layer: Layer, shape) -> tuple[int, int, int]:
    """``(height, width, channels)`` of a per-sample shape, or NNError naming the fix."""
    shape = tuple(shape)
    if len(shape) == 2:
        raise NNError(
            f"{type(layer).__name__} takes images (batch, height, width, channels), got per-sample shape {shape}; "
            f"add the channel axis: x.reshape(-1, {shape[0]}, {shape[1]}, 1)"
        )
    if len(shape) != 3:
        raise NNError(f"{type(layer).__name__} takes images (batch, height, width, channels), got per-sample shape {shape}")
    return shape


def padded(x: np.ndarray, pads: tuple[int, int, int, int], value: float) -> np.ndarray:
    """``x`` (batch, h, w, c) with ``(top, bottom, left, right)`` rows and
    columns of ``value`` around each image; ``x`` itself where none. The copy
    keeps ``x``'s memory order (channel-major stays channel-major)."""
    top, bottom, left, right = pads
    if not any(pads):
        return x
    B, H, W, C = x.shape
    out = np.empty_like(x, shape=(B, H + top + bottom, W + left + right, C))
    out.fill(value)
    out[:, top : top + H, left : left + W] = x
    return out


def taps(xp: np.ndarray, k: tuple[int, int], s: tuple[int, int], out: tuple[int, int]):
    """The ``(i, j)`` tap of every window: ``xp[:, i + s*r, j + s*c]`` for the
    output pixel ``(r, c)``, as strided views, in row-major window order."""
    (kh, kw), (sh, sw), (Ho, Wo) = k, s, out
    return [(i, j, xp[:, i : i + sh * (Ho - 1) + 1 : sh, j : j + sw * (Wo - 1) + 1 : sw]) for i in range(kh) for j in range(kw)]


#: the length of the pieces :func:`matmul_nt` cuts the shared axis into
PIECE = 256


def matmul_nt(a: np.ndarray, b: np.ndarray, out: np.ndarray) -> np.ndarray:
    """``out = a @ b.T`` for ``a`` (m, n) and ``b`` (k, n) with a long ``n``
    and small ``m``, ``k`` (a kernel's gradient: taps x filters, summed over
    every pixel of the batch), as one batched product of ``PIECE``-long
    pieces whose (m, k) results are then added. OpenBLAS runs the single long
    product 15-25x slower on these shapes (measured on (9, 21632) x (21632, 8):
    1.56 ms against 0.06 ms); the sum also adds in shorter runs."""
    m, n = a.shape
    pieces = n // PIECE
    if pieces < 2:
        return np.matmul(a, b.T, out=out)
    head = pieces * PIECE
    # (pieces, m, PIECE) @ (pieces, PIECE, k): views, no copy
    parts = np.matmul(a[:, :head].reshape(m, pieces, PIECE).transpose(1, 0, 2),
                      b[:, :head].reshape(len(b), pieces, PIECE).transpose(1, 2, 0))  # fmt: skip
    parts.sum(axis=0, out=out)
    if head < n:
        out += a[:, head:] @ b[:, head:].T
    return out


class Conv2D(KernelOptions, Layer):
    """``y = activation(conv(x, kernel) + bias)``, Keras's ``Conv2D`` (channels last).

    Parameters
    ----------
    filters : int
        Output channels.
    kernel_size, strides : int or (int, int)
    padding : 'valid' (default) or 'same' (Keras's: the odd pixel of padding
        at the bottom and right)
    activation : as for :class:`~stabkit.nn.layers.Dense`
    use_bias : bool
    name : str, optional
    input_shape : the per-sample shape, e.g. ``(28, 28, 1)``, on a first
        layer (Keras's; builds the model at once)
    trainable : bool, False freezes the layer (see ``Layer.trainable``)
    data_format, dilation_rate, groups, activity_regularizer, kernel_constraint, bias_constraint, dtype
        Keras's, in its order, taken at Keras's defaults only (``data_format``
        ``'channels_last'`` too, ``dtype`` ``'float32'``); another value is
        one NNError naming it (:func:`stabkit.nn.defaults.check`).

    ``y[b, r, c, f] = sum_{i, j, ch} xp[b, r*sh + i, c*sw + j, ch] * kernel[i, j, ch, f] + bias[f]``
    with ``xp`` the zero-padded input (a cross-correlation, as in every deep
    learning library). The kernel is Glorot-uniform with
    ``fan_in = kh * kw * channels`` and ``fan_out = kh * kw * filters``.
    """

    weight_names = ("kernel", "bias")
    flat_input = False

    def __init__(self, filters: int, kernel_size, strides=1, padding: str = "valid", data_format=None,
                 dilation_rate=1, groups=1, activation=None, use_bias: bool = True,
                 kernel_initializer="glorot_uniform", bias_initializer="zeros", kernel_regularizer=None,
                 bias_regularizer=None, activity_regularizer=None, kernel_constraint=None, bias_constraint=None,
                 name: str | None = None, input_shape=None, trainable: bool = True, dtype=None):  # fmt: skip
        defaults.check("Conv2D", data_format=data_format, dilation_rate=dilation_rate, groups=groups,
                       activity_regularizer=activity_regularizer, kernel_constraint=kernel_constraint,
                       bias_constraint=bias_constraint, dtype=dtype)  # fmt: skip
        if isinstance(filters, bool) or not isinstance(filters, (int, np.integer)) or filters < 1:
            raise NNError(f"Conv2D needs a positive integer number of filters, got {filters!r}")
        self.filters = int(filters)
        self.kernel_size = pair(kernel_size, "kernel_size")
        self.strides = pair(strides, "strides")
        self.padding = padding_mode(padding)
        self.activation = activations.get(activation)
        self.use_bias = bool(use_bias)
        self.trainable = trainable
        self._kernel_options(kernel_initializer, bias_initializer, kernel_regularizer, bias_regularizer)
        if not self.use_bias:
            self.weight_names = ("kernel",)
        self.name = name
        self.input_shape = first_shape(input_shape)
        self.kernel = self.bias = None
        self._mixed, self._pixels, self._buffers = False, 0, {}

    def __repr__(self) -> str:
        return (f"Conv2D({self.filters}, kernel_size={self.kernel_size}, strides={self.strides}, "
                f"padding={self.padding!r}, activation={self.activation.name!r})")  # fmt: skip

    def get_config(self):
        return {"name": self.name, "filters": self.filters, "kernel_size": self.kernel_size, "strides": self.strides,
                "padding": self.padding, "activation": self.activation.name, "use_bias": self.use_bias,
                "trainable": self.trainable, **self._kernel_config()}  # fmt: skip

    def _geometry(self, H: int, W: int) -> tuple[tuple[int, int, int], tuple[int, int, int]]:
        (kh, kw), (sh, sw) = self.kernel_size, self.strides
        if self.padding == "valid" and (H < kh or W < kw):
            raise NNError(f"{self!r}: the {kh}x{kw} kernel does not fit in {H}x{W} images with padding='valid'")
        return window(H, kh, sh, self.padding), window(W, kw, sw, self.padding)

    def output_shape(self, input_shape):
        H, W, _ = image_shape(self, input_shape)
        (Ho, _, _), (Wo, _, _) = self._geometry(H, W)
        self._pixels = Ho * Wo
        return (Ho, Wo, self.filters)

    def param_shapes(self, input_shape):
        _, _, C = image_shape(self, input_shape)
        kernel = {"kernel": (*self.kernel_size, C, self.filters)}
        return {**kernel, "bias": (self.filters,)} if self.use_bias else kernel

    def initial_weights(self, input_shape, rng):
        """The kernel ``(kh, kw, channels, filters)``, then the bias, from their
        initializers (Glorot-uniform and zeros by default), in float64."""
        _, _, C = image_shape(self, input_shape)
        return self._kernel_weights((*self.kernel_size, C, self.filters), rng)

    def macs(self) -> int:
        return self._pixels * self.kernel.size

    def bind(self, params, grads, compute, mixed):
        self.kernel, self.bias = params["kernel"], params.get("bias")
        self.dW, self.db = grads["kernel"], grads.get("bias")
        # the matmul operands: the master weights, or their float16-rounded copy (mixed precision)
        self.Wm, self.bm = (compute["kernel"], compute.get("bias")) if mixed else (self.kernel, self.bias)
        self._mixed = mixed

    def _buffer(self, name: str, shape: tuple[int, ...], dtype, reuse: bool) -> np.ndarray:
        """A scratch array, kept between training steps (a step's arrays are
        dead by the next step's forward); a fresh one outside training."""
        buf = self._buffers.get(name)
        if not reuse or buf is None or buf.shape != shape or buf.dtype != dtype:
            buf = np.empty(shape, dtype)
            if reuse:
                self._buffers[name] = buf
        return buf

    def forward(self, x: np.ndarray, training: bool = False) -> np.ndarray:
        """``activation(conv(x) + bias)`` for ``x`` of shape (batch, h, w, channels)."""
        B, H, W, C = x.shape
        (kh, kw), (sh, sw), F = self.kernel_size, self.strides, self.filters
        (Ho, top, bottom), (Wo, left, right) = self._geometry(H, W)
        # mixed precision: float16 activations, float32 products and sums (as Dense)
        dt = np.float32 if self._mixed else x.dtype
        xp = padded(x, (top, bottom, left, right), 0)
        # (batch, Ho, Wo, C, kh, kw): the patch under every output pixel, no copy
        patches = sliding_window_view(xp, (kh, kw), axis=(1, 2))[:, : sh * (Ho - 1) + 1 : sh, : sw * (Wo - 1) + 1 : sw]
        cols = self._buffer("cols", (kh * kw * C, B * Ho * Wo), dt, training)
        # rows (i, j, ch) as the kernel's (kh, kw, in) axes; columns (b, r, c)
        # with c innermost, so the copy runs along image rows
        np.copyto(cols.reshape(kh, kw, C, B, Ho, Wo), patches.transpose(4, 5, 3, 0, 1, 2))
        z = np.matmul(self.Wm.reshape(-1, F).T, cols, out=self._buffer("z", (F, B * Ho * Wo), dt, training))
        if self.bm is not None:
            z += self.bm[:, None]
        if self._mixed:
            z = z.astype(np.float16)
        z = z.reshape(F, B, Ho, Wo).transpose(1, 2, 3, 0)  # channels last, memory channel-major
        a = self.activation.forward(z)
        if training:
            self._cols, self._z, self._a, self._geom = cols, z, a, (x.shape, xp.shape, top, left)
        return a

    def backward(self, dLda: np.ndarray, need_input_grad: bool = True):
        """Write ``dL/dkernel`` (and ``dL/dbias``) into the gradient buffer;
        return ``dL/dx`` (None when ``need_input_grad`` is false)."""
        dLdz = self.activation.backward(dLda, self._z, self._a)
        if self._mixed:
            dLdz = dLdz.astype(np.float32)
        F = self.filters
        # (filters, batch * pixels) in the column order of forward's patches:
        # a view where dLdz is channel-major (from ReLU and pooling), else a copy
        dz = dLdz.transpose(3, 0, 1, 2).reshape(F, -1)
        matmul_nt(self._cols, dz, out=self.dW.reshape(-1, F))
        if self.db is not None:
            dz.sum(axis=1, out=self.db)
        if not need_input_grad:
            return None
        (B, H, W, C), xp_shape, top, left = self._geom
        (kh, kw), (sh, sw), (_, Ho, Wo, _) = self.kernel_size, self.strides, dLdz.shape
        dcols = (self.Wm.reshape(-1, F) @ dz).reshape(kh, kw, C, B, Ho, Wo)
        dxp = np.zeros((C,) + xp_shape[:3], dcols.dtype).transpose(1, 2, 3, 0)
        # each tap (i, j) read xp[:, i + sh*r, j + sw*c]; its gradient goes back
        # there, added, since neighbouring windows overlap (kh*kw steps, not pixels)
        for i, j, view in taps(dxp, (kh, kw), (sh, sw), (Ho, Wo)):
            view += dcols[i, j].transpose(1, 2, 3, 0)
        dx = dxp[:, top : top + H, left : left + W]
        return dx.astype(np.float16) if self._mixed else dx


class Flatten(Layer):
    """``(batch, ...)`` to ``(batch, features)`` in C order: for images,
    Keras's ``(h, w, c)`` order, so a following Dense kernel is Keras's.
    ``data_format`` None or ``'channels_last'`` and ``dtype`` None or
    ``'float32'`` (Keras's defaults) only."""

    flat_input = False

    def output_shape(self, input_shape):
        return (math.prod(input_shape),)

    def __init__(self, data_format=None, name: str | None = None, input_shape=None, trainable: bool = True,
                 dtype=None):  # fmt: skip
        defaults.check("Flatten", data_format=data_format, dtype=dtype)
        self.name = name
        self.input_shape = first_shape(input_shape)
        self.trainable = trainable  # no weights: kept for Keras's API and the saved config

    def get_config(self):
        return {"name": self.name, "trainable": self.trainable}

    def forward(self, x: np.ndarray, training: bool = False) -> np.ndarray:
        self._shape = x.shape
        return x.reshape(len(x), math.prod(x.shape[1:]))

    def backward(self, dLdy: np.ndarray, need_input_grad: bool = True):
        return dLdy.reshape(self._shape) if need_input_grad else None
