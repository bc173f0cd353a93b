"""The accurate tier works through its input in cache-sized blocks of rows;
a row's result must not depend on where the block boundaries fall, and the
cancelling logsumexp rows must be as accurate on the cheap extended-precision
path as on the double-double one."""

from __future__ import annotations

import ml_dtypes
import numpy as np
import pytest
from helpers.numerics import errors, quiet

from stabkit import accurate
from stabkit._accurate import cancelling as _lse_exact
from stabkit._accurate import rows as _accrows
from stabkit._accurate import unshifted as _unshifted
from stabkit.floats import get_format

FORMATS = [np.float64, np.float32, np.float16, ml_dtypes.bfloat16]


def _hostile(shape, dt, seed):
    rng = np.random.default_rng(seed)
    x = rng.normal(size=shape) * rng.choice([1.0, 10.0, 300.0], size=shape)
    u = rng.random(shape)
    x[u < 0.02] = -np.inf
    x[(u > 0.02) & (u < 0.025)] = np.inf
    x[(u > 0.025) & (u < 0.03)] = np.nan
    x[(u > 0.03) & (u < 0.1)] += 1e4
    x[(u > 0.1) & (u < 0.2)] -= 3.0  # some negative maxima: logsumexp cancels
    return x.astype(dt)


def _same(a, b):
    a, b = np.asarray(a), np.asarray(b)
    assert a.dtype == b.dtype and a.shape == b.shape
    a, b = a.astype(np.float64), b.astype(np.float64)
    both_nan = np.isnan(a) & np.isnan(b)
    assert np.all(both_nan | ((a == b) & (np.signbit(a) == np.signbit(b))))


def _all_outputs(x, axis, labels, soft):
    return [
        quiet(accurate.sigmoid, x),
        quiet(accurate.log_sigmoid, x),
        quiet(accurate.softplus, x),
        quiet(accurate.softmax, x, axis=axis),
        quiet(accurate.log_softmax, x, axis=axis),
        quiet(accurate.logsumexp, x, axis=axis),
        quiet(accurate.sparse_categorical_crossentropy, labels, x, from_logits=True, axis=axis),
        quiet(accurate.categorical_crossentropy, soft, x, from_logits=True, axis=axis),
        quiet(accurate.binary_crossentropy, soft, x, from_logits=True),
    ]


@pytest.mark.parametrize("dt", FORMATS)
@pytest.mark.parametrize(("shape", "axis"), [((50, 3), -1), ((9, 40), -1), ((6, 40, 5), 1), ((300, 12), 0)])
def test_results_do_not_depend_on_block_boundaries(monkeypatch, dt, shape, axis):
    x = _hostile(shape, dt, seed=sum(shape))
    rng = np.random.default_rng(1)
    labels = rng.integers(0, shape[axis], size=np.delete(np.array(shape), axis % len(shape)))
    soft = rng.random(shape)
    whole = _all_outputs(x, axis, labels, soft)
    # blocks of a few elements (one row for wide rows), and narrow rows in
    # blocks of 3: every block boundary falls somewhere else
    monkeypatch.setattr(accurate, "BLOCK", 7)
    monkeypatch.setattr(accurate, "ELEMENTWISE_BLOCK", 5)
    monkeypatch.setattr(accurate, "NARROW_BLOCK_ROWS", 3)
    for a, b in zip(whole, _all_outputs(x, axis, labels, soft)):
        _same(a, b)


def test_blocks_cover_every_row_once():
    for n_rows, n_cols in [(0, 5), (1, 1), (10, 1000), (100_000, 10), (7, 70_000), (65_537, 1)]:
        covered = np.zeros(n_rows, dtype=int)
        for blk in accurate._blocks(n_rows, n_cols):
            covered[blk] += 1
            assert blk.stop - blk.start >= 1
        assert np.all(covered == 1)


def _cancelling_rows(seed, n_rows=120, n=7):
    # log-probabilities shifted by c: the maximum is negative and about the
    # size of the log term, so m + log1p(s) = c cancels by factors from ~1 to
    # ~1e3
    rng = np.random.default_rng(seed)
    c = rng.choice([-1.0, 1.0], size=(n_rows, 1)) * 10.0 ** rng.uniform(-3, -0.3, size=(n_rows, 1))
    return np.log(rng.dirichlet(np.ones(n), size=n_rows)) + c


def _amplification(x, out):
    m = x.max(axis=-1)
    return (np.abs(m) + (out - m)) / np.abs(out)


