"""The small-call fast paths of the public wrappers (a plain float ndarray,
the last axis as an int, default options, loss arguments bound without
inspect) must answer exactly as the general paths they skip: the same call
spelled positionally, by keyword, with defaults, with an axis as a tuple or
a NumPy integer, or with an ndarray subclass (which takes the general
conversion) gives the same bits, the same result type, and the same error."""

from __future__ import annotations

import inspect
import warnings

import ml_dtypes
import numpy as np
import pytest

from stabkit import accurate, naive, stable
from stabkit._accurate.inputs import as_input, last_axis
from stabkit._api.lossargs import _binder

TIERS = (naive, stable, accurate)
LOSSES = ("binary_crossentropy", "sparse_categorical_crossentropy", "categorical_crossentropy")


class _Sub(np.ndarray):
    """An ndarray subclass: the conversion's general path (np.asarray)."""


def _inputs():
    rng = np.random.default_rng(7)
    edge = np.array([[0.0, -0.0, 1.0, np.nan], [np.inf, -np.inf, 3.0, 2.0], [-np.inf] * 4,
                     [1e308, -1e308, 0.5, -0.5], [-0.0, -0.0, -800.0, 5e-324]])
    return {
        "row": rng.normal(size=10) * 4,
        "batch": rng.normal(size=(4, 10)) * 30,
        "batch32": rng.normal(size=(32, 10)),
        "wide": rng.normal(size=(3, 40)) * 5,
        "edge": edge,
        "f32": (rng.normal(size=(4, 10)) * 10).astype(np.float32),
        "f16": rng.normal(size=(4, 7)).astype(np.float16),
        "bf16": rng.normal(size=(3, 5)).astype(ml_dtypes.bfloat16),
        "3d": rng.normal(size=(2, 3, 5)),
        "scalar": np.float64(-1.5),
        "f32 scalar": np.float32(0.75),
        "float": 0.25,
        "0d": np.array(2.5),
    }


INPUTS = _inputs()


def _bits(v):
    """Everything a caller can see of a result: type, dtype, shape, bits."""
    if isinstance(v, tuple):
        return tuple(_bits(u) for u in v)
    a = np.asarray(v)
    return type(v).__name__, str(a.dtype), a.shape, a.tobytes()


def _outcome(call):
    """The result's bits, or the exception's type and message."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            return "ok", _bits(call())
    except Exception as e:  # noqa: BLE001 - comparing which error, whatever it is
        return "error", type(e).__name__, str(e)


def _same(calls):
    outcomes = [_outcome(c) for c in calls]
    for o in outcomes[1:]:
        assert o == outcomes[0]
    return outcomes[0]


class _Float(float):
    """A float subclass: the conversion's general path for a scalar."""


def _sub(x):
    """``x`` as a type that takes the general conversion, same values."""
    if isinstance(x, (np.ndarray, np.generic)):
        return np.asarray(x).view(_Sub)
    return _Float(x) if isinstance(x, float) else x


# ------------------------------------------------------------ elementwise


@pytest.mark.parametrize("tier", TIERS, ids=lambda t: t.__name__)
@pytest.mark.parametrize("fn", ["sigmoid", "log_sigmoid", "softplus"])
@pytest.mark.parametrize("name", list(INPUTS))
def test_elementwise_spellings_agree(tier, fn, name):
    f, x = getattr(tier, fn), INPUTS[name]
    calls = [lambda: f(x), lambda: f(x, dtype=None), lambda: f(_sub(x)), lambda: f(np.asarray(x).tolist())]
    if np.ndim(x) and x.dtype.name != "bfloat16":  # a list keeps float64 only
        calls.pop()
    if fn == "softplus":
        calls += [lambda: f(x, 1.0), lambda: f(x, beta=np.float64(1.0)), lambda: f(x, 1)]
    if np.asarray(x).dtype != np.float64:
        calls = calls[:3] + calls[4:]
    assert _same(calls)[0] == "ok"


@pytest.mark.parametrize("tier", TIERS, ids=lambda t: t.__name__)
def test_softplus_options_fast_and_general_agree(tier):
    x = INPUTS["batch"]
    _same([lambda: tier.softplus(x, 2.0, 5.0), lambda: tier.softplus(x, np.float64(2.0), np.float32(5.0)),
           lambda: tier.softplus(x, beta=2, threshold=5)])
    for bad in (float("nan"), -1.0, float("inf"), 0.0):
        # the same error for a float as for the NumPy scalar the general path reads
        assert _same([lambda: tier.softplus(x, bad), lambda: tier.softplus(x, np.float64(bad))])[0] == "error"


# ------------------------------------------------------------ row-wise


