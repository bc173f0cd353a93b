"""The losses' smoothed and weighted targets in C (stabkit/_native/_targets.c)
against their NumPy code (stabkit._accurate.targets64.numpy), bit for bit:
random and extreme labels, weights per element and per column (rows of 1 to
2,000 classes, across the kernel's 1024-weight blocks), every smoothing the
code treats apart; and the whole losses with the kernel on and off."""

from __future__ import annotations

import numpy as np
import pytest

from stabkit import accurate
from stabkit._accurate import targets64
from stabkit._native import disabled, load, targets as native

pytestmark = pytest.mark.skipif(load.library() is None or disabled(),
                                reason=f"the compiled extension is off or not built: {load.why()}")

_EXTREMES = [0.0, 1.0, 0.5, 1 - 2**-53, 2**-53, 5e-324, 1e-310, 1e-300, 2.0**-899, 2.0**-901, np.nan]
_WEIGHTS = [0.0, 1.0, 1e-310, 3e-300, 1e300, 1.7e308, np.inf, np.nan, 2.0**-900]


def _labels(rng, n):
    y = rng.random(n)
    y[rng.random(n) < 0.2] = rng.choice(_EXTREMES, int(np.count_nonzero(rng.random(n) < 0.2)) or 1)[0]
    y[: len(_EXTREMES)] = _EXTREMES[: n]
    return y


def _same(a, b) -> bool:
    """Bit equality; a mark array of None (the kernel marked nothing) equals
    marks that are all False."""
    if a is None and b is not None and b.dtype == bool:
        a = np.zeros(b.shape, dtype=bool)
    return a is None and b is None or np.array_equal(np.asarray(a).view(np.uint8), np.asarray(b).view(np.uint8))


def test_the_kernel_agrees_with_its_oracle_at_load():
    """The first-use check passed: the kernel runs (a difference from the
    NumPy code would turn it off for the process, silently but for this)."""
    assert native.status(targets64) == "native"


@pytest.mark.parametrize("ls", [0.1, 0.0, 0.3, 1e-3, 1 - 2**-53, 1.0, 2.0**-899, 0.5])
def test_per_element_weights_and_binary(ls):
    rng = np.random.default_rng(int(ls * 1e6) + 1)
    y = _labels(rng, 5000)
    for w in (None, rng.uniform(0.1, 10, y.size), rng.choice(_WEIGHTS, y.size)):
        c = targets64.constants(ls, 2)
        got = native.smooth(y, c, w, y.size, True, targets64)
        want = targets64.numpy(y, c, w, True)
        assert all(_same(g, h) for g, h in zip(got, want)), ls


@pytest.mark.parametrize("n", [1, 2, 3, 10, 17, 1000, 1024, 1025, 2000])
def test_column_weights(n):
    """Weights repeating along rows of n classes: the kernel tiles them into
    blocks of 1024 (whole rows), or reads them in place for wider rows."""
    rng = np.random.default_rng(n)
    rows = max(1, 6000 // n)
    y = _labels(rng, rows * n)
    cw = rng.uniform(0.1, 10, n)
    cw[rng.random(n) < 0.1] = 1e-310
    for ls in (0.1, 0.01):
        c = targets64.constants(ls, n)
        got = native.smooth(y, c, cw, n, False, targets64)
        want = targets64.numpy(y, c, np.tile(cw, rows), False)
        assert _same(got[0], want[0]) and _same(got[2], want[2])


def test_losses_with_and_without_the_kernel(monkeypatch):
    """Every loss with smoothing and weights gives the same bits on both
    paths (the tails' tiny targets included)."""
    rng = np.random.default_rng(5)
    y, z = rng.random((300, 7)), rng.normal(0, 20, (300, 7))
    y[::11] = 1e-310
    yc = rng.dirichlet(np.ones(7), 300)
    cw = rng.uniform(0.5, 4, 7)
    cw[3] = 1e-305
    pos = rng.uniform(0.5, 4, 7)

    def run():
        return [accurate.binary_crossentropy(y, z, from_logits=True, label_smoothing=0.1, pos_weight=pos,
                                             sample_weight=rng_s),
                accurate.binary_crossentropy(y, 1 / (1 + np.exp(-z)), label_smoothing=0.05, pos_weight=pos),
                accurate.categorical_crossentropy(yc, z, from_logits=True, label_smoothing=0.1, class_weight=cw),
                accurate.sparse_categorical_crossentropy(yc.argmax(-1), z, from_logits=True, label_smoothing=0.2,
                                                         class_weight=cw)]

    rng_s = rng.uniform(0.5, 3, (300, 1))
    on = run()
    monkeypatch.setenv("STABKIT_NATIVE", "0")
    off = run()
    for a, b in zip(on, off):
        assert np.array_equal(a.view(np.uint64), b.view(np.uint64))
