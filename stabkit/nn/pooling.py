"""``MaxPooling2D``, Keras's, channels last (see :mod:`stabkit.nn.conv`)."""

from __future__ import annotations

import numpy as np

from . import defaults
from .conv import image_shape, padded, padding_mode, pair, taps, window
from .errors import NNError
from .layers import Layer, first_shape

__all__ = ["MaxPooling2D"]


class MaxPooling2D(Layer):
    """The maximum of each ``pool_size`` window, moved by ``strides``
    (``pool_size`` when None), per channel.

    Parameters
    ----------
    pool_size, strides : int or (int, int)
    padding : 'valid' (default) or 'same' (Keras's: ``ceil(size / stride)``
        outputs, the odd pixel of padding at the bottom and right; padding
        never wins a window)
    name : str, optional
    input_shape : the per-sample shape on a first layer (Keras's)
    data_format, dtype : Keras's defaults only (None; ``'channels_last'``,
        ``'float32'``), else NNError naming them

    The gradient of a window goes to its first maximum in row-major order
    (as PyTorch and XLA do), so ties are not counted twice. A NaN in a window
    makes its maximum NaN.
    """

    flat_input = False

    def __init__(self, pool_size=2, strides=None, padding: str = "valid", data_format=None, name: str | None = None,
                 input_shape=None, trainable: bool = True, dtype=None):  # fmt: skip
        defaults.check("MaxPooling2D", data_format=data_format, dtype=dtype)
        self.pool_size = pair(pool_size, "pool_size")
        self.strides = self.pool_size if strides is None else pair(strides, "strides")
        self.padding = padding_mode(padding)
        self.name = name
        self.input_shape = first_shape(input_shape)
        self.trainable = trainable  # no weights: kept for Keras's API and the saved config

    def __repr__(self) -> str:
        return f"MaxPooling2D(pool_size={self.pool_size}, strides={self.strides}, padding={self.padding!r})"

    def get_config(self):
        return {"name": self.name, "pool_size": self.pool_size, "strides": self.strides, "padding": self.padding,
                "trainable": self.trainable}  # fmt: skip

    def _geometry(self, H: int, W: int):
        (ph, pw), (sh, sw) = self.pool_size, self.strides
        if self.padding == "valid" and (H < ph or W < pw):
            raise NNError(f"{self!r}: the {ph}x{pw} window does not fit in {H}x{W} images with padding='valid'")
        return window(H, ph, sh, self.padding), window(W, pw, sw, self.padding)

    def output_shape(self, input_shape):
        H, W, C = image_shape(self, input_shape)
        (Ho, _, _), (Wo, _, _) = self._geometry(H, W)
        return (Ho, Wo, C)

    def forward(self, x: np.ndarray, training: bool = False) -> np.ndarray:
        """The window maxima of ``x`` (batch, h, w, channels), in ``x``'s
        memory order: one strided maximum per window tap, not per pixel."""
        _, H, W, _ = x.shape
        (Ho, top, bottom), (Wo, left, right) = self._geometry(H, W)
        # 'same' pads with -inf: every window holds at least one real pixel
        # (the padding is less than the window), so the padding never wins
        xp = padded(x, (top, bottom, left, right), -np.inf)
        views = taps(xp, self.pool_size, self.strides, (Ho, Wo))
        y = views[0][2].copy(order="K")
        wins = []
        for _, _, v in views[1:]:
            if training:
                # strictly greater: a tie keeps the earlier tap, the first maximum
                wins.append(np.greater(v, y))
            np.maximum(y, v, out=y)
        if training:
            self._wins, self._geom, self._like = wins, (xp.shape, top, left, H, W, Ho, Wo), x
        return y

    def backward(self, dLdy: np.ndarray, need_input_grad: bool = True):
        """``dL/dx``: each window's gradient at its first maximum, zero elsewhere."""
        if not need_input_grad:
            return None
        xp_shape, top, left, H, W, Ho, Wo = self._geom
        if self._wins:
            # the masks have the forward's memory order (the conv's, channel-major);
            # dLdy comes from Flatten in (h, w, c) order: one copy into the
            # masks' order makes the products below run along whole rows
            # (measured: the CNN's step 25% faster)
            g = np.empty_like(self._wins[0], dtype=dLdy.dtype)
            np.copyto(g, dLdy)
            dLdy = g
        (ph, pw), (sh, sw) = self.pool_size, self.strides
        overlap = sh < ph or sw < pw
        # windows that tile the padded image write every pixel once: no zeros needed
        tiled = (ph, pw) == (sh, sw) and (Ho * sh, Wo * sw) == xp_shape[1:3]
        dxp = (np.empty_like if tiled else np.zeros_like)(self._like, shape=xp_shape, dtype=dLdy.dtype)  # in x's memory order
        # the tap that holds a window's first maximum is the last one whose
        # value beat the running maximum (wins[k - 1] for tap k), or tap 0
        later = None  # where a later tap won
        for k, (_, _, view) in reversed(list(enumerate(taps(dxp, self.pool_size, self.strides, (Ho, Wo))))):
            if k == 0:
                mine = None if later is None else ~later
            else:
                won = self._wins[k - 1]
                mine = won if later is None else np.greater(won, later)  # won and not later
                later = won if later is None else later | won
            if overlap:
                view += dLdy if mine is None else dLdy * mine
            elif mine is None:
                view[...] = dLdy
            else:
                np.multiply(dLdy, mine, out=view)
        return dxp[:, top : top + H, left : left + W]
