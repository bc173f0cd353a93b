"""The terms of the weighted logsumexp's NumPy steps (:mod:`.weighted`,
whose docstring states the method and the bounds): each weight split
exactly and the shift by the leading term (step 1), and the terms
``f_i 2**(k_i - K) exp(x_i - m)`` as pairs ``p + lo`` three ways (step 2):
``exp`` in float64 (the first pass), as pairs within 2**-77.9
(:mod:`.exp_pairs`), and in double-double (:mod:`.double_double`)."""

from __future__ import annotations

from typing import NamedTuple

import numpy as np

from . import double_double as _dd
from .eft import two_sum_err
from .exp_pairs import exp_pairs


class _Shift(NamedTuple):
    """A block's weights split and its shift (step 1)."""

    live: np.ndarray  # the entries in the sum
    f: np.ndarray  # b = f 2**k, 1 <= |f| < 2 (0 off the sum)
    j: np.ndarray  # k - K, as float64
    top: np.ndarray  # the leading entry T of each row
    m: np.ndarray  # x_T
    K: np.ndarray  # k_T


def _split(x: np.ndarray, b: np.ndarray):
    """``(live, f, k, z)``: the entries in the sum, ``b = f 2**k`` exactly
    (``1 <= |f| < 2``), and the estimate ``z = x + k ln 2`` (-inf off the
    sum) that picks the leading term, up to ~1e-13."""
    live = (b != 0) & (x > -np.inf)
    fr, ex = np.frexp(b)
    f, k = 2.0 * fr, ex - 1  # exact
    return live, f, k, np.where(live, x + k * _dd._LN2_1, -np.inf)


def _shift(x: np.ndarray, b: np.ndarray) -> _Shift:
    live, f, k, z = _split(x, b)
    top = np.argmax(z, axis=-1)
    rows = np.arange(x.shape[0])
    K = k[rows, top]
    return _Shift(live, np.where(live, f, 0.0), (k - K[:, None]).astype(np.float64), top, x[rows, top], K)


def _shift_to(x: np.ndarray, b: np.ndarray, m: float, K: int) -> _Shift:
    """A chunk of one row against the row's shift ``m, K`` (:mod:`.weighted_long`;
    ``top`` is left to the caller)."""
    live, f, k, _ = _split(x, b)
    return _Shift(live, np.where(live, f, 0.0), (k - K).astype(np.float64), None, np.array([m]), np.array([K]))


def _float_terms(x, sh: _Shift, exact: bool):
    """``(p, lo)``: the terms ``f_i exp(w_i)`` as ``p + lo`` (step 2); ``lo``
    is None for a narrower result, where float64 alone has 2**-38 to spare."""
    nm = -sh.m[:, None]
    d = x + nm
    c = sh.j * _dd._LN2_1  # exact: |j| < 2**11, LN2_1 has 32 bits
    a = d + c
    if not exact:
        a += sh.j * _dd._LN2_2
        return sh.f * np.exp(np.where(sh.live & np.isfinite(a), a, -np.inf)), None
    r = two_sum_err(x, nm, d)  # x - m = d + r exactly
    rho = (r + two_sum_err(d, c, a)) + sh.j * _dd._LN2_2
    # entries off the sum (b = 0, x = -inf) and shifts that overflow
    # (x - m = -inf: the term is 0) must not leave NaN residuals
    ok = sh.live & np.isfinite(a) & np.isfinite(rho)
    e = np.exp(np.where(ok, a, -np.inf))
    p, q = _dd.two_prod(sh.f, e)
    # exp(a + rho) = exp(a) (1 + rho + rho**2/2 ...): first order suffices
    return p, np.where(ok, q + p * rho, 0.0)


def _dd_terms(x, sh: _Shift):
    """``(p, lo)`` with ``w_i`` and ``exp(w_i)`` in double-double."""
    nm = -sh.m[:, None]
    d = x + nm
    r = two_sum_err(x, nm, d)
    c2, c2_lo = _dd.two_prod(sh.j, np.full_like(sh.j, _dd._LN2_2))
    wh, wl = _dd.add(d, r, sh.j * _dd._LN2_1, np.zeros_like(d))
    wh, wl = _dd.add(wh, wl, c2, c2_lo + sh.j * _dd._LN2_3)
    ok = sh.live & np.isfinite(wh) & np.isfinite(wl)
    # _dd.exp takes finite arguments only; below -745.2 it gives 0
    eh, el = _dd.exp(np.where(ok, wh, -1000.0), np.where(ok, wl, 0.0))
    p, q = _dd.two_prod(sh.f, eh)
    return p, q + sh.f * el


def _pair_terms(x, sh: _Shift):
    """``(p, lo, fine)``: the terms with ``exp`` in pairs within 2**-77.9
    (:func:`.exp_pairs.exp_pairs`, the compiled pass's exp), and the rows
    whose live terms all lie in its domain (``x - m`` in [-200, 177], ``w``
    at most 2; the others are left to :func:`_dd_terms`). Terms with ``w <
    -200`` are left out: each below ``2**-287``, absolute."""
    m = sh.m[:, None]
    with np.errstate(invalid="ignore", over="ignore"):
        a = x - m
        w = a + sh.j * _dd._LN2_1
    live = sh.live & (w >= -200.0)
    inside = (a >= -200.0) & (a <= 177.0) & (w <= 2.0)
    fine = ~(live & ~inside).any(axis=-1)
    keep = live & inside
    eh, el = exp_pairs(np.where(keep, x, m), m)
    # 2**j exactly: j in [-545, 292] where kept
    p2 = np.ldexp(1.0, np.where(keep, sh.j, 0.0).astype(np.int64))
    p, q = _dd.two_prod(sh.f, eh)
    return np.where(keep, p * p2, 0.0), np.where(keep, (q + sh.f * el) * p2, 0.0), fine
