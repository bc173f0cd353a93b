"""The public conventions shared by the three tiers (issue 15): the calls a
SciPy, JAX, Keras or PyTorch user writes first, answered the same way by
naive, stable and accurate, and the caller's array type given back."""

from __future__ import annotations

import importlib
import inspect
import warnings

import ml_dtypes

import numpy as np
import pytest
import scipy.special as sp

from stabkit import accurate, naive, stable
from stabkit import DetachedGradWarning  # public: README, array types

TIERS = (naive, stable, accurate)
ROWWISE = ("softmax", "log_softmax")
ELEMENTWISE = ("sigmoid", "log_sigmoid", "softplus")


def _x(shape=(3, 4, 5), seed=0):
    return np.random.default_rng(seed).normal(size=shape) * 3


# ------------------------------------------------------------ axis


@pytest.mark.parametrize("tier", TIERS, ids=lambda t: t.__name__)
@pytest.mark.parametrize("axis", [0, 1, -1, (0, 2), (1, 2), (0, 1, 2), None, (-1, 0)])
def test_softmax_axes_match_scipy(tier, axis):
    x = _x()
    want = sp.softmax(x, axis=axis)
    np.testing.assert_allclose(tier.softmax(x, axis=axis), want, rtol=1e-13)
    np.testing.assert_allclose(tier.log_softmax(x, axis=axis), sp.log_softmax(x, axis=axis), rtol=1e-12, atol=1e-14)


@pytest.mark.parametrize("tier", TIERS, ids=lambda t: t.__name__)
@pytest.mark.parametrize("axis", [0, -1, (0, 2), None, ()])
@pytest.mark.parametrize("keepdims", [False, True])
def test_logsumexp_axes_and_keepdims_match_scipy(tier, axis, keepdims):
    x = _x()
    got = tier.logsumexp(x, axis=axis, keepdims=keepdims)
    want = sp.logsumexp(x, axis=axis, keepdims=keepdims)
    assert np.shape(got) == np.shape(want)
    np.testing.assert_allclose(got, want, rtol=1e-13)


def test_logsumexp_default_reduces_the_whole_array_as_scipy_jax_keras_do():
    x = _x((4, 6))
    for tier in TIERS:
        got = tier.logsumexp(x)
        assert np.ndim(got) == 0 and isinstance(got, np.float64)
        assert got == pytest.approx(sp.logsumexp(x), rel=1e-14)
    # softmax keeps jax.nn / keras.ops / torch's axis=-1 (SciPy's default is None)
    np.testing.assert_allclose(accurate.softmax(x).sum(axis=-1), 1.0, rtol=1e-15)


def test_whole_array_reduction_keeps_the_accurate_guarantee():
    # a log-probability "matrix" whose total logsumexp is ~1e-17 (cancels in
    # the stable formula); only the accurate tier gets it to a few ulps
    import mpmath

    rng = np.random.default_rng(3)
    p = rng.dirichlet(np.ones(12)).reshape(3, 4)
    x = np.log(p)
    with mpmath.workprec(400):
        exact = float(mpmath.log(mpmath.fsum(mpmath.exp(mpmath.mpf(float(v))) for v in x.ravel())))
    got = accurate.logsumexp(x)
    assert abs(got - exact) <= 4 * np.spacing(abs(exact))


@pytest.mark.parametrize("bad", [2, -3, (0, 0), (0, 5)])
def test_bad_axes_are_one_clear_value_error(bad):
    for tier in TIERS:
        with pytest.raises(ValueError, match="axis"):
            tier.softmax(np.zeros((2, 3)), axis=bad)
        with pytest.raises(ValueError, match="axis"):
            tier.logsumexp(np.zeros((2, 3)), axis=bad)


def test_non_integer_axis_is_a_type_error():
    for tier in TIERS:
        with pytest.raises(TypeError, match="axis must be an int, a tuple of ints or None"):
            tier.softmax(np.zeros((2, 3)), axis=1.5)


# ------------------------------------------------------------ scalars, lists


@pytest.mark.parametrize("tier", TIERS, ids=lambda t: t.__name__)
def test_scalars_lists_and_0d(tier):
    assert tier.sigmoid(0.0) == 0.5 and isinstance(tier.sigmoid(0.0), np.float64)
    assert tier.sigmoid(np.float32(0.0)).dtype == np.float32
    assert tier.softmax(3.0) == 1.0
    assert tier.logsumexp(np.array(2.0)) == 2.0
    assert isinstance(tier.softmax([1.0, 2.0]), np.ndarray)
    np.testing.assert_allclose(tier.softmax([[1, 2], [3, 4]]), sp.softmax([[1, 2], [3, 4]], axis=-1), rtol=1e-14)
    with pytest.raises(ValueError, match="ragged"):
        tier.softmax([[1.0, 2.0], [3.0]])
    with pytest.raises(TypeError, match="must be an array or a number"):
        tier.sigmoid("1.0")
    # a 0-d input's axis error names the input (was "an array of dimension 1")
    with pytest.raises(ValueError, match=r"axis 1 is out of bounds for a 0-d input \(a row of one"):
        tier.logsumexp(3.0, axis=1)


