"""The loss options (label smoothing, sample / class / positive-class weights,
ignored labels, reductions): every tier against an independent float64
computation, against PyTorch and Keras where their semantics coincide, the
input checks, and the accurate tier's accuracy against mpmath."""

from __future__ import annotations

import mpmath
import numpy as np
import pytest

import stabkit
from stabkit import accurate, naive, stable
from stabkit.floats import ulp

TIERS = [naive, stable, accurate]
REDUCTIONS = ["none", "sum", "mean", "sum_over_batch_size"]


# ------------------------------------------------------------ independent float64 forms


def _reduce(wl, w, count, red):
    if red == "none":
        return wl
    if red == "sum":
        return wl.sum()
    if red == "mean":
        return wl.sum() / w.sum()
    return wl.sum() / count if count else 0.0


def _logp(z, from_logits):
    if from_logits:
        m = z.max(-1, keepdims=True)
        return z - m - np.log(np.exp(z - m).sum(-1, keepdims=True))
    return np.log(z / z.sum(-1, keepdims=True))


def ref_sparse(y, z, from_logits, ignore=None, cw=None, sw=None, ls=0.0, red="none"):
    # PyTorch's formula: (1 - ls) w_y nll_y + ls/n sum_c w_c nll_c, ignored rows 0
    n = z.shape[-1]
    logp = _logp(z, from_logits)
    keep = np.ones(y.shape, bool) if ignore is None else y != ignore
    yy = np.where(keep, y, 0)
    w = np.ones(n) if cw is None else np.asarray(cw, float)
    per = -(1 - ls) * w[yy] * np.take_along_axis(logp, yy[..., None], -1)[..., 0] - ls / n * (w * logp).sum(-1)
    per = np.where(keep, per, 0.0)
    s = np.ones(y.shape) if sw is None else np.asarray(sw, float)
    return _reduce(per * s, s * w[yy] * keep, keep.sum(), red)


def ref_categorical(y, z, from_logits, ls=0.0, cw=None, sw=None, red="none"):
    n = z.shape[-1]
    w = np.ones(n) if cw is None else np.asarray(cw, float)
    per = -(w * (y * (1 - ls) + ls / n) * _logp(z, from_logits)).sum(-1)
    s = np.ones(per.shape) if sw is None else np.asarray(sw, float)
    return _reduce(per * s, s * (y @ w if cw is not None else 1.0), per.size, red)


def ref_bce(y, x, from_logits, ls=0.0, pw=None, sw=None, red="none"):
    yt = y * (1 - ls) + ls / 2
    pw = 1.0 if pw is None else np.asarray(pw, float)
    lp, lq = (-np.logaddexp(0, -x), -np.logaddexp(0, x)) if from_logits else (np.log(x), np.log1p(-x))
    per = -(pw * yt * lp + (1 - yt) * lq)
    s = np.broadcast_to(1.0 if sw is None else np.asarray(sw, float), per.shape)
    return _reduce(per * s, s, per.size, red)


def _data(seed=0, batch=12, n=5):
    rng = np.random.default_rng(seed)
    z = rng.normal(size=(batch, n)) * 3
    e = np.exp(z - z.max(-1, keepdims=True))
    return rng, z, e / e.sum(-1, keepdims=True), rng.integers(0, n, batch)


SPARSE_CASES = [
    {}, {"ignore_index": -100}, {"ignore_index": 2}, {"class_weight": "w"}, {"sample_weight": "s"},
    {"label_smoothing": 0.2}, {"ignore_index": -100, "class_weight": "w", "sample_weight": "s", "label_smoothing": 0.1},
]


def _fill(opts, rng, batch, n):
    out = dict(opts)
    if out.get("class_weight") == "w":
        out["class_weight"] = rng.uniform(0.2, 3.0, n)
    if out.get("sample_weight") == "s":
        out["sample_weight"] = rng.uniform(0.0, 2.0, batch)
    return out


