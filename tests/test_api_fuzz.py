"""Issue 15: the front door (:mod:`stabkit._api`), fuzzed with hypothesis.

Every option of the public signatures is only a rearrangement of the call the
cores already answer: ``axis`` (int, negative, tuple in any order, None, ())
is a moveaxis and a reshape to one last axis, ``keepdims`` a reshape,
``where=`` a fill with ``-inf``, ``dtype=`` one rounding of the input, torch
and JAX arrays a change of container. So each tier's answer must equal, bit
for bit, the same tier's plain ``axis=-1`` call on the array rearranged by
hand here, with NumPy's reduction shapes and the contract's dtypes.
"""

from __future__ import annotations

import math
import warnings

import ml_dtypes
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from stabkit import accurate, naive, stable
from stabkit._api.arrays import DetachedGradWarning
from stabkit.floats import get_format, round_float64

from helpers.bits import is_float, same_bits

TIERS = (naive, stable, accurate)
ROWWISE = ("softmax", "log_softmax")
ELEMENTWISE = ("sigmoid", "log_sigmoid", "softplus")
FLOATS = [np.float16, ml_dtypes.bfloat16, np.float32, np.float64]
DTYPES = [np.dtype(d) for d in FLOATS + [np.int8, np.int64, np.uint8, np.bool_, ">f2", ">f4", ">f8", ">i4"]]
SETTINGS = settings(max_examples=100, deadline=None)


def _specials(dt: np.dtype) -> list[float]:
    if dt.kind == "b":
        return [0, 1]
    if dt.kind in "iu":
        return [0, 1, 5, 100] + ([-1, -100] if dt.kind == "i" else [])
    fi = ml_dtypes.finfo(dt.newbyteorder("="))
    sub, big = float(fi.smallest_subnormal), float(fi.max)
    return [np.nan, np.inf, -np.inf, 0.0, -0.0, sub, -sub, big, -big, 1.0, -1.0, 20.0, -40.0, 88.0, 800.0, -800.0]


@st.composite
def arrays(draw, dtypes=DTYPES, min_ndim=0):
    """A 0-d to 4-d array (zero-length axes included) of hostile values, in
    any of the dtypes and in a C, strided, Fortran, reversed, zero-stride or
    read-only layout."""
    dt = draw(st.sampled_from(dtypes))
    shape = tuple(draw(st.lists(st.integers(0, 3), min_size=min_ndim, max_size=4)))
    n = math.prod(shape)
    pool = _specials(dt)
    elem = st.one_of(st.sampled_from(pool), st.floats(-30, 30)) if is_float(dt) else st.sampled_from(pool)
    vals = draw(st.lists(elem, min_size=n, max_size=n))
    with np.errstate(all="ignore"):
        a = np.array(vals, dtype=np.float64).astype(dt).reshape(shape)
    layout = draw(st.sampled_from(["c", "strided", "fortran", "reversed", "broadcast", "readonly"]))
    if layout == "strided" and a.ndim:
        a = np.repeat(a, 2, axis=-1)[..., ::2]
    elif layout == "fortran":
        a = np.asfortranarray(a)
    elif layout == "reversed" and a.ndim:
        a = a[..., ::-1]
    elif layout == "broadcast" and a.ndim:
        a = np.broadcast_to(a[..., :1], a.shape)  # zero strides, read-only
    elif layout == "readonly":
        a.setflags(write=False)
    return a


@st.composite
def axes(draw, ndim: int):
    """An axis for an ``ndim``-d array: None, (), an int (negative too), or a
    tuple of distinct axes in any order and with either sign."""
    n = max(ndim, 1)  # a 0-d array is a row of one: axis 0 or -1
    kind = draw(st.sampled_from(["none", "empty", "int", "tuple"]))
    if kind == "none":
        return None
    if kind == "empty":
        return ()
    if kind == "int":
        return draw(st.integers(-n, n - 1))
    picked = draw(st.permutations(range(n)))[: draw(st.integers(1, n))]
    return tuple(ax - n if draw(st.booleans()) else ax for ax in picked)


@st.composite
def masks(draw, shape):
    """A boolean mask broadcastable to ``shape``: some leading axes dropped,
    some others of length 1."""
    keep = draw(st.integers(0, len(shape)))
    mshape = tuple(1 if draw(st.booleans()) else d for d in shape[len(shape) - keep:])
    n = math.prod(mshape)
    return np.array(draw(st.lists(st.booleans(), min_size=n, max_size=n)), dtype=bool).reshape(mshape)


