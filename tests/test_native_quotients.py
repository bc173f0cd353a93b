"""The float64 softmax's two shortcuts in the wide-row kernel (_divide.h,
split_sums_at in _rows.c), each against the computation it replaces:

- its quotients e / den, formed from 1 / den by Markstein's correction with
  fused multiply-adds, must be the IEEE quotients (np.divide's bits) for
  every entry: random significands, quotients a hair from a midpoint
  between two doubles, divisors whose significand is all ones, and both
  sides of every bound of the range the correction is used on;
- its denominator pair, whose sigma comes from n e[k] and whose largest
  term is found in the same pass as the sums, must be softmax_sums' pair
  for any k, also where e[k] is not the largest term and n times the two
  fall on either side of a power of two;
- the softmax itself must keep the NumPy path's bits on rows whose terms
  and quotients cross those bounds.
"""

from __future__ import annotations

import platform
import sysconfig
from pathlib import Path

import numpy as np
import pytest
from helpers.bits import same_bits
from helpers.native import each_path

import stabkit
from stabkit._native import rows as native
from stabkit._native import widerows

needs_c = pytest.mark.skipif(native.library() is None, reason="the row kernel is not built here")


def _fma_expected() -> bool:
    """Whether this build forms the quotients by the correction: GCC on
    x86-64 Linux with a processor that has FMA, or any 64-bit Arm. The
    compiler is the one that built the extension (a Clang build says so in
    the library's .comment section), not the interpreter's."""
    if platform.machine() in ("aarch64", "arm64"):
        return True
    if platform.machine() != "x86_64" or sysconfig.get_platform().split("-")[0] != "linux":
        return False
    if b"clang version" in Path(native.library()._name).read_bytes():
        return False
    try:
        with open("/proc/cpuinfo") as f:
            return " fma " in f" {f.read().replace(chr(10), ' ')} "
    except OSError:
        return False


def _significands(rng, n: int) -> np.ndarray:
    """n doubles in [1, 2) with uniformly random significand bits."""
    bits = rng.integers(0, 2**52, n, dtype=np.uint64) | np.uint64(1023 << 52)
    return bits.view(np.float64)


def _check(a: np.ndarray, b: float, fused: bool | None = None) -> None:
    got, used = native.quotients(a, b)
    with np.errstate(all="ignore"):
        same_bits(got, a / b)
    if fused is not None:
        assert used == (fused and _fma_expected()), (used, fused)


@needs_c
@pytest.mark.parametrize("seed", range(4))
def test_random_significands_and_exponents(seed):
    rng = np.random.default_rng(seed)
    for _ in range(5):
        a = _significands(rng, 200_000) * np.exp2(rng.integers(-60, 60, 200_000))
        _check(a, float(_significands(rng, 1)[0]) * 2.0 ** int(rng.integers(-60, 60)), fused=True)


@needs_c
@pytest.mark.parametrize("seed", range(4))
def test_quotients_next_to_a_midpoint(seed):
    """a = RN(b (q + ulp(q) / 2)): a / b within a few units of 2^-105 of
    the midpoint between q and its successor, where one rounding wrong in
    the correction shows."""
    rng = np.random.default_rng(100 + seed)
    for _ in range(5):
        b = float(_significands(rng, 1)[0]) * 2.0 ** int(rng.integers(-20, 20))
        q = _significands(rng, 200_000)
        _check(b * (q + np.spacing(q) / 2), b, fused=True)


@needs_c
@pytest.mark.parametrize("b", [np.nextafter(2.0, 0.0), np.nextafter(1.0, 2.0), 1.5, 3.0, 1.0, 0.75])
def test_divisors_with_extreme_significands(b):
    rng = np.random.default_rng(7)
    _check(_significands(rng, 200_000) * np.exp2(rng.integers(-3, 3, 200_000)), float(b), fused=True)


