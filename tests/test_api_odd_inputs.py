"""Issue 15: the front door (:mod:`stabkit._api`) given odd inputs and bad
calls: containers NumPy half-understands (np.matrix, masked arrays, ``__array__``
objects, Python ints beyond int64, empty lists), torch and JAX edges, and one
clear ValueError/TypeError naming the argument for every bad call. Each
``# was:`` comment names what the front door did before it was fixed.
"""

from __future__ import annotations

import ml_dtypes
import numpy as np
import pytest

from stabkit import accurate, naive, stable
from stabkit._api.arrays import DetachedGradWarning

from helpers.bits import same_bits

TIERS = (naive, stable, accurate)


# ------------------------------------------------------------ odd inputs


class _HasArray:
    """Not an ndarray, but convertible (``__array__``)."""

    def __init__(self, a):
        self.a = a

    def __array__(self, dtype=None, copy=None):
        return np.asarray(self.a, dtype=dtype)


@pytest.mark.filterwarnings("ignore::PendingDeprecationWarning", "ignore::RuntimeWarning")
@pytest.mark.parametrize("tier", TIERS, ids=lambda t: t.__name__.split(".")[-1])
def test_odd_containers_give_the_ndarray_answer(tier):
    x = np.array([[1.0, -2.0, 3.5], [0.0, 4.0, -1.0]])
    for odd in (tuple(map(tuple, x)), _HasArray(x), np.matrix(x), memoryview(x)):
        for axis in (-1, 0, None, (1, 0)):
            same_bits(tier.softmax(odd, axis=axis), tier.softmax(x, axis=axis))
            same_bits(tier.logsumexp(odd, axis=axis, keepdims=True), tier.logsumexp(x, axis=axis, keepdims=True))
        y = tier.sigmoid(odd)
        assert type(y) is np.ndarray  # np.matrix in, a plain ndarray out (2-d all the same)
        same_bits(y, tier.sigmoid(x))
    # empty lists: empty rows
    assert tier.softmax([]).shape == (0,) and tier.sigmoid([]).dtype == np.float64
    assert tier.logsumexp([]) == -np.inf and tier.logsumexp([[], []], axis=1).shape == (2,)
    # booleans are 0 and 1
    same_bits(tier.softmax(np.array([True, False])), tier.softmax(np.array([1.0, 0.0])))


@pytest.mark.filterwarnings("ignore::RuntimeWarning")  # the naive tier's exp(2**64)
def test_python_ints_beyond_int64_become_float64():
    # was: "unsupported dtype object" (NumPy makes them an object array);
    # they are integers, so float64: one rounding each, +-inf beyond its range
    for tier in TIERS:
        assert tier.sigmoid(2**70) == 1.0 and tier.sigmoid(-(10**400)) == 0.0
        same_bits(tier.softmax([2**64, 2**64 + 1, 0]), tier.softmax(np.array([2.0**64, 2.0**64, 0.0])))
        assert tier.logsumexp([10**400, 1]) == np.inf
        same_bits(tier.softmax([[2**70, 0.5], [1, 2]]), tier.softmax(np.array([[2.0**70, 0.5], [1.0, 2.0]])))
    with pytest.raises(TypeError, match="x is a list of non-numbers"):
        accurate.softmax([2**70, "a"])


def test_masked_arrays_are_refused_with_the_way_out():
    # was: computed with the data under the mask (hidden values, silently)
    m = np.ma.array([1.0, 2.0, 3.0], mask=[False, True, False])
    for tier in TIERS:
        with pytest.raises(TypeError, match=r"x is a masked array; pass x.data with where=~np.ma.getmaskarray\(x\)"):
            tier.softmax(m)
    # the way out named there is the masked answer: the hidden entry is a -inf class
    got = accurate.softmax(m.data, where=~np.ma.getmaskarray(m))
    same_bits(got, accurate.softmax(np.array([1.0, -np.inf, 3.0])))
    assert got[1] == 0