@pytest.mark.parametrize("tier", TIERS, ids=lambda t: t.__name__)
def test_out_of_range_axis_is_numpys_axis_error_as_in_scipy(tier):
    # was a plain ValueError: a SciPy user's `except np.exceptions.AxisError`
    # (or `except IndexError`) let it through. AxisError is a ValueError too.
    x = _x((2, 3))
    calls = [lambda f=getattr(tier, n): f(x, axis=2) for n in ("softmax", "log_softmax", "logsumexp")]
    calls += [lambda: tier.logsumexp(x, axis=(0, -3)), lambda: tier.logsumexp(3.0, axis=1),
              lambda: tier.sparse_categorical_crossentropy(np.array([0, 2]), x, from_logits=True, axis=2)]
    for call in calls:
        for kind in (np.exceptions.AxisError, IndexError, ValueError):
            with pytest.raises(kind, match="out of bounds"):
                call()
    with pytest.raises(np.exceptions.AxisError):
        sp.softmax(x, axis=2)  # the convention followed


@pytest.mark.parametrize("tier", TIERS, ids=lambda t: t.__name__)
def test_torch_and_keras_ops_positional_orders_are_refused_not_misread(tier):
    # torch.logsumexp(x, dim, keepdim) and keras.ops.logsumexp(x, axis,
    # keepdims) put keepdims third, where SciPy's order has b: False as a
    # weight gave -inf, True dropped keepdims. keras.ops.categorical_crossentropy
    # (target, output, from_logits, axis) puts the axis fourth, where
    # keras.losses' order has label_smoothing: 1 smoothed every row.
    x = _x((2, 3))
    for flag in (False, True, np.True_):
        with pytest.raises(TypeError, match=rf"b is {flag!r}, a bool: .* write keepdims={flag!r} by name"):
            tier.logsumexp(x, 1, flag)
    assert tier.logsumexp(x, 1, keepdims=True).shape == (2, 1)
    assert tier.logsumexp(x, -1, np.array([True, False, True])) == pytest.approx(
        tier.logsumexp(x[:, [0, 2]], -1), rel=1e-13)  # a bool array is a weight array
    y = np.eye(3)[[0, 2]]
    for axis in (1, 0, np.int64(1)):
        with pytest.raises(TypeError, match=rf"fourth argument is label_smoothing .* write axis={int(axis)} by name"):
            tier.categorical_crossentropy(y, x, True, axis)
    np.testing.assert_array_equal(tier.categorical_crossentropy(y, x, True, 0.0, 1),
                                  tier.categorical_crossentropy(y, x, True, label_smoothing=0))
    # keras.losses.sparse_categorical_crossentropy(y, z, True, 1) ignores
    # class 1, keras.ops' (y, z, True, 1) is the axis: a square batch read
    # either way gave a finite, wrong loss (class 1 counted, or rows along
    # the batch axis)
    z, labels = _x((3, 3)), np.array([0, 1, 2])
    for v in (1, 0, np.int64(1), -1):
        with pytest.raises(TypeError, match=rf"fourth positional argument is ambiguous: .* ignore_class={int(v)} or "
                                            rf"axis={int(v)} by name"):
            tier.sparse_categorical_crossentropy(labels, z, True, v)
    kept = tier.sparse_categorical_crossentropy(labels, z, True, ignore_class=1)
    assert kept[1] == 0 and np.array_equal(kept[[0, 2]], tier.sparse_categorical_crossentropy(labels, z, True)[[0, 2]])


@pytest.mark.parametrize("tier", TIERS, ids=lambda t: t.__name__)
def test_pandas_in_pandas_out_where_the_shape_is_kept(tier):
    # as NumPy's ufuncs (scipy.special.expit) hand a Series back: index and
    # name kept, so `df["p"] = sigmoid(s[s > 1])` aligns by index (was a bare
    # ndarray, and there a length error)
    pd = pytest.importorskip("pandas")
    s = pd.Series([1.0, 2.0, 3.0], index=[10, 20, 30], name="z")
    for name in ELEMENTWISE:
        got = getattr(tier, name)(s)
        assert isinstance(got, pd.Series) and got.name == "z" and list(got.index) == [10, 20, 30]
        np.testing.assert_array_equal(got.to_numpy(), getattr(tier, name)(s.to_numpy()))
    frame = pd.DataFrame({"a": [1.0, 2.0], "b": [0.0, -1.0]}, index=["r", "s"])
    got = tier.softmax(frame)
    assert isinstance(got, pd.DataFrame) and list(got.columns) == ["a", "b"] and list(got.index) == ["r", "s"]
    np.testing.assert_array_equal(got.to_numpy(), tier.softmax(frame.to_numpy()))
    # a reduction has another shape: NumPy's result, as SciPy gives it
    assert type(tier.logsumexp(frame, axis=-1)) is np.ndarray and isinstance(tier.logsumexp(frame), np.floating)
    out = pd.DataFrame(index=s.index)
    out["p"] = tier.sigmoid(s[s > 1])
    assert np.isnan(out["p"][10]) and out["p"][30] == tier.sigmoid(3.0)
    # nullable columns: <NA> is NaN; a float32 Series stays float32
    np.testing.assert_array_equal(tier.sigmoid(pd.Series([0, None], dtype="Int64")).to_numpy(), [0.5, np.nan])
    assert tier.sigmoid(pd.Series([1.0], dtype=np.float32)).dtype == np.float32
    # strings are refused as NumPy's are (found by review: '1' was parsed)
    for text in (pd.Series(["a", "b"]), pd.Series(["1", "2"]), pd.Series(["1", "2"], dtype="string"),
                 pd.DataFrame({"a": [1.0, 2.0], "b": ["1", "2"]})):
        with pytest.raises(TypeError, match=r"x \((Series|DataFrame)\) holds values that are not numbers"):
            tier.sigmoid(text)
    np.testing.assert_array_equal(tier.sigmoid(pd.Series([1, 2], dtype="category")), tier.sigmoid([1, 2]))
    # a reduction is NumPy's whatever the length of the reduced axis (keepdims)
    assert type(tier.logsumexp(pd.DataFrame({"a": [1.0, 2.0]}), axis=1, keepdims=True)) is np.ndarray


