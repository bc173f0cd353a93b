"""The shift's error by Fast2Sum (eft.shift_err) is TwoSum's error, bit for
bit: on the rows where Fast2Sum applies, on the entries below a row's floor
that it mends with TwoSum, and on the rows it hands to TwoSum whole."""

from __future__ import annotations

import numpy as np
import pytest

from stabkit._accurate import eft


def _bits(a):
    a = np.asarray(a, dtype=np.float64)
    # every NaN alike; zeros keep their sign
    return np.where(np.isnan(a), np.nan, a).view(np.int64)


def _both(x):
    """shift_err and two_sum_err for rows x shifted by their maxima."""
    n = x.shape[1]
    with np.errstate(all="ignore"):
        m = x[np.arange(x.shape[0]), np.argmax(x, axis=-1)]
        ms = np.where(np.isfinite(m), m, 0.0)
        nm = np.repeat(-ms[:, None], n, axis=1)
        d = x + nm
        want = eft.two_sum_err(x, nm, d)
        got = eft.shift_err(x, ms, nm.copy(), d, np.empty_like(x), np.empty_like(x))
    return got, want, ms


def _families(rng, rows, n):
    yield rng.standard_normal((rows, n)) * 5  # a few entries below -2**E per row
    yield rng.standard_normal((rows, n)) * 5 + 1e4
    yield -np.abs(rng.standard_normal((rows, n))) * 7  # maxima below 0
    e = rng.integers(-1074, 1024, (rows, n))
    sign = rng.choice([-1.0, 1.0], (rows, n))
    p2 = np.ldexp(sign, e)  # powers of two and their neighbours
    yield np.where(rng.random((rows, n)) < 0.5, np.nextafter(p2, -sign * np.inf), p2)
    z = rng.standard_normal((rows, n)) * 3
    z[rng.random(z.shape) < 0.3] = 0.0
    z[rng.random(z.shape) < 0.3] = -0.0
    z[::4] = np.minimum(z[::4], 0.0)  # rows whose maximum is a zero
    yield z
    yield rng.choice([0.0, -0.0, 1.0, -3.0, 5e-324, -5e-324, 1.7e308, -1.7e308, 2.0**1020, np.inf, -np.inf, np.nan], (rows, n))
    yield rng.standard_normal((rows, n)) * 1e-310  # subnormal maxima


@pytest.mark.parametrize("n", [17, 40, 1000])
def test_shift_err_matches_two_sum(n):
    rng = np.random.default_rng(n)
    for x in _families(rng, 60, n):
        got, want, _ = _both(x)
        assert np.array_equal(_bits(got), _bits(want))


def test_the_floor_is_where_fast2sum_stops_being_exact():
    # m = 12 (exponent 3): the floor is the float just above -16; below it
    # x has the larger exponent and Fast2Sum can lose the error: with
    # m = 12 + 2**-49 and x = -1000, d = -1012 and the error -2**-49 is lost
    ms = np.array([12.0, -12.0, 0.0, 2.0**1021, 3e-320])
    floor = eft._fast_floor(ms)
    assert floor[0] == np.nextafter(-16.0, 0.0) and floor[1] == np.nextafter(-16.0, 0.0)
    assert floor[2] == -np.inf and floor[3] == np.inf
    assert -2.0**-1022 < floor[4] < 0.0
    x = np.array([[12.0 + 2.0**-49, -3.0] + [-1000.0] * 30])
    with np.errstate(all="ignore"):
        nm = np.repeat(-x[:, :1], x.shape[1], axis=1)
        d = x + nm
        fast = np.add(x, np.subtract(nm, d))  # Fast2Sum everywhere
        exact = eft.two_sum_err(x, nm, d)
    assert exact[0, 2] == -(2.0**-49) and fast[0, 2] == 0.0  # the floor is needed
    got, want, _ = _both(x)
    assert np.array_equal(_bits(got), _bits(want))