@pytest.mark.parametrize("tier", TIERS, ids=lambda t: t.__name__)
@pytest.mark.parametrize("red", REDUCTIONS)
@pytest.mark.parametrize("case", range(len(SPARSE_CASES)))
@pytest.mark.parametrize("from_logits", [True, False])
def test_sparse_options_match_the_formula(tier, red, case, from_logits):
    rng, z, p, y = _data(case)
    opts = _fill(SPARSE_CASES[case], rng, *z.shape)
    if "ignore_index" in opts:
        y[::3] = opts["ignore_index"]
    got = tier.sparse_categorical_crossentropy(y, z if from_logits else p, from_logits, reduction=red, **opts)
    want = ref_sparse(y, z if from_logits else p, from_logits, opts.get("ignore_index"), opts.get("class_weight"),
                      opts.get("sample_weight"), opts.get("label_smoothing", 0.0), red)
    assert np.shape(got) == np.shape(want) and got.dtype == np.float64
    np.testing.assert_allclose(got, want, rtol=1e-12, atol=0)


@pytest.mark.parametrize("tier", TIERS, ids=lambda t: t.__name__)
@pytest.mark.parametrize("red", REDUCTIONS)
@pytest.mark.parametrize("opts", [{}, {"label_smoothing": 0.3}, {"class_weight": "w"}, {"sample_weight": "s"},
                                  {"label_smoothing": 0.1, "class_weight": "w", "sample_weight": "s"}], ids=str)
@pytest.mark.parametrize("from_logits", [True, False])
def test_categorical_options_match_the_formula(tier, red, opts, from_logits):
    rng, z, p, _ = _data(7)
    y = rng.dirichlet(np.ones(z.shape[1]), z.shape[0])
    opts = _fill(opts, rng, *z.shape)
    got = tier.categorical_crossentropy(y, z if from_logits else p, from_logits, reduction=red, **opts)
    want = ref_categorical(y, z if from_logits else p, from_logits, opts.get("label_smoothing", 0.0),
                           opts.get("class_weight"), opts.get("sample_weight"), red)
    np.testing.assert_allclose(got, want, rtol=1e-12, atol=0)


@pytest.mark.parametrize("tier", TIERS, ids=lambda t: t.__name__)
@pytest.mark.parametrize("red", REDUCTIONS)
@pytest.mark.parametrize("opts", [{}, {"label_smoothing": 0.2}, {"pos_weight": [0.5, 2.0, 3.0]}, {"sample_weight": "s"},
                                  {"label_smoothing": 0.05, "pos_weight": 4.0, "sample_weight": "s"}], ids=str)
@pytest.mark.parametrize("from_logits", [True, False])
def test_binary_options_match_the_formula(tier, red, opts, from_logits):
    rng = np.random.default_rng(3)
    x = rng.normal(size=(8, 3)) * 4
    y = rng.choice([0.0, 1.0, 0.3], size=x.shape)
    opts = dict(opts)
    if opts.get("sample_weight") == "s":
        opts["sample_weight"] = rng.uniform(0, 2, (8, 1))
    xin = x if from_logits else 1 / (1 + np.exp(-x))
    got = tier.binary_crossentropy(y, xin, from_logits, reduction=red, **opts)
    want = ref_bce(y, xin, from_logits, opts.get("label_smoothing", 0.0), opts.get("pos_weight"), opts.get("sample_weight"), red)
    # naive 1 - sigmoid(x) and stable (1 - y) x + ... cancel: ~e**|x| u at |x| <= 15
    np.testing.assert_allclose(got, want, rtol=1e-12 if tier is accurate else 1e-8, atol=0)


# ------------------------------------------------------------ PyTorch


