"""Ties of float32, float16 and bfloat16 behind a winner more than 745
ahead, and at a winning probability of 1.

Log-softmax entries and losses of these formats are float64 values rounded
once more. ``x - m`` of two such inputs is often exactly a midpoint of the
format, and the exact log-probability ``x - m - T`` lies just below it
(``T = log1p(sum of exp(x_i - m))`` over the losers, always positive). Where
the winner is more than 745 ahead, float64's ``exp`` underflows and ``T``
comes out 0, so the float64 value IS the midpoint and round-half-even picks
the even neighbour, half the time the wrong one. (Before this file the
tie fix was keyed on the float64 ``T > 0``: in a 2**21-wide float32 row,
a quarter of the entries came out on the wrong side.) From probabilities,
the winner's ``-log1p(R)`` with ``p_k = 1`` has the same trap where float64's
log1p returns R itself.

Each expected value is ``d - T`` with ``0 < T < n e^-1100`` far below half a
float64 ulp of every nonzero ``d``: the rounding of the float64 number just
below ``d`` (``-0.0`` at the winner). Checked against mpmath on a sample,
then on every path: compiled kernels and ``STABKIT_NATIVE=0``, narrow (up to
16 columns) and wide rows, m below -600, in [-600, 650] and above 650,
strided axes.
"""

from __future__ import annotations

import ml_dtypes
import mpmath
import numpy as np
import pytest

from helpers.bits import same_bits
from helpers.native import each_path
from stabkit import accurate
from stabkit._exact import round_to_format
from stabkit.floats import round_float64

FORMATS = {"float32": np.float32, "float16": np.float16, "bfloat16": ml_dtypes.bfloat16}


def to(v, dtype):
    """float64 values rounded once to ``dtype`` (ml_dtypes before 0.7 casts
    float64 to bfloat16 through float32, rounding twice: exactly wrong at
    the midpoints this file is about)."""
    return round_float64(np.asarray(v, dtype=np.float64), np.dtype(dtype).name)
_MP = mpmath.MPContext()
_MP.prec = 120


def far_rows(dtype, rows: int, n: int, winner: float, seed: int) -> np.ndarray:
    """Rows whose losers lie 1100 to 1260 below the winner (column 0:
    ``winner``, in [512, 1024) in magnitude, with its last bit set).

    ``d = x - m`` is a midpoint where it is an odd multiple of half its own
    spacing: with ``|d|`` in [1024, 2048), m an odd multiple of half that
    spacing (the binade below) and x a multiple of it (``|x| >= 512``),
    every d not of the format is one."""
    rng = np.random.default_rng(seed)
    w = np.array([winner], dtype=dtype)
    u = w.view(f"u{w.itemsize}")
    u |= 1  # an odd last bit
    w = w[0]
    gap = max(1100.0, float(w) + 520.0)
    x = rng.uniform(float(w) - gap - 60.0, float(w) - gap, size=(rows, n)).astype(dtype)
    x[:, 0] = w
    return x


def expected_log_softmax(x: np.ndarray, axis: int = -1) -> np.ndarray:
    x64 = x.astype(np.float64)
    d = x64 - x64.max(axis=axis, keepdims=True)
    return to(np.where(d < 0, np.nextafter(d, -np.inf), -0.0), x.dtype.type)


def midpoints(x: np.ndarray, axis: int = -1) -> int:
    """How many ``x - m`` are midpoints of x's format (where the float64
    numbers either side of them round apart)."""
    x64 = x.astype(np.float64)
    d = x64 - x64.max(axis=axis, keepdims=True)
    up, down = to(np.nextafter(d, np.inf), x.dtype.type), to(np.nextafter(d, -np.inf), x.dtype.type)
    return int(np.count_nonzero((up != down) & (to(d, x.dtype.type).astype(np.float64) != d)))