@pytest.mark.skipif(np.dtype(np.longdouble) == np.float64, reason="long double is float64 here")
@pytest.mark.parametrize("tier", TIERS, ids=lambda t: t.__name__)
def test_long_double_is_refused_with_how_to_narrow_it(tier):
    # dtype= casts after the format check, so dtype=np.float64 does not help:
    # the message says what does
    ld = np.array([1.0, 2.0], np.longdouble)
    for call in (lambda: tier.softmax(ld), lambda: tier.sigmoid(ld, dtype=np.float64)):
        with pytest.raises(ValueError, match=r"unsupported dtype .* \(convert first: x\.astype\(np\.float64\)\)"):
            call()
    np.testing.assert_array_equal(tier.softmax(ld.astype(np.float64)), tier.softmax([1.0, 2.0]))


def test_stable_tier_is_the_frameworks_at_an_inf_logit_and_under_raise():
    # the stable tier is what SciPy, PyTorch and JAX compute: [inf, 1] shifts
    # by inf and is NaN in all three (it was [nan, 0]); their expit/log_expit
    # let exp(-800) underflow under np.seterr(under="raise") (it raised)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        for row in ([np.inf, 1.0], [np.inf, np.inf], [-np.inf, 1.0], [np.nan, 1.0], [1e308, -1e308]):
            np.testing.assert_array_equal(stable.softmax(np.array(row)), sp.softmax(np.array(row)))
    x = np.array([-800.0, 800.0])
    with np.errstate(all="raise"):
        np.testing.assert_array_equal(stable.sigmoid(x), sp.expit(x))
        np.testing.assert_array_equal(stable.log_sigmoid(x), [-800.0, 0.0])


@pytest.mark.parametrize("tier", TIERS, ids=lambda t: t.__name__)
def test_ufunc_options_on_an_elementwise_function_say_where_they_are_taken(tier):
    # scipy.special.expit(x, out=buf) or expit(x, buf): refused, and the
    # message names stabkit.ufuncs (was Python's message alone)
    x, buf = np.array([1.0, 2.0]), np.empty(2)
    for name in ("sigmoid", "log_sigmoid"):
        f = getattr(tier, name)
        for call in (lambda: f(x, out=buf), lambda: f(x, buf), lambda: f(x, where=x > 1)):
            with pytest.raises(TypeError, match=rf"{name}\(\) .*; stabkit\.ufuncs\.{name} is the same function"):
                call()
        with pytest.raises(TypeError, match=r"unexpected keyword argument 'foo'$"):
            f(x, foo=1)
        assert "dtype" in inspect.signature(f).parameters and "out" not in inspect.signature(f).parameters