@needs_c
@pytest.mark.parametrize(
    ("lo", "hi", "b", "fused"),
    [
        (2.0**-967, 1.0, 0.5, True),  # the least entry the correction takes
        (np.nextafter(2.0**-967, 0.0), 1.0, 0.5, False),
        (2.0**-966, 2.0**-900, 1.0, True),  # the least quotient it takes
        (2.0**-966, 2.0**-900, 2.0, False),
        (1.0, 2.0**1019, 1.0, True),  # the largest quotient it takes
        (1.0, 2.0**1019, 0.5, False),
        (1.0, np.nextafter(2.0**1020, 0.0), 2.0, True),  # the largest entry
        (1.0, 2.0**1020, 2.0, False),
    ],
)
def test_both_sides_of_the_range_bounds(lo, hi, b, fused):
    rng = np.random.default_rng(3)
    a = np.exp(rng.uniform(np.log(lo), np.log(hi), 10_000))
    a[:2] = lo, hi
    _check(a, b, fused=fused)


@needs_c
def test_entries_outside_the_promised_range_are_still_divided():
    """Zeros, subnormals, infinities and NaN with the bounds saying so take
    the division; quotients that overflow or underflow come out as IEEE's."""
    a = np.array([0.0, 5e-324, 2.0**-1022, 1.0, 1e308, np.inf, np.nan])
    for b in (1.0, 1e-300, 1e300, 3.0):
        got, used = native.quotients(a, b, lo=0.0, hi=np.inf)
        with np.errstate(all="ignore"):
            same_bits(got, a / b)
        assert not used


def _pair(e: np.ndarray) -> tuple[float, float, bool]:
    hi, lo, ok = native.softmax_sums(e[None].copy(), None, 0.0)
    return float(hi[0]), float(lo[0]), bool(ok[0])


@needs_c
@pytest.mark.parametrize("n", [17, 128, 129, 1000, 4097])
def test_sums_at_any_index_are_softmax_sums(n):
    rng = np.random.default_rng(n)
    for t in range(40):
        e = np.exp(rng.uniform(-30, 30, n) * rng.uniform(0, 1))
        k = int(np.argmax(e)) if t % 2 else int(rng.integers(n))
        assert native.sums_at(e, k) == _pair(e)


@needs_c
@pytest.mark.parametrize("n", [17, 1000])
def test_a_largest_term_past_a_power_of_two_from_the_guess(n):
    """e[k] just below 2^j / n and the true largest just above (as a
    non-monotonic exp could give): the sums are formed again with the
    largest term's sigma; also the other way round, and a guess that
    overflows."""
    rng = np.random.default_rng(9)
    for j in (-900, -1, 0, 5, 900):
        p = 2.0**j / n
        e = rng.uniform(0.0, p / 2, n)
        e[3], e[n - 2] = np.nextafter(p, 0.0), np.nextafter(p, np.inf)
        for k in (3, n - 2, 0):
            assert native.sums_at(e, k) == _pair(e), (j, k)
    e = np.full(n, 1e306)
    assert native.sums_at(e, 0) == _pair(e)


@needs_c
@pytest.mark.parametrize("low", [-560.0, -669.0, -671.0, -700.0, -708.0])
@pytest.mark.parametrize("spread", [5.0, 100.0, 400.0, 660.0, 1300.0])
def test_softmax_rows_across_the_bounds_keep_the_numpy_bits(low, spread, monkeypatch):
    """float64 rows with their least entry at low and their largest at
    low + spread (capped at 650, the unshifted range's top): terms and
    quotients on both sides of the correction's range, through the
    wide-row kernel."""
    took = []
    kernel = widerows.wide_softmax
    monkeypatch.setattr(widerows, "wide_softmax", lambda *a, **k: took.append(1) or kernel(*a, **k))
    rng = np.random.default_rng([int(-low), int(spread)])
    n = 300
    x = rng.uniform(low, min(low + spread, 650.0), (64, n))
    x[:, 0], x[:, 1] = low, min(low + spread, 650.0)
    fast, slow = each_path(stabkit.softmax, x, axis=-1)
    same_bits(fast, slow)
    assert took