@pytest.mark.parametrize("fmt", FORMATS)
def test_the_expected_values_are_mpmaths(fmt):
    x = far_rows(FORMATS[fmt], 6, 5, 550.0, 1)
    want = expected_log_softmax(x)
    for row, wrow in zip(x.astype(np.float64), want.astype(np.float64)):
        m = max(row)
        T = _MP.log1p(_MP.fsum(_MP.exp(_MP.mpf(v) - m) for v in row[1:]))
        assert 0 < T < _MP.mpf(2) ** -1000
        for v, w in zip(row, wrow):
            # exact d - T: T far below every result's ulp but on its side
            exact = _MP.fsub(_MP.mpf(v) - _MP.mpf(m), T, exact=True)
            assert round_to_format(exact, fmt) == w


@pytest.mark.parametrize("fmt", FORMATS)
@pytest.mark.parametrize("n", [2, 5, 16, 17, 40, 300])
@pytest.mark.parametrize("winner", [-700.0, -550.0, 550.0, 700.0])
def test_log_softmax_far_behind_the_winner(fmt, n, winner):
    x = far_rows(FORMATS[fmt], 64, n, winner, n)
    assert midpoints(x) > x.size // 5
    fast, slow = each_path(accurate.log_softmax, x)
    same_bits(fast, expected_log_softmax(x))
    same_bits(slow, fast)


