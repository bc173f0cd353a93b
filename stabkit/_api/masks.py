"""``where=``, the mask of the row-wise functions (softmax, log-softmax,
logsumexp): checked and broadcast once per call, its masked entries filled
(``-inf`` logits, weight 0 in the sum), and the rows it masks whole kept
from the cores' arithmetic.

A row masked whole is an empty sum: softmax 0, log-softmax and logsumexp
-inf, sign 0 (jax.nn's values, and SciPy's logsumexp with ``b = 0``). Given
to a core as a row of ``-inf`` it would compute 0/0 or ``-inf - -inf`` and
``log(0)``, with NumPy's invalid and divide warnings for a value that the
wrapper overwrites anyway; so the core sees harmless numbers in such a row
(:func:`revived`) and the wrapper writes the empty sum's value over its
result. Every other row reaches the core as before, its warnings included
(the naive tier's overflow is its lesson).
"""

from __future__ import annotations

import numpy as np

from .arrays import to_numpy
from .axes import normalize_axes

__all__ = ["where_mask", "filled", "filled_float", "dead_rows", "revived", "empty_sums"]


def where_mask(where, shape: tuple) -> np.ndarray | None:
    """``where`` as a boolean mask broadcast to ``shape`` (None for none);
    TypeError for a mask that is not boolean, ValueError for one that does
    not broadcast."""
    if where is None:
        return None
    w, _ = to_numpy(where, "where")
    if w.size == 0 and isinstance(where, (list, tuple)):
        w = w.astype(np.bool_)  # NumPy reads an empty list as float64
    if w.dtype != np.bool_:
        raise TypeError(f"where must be a boolean mask, got dtype {w.dtype}")
    try:
        return np.broadcast_to(w, shape)
    except ValueError:
        raise ValueError(f"where has shape {w.shape}, which does not broadcast to the input's {shape}") from None


def filled(a: np.ndarray, w: np.ndarray | None, fill: float) -> np.ndarray:
    """``a`` with the entries where the mask ``w`` (:func:`where_mask`) is
    False replaced by ``fill``."""
    if w is None:
        return a
    return np.where(w, a, np.asarray(fill).astype(a.dtype))


def filled_float(a: np.ndarray, w: np.ndarray | None, fill: float) -> np.ndarray:
    """:func:`filled`, integers made float64 first (as the cores would make
    them, so that ``-inf`` fits)."""
    if w is None:
        return a
    if a.dtype.kind in "biu":
        a = a.astype(np.float64)
    return filled(a, w, fill)


def dead_rows(w: np.ndarray | None, axis, rows: np.ndarray) -> np.ndarray | None:
    """One bool per row of ``rows`` (the wrapper's rows of the masked input
    along ``axis``): True for a row that the mask ``w`` leaves empty; None
    where there is no mask, no such row, or the rows are empty themselves
    (an empty sum with or without a mask: the cores' own convention)."""
    if w is None or rows.shape[-1] == 0 or rows.size == 0:
        return None
    w = w.reshape(1) if w.ndim == 0 else w  # a 0-d input is a row of one
    # reduced where it lies (a broadcast mask is not copied): the other axes
    # stay in order, as in Rows.rows
    live = np.logical_or.reduce(w, axis=normalize_axes(axis, w.ndim))
    return None if live.all() else ~live


def revived(rows: np.ndarray, dead: np.ndarray, value: float) -> np.ndarray:
    """``rows`` (a copy) with the rows ``dead`` set to ``value``: the core
    computes them from harmless numbers rather than from a row of -inf, and
    the caller overwrites every one of their results."""
    return np.where(dead[..., None], np.asarray(value).astype(rows.dtype), rows)


def empty_sums(out, dead: np.ndarray, return_sign: bool):
    """A logsumexp core's result (one value per row, or ``(value, sign)``)
    with the rows ``dead`` set to an empty sum's: -inf, and sign 0."""
    if return_sign:
        v, s = (np.asarray(o) for o in out)
        return np.where(dead, np.asarray(-np.inf, v.dtype), v), np.where(dead, np.zeros((), s.dtype), s)
    v = np.asarray(out)
    return np.where(dead, np.asarray(-np.inf, v.dtype), v)
