"""Issue 7: hypothesis over the function library with hostile inputs.

NaN, +-inf, +-0, subnormals, empty and zero-size arrays, non-contiguous and
0-d arrays, and mixed dtypes (float16 predictions with float64 labels, ints,
bools, bfloat16). In every tier: the output format is the input format
(integers and booleans become float64), the shapes are the documented ones,
and the only exceptions are the documented ValueErrors. The accurate tier
also keeps the edge contract of :mod:`stabkit.accurate`'s module docstring.
"""

from __future__ import annotations

import warnings

import ml_dtypes
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from stabkit import accurate, registry

TIERS = {t: registry.module(t) for t in registry.TIERS}
FLOATS = [np.float16, ml_dtypes.bfloat16, np.float32, np.float64]
OTHERS = [np.int8, np.int32, np.int64, np.uint8, np.bool_]
SETTINGS = settings(max_examples=200, deadline=None)


def _specials(dt) -> list[float]:
    if dt in OTHERS:
        return [0, 1, -1, 5, 100] if np.dtype(dt).kind == "i" else [0, 1, 5]
    fi = ml_dtypes.finfo(dt)
    tiny, sub, big = float(fi.tiny), float(fi.smallest_subnormal), float(fi.max)
    return [np.nan, np.inf, -np.inf, 0.0, -0.0, sub, -sub, tiny, -tiny, big, -big, 1.0, -1.0, 0.5, 20.0, -40.0, 88.0, 800.0, -800.0]


@st.composite
def hostile(draw, min_ndim=0):
    """A hostile array: (array, its original dtype)."""
    dt = draw(st.sampled_from(FLOATS + OTHERS))
    ndim = draw(st.integers(min_ndim, 3))
    shape = tuple(draw(st.lists(st.integers(0, 4), min_size=ndim, max_size=ndim)))
    pool = _specials(dt)
    n = int(np.prod(shape)) if shape else 1
    vals = draw(st.lists(st.one_of(st.sampled_from(pool), st.floats(-50, 50)) if dt in FLOATS else st.sampled_from(pool),
                         min_size=n, max_size=n))
    with np.errstate(all="ignore"):
        a = np.array(vals, dtype=np.float64).astype(dt).reshape(shape)
    layout = draw(st.sampled_from(["c", "strided", "transposed", "fortran"]))
    if layout == "strided" and a.ndim:
        big = np.repeat(a, 2, axis=-1)
        a = big[..., ::2]
        assert not a.flags.c_contiguous or a.shape[-1] <= 1 or a.size == 0
    elif layout == "transposed" and a.ndim >= 2:
        a = np.ascontiguousarray(np.swapaxes(a, -1, -2)).swapaxes(-1, -2)
    elif layout == "fortran":
        a = np.asfortranarray(a)
    return a, np.dtype(dt)


def _out_dtype(dt: np.dtype) -> np.dtype:
    return np.dtype(np.float64) if dt.kind in "biu" else dt


def _call(fn, *args, **kw):
    with np.errstate(all="ignore"), warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # the naive tier keeps NumPy's warnings
        return fn(*args, **kw)


@SETTINGS
@given(case=hostile(), tier=st.sampled_from(list(TIERS)), name=st.sampled_from(["sigmoid", "log_sigmoid", "softplus"]))
def test_elementwise(case, tier, name):
    x, dt = case
    y = _call(getattr(TIERS[tier], name), x)
    y = np.asarray(y)
    assert y.dtype == _out_dtype(dt) and y.shape == x.shape
    if tier == "accurate":  # integers included: NaN cannot appear
        x64 = x.astype(np.float64)
        assert np.array_equal(np.isnan(y.astype(np.float64)), np.isnan(x64))  # NaN in, NaN out, nowhere else


