"""The float64 targets' sums across rows (``_wide_exact_cols.h``): the
logsumexp, the log-softmax and the sparse and categorical cross-entropies
from logits of contiguous float64 rows of 17 to 64 columns, eight rows side
by side, one per lane, with NumPy's exp and log1p loops called once per
eight rows.

Its claim is the row path's bits, which are the NumPy path's: every width
it takes and those beside it (16, the narrow kernel; 65 and 66, the row
path), every family of tests/helpers/logits.py (huge offsets, ties, masked
entries, winners far ahead, subnormal terms, cancelling rows, signed zeros,
NaN and inf), row counts that leave a partial group, rows with a longer
stride (taken) and entries with one (not); and it does take ordinary rows
and hands the others to the row path.
"""

from __future__ import annotations

import numpy as np
import pytest
from helpers.bits import same_bits
from helpers.logits import KINDS, logits
from helpers.native import each_path

import stabkit
from stabkit._native import narrowrows, widerows
from stabkit._native import rows as native

needs_c = pytest.mark.skipif(native.library() is None or narrowrows.narrow_status() != "native",
                             reason="the wide-row kernel is not built or its NumPy loops were not found here")


def _both(x: np.ndarray, lab: np.ndarray, axis: int = -1) -> None:
    n = x.shape[axis]
    y = np.random.default_rng(n).dirichlet(np.ones(n), size=lab.shape)
    y[y < 0.3 / n] = 0.0  # zero labels, at masked logits too
    y = np.moveaxis(y, -1, axis)
    for fn, args, kw in ((stabkit.logsumexp, (x,), {"axis": axis}), (stabkit.log_softmax, (x,), {"axis": axis}),
                         (stabkit.sparse_categorical_crossentropy, (lab, x), {"from_logits": True, "axis": axis}),
                         (stabkit.categorical_crossentropy, (y, x), {"from_logits": True, "axis": axis})):
        with np.errstate(all="ignore"):
            fast, slow = each_path(fn, *args, **kw)
        same_bits(fast, slow)


@needs_c
@pytest.mark.parametrize("kind", KINDS)
def test_every_width_gives_the_numpy_paths_bits(kind):
    for n in range(16, 67):
        rng = np.random.default_rng([KINDS.index(kind), n, 64])
        x = logits(kind, rng, 21, n)  # two groups of eight and a partial one
        _both(x, rng.integers(0, n, 21))


@needs_c
@pytest.mark.parametrize("rows", [1, 7, 8, 9, 100])
def test_partial_groups_views_and_other_axes(rows):
    rng = np.random.default_rng(rows)
    base = logits("normal", rng, 3 * rows, 80) + rng.choice([0.0, 1e4], (3 * rows, 1))
    lab = rng.integers(0, 17, rows)
    _both(base[::3, :40], lab)  # rows with a longer stride: taken
    _both(base[:rows, ::2][:, :33], lab)  # entries with a stride: the row path
    _both(np.ascontiguousarray(base[:rows, :21].T), lab[:rows], axis=0)


@needs_c
def test_ordinary_rows_are_taken_and_the_others_handed_on():
    """wide()'s fast count is the number of rows the pass took: all of a
    block of ordinary rows; not a row holding a NaN, +inf or a masked -inf
    entry (the row path's masks), nor one whose sum falls under
    sum_split's floor (a winner 50 ahead) or Rows.sums' subnormal floor
    (800 ahead), nor rows whose entries are not contiguous."""
    rng = np.random.default_rng(7)
    x = rng.standard_normal((100, 30)) * 5
    fast = np.zeros(1, np.int64)
    m, L, redo, out = widerows.wide(x, True, lse=True, fast=fast)
    assert fast[0] == 100 and not redo.any()
    same_bits(out, stabkit.logsumexp(x, axis=-1))
    x[5, 3], x[6, 4], x[7, 5] = np.nan, np.inf, -np.inf
    x[8, 0] = x[8].max() + 50.0
    x[9, 0] = x[9].max() + 800.0
    fast[0] = 0
    widerows.wide(x, True, lse=True, fast=fast)
    assert fast[0] == 95
    fast[0] = 0
    widerows.wide(np.asfortranarray(x), True, lse=True, fast=fast)
    assert fast[0] == 0
    # the log-softmax's pass takes the same rows
    fast[0] = 0
    lp, redo = widerows.wide_log_softmax(x, True, None, fast=fast)
    assert fast[0] == 95
    with np.errstate(all="ignore"):
        same_bits(lp[~redo], stabkit.log_softmax(x, axis=-1)[~redo])
    _both(x, rng.integers(0, 30, 100))