def _axis_spellings(f, x, axis):
    """``f(x, axis)`` spelled every way that names the same single axis."""
    nd = max(np.ndim(x), 1)
    ax = axis % nd
    return [lambda: f(x, axis), lambda: f(x, axis=axis), lambda: f(x, axis=ax - nd), lambda: f(x, axis=ax),
            lambda: f(x, axis=np.int64(axis)), lambda: f(x, axis=(axis,)), lambda: f(x, axis=[ax]),
            lambda: f(_sub(x), axis)]


@pytest.mark.parametrize("tier", TIERS, ids=lambda t: t.__name__)
@pytest.mark.parametrize("fn", ["softmax", "log_softmax"])
@pytest.mark.parametrize("name", list(INPUTS))
def test_rowwise_spellings_agree(tier, fn, name):
    f, x = getattr(tier, fn), INPUTS[name]
    assert _same([lambda: f(x), lambda: f(x, where=None, dtype=None)] + _axis_spellings(f, x, -1))[0] == "ok"
    if np.ndim(x) >= 2:
        # another axis: the moved rows give the same bits as a C-ordered copy
        _same(_axis_spellings(f, x, 0) + [lambda: np.moveaxis(f(np.ascontiguousarray(np.moveaxis(x, 0, -1))), -1, 0)])


@pytest.mark.parametrize("tier", TIERS, ids=lambda t: t.__name__)
@pytest.mark.parametrize("name", list(INPUTS))
def test_logsumexp_spellings_agree(tier, name):
    f, x = tier.logsumexp, INPUTS[name]
    nd = np.ndim(x)
    whole = [lambda: f(x), lambda: f(x, None), lambda: f(x, axis=tuple(range(nd))), lambda: f(_sub(x))]
    assert _same(whole)[0] == "ok"
    assert _same(_axis_spellings(f, x, -1) + [lambda: f(x, -1, None, False, False)])[0] == "ok"
    _same([lambda: f(x, -1, keepdims=True, return_sign=True), lambda: f(x, (nd - 1,) if nd else -1, None, 1, True)])


@pytest.mark.parametrize("tier", TIERS, ids=lambda t: t.__name__)
@pytest.mark.parametrize("fn", ["softmax", "log_softmax", "logsumexp"])
@pytest.mark.parametrize("name", ["row", "batch", "batch32", "wide", "edge", "f32", "f16", "bf16", "3d"])
def test_cores_answer_alike_for_every_spelling_of_an_axis(tier, fn, name):
    # the cores' own quick paths (the last axis as a Python int: no
    # np.moveaxis) against the general ones (a NumPy integer, another axis of
    # columns short enough that NumPy adds them in order either way; float16
    # is summed in float32 along a contiguous axis only)
    core, x = getattr(tier, fn).__core__, INPUTS[name]
    nd = x.ndim
    assert _same([lambda: core(x, -1), lambda: core(x, axis=nd - 1), lambda: core(x, np.int64(-1)),
                  lambda: core(x, np.int32(nd - 1))])[0] == "ok"
    if nd >= 2 and x.shape[0] <= 7 and x.dtype in (np.float32, np.float64):
        moved = np.ascontiguousarray(np.moveaxis(x, 0, -1))
        back = (lambda v: v) if fn == "logsumexp" else (lambda v: np.moveaxis(v, -1, 0))
        _same([lambda: core(x, 0), lambda: core(x, np.int64(-nd)), lambda: back(core(moved, -1))])


@pytest.mark.parametrize("tier", TIERS, ids=lambda t: t.__name__)
@pytest.mark.parametrize("fn", ["softmax", "log_softmax", "logsumexp"])
@pytest.mark.parametrize("axis", [2, -3, True, 1.0, "a", (0, 0)])
def test_bad_axes_give_the_same_error_however_spelled(tier, fn, axis):
    f, x = getattr(tier, fn), INPUTS["batch"]
    assert _same([lambda: f(x, axis), lambda: f(x, axis=axis), lambda: f(_sub(x), axis=axis)])[0] == "error"


# ------------------------------------------------------------ losses


def _loss_args(fn, x):
    rng = np.random.default_rng(3)
    n = x.shape[-1]
    labels = rng.integers(0, n, x.shape[:-1])
    if fn == "sparse_categorical_crossentropy":
        return labels
    if fn == "categorical_crossentropy":
        return np.eye(n)[labels].astype(x.dtype)
    return (rng.random(x.shape) < 0.5).astype(x.dtype)