@pytest.mark.filterwarnings("ignore::PendingDeprecationWarning")
def test_np_matrix_reduces_to_a_scalar():
    # was: logsumexp(m) of shape (1,), not a scalar (np.matrix stays 2-d
    # under reshape: the whole-array row was a (1, 4) matrix)
    m = np.matrix([[1.0, 2.0], [3.0, 4.0]])
    for tier in TIERS:
        y = tier.logsumexp(m)
        assert isinstance(y, np.generic)
        same_bits(y, tier.logsumexp(np.asarray(m)))
        same_bits(tier.softmax(m, axis=None), tier.softmax(np.asarray(m), axis=None))
        same_bits(tier.log_softmax(m, axis=0), tier.log_softmax(np.asarray(m), axis=0))


def test_pandas_objects_if_installed():
    pd = pytest.importorskip("pandas")
    df = pd.DataFrame({"a": [1.0, 2.0], "b": [3.0, -1.0]})
    same_bits(accurate.softmax(df), accurate.softmax(df.to_numpy()))
    same_bits(accurate.sigmoid(df["a"]), accurate.sigmoid(df["a"].to_numpy()))


def test_axis_as_numpy_integers_and_lists():
    x = np.arange(24.0).reshape(2, 3, 4) / 7
    for tier in TIERS:
        same_bits(tier.softmax(x, axis=np.int64(1)), tier.softmax(x, axis=1))
        same_bits(tier.softmax(x, axis=np.array(-2)), tier.softmax(x, axis=1))
        same_bits(tier.logsumexp(x, axis=(np.int32(0), np.uint8(2))), tier.logsumexp(x, axis=(0, 2)))
        same_bits(tier.logsumexp(x, axis=[0, 2]), tier.logsumexp(x, axis=(0, 2)))


def test_a_0d_input_is_a_1d_row_of_one_for_axis():
    # was: any axis accepted silently. Axis 0, -1, None and () are the axes
    # of a row of one (as NumPy reduces a 0-d array), the others out of bounds
    for tier in TIERS:
        for axis in (0, -1, None, (), (0,), (-1,)):
            assert tier.softmax(np.float32(2.0), axis=axis) == np.float32(1.0)
            y = tier.logsumexp(np.array(2.0), axis=axis, keepdims=True)
            assert y == 2.0 and np.ndim(y) == 0
        for axis in (1, -2, (0, 1)):
            with pytest.raises(ValueError, match="axis"):
                tier.softmax(2.0, axis=axis)


# ------------------------------------------------------------ torch, JAX edges


def test_torch_0d_results_stay_0d():
    # was: shape (1,) (np.ascontiguousarray makes a 0-d result 1-d)
    torch = pytest.importorskip("torch")
    for tier in TIERS:
        assert tier.sigmoid(torch.tensor(1.0)).shape == ()
        assert tier.logsumexp(torch.tensor([1.0, 2.0])).shape == ()
        assert tier.logsumexp(torch.ones(2, 3), axis=(0, 1), keepdims=True).shape == (1, 1)


def test_torch_tensors_numpy_cannot_read_are_named():
    # was: torch's "Got unsupported ScalarType Float8_e4m3fn", naming nothing
    torch = pytest.importorskip("torch")
    with pytest.raises(ValueError, match="x has unsupported dtype torch.float8_e4m3fn"):
        accurate.sigmoid(torch.zeros(2, dtype=torch.float8_e4m3fn))
    with pytest.raises(TypeError, match=r"x is a torch.sparse_coo torch tensor; pass x.to_dense\(\)"):
        accurate.sigmoid(torch.eye(2).to_sparse())
    with pytest.raises(TypeError, match=r"x is complex \(complex64\)"):
        accurate.softmax(torch.tensor([1j, 2.0]).conj())


def test_torch_requires_grad_view_and_where_tensor():
    torch = pytest.importorskip("torch")
    base = torch.tensor([[0.5, -2.0, 3.0], [1.0, 0.0, -1.0]], requires_grad=True)
    view = base.t()[::2]  # non-contiguous, and requires grad through the view
    with pytest.warns(DetachedGradWarning):
        y = accurate.log_softmax(view, axis=0, where=torch.tensor([True, False]).reshape(2, 1))
    want = accurate.log_softmax(view.detach().numpy().copy(), axis=0, where=np.array([[True], [False]]))
    assert not y.requires_grad
    same_bits(y.numpy(), want)


