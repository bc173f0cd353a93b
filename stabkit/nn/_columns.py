"""Skip the input columns that are zero in a whole batch (first layer only).

An input column that is zero in every row of a batch adds nothing to ``x @
kernel`` and gets a zero row in ``dL/dkernel = x.T @ dL/dz``. MNIST has many:
its border pixels are zero in most images, so a random batch of 256 leaves
~30% of the 784 columns zero, and 120 are zero in all 8,000 training images.

Gathering the nonzero columns of every batch costs more than the two
matmuls save (measured with one BLAS thread: +10 us a step at batch 32, +28
us at 256), so ``fit`` builds a :class:`ColumnPlan` once: a copy of the
training inputs with their columns reordered from the most often zero to the
least (globally zero columns first; for 8,000 MNIST images 25 MB, built in
~9 ms with the estimate below).
In that order a batch's zero columns are mostly a prefix, and the step
gathers the batch's rows of the copy and multiplies their columns from ``lo``
on (a view) by the kernel rows ``order[lo:]`` (``lo``: the batch's first
nonzero column in the new order, found for all batches of an epoch with one
``minimum.reduceat``). The step pays a gather
of those kernel rows and a scatter of their gradient rows; the plan is used
only where the skipped multiply-adds outweigh that and the copy
(:func:`plan`): on MNIST with the lecture network, batch 256 for 7 epochs or
more, batch 128 for 10 or more, never batch 32 (it skips ~200 of 784
columns there, 26%, and would only break even).
"""

from __future__ import annotations

import numpy as np

__all__ = ["ColumnPlan", "plan"]

#: costs in multiply-adds, measured with one OpenBLAS thread (float32, the
#: lecture network on 2 AMD EPYC cores): copying one element of a kernel or
#: gradient row costs ~11 multiply-adds (PER_COPY leaves a margin), gathering
#: one element of the reordered inputs (once per fit) ~40.
PER_COPY = 16
PER_GATHERED = 40
#: rows of the inputs used to estimate how many columns a batch skips
SAMPLE_ROWS = 1024


class ColumnPlan:
    """``X`` with its columns in ``order``, and for each row the position of
    its first nonzero column in that order (``d`` for an all-zero row)."""

    def __init__(self, X: np.ndarray, order: np.ndarray):
        self.order = order
        # the indices are in range: mode="clip" skips the bounds check (2x faster)
        self.X = np.take(X, order, axis=1, mode="clip")
        nonzero = self.X != 0
        self.first = np.where(nonzero.any(axis=1), np.argmax(nonzero, axis=1), X.shape[1])

    def starts(self, order: np.ndarray, batch_size: int) -> np.ndarray:
        """``lo`` for every batch of an epoch whose samples come in ``order``."""
        return np.minimum.reduceat(self.first[order], np.arange(0, len(order), batch_size))


def _column_order(X: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Columns by how often they are nonzero (fewest first), and the first
    nonzero position in that order of each row of a strided sample of rows."""
    counts = (X != 0).view(np.uint8).sum(axis=0, dtype=np.int32 if len(X) < 2**31 else np.int64)  # 5x faster than count_nonzero
    order = np.argsort(counts, kind="stable")
    nonzero = X[:: max(1, len(X) // SAMPLE_ROWS)][:, order] != 0
    first = np.where(nonzero.any(axis=1), np.argmax(nonzero, axis=1), X.shape[1])
    return order, first


def plan(X: np.ndarray, batch_size: int, units: int, epochs: int, force: bool = False) -> ColumnPlan | None:
    """A :class:`ColumnPlan` for training on ``X`` if it saves time, else None.

    Per step the plan saves ``2 b (d - k) u`` multiply-adds (forward and
    weight gradient; ``k`` columns kept, ``u`` units) and copies ``(k + d) u``
    elements; once per fit it gathers ``n d``. ``k`` is estimated from 64
    batches drawn from a sample of the rows. ``force`` skips the estimate.
    """
    n, d = X.shape
    if not force and (2 * batch_size < PER_COPY or n * d == 0):
        return None
    order, first = _column_order(X)
    if not force:
        draws = np.random.default_rng(0).integers(0, len(first), (64, min(batch_size, n)))
        k = d - first[draws].min(axis=1).mean()
        steps = epochs * -(-n // batch_size)
        per_step = 2 * min(batch_size, n) * (d - k) * units - PER_COPY * (k + d) * units
        if steps * per_step <= PER_GATHERED * n * d:
            return None
    return ColumnPlan(X, order)
