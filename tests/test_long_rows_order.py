"""Where long rows go on any NumPy (tests/test_long_rows.py needs the NumPy
that reduces a long row in one pairwise tree, and skips elsewhere)."""

from __future__ import annotations

import numpy as np

from stabkit import accurate
from stabkit._accurate import longrows


def test_a_numpy_that_sums_in_pieces_keeps_the_rows_path(monkeypatch):
    monkeypatch.setattr(longrows, "_ORDER", False)
    assert not longrows.takes(10**8)
    calls = []
    monkeypatch.setattr(longrows, "logsumexp_row", lambda *a: calls.append(a))
    x = np.random.default_rng(1).standard_normal(longrows.LONG + 3).astype(np.float32)
    assert np.isfinite(accurate.logsumexp(x)) and calls == []
    monkeypatch.setattr(longrows, "_ORDER", None)
    assert longrows.takes(longrows.LONG) == longrows._same_order() and not longrows.takes(longrows.LONG - 1)


def test_the_order_check_matches_this_numpys_reduce():
    # NumPy 2.4 reduces a contiguous row in one pairwise tree; NumPy 2.0 sums
    # rows past 8192 terms in buffers of 8192, which the tree walk cannot repeat
    rng = np.random.default_rng(2)
    a = rng.standard_normal(50_000) * np.exp(rng.uniform(-30, 30, 50_000))
    tree = longrows.tree_sums(a.size, lambda lo, hi: (a[lo:hi],), 4096)[0]
    assert longrows._same_order() == (tree == np.add.reduce(a))