@pytest.mark.parametrize("native", [True, False])
@pytest.mark.parametrize("mp_direct", [0, 10**6])
@pytest.mark.parametrize("extended", [True, False] if _lse_exact.EXTENDED else [False])
@pytest.mark.parametrize("fmt", ["float64", "float32"])
def test_cancelling_rows_on_either_path(monkeypatch, native, extended, mp_direct, fmt):
    # the compiled steps or not, extended precision or not, then
    # double-double (mp_direct 0) or mpmath
    if not native:
        monkeypatch.setenv("STABKIT_NATIVE", "0")
    monkeypatch.setattr(_lse_exact, "EXTENDED", extended)
    monkeypatch.setattr(_lse_exact, "MP_DIRECT", mp_direct)
    x = _cancelling_rows(5).astype(fmt)
    e, f, y, _ = errors("logsumexp", "accurate", x)
    assert not f.any()
    amp = _amplification(x.astype(np.float64), y.astype(np.float64))
    if fmt == "float64":
        # mild and strong cancellation both present
        assert np.sum((amp > 1.25) & (amp <= 32)) >= 20 and np.sum(amp > 32) >= 10
        # rows that cancel are redone correctly rounded; the rest keep the
        # tier's 4-ulp bound
        assert np.max(e[amp > 1.25]) <= 0.5
        assert np.max(e) <= 4.0
    else:
        assert np.max(e) <= 0.5 + 1e-6


@pytest.mark.parametrize("fmt", ["float64", "float32"])
def test_softmax_either_side_of_the_unshifted_bounds(fmt):
    # rows just inside and just outside the bounds of the unshifted path
    # (float64: every entry in [-708, 650]; narrower: a maximum in [-600, 650])
    rng = np.random.default_rng(8)
    base = rng.normal(size=(12, 50)) * 3
    rows = []
    for top in (650.0, 651.0, 649.9, -600.0, -601.0, 0.0):
        r = base[len(rows)] - base[len(rows)].max() + top
        rows.append(r)
    for low in (-708.0, -709.0, -707.9, -745.0, -800.0, -1000.0):
        r = base[len(rows)].copy()
        r[0] = low
        rows.append(r)
    # a low maximum with an entry whose exp is subnormal in float64: that
    # probability (e**-30, e**-50) must not lose its bits
    for top, low in ((-690.0, -720.0), (-690.0, -740.0)):
        r = base[len(rows) % len(base)] - base[len(rows) % len(base)].max() + top
        r[1] = low
        rows.append(r)
    x = np.array(rows).astype(fmt)
    e, f, y, _ = errors("softmax", "accurate", x)
    assert not f.any()
    assert np.nanmax(e) <= (4.0 if fmt == "float64" else 1.0)
    # the path is chosen row by row: alone or in a batch, the same bits
    for i in range(x.shape[0]):
        _same(accurate.softmax(x[i : i + 1])[0], y[i])


def test_unshifted_rows_decision():
    x = np.array([[650.0, 0.0], [651.0, 0.0], [-708.0, 0.0], [-709.0, 0.0], [-np.inf, 0.0], [np.nan, 0.0],
                  [-np.inf, -np.inf], [-np.inf, -708.0], [-np.inf, -709.0], [-np.inf, 651.0], [-np.inf, np.nan]])
    # float64 targets: a masked entry too, where the others are in range (its term is an exact 0)
    assert _unshifted.unshifted_rows(x, True).tolist() == [True, False, True, False, True, False,
                                                           False, True, False, False, False]
    y = np.array([[650.0, -1e4], [-600.0, -1e4], [-601.0, -1e4], [np.inf, 0.0], [-np.inf, 0.0]])
    # a masked (-inf) entry is an exact 0 term: fine when the maximum is in range
    assert _unshifted.unshifted_rows(y, False).tolist() == [True, True, False, False, True]


@pytest.mark.parametrize("fmt", ["float32", "float16", "bfloat16"])
def test_log_softmax_unshifted_path_is_within_its_bound(fmt):
    # winners 0 to 30 ahead, ties, wide and narrow rows, masked entries,
    # maxima from -600 to 650: the unshifted path is off by at most 2**-43
    # relative before the final rounding, so at most 2**-19 ulp past the half
    # ulp of a correct rounding
    rng = np.random.default_rng(12)
    rows = []
    for i, n in enumerate([2, 3, 10, 40, 300] * 8):
        r = rng.normal(size=n) * [0.5, 3.0, 30.0][i % 3]
        r -= r.max()
        r[0] = [0.0, 1e-3, 5.3, 5.7, 12.0, 30.0][i % 6]
        if i % 7 == 0:
            r[1] = r[0]  # a tie at the top
        if i % 5 == 0:
            r[-1] = -np.inf
        rows.append(r + [0.0, 600.0, -590.0, 40.0][i % 4])
    for r in rows:
        x = r.astype(fmt)[None, :]
        if fmt == "float16" and not np.all(np.isfinite(x[:, :-1])):
            continue  # +-600 is past float16's range
        lp, ok = _unshifted.log_softmax_unshifted(x.astype(np.float64), None, 1)
        assert ok[0]
        e, f, _, _ = errors("log_softmax", "accurate", x)
        assert not f.any()
        assert np.nanmax(e) <= 0.5 + 2.0**-19