def _row_contract(x64: np.ndarray, p, lp, lse) -> None:
    """accurate.py's edge contract, row by row (classes on the last axis)."""
    n_rows, n = int(np.prod(x64.shape[:-1])), x64.shape[-1]
    rows = x64.reshape(n_rows, n)
    p, lp = (np.asarray(a, np.float64).reshape(n_rows, n) for a in (p, lp))
    lse = np.asarray(lse, np.float64).reshape(n_rows)
    for r, pr, lpr, lser in zip(rows, p, lp, lse):
        if r.size == 0:
            assert lser == -np.inf
            continue
        n_pinf = int(np.sum(r == np.inf))
        if np.isnan(r).any():
            assert np.isnan(pr).all() and np.isnan(lpr).all() and np.isnan(lser)
        elif np.all(r == -np.inf):
            assert lser == -np.inf and np.isnan(pr).all() and np.isnan(lpr).all()
        elif n_pinf == 1:
            k = r == np.inf
            assert lser == np.inf and np.all(pr[k] == 1) and np.all(pr[~k] == 0)
            assert np.all(lpr[k] == 0) and np.all(lpr[~k] == -np.inf)
        elif n_pinf >= 2:
            assert lser == np.inf and np.isnan(pr).all() and np.isnan(lpr).all()
        else:
            m = r == -np.inf
            assert np.all(pr[m] == 0) and np.all(lpr[m] == -np.inf)
            assert not np.isnan(pr).any() and not np.isnan(lpr).any() and not np.isnan(lser)
            assert np.all((pr >= 0) & (pr <= 1)) and np.all(lpr <= 0)


@SETTINGS
@given(case=hostile(), tier=st.sampled_from(list(TIERS)), keepdims=st.booleans())
def test_rowwise(case, tier, keepdims):
    x, dt = case
    t = TIERS[tier]
    if x.ndim == 0:  # a scalar is a row of one (issue 15: scipy's softmax(3.0) is 1.0)
        p, lp, lse = (_call(fn, x) for fn in (t.softmax, t.log_softmax, t.logsumexp))
        assert np.ndim(p) == np.ndim(lp) == np.ndim(lse) == 0
        assert np.asarray(p).dtype == np.asarray(lse).dtype == _out_dtype(dt)
        if tier == "accurate":
            _row_contract(x.reshape(1, 1).astype(np.float64), np.reshape(p, (1, 1)), np.reshape(lp, (1, 1)),
                          np.reshape(lse, (1, 1)))
        return
    p, lp = _call(t.softmax, x), _call(t.log_softmax, x)
    lse, lse_k = _call(t.logsumexp, x, axis=-1), _call(t.logsumexp, x, axis=-1, keepdims=keepdims)
    want = _out_dtype(dt)
    assert p.dtype == lp.dtype == np.asarray(lse).dtype == want
    assert p.shape == lp.shape == x.shape
    assert np.shape(lse) == x.shape[:-1]
    assert np.shape(lse_k) == (x.shape[:-1] + (1,) if keepdims else x.shape[:-1])
    if x.ndim >= 2:  # another axis gives the same as moving it last
        p0 = _call(t.softmax, x, axis=0)
        assert p0.shape == x.shape and p0.dtype == want
    if tier == "accurate":
        _row_contract(x.astype(np.float64), p, lp, np.asarray(lse)[..., None])


def _loss(fn, *args, from_logits):
    """``fn``'s loss, or None where it refuses, with from_logits=False,
    values that are no probabilities (outside [0, 1], rows not summing to 1)."""
    try:
        return _call(fn, *args, from_logits=from_logits)
    except ValueError as e:
        if from_logits or not any(m in str(e) for m in ("probabilities in [0, 1]", "rows must sum to 1")):
            raise
        assert "from_logits=True" in str(e)
        return None


@st.composite
def loss_case(draw):
    x, dt = draw(hostile(min_ndim=1))
    label_dtype = draw(st.sampled_from([np.float64, np.float32, np.int64, np.bool_, np.float16, ml_dtypes.bfloat16]))
    return x, dt, label_dtype, draw(st.booleans()), draw(st.randoms(use_true_random=False))


