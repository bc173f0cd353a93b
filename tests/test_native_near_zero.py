"""The C form of near_zero's exact sums (``_near_zero.h``, ``_fsum.h``).

logsumexp of rows of log-probabilities (the result about 1e-17) goes to
:func:`stabkit._accurate.near_zero.lse_near_zero`, whose per-row sums ran
in NumPy and ``math.fsum`` at some 700 ns an entry. The kernel forms the
same five sums per row. Checked here:

- its fsum, both methods (fixed point, Shewchuk's expansion), against
  ``math.fsum`` bit for bit: cancellations, exact midpoints pushed either
  way by a tiny term, zeros of both signs (fsum's +0), subnormal and huge
  inputs (where the fixed point hands over to the expansion);
- the five sums against near_zero's NumPy form bit for bit, over widths on
  both sides of NumPy's pairwise blocks, masked entries, entries below
  X_LOW (dropped), ties for the maximum, rows whose logsumexp is exactly
  tiny down to 1e-300, rows of float32 log-probabilities, and rows past
  2^16 entries (summed in column chunks, the maximum in any of them);
- logsumexp of such rows with the kernels and with ``STABKIT_NATIVE=0``,
  the same bits, and the kernel does run.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
from helpers.bits import same_bits
from helpers.native import each_path
from helpers.numerics import cancelling_logprob_rows

import stabkit
from stabkit._accurate import near_zero as nz
from stabkit._native import nearzero
from stabkit._native import rows as native

needs_c = pytest.mark.skipif(native.library() is None, reason="the row kernels are not built here")


def _fsum_rows(a: np.ndarray, method: int) -> np.ndarray:
    a = np.ascontiguousarray(a, dtype=np.float64)
    out = np.empty(a.shape[0])
    native.library().row_fsum(native._ptr(a), a.shape[0], a.shape[1], method, native._ptr(out))
    return out


def _fsum_cases(rng) -> list[np.ndarray]:
    cases = []
    for k in (1, 2, 3, 7, 31, 44, 100):
        cases.append(rng.standard_normal((300, k)) * 2.0 ** rng.integers(-420, 40, (300, k)))
        b = rng.standard_normal((300, k)) * 2.0 ** rng.integers(-60, 3, (300, k))
        cases.append(np.concatenate([b, -b, rng.standard_normal((300, 2)) * 2.0**-90], axis=1))  # cancels
        c = rng.integers(-(2**53), 2**53, (300, k)).astype(float) * 2.0 ** rng.integers(-80, 5, (300, 1))
        cases.append(c)
    # exact midpoints: 1 + 2^-53 (and 1 + 3 2^-53), pushed either way or not at all
    tiny = rng.choice([0.0, 2.0**-300, -(2.0**-300), 2.0**-120, -(2.0**-120), 2.0**-1000], 600)
    mid = np.stack([np.ones(600), rng.choice([2.0**-53, 3 * 2.0**-53, -(2.0**-54)], 600), tiny], axis=1)
    cases.append(mid)
    cases.append(-mid)
    # zeros of both signs (fsum gives +0), subnormals and huge values (the expansion's)
    cases.append(rng.choice([0.0, -0.0], (200, 5)))
    cases.append(rng.choice([0.0, -0.0, 5e-324, -5e-324, 2.2250738585072014e-308, 1e-310], (300, 6)))
    cases.append(rng.choice([1e300, -1e300, 2.0**60, 1.0, -(2.0**61), 3.0], (300, 4)))
    return cases


@needs_c
@pytest.mark.parametrize("method", [0, 1], ids=["fixed point", "expansion"])
def test_the_kernels_fsum_is_math_fsum(method):
    rng = np.random.default_rng(11 + method)
    for a in _fsum_cases(rng):
        want = np.array([math.fsum(r) for r in a])
        same_bits(_fsum_rows(a, method), want)
    same_bits(_fsum_rows(np.empty((3, 0)), method), np.zeros(3))


def _python_sums(rows: np.ndarray, top: np.ndarray) -> np.ndarray:
    """near_zero's NumPy form of the five sums (its fallback, called directly)."""
    m = rows[np.arange(rows.shape[0]), top]
    vals, left, dropped = nz._row_sums(rows, top)
    tops = nz._top_terms(m)
    S_o = [math.fsum(v) for v in vals]
    Dh = [math.fsum(v + t) for v, t in zip(vals, tops)]
    Dl = [math.fsum(v + t + [-d]) for v, t, d in zip(vals, tops, Dh)]
    return np.stack([S_o, Dh, Dl, left, dropped], axis=-1)