def test_log_softmax_unshifted_leaves_out_of_range_rows_to_the_shift():
    x = np.array([[651.0, 0.0, 1.0], [-601.0, -700.0, -650.0], [np.nan, 0.0, 1.0], [np.inf, 0.0, 1.0], [5.0, 0.0, -np.inf]])
    _, ok = _unshifted.log_softmax_unshifted(x, None, 1)
    assert ok.tolist() == [False, False, False, False, True]
    out = accurate.log_softmax(x.astype(np.float32))
    assert np.isnan(out[2]).all() and out[3].tolist() == [0.0, -np.inf, -np.inf] and out[4, 2] == -np.inf


@pytest.mark.parametrize("fmt", ["float64", "float32"])
def test_categorical_crossentropy_with_masked_classes_and_zero_labels(fmt):
    # one-hot and soft labels, masked (-inf) logits under zero labels: the
    # masked class counts 0 and the rest keeps the tier's accuracy, wide and
    # narrow rows alike
    rng = np.random.default_rng(21)
    for n in (5, 200):
        z = rng.normal(size=(30, n)) * 4
        z[:, 1] = -np.inf
        y = rng.dirichlet(np.ones(n), size=30)
        y[:, 1] = 0.0
        y[:10] = np.eye(n)[rng.integers(2, n, 10)]
        e, f, out, _ = errors("categorical_crossentropy", "accurate", y.astype(fmt), z.astype(fmt), from_logits=True)
        assert not f.any() and np.all(np.isfinite(out))
        assert np.max(e) <= (4.0 if fmt == "float64" else 1.0)


@pytest.mark.slow
def test_softmax_unshifted_rows_with_large_terms_keep_the_shifted_accuracy():
    # maxima from 5 to 640: the unshifted terms exp(x_i) reach 1e278, so the
    # compensated sum must scale its extraction per row (a fixed one, made for
    # terms in [0, 1], was off by ~1.5 ulp of the sum and 6 ulp in p)
    rng = np.random.default_rng(31)
    x = rng.normal(size=(300, 100)) * rng.choice([1.0, 3.0, 10.0], size=(300, 1))
    x += rng.uniform(5, 640, size=(300, 1)) - x.max(axis=1, keepdims=True)
    assert _unshifted.unshifted_rows(x, True).all()
    e, f, _, ref = errors("softmax", "accurate", x)
    assert not f.any()
    e_shifted = ref.ulp_error(_accrows.Rows(x, True, block_rows=300).softmax().copy())
    assert np.max(e) <= 3.0
    assert np.mean(e) <= np.mean(e_shifted) + 0.05


@pytest.mark.parametrize("n", [2, 10, 100])
def test_winner_far_ahead_gets_its_subnormal_log_probability(n):
    # every other class 690-750 behind: s = sum exp(d_i) is near or below the
    # smallest normal float64, where each term's own rounding is half a
    # subnormal ulp; the winner's log-probability -s must still round right
    rng = np.random.default_rng(40 + n)
    x = rng.normal(size=(60, n)) * 10
    x[:, 0] = x[:, 1:].max(axis=1) + np.linspace(690, 750, 60)
    e, f, y, _ = errors("log_softmax", "accurate", x)
    assert not f.any()
    assert np.sum((y[:, 0] < 0) & (y[:, 0] > -2.3e-308)) >= 20  # subnormal winners
    assert np.max(e[:, 0]) <= 1.0
    assert np.max(e) <= 4.0


@pytest.mark.slow
@pytest.mark.parametrize("n", [10, 100])
def test_float32_log_probabilities_behind_a_far_winner_are_correctly_rounded(n):
    # x_i - m of float32 values is often exactly a float32 midpoint; behind a
    # winner 37+ ahead, L is below half a float64 ulp of it and only L's sign
    # says which way to round (0.04% of such entries went the wrong way)
    rng = np.random.default_rng(50 + n)
    x = (rng.normal(size=(400, n)) * 3).astype(np.float32)
    x[:, 0] = x[:, 1:].max(axis=1) + rng.uniform(37, 60, 400).astype(np.float32)
    labels = rng.integers(1, n, 400)
    onehot = np.eye(n, dtype=np.float32)[labels]
    for fn, args, kw in (("log_softmax", (x,), {}),
                         ("sparse_categorical_crossentropy", (labels, x), {"from_logits": True}),
                         ("categorical_crossentropy", (onehot, x), {"from_logits": True})):
        e, f, _, _ = errors(fn, "accurate", *args, **kw)
        assert not f.any()
        assert np.max(e) <= 0.5, fn