@pytest.mark.parametrize("tier", TIERS, ids=lambda t: t.__name__)
def test_the_input_by_name_as_jax_keras_and_torch_spell_it(tier):
    # jax.nn.sigmoid(x=...), keras.ops.sigmoid(x=...), torch.sigmoid(input=...)
    # and keras.ops.logsumexp(x=...): the elementwise functions said "missing
    # 1 required positional argument: 'x'" although x was given, logsumexp
    # refused x=; torch.logsumexp's out= and an out= on softmax said only
    # "unexpected keyword"
    x = np.array([[1.0, -2.0, 3.0], [0.5, 0.0, -1.0]])
    for name in ("sigmoid", "log_sigmoid"):
        f = getattr(tier, name)
        assert np.array_equal(f(x=x), f(x)) and np.array_equal(f(input=x), f(x))
        assert str(inspect.signature(f)).startswith("(x, *, dtype=None")
        for call, msg in ((lambda: f(), "missing its input x"), (lambda: f(x, x=x), "input twice"),
                          (lambda: f(x=x, input=x), "input twice"), (lambda: f(x=x, out=x), "stabkit.ufuncs")):
            with pytest.raises(TypeError, match=msg):
                call()
    assert np.array_equal(tier.softplus(x=x), tier.softplus(x))
    assert np.array_equal(tier.logsumexp(x=x, axis=1), tier.logsumexp(x, 1))
    # torch.nn.functional.softplus(input=, beta=), torch.softmax(input=, dim=),
    # torch.logsumexp(input=, dim=): refused as unexpected keywords before
    assert np.array_equal(tier.softplus(input=x, beta=2.0), tier.softplus(x, 2.0))
    for name in ("softmax", "log_softmax"):
        f = getattr(tier, name)
        assert np.array_equal(f(input=x, dim=0), f(x, axis=0))
        assert str(inspect.signature(f)).startswith("(x, axis=-1, *")
        for call, msg in ((lambda: f(), "missing its input x"), (lambda: f(x, input=x), "input twice"),
                          (lambda: f(input=x, foo=1), r"unexpected keyword argument 'foo'$")):
            with pytest.raises(TypeError, match=msg):
                call()
    assert np.array_equal(tier.logsumexp(input=x, dim=1, keepdim=True), tier.logsumexp(x, 1, keepdims=True))
    assert str(inspect.signature(tier.softplus)).startswith("(x, beta=1.0, threshold=")
    for call, msg in ((lambda: tier.softplus(), "missing its input x"), (lambda: tier.softplus(x, input=x), "twice"),
                      (lambda: tier.softplus(x, foo=1), r"unexpected keyword argument 'foo'$"),
                      (lambda: tier.logsumexp(x=x, input=x), "twice"), (lambda: tier.logsumexp(x, input=x), "twice")):
        with pytest.raises(TypeError, match=msg):
            call()
    assert list(inspect.signature(tier.logsumexp).parameters)[0] == "a"
    for call, msg in ((lambda: tier.logsumexp(), "missing its input a"), (lambda: tier.logsumexp(x, x=x), "twice"),
                      (lambda: tier.logsumexp(x, 1, out=x[:, 0]), r"'out'; the result is a new array"),
                      (lambda: tier.softmax(x, out=x), r"'out'; the result is a new array"),
                      (lambda: tier.log_softmax(x, foo=1), r"unexpected keyword argument 'foo'$")):
        with pytest.raises(TypeError, match=msg):
            call()
    for name in ("softmax", "log_softmax", "logsumexp", "softplus"):
        assert not any(p.kind == p.VAR_KEYWORD for p in inspect.signature(getattr(tier, name)).parameters.values())


# ------------------------------------------------------------ where=


@pytest.mark.parametrize("tier", TIERS, ids=lambda t: t.__name__)
def test_where_masks_entries_as_jax_does(tier):
    x = np.array([[1.0, np.nan, 3.0], [0.5, 2.0, 1000.0]])
    w = np.array([[True, False, True], [True, True, False]])
    p = tier.softmax(x, where=w)
    np.testing.assert_allclose(p[w], np.concatenate([sp.softmax([1.0, 3.0]), sp.softmax([0.5, 2.0])]), rtol=1e-14)
    assert np.all(p[~w] == 0)
    lp = tier.log_softmax(x, where=w)
    assert np.all(lp[~w] == -np.inf)
    np.testing.assert_allclose(tier.logsumexp(x, axis=1, where=w), [sp.logsumexp([1.0, 3.0]), sp.logsumexp([0.5, 2.0])], rtol=1e-14)
    # a mask broadcast along rows
    np.testing.assert_allclose(tier.logsumexp(x[1:], where=np.array([True, True, False])), sp.logsumexp([0.5, 2.0]), rtol=1e-14)
    # a row masked whole: jax.nn's 0 and -inf (was 0/0, NaN), the other rows' bits unchanged
    w2 = np.array([[True, False, True], [False, False, False]])
    assert tier.softmax(x, where=w2)[1].tolist() == [0.0, 0.0, 0.0]
    assert tier.log_softmax(x, where=w2)[1].tolist() == [-np.inf] * 3
    assert tier.softmax(x, where=w2)[0].tobytes() == p[0].tobytes()
    assert tier.log_softmax(x, where=w2)[0].tobytes() == lp[0].tobytes()
    assert tier.logsumexp(x, axis=1, where=w2)[1] == -np.inf


@pytest.mark.parametrize("tier", TIERS, ids=lambda t: t.__name__)
@pytest.mark.parametrize("dtype", [np.float32, np.float64], ids=lambda d: d.__name__)
def test_a_row_masked_whole_warns_nothing(tier, dtype):
    # was: naive and stable warned "invalid value" (0/0, -inf - -inf) or
    # "divide by zero" (log 0) for the masked row before the fill overwrote it
    x = np.array([[1.0, 2.0], [3.0, 4.0]], dtype)
    w = np.array([[False, False], [True, True]])
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        p, lp = tier.softmax(x, axis=-1, where=w), tier.log_softmax(x, axis=-1, where=w)
        lse = tier.logsumexp(x, axis=-1, where=w)
        lse_b, sign_b = tier.logsumexp(x, axis=-1, b=np.full(2, 2.0, dtype), where=w, return_sign=True)
        _, sign = tier.logsumexp(x, axis=-1, where=w, return_sign=True)
        # rows of a tuple axis, and the whole array as one row
        x3, w3 = np.stack([x, x], axis=1), np.stack([w, w], axis=1)
        p3, lse3 = tier.softmax(x3, axis=(1, 2), where=w3), tier.logsumexp(x3, axis=(1, 2), where=w3)
        none = [f(x, axis=None, where=np.zeros_like(w)) for f in (tier.softmax, tier.log_softmax, tier.logsumexp)]
        scalar = tier.logsumexp(dtype(3.0), where=np.False_)
    # the values as before: jax.nn's 0 and -inf, an empty sum's -inf with sign 0
    # (jax.nn.logsumexp; scipy's with b = 0), the other rows' bits unchanged
    assert p.dtype == lp.dtype == lse.dtype == dtype
    assert p[0].tolist() == [0.0, 0.0] and lp[0].tolist() == [-np.inf, -np.inf]
    assert lse[0] == lse_b[0] == -np.inf and sign[0] == sign_b[0] == 0
    assert p[1].tobytes() == tier.softmax(x[1]).tobytes() and lp[1].tobytes() == tier.log_softmax(x[1]).tobytes()
    assert lse[1] == tier.logsumexp(x[1]) and lse_b[1] == tier.logsumexp(x[1], b=np.full(2, 2.0, dtype)) and sign_b[1] == 1
    assert np.all(p3[0] == 0) and lse3[0] == -np.inf
    assert p3[1].tobytes() == tier.softmax(x3[1], axis=None).tobytes() and lse3[1] == tier.logsumexp(x3[1])
    assert np.all(none[0] == 0) and np.all(none[1] == -np.inf) and none[2] == -np.inf and scalar == -np.inf