@SETTINGS
@given(case=loss_case(), tier=st.sampled_from(list(TIERS)))
def test_losses(case, tier):
    x, dt, ldt, from_logits, rnd = case
    t, want = TIERS[tier], _out_dtype(dt)
    # binary: one target per prediction, in {0, 1} (or 0.5 for float labels)
    choices = [0, 1] if np.dtype(ldt).kind in "biu" else [0.0, 1.0, 0.5]
    y = np.array([rnd.choice(choices) for _ in range(x.size)], dtype=ldt).reshape(x.shape)
    b = _loss(t.binary_crossentropy, y, x, from_logits=from_logits)
    assert b is None or (b.dtype == want and b.shape == x.shape)
    with pytest.raises(ValueError, match="shape"):
        _call(t.binary_crossentropy, y.reshape(-1)[:-1] if y.size else np.zeros(1), x, from_logits=from_logits)
    # categorical: one-hot or soft rows of the same shape
    c = _loss(t.categorical_crossentropy, y, x, from_logits=from_logits)
    assert c is None or (c.dtype == want and c.shape == x.shape[:-1])
    # sparse: one class index per row
    n = x.shape[-1]
    batch = x.shape[:-1]
    if n == 0 and int(np.prod(batch)) > 0:
        with pytest.raises(ValueError):
            _call(t.sparse_categorical_crossentropy, np.zeros(batch, np.int64), x, from_logits=from_logits)
        return
    labels = np.array([rnd.randrange(max(n, 1)) for _ in range(int(np.prod(batch)))], dtype=np.int64).reshape(batch)
    s = _loss(t.sparse_categorical_crossentropy, labels.astype(ldt if np.dtype(ldt).kind != "b" else np.int64), x,
              from_logits=from_logits)
    assert s is None or (s.dtype == want and s.shape == batch)
    if n and labels.size:
        for bad in (n, -1):
            with pytest.raises(ValueError, match="out of range"):
                _call(t.sparse_categorical_crossentropy, np.full(batch, bad), x, from_logits=from_logits)
        if batch:
            # (batch, 1) labels are accepted (Keras), (batch, 2) are not
            with pytest.raises(ValueError, match="labels have shape"):
                _call(t.sparse_categorical_crossentropy, np.zeros(batch + (2,), np.int64), x, from_logits=from_logits)


@pytest.mark.parametrize("tier", list(TIERS))
@pytest.mark.parametrize("bad", [np.array(["a"]), np.array([1.0], dtype=np.longdouble)])
def test_unsupported_dtypes_are_a_value_error(tier, bad):
    if bad.dtype == np.float64:  # longdouble is float64 on some platforms
        pytest.skip("longdouble is float64 here")
    for name in ("sigmoid", "softmax", "logsumexp"):
        with pytest.raises(ValueError, match="unsupported dtype"):
            _call(getattr(TIERS[tier], name), bad)


@pytest.mark.parametrize("tier", list(TIERS))
def test_complex_input_is_a_type_error(tier):
    for name in ("sigmoid", "softmax", "logsumexp"):
        with pytest.raises(TypeError, match=r"(x|a) is complex \(complex128\)"):
            _call(getattr(TIERS[tier], name), np.array([1 + 2j]))


def test_shift_that_overflows_is_not_nan():
    """Found by test_rowwise: [max, -max] in float64 shifts -max by max to
    -inf, and TwoSum's error term of that shift was inf - inf = NaN, which made
    the accurate softmax [nan, nan] instead of [1, 0]."""
    x = np.array([[1.79769313e308, -1.79769313e308]])
    assert np.array_equal(accurate.softmax(x), [[1.0, 0.0]])
    assert np.array_equal(accurate.log_softmax(x), [[0.0, -np.inf]])
    assert accurate.logsumexp(x, axis=-1)[0] == 1.79769313e308
    assert accurate.sparse_categorical_crossentropy([0], x, from_logits=True)[0] == 0.0