def _out_dtype(dt: np.dtype) -> np.dtype:
    """The contract: floats keep their format (native byte order), integers
    and booleans become float64."""
    return dt.newbyteorder("=") if is_float(dt) else np.dtype(np.float64)


def _norm(axis, ndim: int) -> list[int]:
    if axis is None:
        return list(range(ndim))
    return sorted(ax % ndim for ax in (axis if isinstance(axis, tuple) else (axis,)))


def _by_hand(fn, a: np.ndarray, axis, keepdims=None):
    """``fn`` along ``axis`` computed as ``fn(rows, axis=-1)`` on the array
    rearranged here: the axes moved last (in increasing order), merged, and
    copied to a fresh C-ordered array (the bits may not depend on layout).
    ``keepdims`` None: a row-wise result; else a reduction."""
    b = a.reshape(1) if a.ndim == 0 else a
    ax = _norm(axis, b.ndim)
    last = list(range(b.ndim - len(ax), b.ndim))
    moved = np.moveaxis(b, ax, last)
    rest = moved.shape[: b.ndim - len(ax)]
    rows = np.ascontiguousarray(moved.reshape(rest + (math.prod(moved.shape[len(rest):]),)))
    y = np.asarray(fn(rows, axis=-1))
    if keepdims is None:
        return np.moveaxis(y.reshape(moved.shape), last, ax).reshape(a.shape)
    if a.ndim == 0:
        return y.reshape(())
    return np.expand_dims(y, tuple(ax)) if keepdims else y


def _check_type(y, a: np.ndarray) -> None:
    """A NumPy scalar for a 0-d result, an ndarray otherwise; never a view
    of the input."""
    if np.ndim(y) == 0:
        assert isinstance(y, np.generic), type(y)
    else:
        assert type(y) is np.ndarray and not np.shares_memory(y, a)


# ------------------------------------------------------------ axis, keepdims


@SETTINGS
@given(data=st.data())
def test_axes_are_a_rearrangement_bit_for_bit(data):
    a = data.draw(arrays())
    axis = data.draw(axes(a.ndim))
    keepdims = data.draw(st.booleans())
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # the naive tier's overflows
        for tier in TIERS:
            for name in ROWWISE:
                fn = getattr(tier, name)
                y = fn(a, axis=axis)
                same_bits(y, _by_hand(fn, a, axis))
                assert np.asarray(y).dtype == _out_dtype(a.dtype)
                _check_type(y, a)
            y = tier.logsumexp(a, axis=axis, keepdims=keepdims)
            same_bits(y, _by_hand(tier.logsumexp, a, axis, keepdims))
            # NumPy's reduction shape (a 0-d array, a row of one, reduces to 0-d)
            assert np.shape(y) == (np.sum(np.zeros(a.shape), axis=axis, keepdims=keepdims).shape if a.ndim else ())
            assert np.asarray(y).dtype == _out_dtype(a.dtype)
            _check_type(y, a)


@SETTINGS
@given(data=st.data())
def test_tuple_order_and_sign_do_not_matter(data):
    a = data.draw(arrays(dtypes=[np.dtype(np.float64), np.dtype(np.float32)], min_ndim=2))
    axis = data.draw(axes(a.ndim).filter(lambda ax: isinstance(ax, tuple) and len(ax) > 1))
    canonical = tuple(_norm(axis, a.ndim))
    for tier in TIERS:
        with np.errstate(all="ignore"):
            same_bits(tier.softmax(a, axis=axis), tier.softmax(a, axis=canonical))
            same_bits(tier.logsumexp(a, axis=axis, keepdims=True), tier.logsumexp(a, axis=canonical, keepdims=True))


# ------------------------------------------------------------ where=


def _filled(a: np.ndarray, w: np.ndarray) -> np.ndarray:
    """``a`` with the masked entries set to -inf by hand (integers first
    become float64, as the contract makes them)."""
    af = a if is_float(a.dtype) else a.astype(np.float64)
    return np.where(w, af, np.asarray(-np.inf, af.dtype))