@pytest.mark.parametrize("tier", TIERS, ids=lambda t: t.__name__)
@pytest.mark.parametrize("red", ["none", "sum", "mean"])
def test_against_torch(tier, red):
    torch = pytest.importorskip("torch")
    F = torch.nn.functional
    T = torch.from_numpy
    rng, z, p, y = _data(11, batch=16, n=6)
    y[[1, 5, 6]] = -100
    w = rng.uniform(0.3, 2.0, 6)
    for ls in (0.0, 0.15):
        want = F.cross_entropy(T(z), T(y), weight=T(w), ignore_index=-100, label_smoothing=ls, reduction=red).numpy()
        got = tier.sparse_categorical_crossentropy(y, z, True, ignore_index=-100, class_weight=w, label_smoothing=ls, reduction=red)
        np.testing.assert_allclose(got, want, rtol=1e-12, atol=1e-15)
    # nll_loss of log-probabilities: the sparse loss from probabilities
    want = F.nll_loss(T(np.log(p)), T(y), weight=T(w), ignore_index=-100, reduction=red).numpy()
    np.testing.assert_allclose(tier.sparse_categorical_crossentropy(y, p, ignore_index=-100, class_weight=w, reduction=red),
                               want, rtol=1e-12, atol=1e-15)
    # probability targets: PyTorch's mean divides by the batch, our sum_over_batch_size
    soft = rng.dirichlet(np.ones(6), 16)
    ours = {"mean": "sum_over_batch_size"}.get(red, red)
    want = F.cross_entropy(T(z), T(soft), weight=T(w), label_smoothing=0.1, reduction=red).numpy()
    got = tier.categorical_crossentropy(soft, z, True, 0.1, class_weight=w, reduction=ours)
    np.testing.assert_allclose(got, want, rtol=1e-12, atol=1e-15)
    # BCE: pos_weight over the last axis; torch's weight= is our sample_weight (its mean divides by the count)
    x, yb = rng.normal(size=(5, 3)) * 6, rng.uniform(0, 1, (5, 3))
    pw, sw = np.array([0.5, 1.0, 4.0]), rng.uniform(0, 2, (5, 1))
    want = F.binary_cross_entropy_with_logits(T(x), T(yb), weight=T(sw), pos_weight=T(pw), reduction=red).numpy()
    got = tier.binary_crossentropy(yb, x, True, pos_weight=pw, sample_weight=sw, reduction=ours)
    np.testing.assert_allclose(got, want, rtol=1e-12, atol=1e-15)
    q = 1 / (1 + np.exp(-x))
    want = F.binary_cross_entropy(T(q), T(yb), weight=T(sw), reduction=red).numpy()
    np.testing.assert_allclose(tier.binary_crossentropy(yb, q, sample_weight=sw, reduction=ours), want, rtol=1e-12, atol=1e-15)


# ------------------------------------------------------------ Keras (JAX backend)


@pytest.fixture(scope="module")
def keras():
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("KERAS_BACKEND", "jax")  # read once, at keras's first import
        keras = pytest.importorskip("keras")
    if keras.backend.backend() != "jax":
        pytest.skip(f"keras was imported with the {keras.backend.backend()} backend")
    return keras


@pytest.mark.parametrize("tier", TIERS, ids=lambda t: t.__name__)
def test_against_keras(tier, keras):
    rng, z, p, y = _data(5, batch=10, n=4)
    z32, sw = z.astype(np.float32), rng.uniform(0, 2, 10).astype(np.float32)
    y[[0, 3]] = 3
    for red, ours in ((None, "none"), ("sum", "sum"), ("sum_over_batch_size", "sum_over_batch_size"),
                      ("mean_with_sample_weight", "mean")):
        k = keras.losses.SparseCategoricalCrossentropy(from_logits=True, ignore_class=3, reduction=red)
        got = tier.sparse_categorical_crossentropy(y, z32.astype(np.float64), True, ignore_class=3, sample_weight=sw, reduction=ours)
        np.testing.assert_allclose(got, np.asarray(k(y[:, None], z32, sample_weight=sw)), rtol=2e-5, atol=1e-6)
        k = keras.losses.CategoricalCrossentropy(from_logits=True, label_smoothing=0.2, reduction=red)
        got = tier.categorical_crossentropy(np.eye(4)[y], z32.astype(np.float64), True, 0.2, sample_weight=sw, reduction=ours)
        np.testing.assert_allclose(got, np.asarray(k(np.eye(4)[y], z32, sample_weight=sw)), rtol=2e-5, atol=1e-6)
    # Keras renormalises rows that do not sum to 1 (the stable and accurate tiers too)
    q = (p * 1.004).astype(np.float32)
    k = keras.losses.CategoricalCrossentropy(label_smoothing=0.1, reduction=None)
    want = np.asarray(k(np.eye(4)[y], q))
    if tier is not naive:
        np.testing.assert_allclose(tier.categorical_crossentropy(np.eye(4)[y], q.astype(np.float64), label_smoothing=0.1), want, rtol=2e-5)
    # Keras's BCE averages the last axis; ours is elementwise
    x = rng.normal(size=(6, 3)).astype(np.float32) * 5
    yb = rng.uniform(0, 1, (6, 3)).astype(np.float32)
    k = keras.losses.BinaryCrossentropy(from_logits=True, label_smoothing=0.1, reduction=None)
    got = tier.binary_crossentropy(yb.astype(np.float64), x.astype(np.float64), True, 0.1)
    np.testing.assert_allclose(got.mean(-1), np.asarray(k(yb, x)), rtol=2e-5)