@pytest.mark.parametrize("tier", TIERS, ids=lambda t: t.__name__)
@pytest.mark.parametrize("fn", LOSSES)
@pytest.mark.parametrize("name", ["row", "batch", "batch32", "wide", "edge", "f32", "f16", "3d"])
def test_loss_spellings_agree(tier, fn, name):
    f, z = getattr(tier, fn), INPUTS[name]
    y = _loss_args(fn, z)
    calls = [lambda: f(y, z, True), lambda: f(y, z, from_logits=True), lambda: f(y_true=y, y_pred=z, from_logits=True),
             lambda: f(y_pred=z, from_logits=True, y_true=y), lambda: f(y, _sub(z), True),
             lambda: f(y, z, True, reduction="none", sample_weight=None)]
    if fn == "sparse_categorical_crossentropy":
        calls += [lambda: f(y, z, True, axis=-1), lambda: f(y, z, True, axis=-1, ignore_index=None),
                  lambda: f(y, z, True, axis=np.int64(-1), ignore_class=None)]
    else:
        calls += [lambda: f(y, z, True, 0.0), lambda: f(y, z, True, label_smoothing=0.0)]
    if fn == "categorical_crossentropy":
        calls += [lambda: f(y, z, True, 0.0, -1), lambda: f(y, z, True, axis=z.ndim - 1)]
    assert _same(calls)[0] == "ok"


@pytest.mark.parametrize("name", ["row", "batch", "wide", "edge", "f32", "f16", "3d"])
def test_stable_sparse_crossentropy_is_the_public_logsumexp_minus_the_label(name):
    # the loss calls the logsumexp core directly: it must keep answering as
    # the public function on C-ordered rows, even for a strided y_pred
    z = INPUTS[name]
    y = _loss_args("sparse_categorical_crossentropy", z)
    want = stable.logsumexp(z, axis=-1) - np.take_along_axis(z, y[..., None], axis=-1)[..., 0]
    for zz in (z, np.asfortranarray(z)):
        assert _bits(stable.sparse_categorical_crossentropy(y, zz, from_logits=True)) == _bits(want)


_BAD_CALLS = {
    "too few": ((), {}),
    "one": ((0,), {}),
    "too many": ((0, 1, True, 0.0, -1, None, None), {}),
    "twice": ((0, 1), {"y_true": 0}),
    "unknown": ((0, 1), {"bogus": 1}),
    "kw-only given positionally": ((0, 1, True, 0.0, -1, None, None, None), {}),
    "missing y_pred": ((), {"y_true": 0, "from_logits": True}),
}


@pytest.mark.parametrize("tier", TIERS, ids=lambda t: t.__name__)
@pytest.mark.parametrize("fn", LOSSES)
@pytest.mark.parametrize("bad", list(_BAD_CALLS))
def test_loss_binding_errors_are_inspects(tier, fn, bad):
    f = getattr(tier, fn)
    args, kwargs = _BAD_CALLS[bad]
    with pytest.raises(TypeError) as want:
        inspect.signature(f).bind(*args, **kwargs)
    with pytest.raises(TypeError) as got:
        f(*args, **kwargs)
    assert str(got.value) == f"{fn}(): {want.value}"


@pytest.mark.parametrize("fn", LOSSES)
def test_quick_binder_accepts_exactly_what_inspect_binds(fn):
    sig = inspect.signature(getattr(stable, fn))
    bind = _binder(sig)
    names = list(sig.parameters) + ["bogus"]
    rng = np.random.default_rng(0)
    for _ in range(3000):
        args = [0] * int(rng.integers(0, len(sig.parameters) + 2))
        kwargs = {str(k): 0 for k in rng.choice(names, size=int(rng.integers(0, 4)), replace=False)}
        try:
            sig.bind(*args, **kwargs)
            ok = True
        except TypeError:
            ok = False
        assert bind(args, kwargs) == ok, (len(args), kwargs)


# ------------------------------------------------------------ the shared input helpers


@pytest.mark.parametrize("axis", [-1, 2, np.int64(-1), np.int32(2)])
def test_last_axis_quick_return_is_the_moved_view(axis):
    a = np.arange(24.0).reshape(2, 3, 4)
    got = last_axis(a, axis)
    assert got.shape == a.shape and np.shares_memory(got, a) and np.array_equal(got, np.moveaxis(a, -1, -1))
    with pytest.raises(ValueError, match="at least a 1-d array"):
        last_axis(np.array(1.0), -1)
    with pytest.raises(ValueError, match="out of bounds"):
        last_axis(a, 3)


def test_as_input_cache_keeps_conversions_and_errors():
    for _ in range(2):  # the second round reads the cache
        for x, dtype in ((np.ones(3), np.float64), (np.ones(3, np.float32), np.float32),
                         (np.ones(3, ">f8"), np.float64), (np.arange(3), np.float64),
                         (np.ones(3, ml_dtypes.bfloat16), ml_dtypes.bfloat16)):
            a, fmt = as_input(x)
            assert a.dtype == np.dtype(dtype) and a.dtype.isnative and fmt.dtype == a.dtype
        with pytest.raises(ValueError, match="unsupported dtype"):
            as_input(np.ones(3, ml_dtypes.float8_e4m3fn))
        with pytest.raises(TypeError, match="complex"):
            as_input(np.ones(3, complex))
