"""The binary cross-entropy from probabilities in float16 and bfloat16:
every pair (y, p) of the format (y in [0, 1], p in (0, 1): 2.4e8 and 2.6e8
pairs) is rounded once from its float64 value, which sits within a few
float64 ulps (below 2**-50 relative: two logs, two products, one sum of
terms of one sign) of the exact loss. That rounding is the exact loss's
unless a midpoint of the format lies between the two; the scan below finds
no float64 loss within 2**-44 relative of one, so none does. (The losses
from logits have such pairs, where the main term is a short dyadic and the
tail falls below the float64 loss's last place: tests/test_bce_logits_ties.py.
From probabilities the terms are logs of the format's values, never that
close to its midpoints.) The public function's results on a slice of the
pairs are those one roundings."""

from __future__ import annotations

import numpy as np
import pytest

from stabkit import accurate
from stabkit._accurate.crossentropy import binary_terms
from stabkit.floats import get_format, round_float64


def _unit_values(fmt):
    bits = np.arange(2**16, dtype=np.uint16)
    with np.errstate(invalid="ignore"):
        v = bits.view(fmt.dtype).astype(np.float64)
    return np.unique(v[(v >= 0) & (v <= 1)])


@pytest.mark.slow
@pytest.mark.parametrize("name", ["float16", "bfloat16"])
def test_no_pair_sits_near_a_midpoint(name):
    fmt = get_format(name)
    ys = _unit_values(fmt)
    ps = ys[(ys > 0) & (ys < 1)]
    near, checked = 0, 0
    for i, y in enumerate(ys):
        loss = binary_terms(np.full(ps.size, y), np.full(ps.size, 1.0 - y), ps, False)
        # the rounding test: both ends of loss (1 -+ 2**-44) round alike
        lo = round_float64(loss * (1 - 2.0**-44), fmt).astype(np.float64)
        hi = round_float64(loss * (1 + 2.0**-44), fmt).astype(np.float64)
        near += int(np.count_nonzero(lo != hi))
        if i % 97 == 0:  # the public function on a slice: the same one rounding
            got = accurate.binary_crossentropy(np.full(ps.size, y).astype(fmt.dtype), ps.astype(fmt.dtype))
            want = round_float64(loss, fmt)
            assert np.array_equal(got.view(np.uint16), want.view(np.uint16)), (name, y)
            checked += 1
    assert near == 0 and checked > 100
