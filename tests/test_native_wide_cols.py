"""The float32 fast passes across rows (``_wide_fast_cols.h``): softmax,
log-softmax, logsumexp and the sparse and categorical cross-entropies of
rows of 17 to 64 columns, eight rows side by side, one per lane.

Its claim is the NumPy path's bits, as for the row-by-row fast pass
(tests/test_native_wide_fast.py): every width it takes and those beside
it, row counts that leave a partial group of eight, rows that are views
with a longer stride, and the rows it must hand to the row pass (NaN,
masked entries, ties at the maximum, maxima past the unshifted range,
tie_rows' case, sums under the floor); and it does take ordinary rows.
"""

from __future__ import annotations

import numpy as np
import pytest
from helpers.bits import same_bits
from helpers.native import each_path

import stabkit
from stabkit._native import narrowrows, widerows
from stabkit._native import rows as native

needs_c = pytest.mark.skipif(native.library() is None or narrowrows.narrow_status() != "native",
                             reason="the wide-row kernel is not built or its NumPy loops were not found here")

KINDS = ("normal", "small", "spread", "integers", "masked", "offset", "nan", "one hot", "floor")


def _rows(kind: str, rng, rows: int, n: int) -> np.ndarray:
    z = rng.standard_normal((rows, n))
    if kind == "normal":
        return z * 5
    if kind == "small":
        return z * 1e-3
    if kind == "spread":
        return z * 300
    if kind == "integers":  # ties, at the maximum too
        return np.round(z * 2)
    if kind == "masked":
        z = z * 5
        z[rng.random(z.shape) < 0.1] = -np.inf
        z[:, 0] = 1.0
        return z
    if kind == "offset":  # maxima on both sides of [-600, 650]
        return z * 5 + rng.choice([0.0, 640.0, 660.0, -590.0, -620.0, 1e4], (rows, 1))
    if kind == "nan":
        z = z * 5
        z[rng.random(z.shape) < 0.02] = np.nan
        return z
    if kind == "one hot":  # one entry far above the rest: L tiny, tie_rows' case for some
        z = np.full((rows, n), -30.0) + z * 1e-3
        z[np.arange(rows), rng.integers(0, n, rows)] = rng.uniform(0.0, 600.0, rows)
        return z
    # sums under the fast pass's floor: every entry but the maximum 700-900 below it
    z = -rng.uniform(700.0, 900.0, (rows, n))
    z[:, 3] = 0.0
    return z


def _soft(rng, lab: np.ndarray, n: int) -> np.ndarray:
    """Soft labels: Dirichlet rows with a fifth of their entries 0, one-hot
    rows at ``lab`` and all-zero rows."""
    y = rng.dirichlet(np.ones(n), size=lab.size)
    y[rng.random(y.shape) < 0.2] = 0.0
    y[::3] = np.eye(n)[lab[::3]]
    y[1::7] = 0.0
    return y.astype(np.float32)


def _public(x: np.ndarray, lab: np.ndarray, y: np.ndarray) -> list:
    """The five functions on both paths: (fast, slow) pairs."""
    with np.errstate(all="ignore"):
        return [each_path(stabkit.softmax, x, axis=-1), each_path(stabkit.log_softmax, x, axis=-1),
                each_path(stabkit.logsumexp, x, axis=-1),
                each_path(stabkit.sparse_categorical_crossentropy, lab, x, from_logits=True),
                each_path(stabkit.categorical_crossentropy, y, x, from_logits=True)]


def _kernels(x: np.ndarray, lab: np.ndarray, y: np.ndarray) -> list:
    """The kernels on ``x`` itself (any row stride): (values, redo) of
    softmax and log-softmax into float32, and logsumexp, the log-softmax at
    the labels and the categorical loss as the float64 values the caller
    rounds to float32."""
    out = []
    with np.errstate(all="ignore"):
        for kernel in (widerows.wide_softmax, widerows.wide_log_softmax):
            got, redo = kernel(x, False, np.empty(x.shape, np.float32))
            out.append((got, redo))
        for kw in ({"lse": True}, {"cols": lab}):
            *_, redo, got = widerows.wide(x, False, rounded="float32", **kw)
            out.append((got.astype(np.float32), redo != 0))
        got, redo = widerows.wide_ce32(x, y)
        out.append((got.astype(np.float32), redo))
    return out


@needs_c
@pytest.mark.parametrize("kind", KINDS)
def test_every_width_has_the_numpy_paths_bits(kind):
    rng = np.random.default_rng(len(kind))
    for n in range(15, 67):
        rows = int(rng.integers(1, 30))
        x = _rows(kind, rng, rows, n).astype(np.float32)
        lab = rng.integers(0, n, rows)
        lab[::2] = np.argmax(np.nan_to_num(x[::2], nan=-np.inf), axis=1)  # the label at the maximum
        y = _soft(rng, lab, n)
        pairs = _public(x, lab, y)
        for fast, slow in pairs:
            same_bits(fast, slow)
        if n > 16:  # a view whose rows lie 4 (n + 5) bytes apart, straight into the kernels
            view = np.concatenate([x, x[:, :5]], axis=1)[:, :n]
            want = [pairs[0][1], pairs[1][1], pairs[2][1], -pairs[3][1], pairs[4][1]]
            for (got, redo), w in zip(_kernels(view, lab, y), want):
                same_bits(got[~redo], np.asarray(w)[~redo])


@needs_c
@pytest.mark.parametrize("n", [17, 21, 40, 64])
def test_ordinary_rows_take_the_fast_pass(n):
    rng = np.random.default_rng(n)
    x = (rng.standard_normal((1003, n)) * 5).astype(np.float32)
    lab = rng.integers(0, n, x.shape[0])
    for kernel in (widerows.wide_softmax, widerows.wide_log_softmax):
        count = np.zeros(1, np.int64)
        _, redo = kernel(x, False, np.empty_like(x), fast=count)
        assert not redo.any() and count[0] >= 0.99 * x.shape[0], kernel
    for kw in ({"lse": True}, {"cols": lab}):
        count = np.zeros(1, np.int64)
        widerows.wide(x, False, rounded="float32", fast=count, **kw)
        assert count[0] >= 0.99 * x.shape[0], kw
    y = _soft(rng, lab, n)
    count = np.zeros(1, np.int64)
    widerows.wide_ce32(x, y, fast=count)
    assert count[0] >= 0.99 * x.shape[0]
    for fast, slow in _public(x, lab, y):
        same_bits(fast, slow)