# ------------------------------------------------------------ checks


@pytest.mark.parametrize("tier", TIERS, ids=lambda t: t.__name__)
def test_bad_options_name_the_argument(tier):
    _, z, p, y = _data(1, batch=4, n=3)
    sce, cce, bce = tier.sparse_categorical_crossentropy, tier.categorical_crossentropy, tier.binary_crossentropy
    cases = [
        (ValueError, "reduction must be one of 'none', 'sum', 'mean', 'sum_over_batch_size'", lambda: sce(y, z, True, reduction="avg")),
        (ValueError, r"\(Keras's 'mean_with_sample_weight' is 'mean' here\)",
         lambda: sce(y, z, True, reduction="mean_with_sample_weight")),
        (ValueError, r"label_smoothing must lie in \[0, 1\]", lambda: cce(np.eye(3)[y], z, True, 1.5)),
        (TypeError, "label_smoothing must be a number", lambda: bce(p, p, label_smoothing="0.1")),
        (ValueError, r"class_weight needs one weight per class \(3\)", lambda: sce(y, z, True, class_weight=[1, 2])),
        (ValueError, "class_weight must be non-negative", lambda: cce(np.eye(3)[y], z, True, class_weight=[1, -2, 1])),
        (ValueError, "class_weight has the key 7", lambda: sce(y, z, True, class_weight={7: 2.0})),
        (ValueError, "sample_weight has shape", lambda: sce(y, z, True, sample_weight=np.ones(3))),
        (ValueError, "pos_weight must be non-negative", lambda: bce(p, z, True, pos_weight=-1.0)),
        (TypeError, "ignore_index must be an integer", lambda: sce(y, z, True, ignore_index=1.5)),
        (ValueError, "disagree", lambda: sce(y, z, True, ignore_index=1, ignore_class=2)),
        (ValueError, r"y_true must hold targets in \[0, 1\]", lambda: bce(p * 2, z, True)),
        (ValueError, r"y_true must hold targets in \[0, 1\]", lambda: cce(-np.eye(3)[y], z, True)),
        (ValueError, "pass from_logits=True", lambda: bce(p, z)),
        (ValueError, "pass from_logits=True", lambda: sce(y, z)),
        (ValueError, r"the row at \(1,\) sums to 0.5", lambda: cce(np.eye(3)[y], p * [[1.0], [0.5], [1.0], [1.0]])),
        (ValueError, "the row sums to 0.6", lambda: cce([1.0, 0.0], [0.3, 0.3])),
    ]
    for exc, msg, call in cases:
        with pytest.raises(exc, match=msg):
            call()


@pytest.mark.parametrize("fmt", ["float16", "bfloat16", "float32", "float64"])
def test_target_range_check_at_the_edges(fmt):
    """The targets' range check (one integer maximum over the bit patterns,
    the exact minimum and maximum only when that fails) accepts exactly
    [-0, 1] and NaN in every format, and reports the range of the values
    that are not NaN."""
    from stabkit.floats import get_format

    f = get_format(fmt)
    dt = f.dtype
    tiny, below_one = np.array(f.smallest_subnormal, dtype=dt), np.array(1.0 - 2.0 ** -f.precision, dtype=dt)
    above_one = np.nextafter(np.float64(1.0), 2.0, dtype=np.float64) if fmt == "float64" else np.float64(1.0 + 2.0 ** (1 - f.precision))
    z = np.zeros((2, 3), dtype=dt)
    for edge in (0.0, -0.0, 1.0, np.nan, float(tiny), float(below_one)):
        y = np.array([[0.5, 0.25, 0.25], [0.25, edge, 0.5]]).astype(dt)
        for tier in TIERS:
            with np.errstate(all="ignore"):
                tier.categorical_crossentropy(y, z, from_logits=True)
                tier.binary_crossentropy(y, z, from_logits=True)
    for edge, lo, hi in ((-float(tiny), -float(tiny), 0.5), (float(above_one), 0.25, float(above_one)),
                         (np.inf, 0.25, np.inf), (-np.inf, -np.inf, 0.5), (-1.0, -1.0, 0.5)):
        y = np.array([[0.5, 0.25, np.nan], [0.25, edge, 0.5]]).astype(dt)
        want = rf"y_true must hold targets in \[0, 1\]; it holds values in \[{lo:g}, {hi:g}\]$"
        for tier in TIERS:
            with pytest.raises(ValueError, match=want.replace("+", r"\+")):
                tier.categorical_crossentropy(y, z, from_logits=True)
            with pytest.raises(ValueError, match=want.replace("+", r"\+")):
                tier.binary_crossentropy(y, z, from_logits=True)
    # predictions taken as probabilities: the same check and its own message
    with pytest.raises(ValueError, match=r"y_pred must hold probabilities in \[0, 1\].*\[-0.5, 0.5\]"):
        stable.binary_crossentropy(np.zeros(2, dt), np.array([0.5, -0.5]).astype(dt))