def _warned(f, *args, **kwargs):
    """``f``'s result and the messages of the RuntimeWarnings it gave."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        y = f(*args, **kwargs)
    return y, [str(c.message) for c in caught if issubclass(c.category, RuntimeWarning)]


def test_a_row_masked_whole_keeps_the_naive_overflow_of_the_others():
    # the naive tier's textbook overflow in an unmasked row still warns and
    # gives NaN (inf/inf), beside a row masked whole as without one
    big = np.array([1000.0, 0.0])
    overflow = ["overflow encountered in exp", "invalid value encountered in divide"]
    p, msgs = _warned(naive.softmax, big)
    assert np.isnan(p[0]) and p[1] == 0 and msgs == overflow
    x, w = np.array([big, [1.0, 2.0]]), np.array([[True, True], [False, False]])
    p, msgs = _warned(naive.softmax, x, where=w)
    assert np.isnan(p[0, 0]) and p[0, 1] == 0 and p[1].tolist() == [0.0, 0.0] and msgs == overflow
    lse, msgs = _warned(naive.logsumexp, x, axis=-1, where=w)
    assert lse.tolist() == [np.inf, -np.inf] and msgs == ["overflow encountered in exp"]
    # a row of -inf logits that were given, not masked, is still NaN: the
    # shift by its maximum, -inf - -inf, as SciPy's softmax warns it
    p, msgs = _warned(stable.softmax, np.array([-np.inf, -np.inf]))
    assert np.all(np.isnan(p)) and msgs == ["invalid value encountered in subtract"]


def test_where_must_be_boolean_and_broadcastable():
    with pytest.raises(TypeError, match="where must be a boolean mask"):
        accurate.softmax(np.zeros(3), where=np.ones(3))
    with pytest.raises(ValueError, match="does not broadcast"):
        accurate.softmax(np.zeros(3), where=np.ones(4, bool))


def test_where_with_integer_input():
    np.testing.assert_allclose(accurate.softmax([1, 2, 3], where=np.array([True, True, False])), [sp.expit(-1), sp.expit(1), 0.0], rtol=1e-15)


# ------------------------------------------------------------ dtype=


@pytest.mark.parametrize("tier", TIERS, ids=lambda t: t.__name__)
@pytest.mark.parametrize("dtype", ["float16", "bfloat16", np.float32, "float64"])
def test_dtype_casts_first(tier, dtype):
    x = _x((2, 3))
    want = np.dtype(ml_dtypes.bfloat16) if dtype == "bfloat16" else np.dtype(dtype)
    assert tier.softmax(x, dtype=dtype).dtype == want
    assert tier.sigmoid(x, dtype=dtype).dtype == want
    assert tier.logsumexp(x, axis=-1, dtype=dtype).dtype == want


def test_dtype_is_one_rounding_then_the_function():
    x = np.array([0.1, 1e-3, 7.3])
    np.testing.assert_array_equal(accurate.sigmoid(x, dtype="float32"), accurate.sigmoid(x.astype(np.float32)))
    with pytest.raises(ValueError, match="dtype="):
        accurate.sigmoid(x, dtype="int8")


# ------------------------------------------------------------ softplus beta/threshold


def test_softplus_beta_and_threshold_follow_torch():
    torch = pytest.importorskip("torch")
    x = np.linspace(-30, 30, 121)
    for beta, thr in [(1.0, 20.0), (2.0, 20.0), (0.5, 5.0), (3.0, 1.0)]:
        want = torch.nn.functional.softplus(torch.from_numpy(x), beta=beta, threshold=thr).numpy()
        np.testing.assert_allclose(stable.softplus(x, beta=beta, threshold=thr), want, rtol=1e-13)
        np.testing.assert_allclose(accurate.softplus(x, beta=beta, threshold=thr), want, rtol=1e-13)
    # the stable tier's default threshold is torch's; the accurate tier has none
    assert stable.softplus(30.0) == 30.0 and accurate.softplus(30.0) == 30.0 + 9.357622968840175e-14
    assert inspect.signature(stable.softplus).parameters["threshold"].default == 20.0
    assert inspect.signature(accurate.softplus).parameters["threshold"].default is None


def test_softplus_beta_is_accurate_where_the_product_rounds():
    import mpmath

    rng = np.random.default_rng(11)
    x = -rng.uniform(50, 700, 300)
    beta = 1.3
    y = accurate.softplus(x / beta, beta=beta)
    worst = 0.0
    for xi, yi in zip(x / beta, y):
        with mpmath.workprec(300):
            e = mpmath.log1p(mpmath.exp(mpmath.mpf(beta) * mpmath.mpf(float(xi)))) / mpmath.mpf(beta)
            worst = max(worst, float(abs(mpmath.mpf(float(yi)) - e) / np.spacing(float(e))))
    assert worst <= 2.0
    # the plain formula in float64 loses |beta*x| * 2**-53 relative: hundreds of ulps
    naive_err = np.abs(np.log1p(np.exp(beta * (x / beta))) / beta - y) / np.spacing(y)
    assert naive_err.max() > 20


@pytest.mark.parametrize("bad", [0.0, -1.0, float("nan"), "2"])
def test_softplus_beta_must_be_positive(bad):
    with pytest.raises((ValueError, TypeError), match="beta"):
        accurate.softplus(1.0, beta=bad)


# ------------------------------------------------------------ torch and JAX


@pytest.mark.parametrize("tier", TIERS, ids=lambda t: t.__name__)
def test_torch_tensors_in_and_out(tier):
    torch = pytest.importorskip("torch")
    for dt in (torch.float16, torch.bfloat16, torch.float32, torch.float64):
        t = torch.tensor([[1.0, 2.0, 3.0], [-1.0, 0.0, 9.0]], dtype=dt)  # naive float16: exp(12) overflows
        y = tier.log_softmax(t, axis=1)
        assert isinstance(y, torch.Tensor) and y.dtype == dt and y.shape == t.shape
        want = torch.log_softmax(t.double(), dim=1).to(dt)
        assert torch.allclose(y.double(), want.double(), rtol=1e-2, atol=1e-3)
        lse = tier.logsumexp(t, axis=1)
        assert isinstance(lse, torch.Tensor) and lse.dtype == dt and lse.shape == (2,)


def test_torch_bfloat16_is_read_bit_for_bit():
    torch = pytest.importorskip("torch")
    t = torch.tensor([-3.0, 0.1, 7.0], dtype=torch.bfloat16)
    y = accurate.sigmoid(t)
    a = np.array([-3.0, 0.1, 7.0]).astype(ml_dtypes.bfloat16)
    assert np.array_equal(y.view(torch.int16).numpy(), accurate.sigmoid(a).view(np.int16))


def test_requires_grad_is_detached_with_a_note():
    torch = pytest.importorskip("torch")
    t = torch.tensor([0.0, 1.0], requires_grad=True)
    with pytest.warns(DetachedGradWarning, match="requires grad") as rec:
        y = accurate.sigmoid(t)
    assert not y.requires_grad and torch.allclose(y, torch.sigmoid(t.detach()))
    assert rec[0].filename == __file__  # pointed at the caller's line, not at stabkit


def test_jax_arrays_in_and_out():
    jnp = pytest.importorskip("jax.numpy")
    import jax

    x = jnp.array([[1.0, 2.0, 3.0]], dtype=jnp.float32)
    y = accurate.softmax(x)
    assert isinstance(y, jax.Array) and y.dtype == jnp.float32
    np.testing.assert_allclose(np.asarray(y), np.asarray(jax.nn.softmax(x)), rtol=1e-6)
    yb = accurate.logsumexp(x.astype(jnp.bfloat16))
    assert isinstance(yb, jax.Array) and yb.dtype == jnp.bfloat16
    with pytest.raises(TypeError, match="traced JAX value"):
        jax.jit(accurate.sigmoid)(x)


def test_no_warnings_on_the_common_call():
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        accurate.softmax(_x((2, 3)))
        accurate.logsumexp(_x((2, 3)), axis=-1)


def test_signatures_are_the_documented_ones():
    for tier in TIERS:
        threads = ["workers"] if tier is accurate else []  # the accurate tier's threads
        assert list(inspect.signature(tier.softmax).parameters) == ["x", "axis", "where", "dtype", "dim"] + threads
        assert list(inspect.signature(tier.logsumexp).parameters)[:5] == ["a", "axis", "b", "keepdims", "return_sign"]
        assert inspect.signature(tier.logsumexp).parameters["axis"].default is None
        assert inspect.signature(tier.softmax).parameters["axis"].default == -1


# ------------------------------------------------------------ other libraries' spellings


@pytest.mark.parametrize("tier", TIERS, ids=lambda t: t.__name__)
def test_torch_argument_order_is_named_in_the_error(tier):
    # F.cross_entropy(logits, target) written against Keras's (labels, logits)
    logits, labels = _x((4, 3)), np.array([0, 2, 1, 1])
    with pytest.raises(ValueError, match="look swapped") as e:
        tier.sparse_categorical_crossentropy(logits, labels, from_logits=True)
    assert "\n" not in str(e.value)
    # a wrong label shape that is not the swap gets no such hint
    with pytest.raises(ValueError, match="labels have shape") as e:
        tier.sparse_categorical_crossentropy(np.zeros((4, 2), np.int64), logits, from_logits=True)
    assert "swapped" not in str(e.value)


@pytest.mark.parametrize("name, ours", [("expit", "sigmoid"), ("log_expit", "log_sigmoid"),
                                        ("logsigmoid", "log_sigmoid"),
                                        ("cross_entropy", "sparse_categorical_crossentropy"),
                                        ("binary_cross_entropy_with_logits", "binary_crossentropy"),
                                        ("nll_loss", "sparse_categorical_crossentropy"),
                                        ("softmax_cross_entropy_with_integer_labels",
                                         "sparse_categorical_crossentropy"),
                                        ("sigmoid_cross_entropy_with_logits", "binary_crossentropy"),
                                        ("reduce_logsumexp", "logsumexp")])
def test_other_libraries_names_point_to_ours(name, ours):
    import stabkit

    with pytest.raises(AttributeError, match=f"use stabkit.{ours}\\b"):
        getattr(stabkit, name)
    assert not hasattr(stabkit, name)
    assert callable(getattr(stabkit, ours))
    with pytest.raises(AttributeError) as e:
        stabkit.no_such_function  # noqa: B018
    assert "use stabkit" not in str(e.value)


@pytest.mark.parametrize("tier", TIERS, ids=lambda t: t.__name__)
def test_other_libraries_names_point_to_ours_in_every_tier(tier):
    # `accurate.expit(x)` is what a SciPy user writes first
    with pytest.raises(AttributeError, match=f"use {tier.__name__}.sigmoid \\(SciPy's expit\\)"):
        tier.expit  # noqa: B018
    with pytest.raises(AttributeError, match=f"use {tier.__name__}.sparse_categorical_crossentropy\\(labels, logits"):
        tier.nll_loss  # noqa: B018
    with pytest.raises(AttributeError) as e:
        tier.no_such_function  # noqa: B018
    assert str(e.value) == f"module {tier.__name__!r} has no attribute 'no_such_function'"
    assert callable(tier.sigmoid) and not hasattr(tier, "expit")


@pytest.mark.parametrize("module", ["stabkit", "stabkit.naive", "stabkit.stable", "stabkit.accurate"])
def test_from_imports_of_other_libraries_names_carry_the_hint(module):
    # `from stabkit import expit` (the import line changed, as in the
    # lecture's code): Python replaced the AttributeError's hint by its bare
    # "cannot import name"
    with pytest.raises(ImportError, match=f"cannot import name 'expit' from '{module}'; use {module}.sigmoid "
                                          "\\(SciPy's expit\\)"):
        exec(f"from {module} import expit", {})

    def inside_a_function():
        from stabkit import log_expit  # noqa: F401

    with pytest.raises(ImportError, match="use stabkit.log_sigmoid"):
        inside_a_function()
    # other names keep Python's own message; hasattr and getattr's default
    # still see an AttributeError
    with pytest.raises(ImportError, match="cannot import name 'no_such_function'") as e:
        exec(f"from {module} import no_such_function", {})
    assert "use " not in str(e.value)
    mod = importlib.import_module(module)
    assert not hasattr(mod, "expit") and getattr(mod, "log_expit", None) is None


@pytest.mark.parametrize("tier", TIERS, ids=lambda t: t.__name__)
def test_loss_axis_is_checked_like_the_row_functions(tier):
    # was: NumPy's internal messages ('NoneType' object is not iterable, moveaxis's
    # source/destination), and axis=True read as 1 by two tiers of three
    z, lab, onehot = _x((2, 3)), np.array([0, 2]), np.eye(3)[[0, 2]]
    for loss, y in ((tier.sparse_categorical_crossentropy, lab), (tier.categorical_crossentropy, onehot)):
        for bad in (None, (0, 1), 1.0, True, np.bool_(False)):
            with pytest.raises(TypeError, match="axis must be one int"):
                loss(y, z, from_logits=True, axis=bad)
        with pytest.raises(ValueError, match="axis 2 is out of bounds"):
            loss(y, z, from_logits=True, axis=2)
        np.testing.assert_array_equal(loss(y, z, from_logits=True, axis=np.int64(-1)), loss(y, z, from_logits=True))
        # PyTorch's dim= as on the row-wise functions
        np.testing.assert_array_equal(loss(y, z, from_logits=True, dim=1), loss(y, z, from_logits=True))
        with pytest.raises(TypeError, match="give the axis once"):
            loss(y, z, from_logits=True, axis=1, dim=0)


@pytest.mark.parametrize("tier", TIERS, ids=lambda t: t.__name__)
def test_loss_keywords_of_other_libraries_name_ours(tier):
    z, lab = _x((2, 3)), np.array([0, 2])
    with pytest.raises(TypeError, match="weight= is class_weight= here"):
        tier.sparse_categorical_crossentropy(lab, z, from_logits=True, weight=np.ones(3))
    with pytest.raises(TypeError, match="weight= is sample_weight= here"):
        tier.binary_crossentropy(np.ones(3), z[0], from_logits=True, weight=np.ones(3))
    with pytest.raises(TypeError, match="labels come first"):
        tier.sparse_categorical_crossentropy(z, target=lab)


@pytest.mark.parametrize("tier", TIERS, ids=lambda t: t.__name__)
def test_complex_targets_are_refused(tier):
    # was: the imaginary part dropped with a ComplexWarning
    with pytest.raises(TypeError, match="y_true is complex"):
        tier.binary_crossentropy(np.array([0.5 + 1j, 1.0]), np.array([0.3, 0.2]), True)
    with pytest.raises(TypeError, match="y_true is complex"):
        tier.categorical_crossentropy(np.array([[0.5 + 1j, 0.5]]), np.array([[0.3, 0.2]]), True)


def test_subpackages_are_attributes_after_import_stabkit():
    # was: stabkit.ufuncs an AttributeError until `import stabkit.ufuncs`
    import subprocess
    import sys

    code = ("import stabkit, sys; assert 'stabkit.ufuncs' not in sys.modules; "
            "print(stabkit.ufuncs.__name__, stabkit.nn.__name__, stabkit.floats.__name__, 'ufuncs' in dir(stabkit))")
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    assert r.stdout.split() == ["stabkit.ufuncs", "stabkit.nn", "stabkit.floats", "True"]


@pytest.mark.parametrize("tier", TIERS, ids=lambda t: t.__name__)
def test_binary_loss_in_torch_order_names_the_order(tier):
    logits, labels = np.array([3.0, -2.0, 0.5]), np.array([1.0, 0.0, 1.0])
    with pytest.raises(ValueError, match="the targets come first"):
        tier.binary_crossentropy(logits, labels, from_logits=True)
    # targets a rounding past 1 get the range alone
    with pytest.raises(ValueError, match=r"holds values in \[0, 1\.5\]$"):
        tier.binary_crossentropy(np.array([0.0, 1.5]), labels[:2], from_logits=True)


@pytest.mark.parametrize("tier", TIERS, ids=lambda t: t.__name__)
def test_loss_argument_messages_name_the_argument_and_the_value(tier):
    z = np.array([[1.0, 2.0]])
    # labels past int64 were reported wrapped (2**70 as -2**63, 2**64 - 1 as -1)
    with pytest.raises(ValueError, match="label 1180591620717411303424 is out of range for 2 classes"):
        tier.sparse_categorical_crossentropy([2**70], z, from_logits=True)
    with pytest.raises(ValueError, match="label 18446744073709551615 is out of range"):
        tier.sparse_categorical_crossentropy(np.array([2**64 - 1], np.uint64), z, from_logits=True)
    with pytest.raises(ValueError, match=r"label 0\.5 is not an integer class index$"):
        tier.sparse_categorical_crossentropy(np.array([0.5]), z, from_logits=True)
    # None and strings: the argument named (were shape and dtype complaints)
    with pytest.raises(TypeError, match="y_true must be an array or a number, got NoneType"):
        tier.binary_crossentropy(None, [1.0], from_logits=True)
    with pytest.raises(TypeError, match="y_pred must be an array or a number, got NoneType"):
        tier.binary_crossentropy([0.0], None, from_logits=True)
    with pytest.raises(TypeError, match="y_true must hold numbers"):
        tier.binary_crossentropy(["a"], [1.0], from_logits=True)
    with pytest.raises(TypeError, match="pos_weight must be an array or a number, got a dict"):
        tier.binary_crossentropy([1.0], [0.5], from_logits=True, pos_weight={0: 2.0})
    # NumPy 2's scalar reprs stay out of the messages
    with pytest.raises(ValueError, match=r"class_weight must be non-negative, got -1\.0$"):
        tier.sparse_categorical_crossentropy([0], z, from_logits=True, class_weight=[1.0, -1.0])


@pytest.mark.parametrize("tier", TIERS, ids=lambda t: t.__name__)
def test_flags_refuse_strings(tier):
    # were read as true: from_logits="False" computed from logits, return_sign="False" returned a pair
    with pytest.raises(TypeError, match="from_logits must be True or False, got 'False'"):
        tier.binary_crossentropy([1.0], [0.5], from_logits="False")
    with pytest.raises(TypeError, match="from_logits must be True or False"):
        tier.sparse_categorical_crossentropy([0], [[1.0, 2.0]], None)
    with pytest.raises(TypeError, match="return_sign must be True or False"):
        tier.logsumexp([1.0, 2.0], return_sign="False")
    np.testing.assert_array_equal(tier.binary_crossentropy([1.0], [0.5], np.True_),
                                  tier.binary_crossentropy([1.0], [0.5], from_logits=1))


def test_the_defaults_the_signatures_show_are_taken():
    # logsumexp's signature shows x=None: logsumexp(z, x=None) said "got the
    # input twice"; keras.losses' positional ignore_class=None (its default)
    # on the sparse loss was refused as ambiguous
    z = np.array([[1.0, 2.0], [0.5, -1.0]])
    for tier in TIERS:
        assert np.array_equal(tier.logsumexp(z, x=None), tier.logsumexp(z))
        assert np.array_equal(tier.sparse_categorical_crossentropy([0, 1], z, True, None),
                              tier.sparse_categorical_crossentropy([0, 1], z, True))
