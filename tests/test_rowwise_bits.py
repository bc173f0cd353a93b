"""The faster spellings in _accurate.eft and _accurate.rows compute exactly what the plain
ones do: the same operations on the same values, so bit for bit the same
results (NaN signs aside)."""

from __future__ import annotations

import numpy as np
import pytest

from stabkit._accurate import eft as _eft
from stabkit._accurate.rows import Rows


def _same(a, b):
    a, b = np.asarray(a), np.asarray(b)
    return np.array_equal(a, b, equal_nan=True) and np.array_equal(np.signbit(a[~np.isnan(a)]), np.signbit(b[~np.isnan(b)]))


def _rows(seed, n_rows, n, specials=True):
    rng = np.random.default_rng(seed)
    a = rng.standard_normal((n_rows, n)) * 10.0 ** rng.integers(-30, 30, (n_rows, 1))
    if specials:
        m = rng.random(a.shape)
        a[m < 0.02] = np.inf
        a[(m > 0.02) & (m < 0.04)] = -np.inf
        a[(m > 0.04) & (m < 0.05)] = np.nan
        a[(m > 0.05) & (m < 0.1)] = 0.0
        a[(m > 0.1) & (m < 0.15)] = -0.0
    return a


def _sum2_strided(a):
    # sum2's narrow loop as first written: strided columns, fresh arrays
    hi, lo = a[:, 0].copy(), np.zeros(a.shape[0])
    for j in range(1, a.shape[-1]):
        col = a[:, j]
        s = hi + col
        lo += _eft.two_sum_err(hi, col, s)
        hi = s
    return _eft.normalized(hi, np.where(np.isfinite(hi), lo, 0.0))


@pytest.mark.parametrize("n", [1, 2, 3, 10, 16])
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_sum2_narrow_matches_the_strided_loop(n, dtype):
    a = _rows(n, 300, n).astype(dtype)
    with np.errstate(all="ignore"):
        got, want = _eft.sum2(a), _sum2_strided(a)
    assert _same(got[0], want[0]) and _same(got[1], want[1])


@pytest.mark.parametrize("uniform", [True, False])
def test_extraction_with_a_sigma_column_matches_the_broadcast(uniform):
    t = _rows(7, 50, 300, specials=False)
    sigma = np.full((50, 1), 2.0**12) if uniform else np.ldexp(1.0, np.arange(50) % 7 + 10)[:, None]
    q, rest = np.empty_like(t), np.empty_like(t)
    got = _eft._extract_sums(t, sigma, q, rest)
    q2 = (t + sigma) - sigma
    want = _eft.normalized(np.sum(q2, axis=-1), np.sum(t - q2, axis=-1))
    assert _same(got[0], want[0]) and _same(got[1], want[1])


@pytest.mark.parametrize("n", [1, 2, 5, 16])
@pytest.mark.parametrize("exact", [True, False])
def test_narrow_row_sums_match_the_mask_loop(n, exact):
    x = _rows(n + 100, 500, n)
    x[::5, : max(1, n // 2)] = 3.0  # ties
    x[1::7] = -0.0
    with np.errstate(all="ignore"):
        rows = Rows(x, exact)
        got = rows._sums()
        # the plain spelling: a boolean mask, a count column by column
        d, e = rows.d, rows.e
        below = d < 0
        ties = np.full(x.shape[0], n - 1.0)
        for j in range(n):
            ties -= below[:, j]
        below = np.multiply(e, below)
        if exact:
            s_hi, s_lo = _sum2_strided(below)
            t = s_hi + ties
            want = (t, s_lo + _eft.two_sum_err(s_hi, ties, t) + rows.residual_sum())
        else:
            want = (_eft.rowsum(below) + ties, 0.0)
    keep = ~rows.special  # NaN / inf rows are patched by the callers
    assert _same(got[0][keep], want[0][keep])
    assert _same(np.broadcast_to(got[1], keep.shape)[keep], np.broadcast_to(want[1], keep.shape)[keep])


@pytest.mark.parametrize("n", [3, 40])
def test_shift_with_spelled_out_minus_m_matches_the_broadcast(n):
    x = _rows(n, 200, n)
    with np.errstate(all="ignore"):
        rows = Rows(x, True)
        ms = np.where(np.isfinite(rows.m), rows.m, 0.0)[:, None]
        d = x - ms
        r = _eft.two_sum_err(x, -ms, d)
    assert _same(rows.d, d) and _same(rows.r, r)