@pytest.mark.parametrize("threads", [1, 2])
def test_accurate_categorical_targets_are_checked_block_by_block(threads):
    """The accurate tier checks the categorical loss's targets a block of
    rows at a time, as the blocks read them: an out-of-range target in the
    last block still raises with the whole array's range (and on two
    threads), NaN and -0.0 targets in many blocks pass (the whole array is
    then checked once), and every option path checks them."""
    rng = np.random.default_rng(44)
    z = rng.standard_normal((20000, 40)).astype(np.float32)
    y = rng.dirichlet(np.ones(40), size=20000).astype(np.float32)
    bad = y.copy()
    bad[-1, 7] = 1.5
    bad[3, 0] = -0.0
    with accurate.workers(threads):
        for kw in ({}, {"label_smoothing": 0.1}, {"reduction": "mean"}):
            with pytest.raises(ValueError, match=r"it holds values in \[-0, 1.5\]$"):
                accurate.categorical_crossentropy(bad, z, from_logits=True, **kw)
        odd = y.copy()
        odd[::1000, 0] = -0.0
        odd[5::1000, 1] = np.nan
        loss = accurate.categorical_crossentropy(odd, z, from_logits=True)
        assert np.isnan(loss[5::1000]).all() and np.isfinite(np.delete(loss, np.s_[5::1000])).all()
        assert np.array_equal(loss[::1000], accurate.categorical_crossentropy(np.abs(odd[::1000]), z[::1000], True))


def test_target_range_check_reads_any_dtype():
    """Big-endian, integer and long-double targets (which the bit test does not
    read) are checked exactly."""
    from stabkit._accurate import lossopts

    for y in (np.array([0.5, 1.5], dtype=">f8"), np.array([0, 2]), np.array([0.5, -0.5], dtype=np.longdouble)):
        with pytest.raises(ValueError, match=r"y_true must hold targets in \[0, 1\]"):
            lossopts.check_targets(y)
    for y in (np.array([0.5, -0.0, 1.0], dtype=">f8"), np.array([0, 1]), np.array([0.5, np.nan], dtype=np.longdouble)):
        lossopts.check_targets(y)
    lossopts.check_targets(np.zeros((0, 3), dtype=np.float32))


@pytest.mark.parametrize("tier", TIERS, ids=lambda t: t.__name__)
def test_accepted_inputs(tier):
    rng, z, p, y = _data(2, batch=6, n=4)
    # Keras's (batch, 1) labels; a dict of class weights (missing classes weigh 1)
    assert np.array_equal(tier.sparse_categorical_crossentropy(y[:, None], z, True), tier.sparse_categorical_crossentropy(y, z, True))
    np.testing.assert_array_equal(tier.sparse_categorical_crossentropy(y, z, True, class_weight={1: 3.0}),
                                  tier.sparse_categorical_crossentropy(y, z, True, class_weight=[1.0, 3.0, 1.0, 1.0]))
    # NaN passes the checks and propagates
    pn = p.copy()
    pn[0, 0] = np.nan
    with np.errstate(all="ignore"):
        out = tier.categorical_crossentropy(np.eye(4)[y], pn)
    assert np.isnan(out[0]) and np.isfinite(out[1:]).all()
    # a float16 softmax of a long row, summed in float16, is accepted as probabilities
    row = rng.normal(size=(2, 4096)).astype(np.float16)
    e = np.exp(row - row.max(-1, keepdims=True))
    q = e / np.sum(e, axis=-1, keepdims=True, dtype=np.float16)
    with np.errstate(all="ignore"):
        assert tier.sparse_categorical_crossentropy([0, 1], q).dtype == np.float16


