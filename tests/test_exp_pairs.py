"""The NumPy exp pairs (stabkit/_accurate/exp_pairs.py) are the C
exp_term's (stabkit/_native/_exp_term.h), bit for bit, across its domain
and on both sides of its edges (x - m = -200, 177; the table's 128
entries; k near multiples of 128), and within 2**-77 of exp(x - m)."""

from __future__ import annotations

import mpmath
import numpy as np
import pytest
from helpers.bits import same_bits

from stabkit._accurate.exp_pairs import TABLE_HI, TABLE_LO, exp_pairs
from stabkit._native import lserows
from stabkit._native import rows as native

needs_c = pytest.mark.skipif(native.library() is None, reason="the C extension is not built here")


def _arguments(rng, m: float) -> np.ndarray:
    edges = np.array([-200.0, 177.0, 0.0, -1e-300, 1e-300, np.log(2) / 256, -np.log(2) / 256])
    steps = np.arange(-25600, 22657) * (np.log(2) / 128)  # every k, and the reduction's boundaries
    x = np.concatenate([rng.uniform(-200, 177, 20000), edges, np.nextafter(edges, np.inf),
                        np.nextafter(edges, -np.inf), steps, steps + np.log(2) / 256]) + m
    return np.concatenate([x, [m - 201.0, -np.inf]])


@needs_c
@pytest.mark.parametrize("m", [0.0, 3.75, -40.5, 1e5])
def test_the_c_exp_terms_bit_for_bit(m):
    x = _arguments(np.random.default_rng(int(abs(m))), m)
    hi, lo = exp_pairs(x, m)
    want_hi, want_lo = lserows.fast_terms(x, m)
    same_bits(hi, want_hi)
    same_bits(lo, want_lo)


def test_the_table_is_correctly_rounded():
    mp = mpmath.MPContext()
    mp.prec = 300
    for i in range(128):
        v = mp.power(2, mp.mpf(i) / 128)
        assert TABLE_HI[i] == float(v) and TABLE_LO[i] == float(v - mp.mpf(TABLE_HI[i]))


def test_within_the_bound():
    rng = np.random.default_rng(3)
    x = np.concatenate([rng.uniform(-200, 177, 300), [-200.0, 177.0, 0.0, 1e-9]])
    hi, lo = exp_pairs(x, 0.0)
    mp = mpmath.MPContext()
    mp.prec = 200
    worst = max(abs((mp.mpf(h) + mp.mpf(l)) / mp.exp(mp.mpf(v)) - 1) for v, h, l in zip(x, hi, lo))
    assert worst < mp.mpf(2) ** -77
    assert np.array_equal(exp_pairs(np.array([-200.5, -np.inf]), 0.0)[0], [0.0, 0.0])
