"""The float64 wide rows below sum_split's floor (_sum2.h).

A float64 row whose terms without the maximum sum below ``n**2 2**-39``
(logits spread far apart: standard deviation 10 or more over 1000 columns)
is summed again by ``eft.sum2``. The wide-row kernel used to hand such rows
back to the NumPy path, some 200 us a row; it now forms the same ``sum2``
itself. Checked here:

- the kernel's ``sum2`` against ``eft.sum2`` (its halving ``sum2_from``
  below 17 terms), both halves of the pair bit for bit, over every width
  up to 70 and widths around NumPy's pairwise block
  and the 16-term cut-over of the error sums, on terms of every size (one
  order of addition changed would move ``lo``);
- such rows stay in the kernel (none handed back) and keep the NumPy path's
  bits in the five row-wise functions;
- rows below the subnormal floor ``n 2**-1020`` are still handed back.
"""

from __future__ import annotations

import numpy as np
import pytest
from helpers.bits import same_bits
from helpers.native import each_path

import stabkit
from stabkit._accurate.eft import NARROW, sum2, sum2_from
from stabkit._native import narrowrows, widerows
from stabkit._native import rows as native

needs_c = pytest.mark.skipif(native.library() is None or narrowrows.narrow_status() != "native",
                             reason="the wide-row kernel is not built or its NumPy loops were not found here")

WIDTHS = (*range(1, 71), 127, 128, 129, 255, 256, 257, 999, 1000, 1001, 4097)


def _terms(kind: str, rng, n: int) -> np.ndarray:
    """Non-negative terms as the rows' exp(d) give them, and harder ones."""
    if kind == "uniform":
        return rng.random(n)
    if kind == "spread":  # exp of a row 20-60 below its maximum
        return np.exp(-rng.uniform(20.0, 60.0, n) - rng.standard_normal(n) * 10)
    if kind == "magnitudes":  # 1e-300 to 1: most additions lose the smaller term
        return 10.0 ** rng.uniform(-300.0, 0.0, n)
    if kind == "subnormal":
        return rng.integers(0, 2**20, n) * 5e-324
    if kind == "zeros":
        t = rng.random(n) * 2.0**-40
        t[rng.random(n) < 0.5] = 0.0
        return t
    # "ties": equal terms, whose halvings are exact until they are not
    return np.full(n, rng.choice([1.0, 0.1, 2.0**-30 / 3]))


@needs_c
@pytest.mark.parametrize("kind", ["uniform", "spread", "magnitudes", "subnormal", "zeros", "ties"])
def test_the_kernels_sum2_is_eft_sum2(kind):
    rng = np.random.default_rng(len(kind))
    for n in WIDTHS:
        for _ in range(3):
            e = _terms(kind, rng, n)
            # eft.sum2 itself past NARROW columns (the only widths the wide
            # kernel sees); its halving, sum2_from, on the narrower ones too
            want_hi, want_lo = sum2(e[None, :]) if n > NARROW else sum2_from(e[None, :], np.zeros(1))
            hi, lo = native.sum2(e)
            same_bits(np.float64(hi), want_hi[0])
            same_bits(np.float64(lo), want_lo[0])


def _spread_rows(rng, n: int, rows: int) -> np.ndarray:
    """Rows whose winner leads the rest by 14 to 60: the sum of the other
    terms falls on both sides of the floor n**2 2**-39."""
    x = rng.standard_normal((rows, n))
    x[:, n // 3] = x.max(axis=-1) + np.linspace(14.0, 60.0, rows)
    return x


def _below_floor(x: np.ndarray) -> np.ndarray:
    """The rows whose terms without the maximum sum below sum_split's floor."""
    d = x - x.max(axis=-1, keepdims=True)
    e = np.exp(d)
    e[np.arange(len(x)), np.argmax(x, axis=-1)] = 0.0
    return e.sum(axis=-1) < x.shape[-1] ** 2 * 2.0**-39


@needs_c
@pytest.mark.parametrize("n", [17, 33, 100, 255, 1000, 1023])
def test_rows_below_the_floor_stay_in_the_kernel_with_the_numpy_bits(n, monkeypatch):
    monkeypatch.delenv("STABKIT_NATIVE", raising=False)
    rng = np.random.default_rng(n)
    x = _spread_rows(rng, n, 300)
    below = _below_floor(x)
    assert 30 < np.count_nonzero(below) < 290  # both sides of the floor
    # the kernel keeps every row: lse, the label's log-probability, the
    # log-softmax and the categorical loss
    lab = rng.integers(0, n, len(x))
    y = rng.dirichlet(np.ones(n), size=len(x))
    assert not widerows.wide(x, True, lse=True)[2].any()
    assert not widerows.wide(x, True, cols=lab)[2].any()
    assert not widerows.wide_log_softmax(x, True, None)[1].any()
    assert not widerows.wide_ce(x, y)[1].any()
    with np.errstate(all="ignore"):
        for fn, args, kw in ((stabkit.logsumexp, (x,), {"axis": -1}), (stabkit.log_softmax, (x,), {}),
                             (stabkit.sparse_categorical_crossentropy, (lab, x), {"from_logits": True}),
                             (stabkit.categorical_crossentropy, (y, x), {"from_logits": True})):
            same_bits(*each_path(fn, *args, **kw))


@needs_c
def test_rows_below_the_subnormal_floor_are_still_handed_back(monkeypatch):
    """A winner 720 ahead leaves terms near e**-720 ~ 2**-1039: Rows rescales
    them (_tiny_sums), which the kernel leaves to it."""
    monkeypatch.delenv("STABKIT_NATIVE", raising=False)
    rng = np.random.default_rng(3)
    x = rng.standard_normal((6, 200))
    x[:, 0] = x.max(axis=-1) + 720.0
    assert widerows.wide(x, True, lse=True)[2].all()
    assert widerows.wide_log_softmax(x, True, None)[1].all()
    same_bits(*each_path(stabkit.log_softmax, x))