@pytest.mark.parametrize("tier", TIERS, ids=lambda t: t.__name__)
def test_ignored_labels(tier):
    z = np.array([[0.0, 1.0], [np.nan, 0.0], [2.0, 0.0]])
    y = np.array([1, -100, 0])
    with np.errstate(all="ignore"):
        out = tier.sparse_categorical_crossentropy(y, z, True, ignore_index=-100)
        assert out[1] == 0.0 and np.isfinite(out).all()  # an ignored row is 0 even with NaN logits
        mean = tier.sparse_categorical_crossentropy(y, z, True, ignore_index=-100, reduction="mean")
        assert mean == pytest.approx((out[0] + out[2]) / 2, rel=1e-15)
        # nothing left: mean is 0/0 (PyTorch), sum_over_batch_size 0 (Keras)
        none = np.full(3, -100)
        assert np.isnan(tier.sparse_categorical_crossentropy(none, z, True, ignore_index=-100, reduction="mean"))
        assert tier.sparse_categorical_crossentropy(none, z, True, ignore_index=-100, reduction="sum_over_batch_size") == 0.0


@pytest.mark.parametrize("tier", TIERS, ids=lambda t: t.__name__)
@pytest.mark.parametrize("dtype", ["float16", "bfloat16", "float32"])
def test_reductions_keep_the_format(tier, dtype):
    rng, z, _, y = _data(4)
    got = tier.sparse_categorical_crossentropy(y, z.astype(dtype), True, class_weight=np.ones(5), reduction="mean")
    assert got.shape == () and got.dtype == np.dtype(dtype)
    want = ref_sparse(y, z.astype(dtype).astype(np.float64), True, red="mean")
    assert float(got) == pytest.approx(want, rel=3e-2 if dtype == "bfloat16" else 3e-3)


def test_sparse_smoothing_is_categorical_of_the_smoothed_one_hot():
    _, z, _, y = _data(9)
    for tier in TIERS:
        np.testing.assert_allclose(tier.sparse_categorical_crossentropy(y, z, True, label_smoothing=0.3),
                                   tier.categorical_crossentropy(np.eye(5)[y], z, True, 0.3), rtol=1e-15)


# ------------------------------------------------------------ naive failures, accurate accuracy


def _ulps(got, exact, fmt="float64"):
    return float(abs(mpmath.mpf(float(got)) - exact) / ulp(float(exact), fmt))


def test_naive_fails_where_the_accurate_tier_does_not():
    # pos_weight = 3 at (x = 40, y = 0): sigmoid(40) rounds to 1, so the
    # naive log(1 - p) is -inf; the exact loss is softplus(40) = 40 + 4.2e-18
    with np.errstate(all="ignore"):
        assert naive.binary_crossentropy([0.0], [40.0], True, pos_weight=3.0)[0] == np.inf
        # exp(800) overflows: p_1 = 1/inf = 0, so the weighted sum is inf
        z = np.array([[800.0, 0.0]])
        assert np.isinf(naive.sparse_categorical_crossentropy([1], z, True, class_weight=[1.0, 2.0], reduction="sum"))
    assert stabkit.binary_crossentropy([0.0], [40.0], True, pos_weight=3.0)[0] == 40.0
    assert stabkit.sparse_categorical_crossentropy([1], z, True, class_weight=[1.0, 2.0], reduction="sum") == 1600.0


def test_accurate_binary_with_options_against_mpmath():
    # soft targets near 1, a pos_weight and smoothing: the stable forms cancel
    y = np.array([0.999999, 1.0, 0.0, 0.5])
    x = np.array([40.0, 36.0, -38.0, 700.0])
    ls, pw = 1e-6, np.array([2.0, 0.5, 3.0, 1.5])
    got = stabkit.binary_crossentropy(y, x, True, ls, pos_weight=pw)
    st = stable.binary_crossentropy(y, x, True, ls, pos_weight=pw)
    with mpmath.workprec(300):
        for i in range(4):
            yt = mpmath.mpf(y[i]) * (1 - mpmath.mpf(ls)) + mpmath.mpf(ls) / 2
            xi = mpmath.mpf(x[i])
            exact = pw[i] * yt * mpmath.log1p(mpmath.exp(-xi)) + (1 - yt) * mpmath.log1p(mpmath.exp(xi))
            assert _ulps(got[i], exact) <= 2, i
            if i == 0:  # PyTorch's (1 - y) x + ... cancels at (40, 0.999999)
                assert _ulps(st[i], exact) > 1e3