@pytest.mark.parametrize("fmt", FORMATS)
@pytest.mark.parametrize("shape, axis", [((40, 7), 0), ((3, 30, 5), 1)])
def test_strided_axes(fmt, shape, axis):
    x = np.moveaxis(far_rows(FORMATS[fmt], int(np.prod(shape)) // shape[axis], shape[axis], 700.0, 7), -1, 0)
    x = np.moveaxis(x.reshape((shape[axis],) + tuple(s for i, s in enumerate(shape) if i != axis)), 0, axis)
    fast, slow = each_path(accurate.log_softmax, x, axis=axis)
    same_bits(fast, expected_log_softmax(x, axis))
    same_bits(slow, fast)


@pytest.mark.parametrize("fmt", FORMATS)
@pytest.mark.parametrize("n", [3, 40])
def test_losses_from_logits_take_the_upper_side(fmt, n):
    """The loss at a loser is ``m - z_y + T``: the float64 number above
    ``m - z_y``; soft labels (1/2, 1/2) average two such values."""
    x = far_rows(FORMATS[fmt], 64, n, -550.0, 3 + n)
    lp = expected_log_softmax(x).astype(np.float64)
    x64 = x.astype(np.float64)
    d = x64 - x64.max(axis=-1, keepdims=True)
    up = np.where(d < 0, np.nextafter(-d, np.inf), 0.0)
    labels = np.arange(64) % n
    rows = np.arange(64)
    want = to(up[rows, labels], x.dtype.type)
    assert np.count_nonzero(want.astype(np.float64) != -d[rows, labels]) > 3
    fast, slow = each_path(accurate.sparse_categorical_crossentropy, labels, x, from_logits=True)
    same_bits(fast, want)
    same_bits(slow, fast)
    onehot = np.eye(n, dtype=x.dtype)[labels]
    fast, slow = each_path(accurate.categorical_crossentropy, onehot, x, from_logits=True)
    same_bits(fast, want)
    same_bits(slow, fast)
    other = (labels + 1) % n
    soft = (np.eye(n)[labels] + np.eye(n)[other]) / 2
    # (d_a + d_b) / 2 is exact in float64; T pushes the loss above it
    half = -(d[rows, labels] + d[rows, other]) / 2
    want_soft = to(np.nextafter(half, np.inf), x.dtype.type)
    fast, slow = each_path(accurate.categorical_crossentropy, soft.astype(x.dtype), x, from_logits=True)
    same_bits(fast, want_soft)
    same_bits(slow, fast)
    assert lp.shape == x.shape


@pytest.mark.parametrize("winner", [550.0, 700.0])
def test_a_long_row(winner):
    """One float32 row of 2**21 entries (the chunked long-row path; its
    maximum unshifted, then shifted)."""
    x = far_rows(np.float32, 1, 1 << 21, winner, 11)
    assert midpoints(x) > x.size // 5
    fast, slow = each_path(accurate.log_softmax, x)
    same_bits(fast, expected_log_softmax(x))
    same_bits(slow, fast)


@pytest.mark.parametrize("fmt", FORMATS)
def test_a_winning_probability_of_one(fmt):
    """``[1, a, b]`` with ``a + b`` a midpoint of the format: the loss at the
    winner is ``log1p(a + b)``, just below ``a + b``, so it rounds down."""
    dt = FORMATS[fmt]
    p_bits = {"float32": 24, "float16": 11, "bfloat16": 8}[fmt]
    scale = 2.0**-12 if fmt == "float16" else 2.0**-60
    a, b = scale * (1 + 3 * 2.0 ** (1 - p_bits)), scale
    s = a + b  # 2 scale (1 + 2^(1-p) + 2^-p): odd neighbour below, even above
    assert float(to(s, dt)) != s
    want = np.array([round_to_format(_MP.log1p(_MP.mpf(s)), fmt)], dtype=dt)
    assert float(want[0]) < s
    p = np.array([[1.0, a, b]], dtype=dt)
    fast, slow = each_path(accurate.sparse_categorical_crossentropy, np.array([0]), p)
    same_bits(fast, want)
    same_bits(slow, fast)
    fast, slow = each_path(accurate.categorical_crossentropy, np.array([[1.0, 0, 0]], dtype=dt), p)
    same_bits(fast, want)
    same_bits(slow, fast)
    # float64 keeps log1p's own correctly rounded value (no step)
    p64 = p.astype(np.float64)
    assert accurate.sparse_categorical_crossentropy(np.array([0]), p64)[0] == np.log1p(s)


def _near_rows(fmt: str, n: int) -> np.ndarray:
    """Rows [m, x, c, pads...] with ``d = x - m`` a negative midpoint of the
    format and ``L ~ exp(c - m)`` between 0.5 and 1.5 float64 ulps of d,
    where the unshifted form ``x - (m + L)`` rounds twice."""
    dt = FORMATS[fmt]
    rng = np.random.default_rng(len(fmt) + n)
    rows = []
    while len(rows) < 24:
        m = dt(rng.uniform(60.0, 600.0))
        x = dt(-rng.uniform(1.0, 60.0))
        d = float(x) - float(m)
        if float(to(d, dt)) == d or float(to(np.nextafter(d, 0.0), dt)) == float(to(np.nextafter(d, -np.inf), dt)):
            continue  # not a midpoint
        k = rng.uniform(0.55, 1.45)
        c = dt(float(m) + np.log(k * np.spacing(abs(d))))
        pad = dt(float(m) - 45.0)
        rows.append([m, x, c] + [pad] * (n - 3))
    return np.array(rows, dtype=dt)


@pytest.mark.parametrize("fmt", FORMATS)
@pytest.mark.parametrize("n", [3, 17, 40, 100])
def test_a_midpoint_beside_a_sum_of_about_one_float64_ulp(fmt, n):
    """The unshifted rows (maximum in [-600, 650]): ``x - (m + L)`` came out
    on d itself, or above it, for L up to 1.5 float64 ulps of d (bfloat16
    [122.5, -16, 91, ...]: -138.0 for -139); such rows now take ``d - L``."""
    x = _near_rows(fmt, n)
    fast, slow = each_path(accurate.log_softmax, x)
    same_bits(slow, fast)
    in_window = 0
    for row, got in zip(x.astype(np.float64), np.asarray(fast)[:, 1].astype(np.float64)):
        m = _MP.mpf(row[0])
        T = _MP.log1p(_MP.fsum(_MP.exp(_MP.mpf(v) - m) for v in row[2:]))
        d = row[1] - row[0]
        in_window += 0.5 < float(T) / np.spacing(abs(d)) < 1.5
        assert got == round_to_format(_MP.mpf(d) - T, fmt), (row[:3], got)
    assert in_window >= 12
    labels = np.ones(x.shape[0], dtype=np.int64)
    fast_l, slow_l = each_path(accurate.sparse_categorical_crossentropy, labels, x, from_logits=True)
    same_bits(slow_l, fast_l)
    same_bits(fast_l, to(0.0 - np.asarray(fast)[:, 1].astype(np.float64), x.dtype.type))