def test_jax_integers_compute_in_jax_default_float():
    # was: float64 results rounded again to float32 on the way back. jax.nn
    # promotes integers to its default float (float32 without x64): compute there
    jnp = pytest.importorskip("jax.numpy")
    import jax

    x = jnp.arange(-3, 3)
    want_dtype = jax.dtypes.canonicalize_dtype(np.float64)
    for tier in TIERS:
        y = tier.softmax(x)
        assert y.dtype == want_dtype
        same_bits(np.asarray(y), tier.softmax(np.arange(-3, 3).astype(want_dtype)))
    # under x64, jax.nn gives float64 to 64-bit integers only (was: float64 for all)
    with jax.enable_x64(True):
        for dt in (np.int8, np.uint8, np.int32, np.int64, np.uint64, np.bool_):
            x = jnp.arange(0, 4).astype(dt)
            for tier in TIERS:
                assert tier.logsumexp(x).dtype == jax.nn.logsumexp(x).dtype
                assert tier.sigmoid(x).dtype == jax.nn.logsumexp(x).dtype
                assert tier.sparse_categorical_crossentropy(np.array(1), x, True).dtype == jax.nn.logsumexp(x).dtype


def test_torch_integers_compute_in_torch_default_float():
    # was: float64 tensors back, where torch.sigmoid and torch.logsumexp give
    # torch's default float (float32) for integer and bool tensors
    torch = pytest.importorskip("torch")
    x = torch.arange(-3, 3)
    assert torch.sigmoid(x).dtype == torch.float32  # the convention followed
    for tier in TIERS:
        for t in (x, x > 0):
            y = tier.sigmoid(t)
            assert y.dtype == torch.get_default_dtype()
            same_bits(y.numpy(), tier.sigmoid(t.numpy().astype(np.float32)))
        lse = tier.logsumexp(x)
        assert lse.dtype == torch.logsumexp(x, 0).dtype == torch.float32
        # the losses' integer predictions too (were float64)
        z = torch.tensor([[1, -2, 3]])
        assert tier.sparse_categorical_crossentropy(torch.tensor([2]), z, True).dtype == torch.float32
        assert tier.categorical_crossentropy(torch.tensor([[0.0, 0, 1]]), z, True).dtype == torch.float32
        assert tier.binary_crossentropy(torch.tensor([0, 1, 1]), z[0], True).dtype == torch.float32
        same_bits(tier.binary_crossentropy(torch.tensor([0, 1, 1]), z[0], True).numpy(),
                  tier.binary_crossentropy(np.array([0, 1, 1]), np.array([1, -2, 3], np.float32), True))
    before = torch.get_default_dtype()
    torch.set_default_dtype(torch.float64)
    try:
        assert accurate.softmax(x).dtype == torch.float64
    finally:
        torch.set_default_dtype(before)


# ------------------------------------------------------------ dtype= spellings


def test_dtype_accepts_numpy_spellings():
    # was: "f4", "half" and ">f8" refused while np.float32 and float passed
    x = np.array([0.1, -3.0, 7.0])
    for spelling, want in [("f4", np.float32), ("half", np.float16), (">f8", np.float64), (float, np.float64),
                           (np.dtype("<f2"), np.float16), (ml_dtypes.bfloat16, ml_dtypes.bfloat16)]:
        y = accurate.sigmoid(x, dtype=spelling)
        assert y.dtype == np.dtype(want) and y.dtype.isnative
        same_bits(y, accurate.sigmoid(x, dtype=np.dtype(want).name))


# ------------------------------------------------------------ bad calls