@SETTINGS
@given(data=st.data())
def test_where_is_a_fill_with_minus_inf_bit_for_bit(data):
    a = data.draw(arrays())
    axis = data.draw(axes(a.ndim))
    w = data.draw(masks(a.shape))
    keepdims = data.draw(st.booleans())
    filled = _filled(a, w)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        for tier in TIERS:
            for name in ROWWISE:
                fn = getattr(tier, name)
                # the fill's values, and the masked entries' exp(-inf) = 0 or -inf
                # (which a row masked whole, 0/0 with the fill alone, gets too)
                want = fn(filled, axis=axis)
                want = np.where(np.broadcast_to(w, want.shape), want,
                                np.asarray(-np.inf if name == "log_softmax" else 0.0, want.dtype))
                same_bits(fn(a, axis=axis, where=w), want)
            same_bits(tier.logsumexp(a, axis=axis, keepdims=keepdims, where=w),
                      tier.logsumexp(filled, axis=axis, keepdims=keepdims))
            # the mask given as a (nested) list is the same mask (where the
            # list keeps the shape: [] for a (0, 1) mask does not)
            if np.shape(w.tolist()) == w.shape:
                same_bits(tier.logsumexp(a, axis=axis, where=w.tolist()), tier.logsumexp(filled, axis=axis))


@SETTINGS
@given(data=st.data())
@pytest.mark.filterwarnings("ignore::RuntimeWarning")
def test_all_masked_rows_are_empty_sums_as_in_jax(data):
    a = data.draw(arrays(min_ndim=1).filter(lambda x: x.size > 0))
    axis = data.draw(axes(a.ndim))
    w = data.draw(masks(a.shape))
    dead = ~np.broadcast_to(w, a.shape)
    rows_dead = _by_hand(lambda r, axis: np.all(r, axis=axis), dead, axis, keepdims=False)
    for tier in (stable, accurate):
        lse = np.asarray(tier.logsumexp(a, axis=axis, where=w), dtype=np.float64)
        assert np.all(lse[rows_dead] == -np.inf)
        spread = _by_hand(lambda r, axis: np.broadcast_to(np.all(r, axis=axis, keepdims=True), r.shape), dead, axis)
        for name in ROWWISE:
            y = np.asarray(getattr(tier, name)(a, axis=axis, where=w), dtype=np.float64)
            # jax.nn's values (the all -inf row's NaN before)
            assert np.all(y[spread] == (-np.inf if name == "log_softmax" else 0.0))


# ------------------------------------------------------------ dtype=


@SETTINGS
@given(data=st.data())
def test_dtype_is_one_rounding_of_the_input(data):
    a = data.draw(arrays())
    axis = data.draw(axes(a.ndim))
    target = data.draw(st.sampled_from(["float16", "bfloat16", "float32", "float64"]))
    with np.errstate(all="ignore"):
        rounded = round_float64(np.asarray(a, dtype=np.float64), get_format(target))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        for tier in TIERS:
            same_bits(tier.softmax(a, axis=axis, dtype=target), tier.softmax(rounded, axis=axis))
            same_bits(tier.logsumexp(a, axis=axis, dtype=target), tier.logsumexp(rounded, axis=axis))
            for name in ELEMENTWISE:
                same_bits(getattr(tier, name)(a, dtype=target), getattr(tier, name)(rounded))


# ------------------------------------------------------------ elementwise


@SETTINGS
@given(data=st.data())
def test_elementwise_types_scalars_lists(data):
    a = data.draw(arrays())
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        for tier in TIERS:
            for name in ELEMENTWISE:
                fn = getattr(tier, name)
                y = fn(a)
                assert np.shape(y) == a.shape and np.asarray(y).dtype == _out_dtype(a.dtype)
                _check_type(y, a)
                flat = fn(a.reshape(-1))
                same_bits(y, flat.reshape(a.shape))
                # a list, and each element as a NumPy scalar: the same bits
                if a.dtype.isnative:
                    same_bits(fn(a.tolist()), fn(np.array(a.tolist())))
                for v, want in list(zip(a.reshape(-1)[:3], flat[:3])):
                    got = fn(v)
                    assert isinstance(got, np.generic)
                    same_bits(got, want)


