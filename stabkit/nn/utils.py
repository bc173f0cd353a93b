"""Keras's ``keras.utils``, the part a classifier needs: ``to_categorical`` and
``set_random_seed`` (from :mod:`stabkit.nn.seeding`)."""

from __future__ import annotations

import numpy as np

from .errors import NNError
from .seeding import set_random_seed

__all__ = ["to_categorical", "set_random_seed"]


def to_categorical(x, num_classes: int | None = None) -> np.ndarray:
    """One-hot rows from class indices, Keras's ``keras.utils.to_categorical``.

    ``x`` (class indices: integers, bools or whole floats) of shape ``s``
    gives an array of shape ``s + (num_classes,)`` holding 1 at each index
    and 0 elsewhere, in float64 as Keras 3 returns it for NumPy input; a
    trailing axis of length 1 is dropped first, as Keras drops it
    (``(n, 1)`` gives ``(n, num_classes)``). ``num_classes`` None means
    ``max(x) + 1``, as in Keras.

    Where Keras wraps a negative index (``-1`` becomes the last class),
    truncates ``1.7`` to 1 or fails inside NumPy, this raises one NNError (a
    ValueError) naming the first bad entry; a dtype that holds no numbers is
    a TypeError.

    >>> to_categorical([0, 2, 1])
    array([[1., 0., 0.],
           [0., 0., 1.],
           [0., 1., 0.]])
    """
    if num_classes is not None and (isinstance(num_classes, bool) or not isinstance(num_classes, (int, np.integer))
                                    or num_classes < 1):  # fmt: skip
        raise NNError(f"num_classes must be a positive integer or None, got {num_classes!r}")
    a = np.asarray(x)
    if a.dtype.kind not in "biuf":
        raise TypeError(f"to_categorical takes class indices (integers), got an array of dtype {a.dtype}")
    if a.ndim > 1 and a.shape[-1] == 1:
        a = a[..., 0]
    if a.size == 0 and num_classes is None:
        raise NNError("to_categorical cannot infer num_classes from no labels; pass num_classes")
    whole = np.isfinite(a) & (a == np.round(a)) if a.dtype.kind == "f" else np.ones(a.shape, bool)
    n = int(num_classes) if num_classes is not None else int(a[whole].max(initial=0)) + 1
    bad = ~whole | (a < 0) | (a >= n)
    if bad.any():
        at = tuple(int(i) for i in np.argwhere(bad)[0])
        where, v = f"x[{', '.join(map(str, at))}]" if at else "x", a[at].item()
        why = ("is not a whole number; class indices are integers from 0" if not whole[at] else
               "is negative; class indices start at 0 (Keras would wrap it to the last class)" if v < 0 else
               f"is past the last class, {n - 1}; raise num_classes")  # fmt: skip
        raise NNError(f"to_categorical: {where} = {v!r} {why}")
    out = np.zeros((a.size, n))
    out[np.arange(a.size), a.reshape(-1).astype(np.int64)] = 1
    return out.reshape(a.shape + (n,))