def _bad_calls():
    """(call, exception, argument named). Were wrong before: axis=True (read as
    1), keepdims="no" (read as True), threshold="a" (a message naming
    nothing), logsumexp's errors (named x, not a), strings and complex values
    with dtype= (cast: "1.0" computed as 1.0, imaginary parts dropped), float8
    tensors (torch's message)."""
    torch = pytest.importorskip("torch")
    x = np.zeros((2, 3))
    return [
        (lambda t: t.softmax(x, axis=1.5), TypeError, "axis"),
        (lambda t: t.softmax(x, axis=True), TypeError, "axis"),
        (lambda t: t.logsumexp(x, axis=(0, np.True_)), TypeError, "axis"),
        (lambda t: t.softmax(x, axis=2), np.exceptions.AxisError, "axis"),
        (lambda t: t.logsumexp(x, axis=(1, -1)), ValueError, "axis"),
        (lambda t: t.softmax(x, axis="0"), TypeError, "axis"),
        (lambda t: t.softmax(x, where=np.ones(3)), TypeError, "where"),
        (lambda t: t.softmax(x, where=[1, 0, 1]), TypeError, "where"),
        (lambda t: t.softmax(x, where=np.ones((3, 3), bool)), ValueError, "where"),
        (lambda t: t.softmax(x, where="yes"), TypeError, "where"),
        (lambda t: t.softmax(x, dtype="int8"), ValueError, "dtype"),
        (lambda t: t.sigmoid(x, dtype="nope"), ValueError, "dtype"),
        (lambda t: t.sigmoid(x, dtype=torch.int32), ValueError, "dtype"),
        (lambda t: t.logsumexp(x, keepdims="no"), TypeError, "keepdims"),
        (lambda t: t.logsumexp(x, keepdims=2), TypeError, "keepdims"),
        (lambda t: t.softplus(x, beta=0.0), ValueError, "beta"),
        (lambda t: t.softplus(x, beta=True), TypeError, "beta"),
        (lambda t: t.softplus(x, beta=[1.0, 2.0]), TypeError, "beta"),
        (lambda t: t.softplus(x, threshold="a"), TypeError, "threshold"),
        (lambda t: t.softplus(x, threshold=float("nan")), ValueError, "threshold"),
        (lambda t: t.sigmoid("1"), TypeError, "x"),
        (lambda t: t.sigmoid(None), TypeError, "x"),
        (lambda t: t.sigmoid(1j), TypeError, "x"),
        (lambda t: t.sigmoid(np.array(["a"])), ValueError, "x"),
        (lambda t: t.softmax([[1.0], [1.0, 2.0]]), ValueError, "x"),
        (lambda t: t.softmax([object()]), TypeError, "x"),
        (lambda t: t.logsumexp({1: 2}), TypeError, "a"),
        (lambda t: t.logsumexp(["1.0"], dtype="float32"), ValueError, "a"),
        (lambda t: t.sigmoid(np.array([1 + 1j]), dtype="float64"), TypeError, "x"),
        (lambda t: t.sigmoid(torch.zeros(2, dtype=torch.float8_e5m2)), ValueError, "x"),
    ]


@pytest.mark.parametrize("tier", TIERS, ids=lambda t: t.__name__.split(".")[-1])
def test_each_bad_call_is_one_error_naming_the_argument(tier):
    for call, exc, name in _bad_calls():
        with pytest.raises(exc, match=rf"\b{name}\b") as info:
            call(tier)
        e = info.value
        # one error, not a chain of them (no "During handling..." traceback)
        assert type(e) is exc and (e.__context__ is None or e.__suppress_context__), (name, repr(e))


@pytest.mark.filterwarnings("ignore::RuntimeWarning")  # the naive tier's log(0)
def test_where_as_an_empty_list():
    # was: "where must be a boolean mask" (NumPy reads [] as float64)
    for tier in TIERS:
        assert tier.softmax([], where=[]).shape == (0,)
        assert tier.logsumexp(np.zeros(0, np.float32), where=[]) == -np.inf


def test_jax_masks_stay_masks():
    # only the values computed on become JAX's default float; a JAX boolean
    # mask stays a boolean mask
    jnp = pytest.importorskip("jax.numpy")
    x = jnp.array([1.0, 2.0, 3.0])
    y = accurate.softmax(x, where=jnp.array([True, False, True]))
    same_bits(np.asarray(y), accurate.softmax(np.array([1.0, 2.0, 3.0], np.float32), where=np.array([True, False, True])))


