"""``axis`` as an int, a tuple or None, for the row-wise functions.

Every tier's core computes along one int axis. A tuple of axes (or None: all
of them) is handled by moving those axes to the end and merging them into one
"row" axis, computing along it, and undoing the move: exactly what
``scipy.special.softmax(x, axis=(0, 1))`` and ``jax.nn.logsumexp(x, axis=None)``
mean, with no arithmetic of its own. The rows reach the core in C order, so
the same values give the same bits whatever their memory layout (a copy only
for inputs whose rows are not already contiguous).
"""

from __future__ import annotations

import operator

import numpy as np

__all__ = ["Rows", "normalize_axes"]


def normalize_axes(axis, ndim: int, name: str = "axis") -> tuple[int, ...]:
    """``axis`` (int, tuple of ints, or None) as sorted non-negative axes;
    ValueError for an out-of-range or repeated axis, TypeError for a
    non-integer one."""
    if type(axis) is int and -ndim <= axis < ndim:  # the common call: one valid int
        return (axis % ndim,)
    if axis is None:
        return tuple(range(ndim))
    items = axis if isinstance(axis, (tuple, list)) else (axis,)
    out = []
    for ax in items:
        try:
            # a bool is an int to Python, but axis=True is a slip (keepdims?):
            # refused, as NumPy's reductions refuse it
            if isinstance(ax, (bool, np.bool_)):
                raise TypeError
            ax = operator.index(ax)
        except TypeError:
            raise TypeError(f"{name} must be an int, a tuple of ints or None, got {axis!r}") from None
        if not -ndim <= ax < ndim:
            # NumPy's own error (a ValueError and an IndexError), as SciPy raises
            raise np.exceptions.AxisError(f"{name} {ax} is out of bounds for an array of dimension {ndim}")
        out.append(ax % ndim)
    if len(set(out)) != len(out):
        raise ValueError(f"{name} {axis!r} repeats an axis")
    return tuple(sorted(out))


class Rows:
    """``a`` with the axes ``axes`` merged into one last axis.

    ``rows`` is the rearranged array, C-contiguous (``a`` itself in the
    common call: the last axis of a C-ordered array);
    :meth:`spread` puts an array of ``rows``' shape back in ``a``'s layout and
    :meth:`reduced` does the same for one value per row (``keepdims`` keeps
    the merged axes with length 1, as NumPy's reductions do).
    """

    def __init__(self, a: np.ndarray, axis, name: str = "axis"):
        self.shape = a.shape
        self.axes = normalize_axes(axis, a.ndim, name)
        self.simple = len(self.axes) == 1 and self.axes[0] == a.ndim - 1
        if self.simple:  # the common call: nothing moves
            self.rows = _contiguous(a)
            return
        rest = [d for d in range(a.ndim) if d not in self.axes]
        moved = np.transpose(a, rest + list(self.axes))
        self.rest_shape = tuple(a.shape[d] for d in rest)
        self.order = rest + list(self.axes)
        n = 1
        for d in self.axes:
            n *= a.shape[d]
        # no axes at all (axis=()): every element is its own row of length 1
        self.rows = _contiguous(moved.reshape(self.rest_shape + (n,)))

    def spread(self, y: np.ndarray) -> np.ndarray:
        """An array shaped like ``rows`` back in the input's layout."""
        if self.simple:
            return y
        moved_shape = tuple(self.shape[d] for d in self.order)
        return np.transpose(y.reshape(moved_shape), np.argsort(self.order))

    def reduced(self, y: np.ndarray, keepdims: bool) -> np.ndarray:
        """One value per row (shape ``rows.shape[:-1]``) in the input's layout
        without the merged axes, or with them kept as length 1."""
        if not keepdims:
            return y
        shape = tuple(1 if d in self.axes else n for d, n in enumerate(self.shape))
        return y.reshape(shape)


def _contiguous(rows: np.ndarray) -> np.ndarray:
    """``rows`` in C order: a copy only if they are not already.

    NumPy sums a row in a different order when it is strided (np.add.reduce
    along a non-contiguous axis) than when it is contiguous (pairwise), so
    the naive and stable tiers' last bits would depend on the memory layout:
    ``softmax(x, axis=0)`` would differ from ``softmax(x.T.copy()).T``, and a
    transposed torch tensor from the same values in a fresh array."""
    return rows if rows.flags.c_contiguous else np.ascontiguousarray(rows)