@SETTINGS
@given(data=st.data())
def test_softplus_threshold_is_a_choice_between_two_answers(data):
    # PyTorch's linear regime: x itself where beta*x > threshold, else the
    # tier's softplus(x, beta) with no threshold; types as without options
    a = data.draw(arrays())
    beta = data.draw(st.sampled_from([1.0, 2.0, 0.5, 3.7]))
    threshold = data.draw(st.sampled_from([20.0, 1.0, 0.0, -5.0, np.inf, -np.inf]))
    with warnings.catch_warnings(), np.errstate(all="ignore"):
        warnings.simplefilter("ignore", RuntimeWarning)
        lin = np.asarray(a, dtype=np.float64) * beta > threshold
        for tier in TIERS:
            y = tier.softplus(a, beta=beta, threshold=threshold)
            smooth = np.asarray(tier.softplus(a, beta=beta, threshold=None))
            same_bits(y, np.where(lin, a.astype(smooth.dtype), smooth))
            assert np.asarray(y).dtype == _out_dtype(a.dtype)
            _check_type(y, a)


@pytest.mark.parametrize("tier", TIERS, ids=lambda t: t.__name__.split(".")[-1])
def test_python_scalars_are_numpy_scalars(tier):
    for v, dt in [(0.5, np.float64), (3, np.float64), (True, np.float64), (np.float16(0.5), np.float16),
                  (np.array(2.0, np.float32), np.float32), (np.array(1, ">i2"), np.float64)]:
        for name in ELEMENTWISE + ROWWISE + ("logsumexp",):
            y = getattr(tier, name)(v)
            assert isinstance(y, np.generic) and y.dtype == dt, (name, v, type(y))


# ------------------------------------------------------------ torch and JAX


def _torch_variant(torch, t, how: str):
    if how == "transposed" and t.ndim >= 2:
        return t.transpose(0, -1)
    if how == "stepped" and t.ndim >= 1:
        return torch.repeat_interleave(t, 2, dim=-1)[..., ::2]
    if how == "neg":
        return torch._neg_view(-t)
    if how == "conj":
        return t.conj()
    if how == "grad":
        return t.clone().requires_grad_(True)
    return t


@SETTINGS
@given(data=st.data())
def test_torch_in_and_out_equals_the_numpy_path(data):
    torch = pytest.importorskip("torch")
    a = data.draw(arrays(dtypes=[np.dtype(d) for d in FLOATS]))
    tdt = {"float16": torch.float16, "bfloat16": torch.bfloat16, "float32": torch.float32, "float64": torch.float64}
    t = torch.from_numpy(np.asarray(a, dtype=np.float64).copy()).to(tdt[a.dtype.name])
    t = _torch_variant(torch, t, data.draw(st.sampled_from(["plain", "transposed", "stepped", "neg", "conj", "grad"])))
    # the same values as a NumPy array, read through float64 (exact)
    ref = t.detach().resolve_neg().to(torch.float64).contiguous().numpy().astype(a.dtype)
    axis = data.draw(axes(t.ndim))
    w = data.draw(masks(tuple(t.shape)))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        warnings.simplefilter("ignore", DetachedGradWarning)
        for tier in TIERS:
            for call in (lambda x, **k: tier.softmax(x, axis=axis, **k),
                         lambda x, **k: tier.logsumexp(x, axis=axis, **k),
                         lambda x, **k: tier.sigmoid(x)):
                y = call(t)
                assert isinstance(y, torch.Tensor) and y.dtype == t.dtype and not y.requires_grad
                want = call(ref)
                assert tuple(y.shape) == np.shape(want)
                same_bits(y.to(torch.float64).numpy(), np.asarray(want, dtype=np.float64))
            y = tier.log_softmax(t, axis=axis, where=torch.from_numpy(w))
            same_bits(y.to(torch.float64).numpy(), np.asarray(tier.log_softmax(ref, axis=axis, where=w), dtype=np.float64))


@SETTINGS
@given(data=st.data())
def test_jax_in_and_out_equals_the_numpy_path(data):
    jnp = pytest.importorskip("jax.numpy")
    import jax

    a = data.draw(arrays(dtypes=[np.dtype(d) for d in (np.float16, ml_dtypes.bfloat16, np.float32)]))
    x = jnp.asarray(a)
    axis = data.draw(axes(a.ndim))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        for tier in TIERS:
            for y, want in [(tier.softmax(x, axis=axis), tier.softmax(a, axis=axis)),
                            (tier.logsumexp(x, axis=axis), tier.logsumexp(a, axis=axis)),
                            (tier.softplus(x), tier.softplus(a))]:
                assert isinstance(y, jax.Array) and y.dtype == x.dtype
                same_bits(np.asarray(y), want)