# ------------------------------------------------------------ the common call


def test_the_common_call_hands_the_callers_array_to_the_core():
    # axis=-1 and no options: no copy, no rearrangement on the way in, and
    # the core's result (or a view of it) on the way out
    from stabkit._api import wrap

    seen = []

    def row_core(x, axis=-1):
        """A core that records what it is given."""
        seen.append(x)
        return x

    def lse_core(x, axis=-1, keepdims=False):
        """A reducing core that records what it is given."""
        seen.append(x)
        return x[..., 0]

    x = np.zeros((4, 5))
    y = wrap.rowwise(row_core)(x)
    assert seen[-1] is x and (y is x or y.base is x)  # at most a view
    assert wrap.elementwise(row_core)(x) is x and seen[-1] is x
    wrap.logsumexp(lse_core)(x, axis=-1)
    assert seen[-1] is x


@pytest.mark.filterwarnings("ignore::RuntimeWarning")  # the naive tier's float16 exp overflows
def test_the_bits_do_not_depend_on_the_memory_layout():
    # was: softmax(x, axis=0) != softmax(x.T.copy()).T in the naive and
    # stable tiers (NumPy sums a strided row in another order than a
    # contiguous one), and a transposed torch tensor != the same values in NumPy
    x = np.random.default_rng(5).normal(size=(100, 7)) * 10
    for tier in TIERS:
        for dt in (np.float16, np.float32, np.float64):
            a = x.astype(dt)
            same_bits(tier.softmax(a, axis=0), tier.softmax(a.T.copy()).T)
            same_bits(tier.logsumexp(a, axis=0), tier.logsumexp(a.T.copy(), axis=-1))
            same_bits(tier.log_softmax(a.T), tier.log_softmax(a.T.copy()))
            same_bits(tier.log_softmax(a[::3, ::2]), tier.log_softmax(a[::3, ::2].copy()))


# ------------------------------------------------------------ torch tensors NumPy cannot read


def test_torch_tensors_without_values_are_one_clear_type_error():
    # were torch's RuntimeErrors from deep inside (no storage, subclasses,
    # NestedTensorImpl) and, for meta, advice to call .cpu() that fails too
    torch = pytest.importorskip("torch")
    x = torch.randn(3, 4)
    calls = {
        "vmap": lambda: torch.func.vmap(accurate.softmax)(x),
        "grad": lambda: torch.func.grad(lambda t: accurate.logsumexp(t))(torch.randn(4)),
        "meta": lambda: accurate.softmax(torch.empty(3, 4, device="meta")),
        "nested": lambda: accurate.softmax(torch.nested.nested_tensor([torch.randn(3), torch.randn(2)])),
    }
    want = {"vmap": "NumPy cannot read", "grad": "NumPy cannot read", "meta": "meta device, which holds no values",
            "nested": "nested torch tensor"}
    for key, call in calls.items():
        with pytest.raises(TypeError, match=want[key]) as e:
            call()
        assert "\n" not in str(e.value)


def test_torch_subclasses_come_back_as_tensors():
    # was: a user's torch.Tensor subclass went through np.asarray and came back an ndarray
    torch = pytest.importorskip("torch")

    class Mine(torch.Tensor):
        pass

    x = torch.randn(2, 3)
    y = accurate.softmax(x.as_subclass(Mine))
    assert isinstance(y, torch.Tensor)
    same_bits(y.numpy(), accurate.softmax(x.numpy()))


def test_jax_float64_without_x64_is_said():
    # was: dtype=float64 on a JAX array came back float32 without a word
    jax = pytest.importorskip("jax")
    import jax.numpy as jnp

    x = jnp.array([1.0, 2.0])
    with jax.enable_x64(False):
        with pytest.warns(UserWarning, match="rounded to float32"):
            y = accurate.softmax(x, dtype="float64")
        assert y.dtype == jnp.float32
    with jax.enable_x64(True):
        import warnings

        with warnings.catch_warnings():
            warnings.simplefilter("error")
            assert accurate.softmax(jnp.array([1.0, 2.0], jnp.float64)).dtype == jnp.float64
