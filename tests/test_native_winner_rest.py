"""The sparse cross-entropy from probabilities keeps one log a row
(crossentropy.renormalised_log_prob_at) and forms each row's largest entry
and the compensated sum of the others in C (_winner_rest.h). Checked here:

- ``renormalised_log_prob_at`` is ``renormalised_log_probs`` at the labels,
  bit for bit, in both paths (the label on the largest entry, on one of
  equal maxima, elsewhere; zeros, subnormals, NaN and infinite rows);
- the C step's ``(k, p_k, R)`` are NumPy's ``argmax`` and
  ``np.add(*eft.sum2(others))`` bit for bit, on narrow rows (summed
  left to right) and wide ones across NumPy's pairwise block sizes, and rows with NaN or an infinity are left to NumPy;
- the public loss has the same bits with and without the extension, every
  format, options included.
"""

from __future__ import annotations

import ml_dtypes
import numpy as np
import pytest
from helpers.bits import same_bits
from helpers.native import each_path

from stabkit import accurate
from stabkit._accurate.crossentropy import renormalised_log_prob_at, renormalised_log_probs
from stabkit._accurate.eft import sum2
from stabkit._native import probrows
from stabkit._native import rows as native

needs_c = pytest.mark.skipif(native.library() is None, reason="the C extension is not built here")

WIDTHS = (2, 3, 9, 15, 16, 17, 18, 31, 64, 127, 128, 129, 257, 1000, 4099)


def _probs(kind: str, rng, rows: int, n: int) -> np.ndarray:
    z = rng.normal(size=(rows, n)) * {"sd1": 1, "sd10": 10, "confident": 40}.get(kind, 3)
    p = np.exp(z - z.max(axis=-1, keepdims=True))
    p /= p.sum(axis=-1, keepdims=True)
    if kind == "ties":  # equal maxima: the first is the winner
        p[:, n // 2] = p.max(axis=-1)
    elif kind == "zeros":
        p[rng.random(p.shape) < 0.3] = 0.0
    elif kind == "subnormal":
        p = p * 2.0**-1060
    elif kind == "one":  # a winner of exactly 1 and tiny others (the narrower formats' ties)
        p = rng.random((rows, n)) * 2.0**-60
        p[np.arange(rows), rng.integers(0, n, rows)] = 1.0
    return p


KINDS = ["sd1", "sd10", "confident", "ties", "zeros", "subnormal", "one"]


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("narrower", [False, True])
def test_the_label_entry_is_the_full_rows(kind, narrower):
    rng = np.random.default_rng(len(kind))
    for n in WIDTHS:
        p = _probs(kind, rng, 40, n)
        labels = rng.integers(0, n, 40)
        labels[:8] = np.argmax(p[:8], axis=-1)  # on the winner: -log1p(R / p_k)
        want = renormalised_log_probs(p, narrower)[np.arange(40), labels]
        fast, slow = each_path(renormalised_log_prob_at, p, labels, narrower)
        same_bits(fast, want)
        same_bits(slow, want)


def test_rows_with_nan_or_infinities():
    p = _probs("sd1", np.random.default_rng(1), 6, 40)
    p[0, 3], p[1, 0], p[2, 39], p[3, 5] = np.nan, np.inf, -np.inf, np.nan
    p[3, 7] = np.inf
    labels = np.array([3, 0, 39, 7, 1, 2])
    with np.errstate(invalid="ignore"):
        want = renormalised_log_probs(p)[np.arange(6), labels]
        fast, slow = each_path(renormalised_log_prob_at, p, labels)
    same_bits(fast, want)
    same_bits(slow, want)


@needs_c
@pytest.mark.parametrize("kind", KINDS)
def test_the_c_step_is_argmax_and_sum2(kind):
    rng = np.random.default_rng(7 + len(kind))
    for n in (1, *WIDTHS):
        p = _probs(kind, rng, 30, n)
        k, pk, r, done = probrows.winner_rest(p)
        assert done.all()
        want_k = np.argmax(p, axis=-1)
        others = p.copy()
        others[np.arange(30), want_k] = 0.0
        same_bits(k, want_k.astype(np.int64))
        same_bits(pk, p[np.arange(30), want_k])
        same_bits(r, np.add(*sum2(others)))


@needs_c
def test_the_c_step_leaves_nan_and_infinite_rows():
    p = _probs("sd1", np.random.default_rng(2), 4, 50)
    p[1, 10], p[2, 0], p[3, 49] = np.nan, np.inf, -np.inf
    assert probrows.winner_rest(p)[3].tolist() == [True, False, False, False]
    assert probrows.winner_rest(p[:, :12])[3].tolist() == [True, False, False, True]  # the -inf is past 12


@pytest.mark.parametrize("dt", [np.float64, np.float32, np.float16, ml_dtypes.bfloat16])
@pytest.mark.parametrize("opts", [{}, {"class_weight": "w", "reduction": "sum"}, {"ignore_index": 1}])
def test_the_public_loss_in_both_paths(dt, opts):
    rng = np.random.default_rng(5)
    for shape in [(300, 40), (50, 1000), (7, 3, 33)]:
        p = _probs("sd1", rng, int(np.prod(shape[:-1])), shape[-1]).reshape(shape).astype(dt)
        y = rng.integers(0, shape[-1], shape[:-1])
        kw = dict(opts)
        if kw.get("class_weight") == "w":
            kw["class_weight"] = rng.uniform(0.1, 3, shape[-1])
        fast, slow = each_path(accurate.sparse_categorical_crossentropy, y, p, **kw)
        same_bits(fast, slow)


@needs_c
def test_kernels_lists_the_step(monkeypatch):
    import stabkit

    key = "sparse_categorical_crossentropy (from probabilities: each row's winner and rest)"
    monkeypatch.delenv("STABKIT_NATIVE", raising=False)
    assert stabkit.kernels()[key] == "native"
    monkeypatch.setenv("STABKIT_NATIVE", "0")
    assert stabkit.kernels()[key] == "STABKIT_NATIVE=0"