def test_accurate_reduction_against_mpmath():
    # confident rows (losses ~1e-9) with class and sample weights, summed over
    # 3000 rows plus one large loss: an accurate sum of accurate terms
    rng = np.random.default_rng(8)
    z = rng.normal(size=(3001, 4))
    z[:, 0] += 20.0
    z[0, 0] = -30.0
    y = np.zeros(3001, int)
    cw, sw = np.array([0.7, 1.0, 1.0, 1.0]), rng.uniform(0.5, 1.5, 3001)
    for red in ("sum", "mean"):
        got = stabkit.sparse_categorical_crossentropy(y, z, True, class_weight=cw, sample_weight=sw, reduction=red)
        with mpmath.workprec(200):
            terms = [mpmath.mpf(sw[i]) * mpmath.mpf(cw[0]) * (mpmath.log(mpmath.fsum(mpmath.exp(mpmath.mpf(v)) for v in z[i])) - mpmath.mpf(z[i, 0]))
                     for i in range(3001)]
            exact = mpmath.fsum(terms)
            if red == "mean":
                exact /= mpmath.fsum(mpmath.mpf(s) * mpmath.mpf(cw[0]) for s in sw)
        assert _ulps(got, exact) <= 3, red


def test_accurate_renormalisation_against_mpmath():
    # rows that miss 1 by more than a rounding: the loss of the renormalised row
    p = np.array([[1.0, 1e-10], [1 - 2.0**-40, 2.0**-41], [0.25, 0.7499], [0.5, 0.5 + 2.0**-30]])
    y = np.array([0, 0, 1, 1])
    got = stabkit.sparse_categorical_crossentropy(y, p)
    cat = stabkit.categorical_crossentropy(np.eye(2)[y] * 0.9 + 0.05, p)
    with mpmath.workprec(300):
        for i in range(4):
            s = mpmath.mpf(p[i, 0]) + mpmath.mpf(p[i, 1])
            lq = [mpmath.log(mpmath.mpf(v) / s) for v in p[i]]
            assert _ulps(got[i], -lq[y[i]]) <= 2, i
            t = np.eye(2)[y[i]] * 0.9 + 0.05
            assert _ulps(cat[i], -(mpmath.mpf(t[0]) * lq[0] + mpmath.mpf(t[1]) * lq[1])) <= 2, i
    # Keras's rescale-and-clip (stable) keeps 1e-7 where the exact loss of row 0 is 1e-10
    assert stable.sparse_categorical_crossentropy(y[:1], p[:1])[0] > 9e-8
    assert naive.sparse_categorical_crossentropy(y[:1], p[:1])[0] == 0.0


@pytest.mark.parametrize("where", ["y_true", "y_pred"])
@pytest.mark.parametrize("tier", TIERS, ids=lambda t: t.__name__)
def test_a_signalling_nan_does_not_hide_an_out_of_range_value(tier, where):
    """np.fmax.reduce([sNaN, 2.0, 0.5]) is 0.5 (a signalling NaN drops the
    entries before it): the range check must not use it, or a probability
    or target of 2 passes (the accurate tier returned a negative loss)."""
    snan = np.array([0x7FF0000000000001], dtype=np.uint64).view(np.float64)[0]
    bad = np.array([snan, 2.0, 0.5])
    assert np.isnan(snan) and np.fmax.reduce(bad) == 0.5  # the trap itself
    ok = np.array([1.0, 1.0, 1.0]) if where == "y_pred" else np.array([0.5, 0.5, 0.5])
    args = (ok, bad) if where == "y_pred" else (bad, ok)
    with pytest.raises(ValueError, match=r"in \[0, 1\].*it holds values in \[0.5, 2\]"):
        tier.binary_crossentropy(*args)