def _log_prob_rows(rng, rows: int, n: int, spread: float) -> np.ndarray:
    z = rng.standard_normal((rows, n)) * spread
    lp = np.asarray(stabkit.log_softmax(z, axis=-1))
    kind = rng.integers(0, 4, rows)
    lp[kind == 1] = np.where(rng.random((int((kind == 1).sum()), n)) < 0.3, -np.inf, lp[kind == 1])
    lp[kind == 2, -1] = -250.0 - rng.random(int((kind == 2).sum())) * 500  # below X_LOW: dropped
    if n > 1:
        lp[kind == 3, 1] = lp[kind == 3].max(axis=-1)  # a tie for the maximum
    return lp


@needs_c
@pytest.mark.parametrize("n", [*range(1, 20), 31, 64, 127, 128, 129, 200, 1000, 2049, 4097])
def test_the_kernels_sums_are_near_zeros(n):
    rng = np.random.default_rng(n)
    rows = 300 if n < 200 else 12
    parts = [_log_prob_rows(rng, rows, n, s) for s in (0.05, 1.0, 5.0, 40.0)]
    if n >= 2:
        parts.append(cancelling_logprob_rows("float64", n, rows, seed=n))
    x = np.concatenate(parts)
    x = x[np.isfinite(x.max(axis=-1))]
    top = np.argmax(x, axis=-1)
    got = nearzero.sums(x, top, *nz._kernel_args())
    assert got is not None
    same_bits(got, _python_sums(x, top))


@needs_c
@pytest.mark.parametrize("n", [65537, 140000])
def test_long_rows_in_column_chunks(n):
    # past near_zero.CHUNK columns a row is summed in chunks of 2^16, each
    # with its own grids' scale; the maximum in the first, a middle and the
    # last chunk
    rng = np.random.default_rng(n)
    x = _log_prob_rows(rng, 6, n, 3.0)
    for i, at in enumerate((5, 70000 % n, n - 1)):
        x[i, at] = x[i].max() + 1e-3
    x[3, rng.random(n) < 0.2] = -np.inf
    x[4, :100] = -300.0  # dropped entries in the first chunk
    x[5, n - 50:] = -1e9  # and in the last
    top = np.argmax(x, axis=-1)
    same_bits(nearzero.sums(x, top, *nz._kernel_args()), _python_sums(x, top))


@needs_c
def test_rows_of_float32_log_probabilities_and_a_winner_at_zero():
    rng = np.random.default_rng(7)
    x = np.asarray(stabkit.log_softmax(rng.standard_normal((500, 10)).astype(np.float32) * 6, axis=-1))
    x = x.astype(np.float64)
    x[:20] = -np.inf
    x[:20, 3] = 0.0  # exp(m) - 1 = 0: D is the sum of the others alone
    x[:10, 5] = -1e-20
    top = np.argmax(x, axis=-1)
    same_bits(nearzero.sums(x, top, *nz._kernel_args()), _python_sums(x, top))


@needs_c
@pytest.mark.parametrize("shape", [(4000, 10), (300, 1000)])
def test_logsumexp_of_log_probabilities_is_the_numpy_paths(shape, monkeypatch):
    rng = np.random.default_rng(shape[1])
    x = np.asarray(stabkit.log_softmax(rng.standard_normal(shape) * 5, axis=-1))
    calls = []
    real = nearzero.sums
    monkeypatch.setattr(nearzero, "sums", lambda *a: calls.append(1) or real(*a))
    fast, slow = each_path(stabkit.logsumexp, x, axis=-1)
    assert calls  # the kernel ran (the second call, with STABKIT_NATIVE=0, took the NumPy form)
    same_bits(fast, slow)
    f32, s32 = each_path(stabkit.logsumexp, x.astype(np.float32), axis=-1)
    same_bits(f32, s32)


def test_without_the_kernel_the_sums_come_from_numpy(monkeypatch):
    monkeypatch.setenv("STABKIT_NATIVE", "0")
    x = np.log(np.array([[0.5, 0.25, 0.125, 0.125]] * 3))
    top = np.argmax(x, axis=-1)
    assert nearzero.sums(x, top, *nz._kernel_args()) is None
    S_o, Dh, Dl, left, dropped = nz._sums(x, top, x[np.arange(3), top])
    same_bits(np.stack([S_o, Dh, Dl, left, dropped], axis=-1), _python_sums(x, top))
