"""Rows masked down to one finite entry (every other one -inf), which the
row kernels hand back to NumPy: their logsumexp and log-softmax are formed
directly (stabkit._accurate.wide.one_live), with the bits the NumPy path's
``Rows`` gives, beside rows that only look alike (two live entries, a NaN or
+inf live entry, an all -inf row, far finite entries whose exp underflows)."""

from __future__ import annotations

import ml_dtypes
import numpy as np
import pytest
from helpers.bits import same_bits
from helpers.native import each_path

import stabkit
from stabkit._accurate import wide


def _rows(n: int, dtype) -> np.ndarray:
    rng = np.random.default_rng(n)
    live = [-0.0, 0.0, 1e-40, -1e-40, 3e38, -3e38, 3.5, -700.0, 0.25]
    x = np.full((len(live) + 6, n), -np.inf)
    cols = rng.integers(0, n, x.shape[0])
    for i, v in enumerate(live):
        x[i, cols[i]] = v
    k = len(live)
    x[k, :2] = [1.0, 2.0]  # two live entries
    x[k + 1, cols[k + 1]] = np.nan
    x[k + 2, cols[k + 2]] = np.inf
    # x[k + 3]: all -inf
    x[k + 4, :] = -2000.0
    x[k + 4, 0] = 0.0  # the others finite, their exp 0 in float64
    x[k + 5, -1] = 0.5  # one live entry, in the last column
    with np.errstate(over="ignore"):  # 3e38 and -2000 overflow float16: inf rows, another edge
        return np.concatenate([x, rng.standard_normal((5, n))]).astype(dtype)


@pytest.mark.parametrize("n", [3, 16, 17, 40, 1000])
@pytest.mark.parametrize("dtype", [np.float64, np.float32, np.float16, ml_dtypes.bfloat16])
def test_the_same_bits_as_the_numpy_path(n, dtype):
    x = _rows(n, dtype)
    with np.errstate(all="ignore"):
        for fn in (stabkit.logsumexp, stabkit.log_softmax):
            fast, slow = each_path(fn, x, axis=-1)
            same_bits(fast, slow)


def test_which_rows_are_picked():
    x = _rows(40, np.float64)
    assert wide.one_live(x).tolist() == [True] * 9 + [False] * 5 + [True] + [False] * 5
    lp = stabkit.log_softmax(x[:9], axis=-1)
    assert np.all((lp == 0) | (lp == -np.inf)) and np.all((lp == 0).sum(axis=-1) == 1)
    assert not np.signbit(lp[lp == 0]).any()
    same_bits(stabkit.logsumexp(x[:9], axis=-1), np.array([0.0, 0.0, 1e-40, -1e-40, 3e38, -3e38, 3.5, -700.0, 0.25]))
