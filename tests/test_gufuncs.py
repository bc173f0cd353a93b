"""``stabkit.ufuncs.logsumexp``, ``softmax`` and ``log_softmax``: NumPy
gufuncs whose loop runs the accurate tier on NumPy's runs of rows. They
give that tier's bits in every format and layout, take NumPy's gufunc
keywords, let the accurate tier's errors through, and raise no
floating-point warnings of their own."""

from __future__ import annotations

import ml_dtypes
import numpy as np
import pytest

from stabkit import accurate, ufuncs
from stabkit._native import gufuncs
from stabkit.floats import round_float64

ROWS = {"logsumexp": "(n)->()", "softmax": "(n)->(n)", "log_softmax": "(n)->(n)"}
FORMATS = ("float16", "bfloat16", "float32", "float64")

pytestmark = pytest.mark.skipif(gufuncs.why_not() is not None, reason=f"no extension here: {gufuncs.why_not()}")


def _rows(fmt: str, shape=(40, 23)) -> np.ndarray:
    """Rows of every kind: ordinary, huge spread, all equal, with -inf, +inf
    or NaN entries, all -inf; the widths on both sides of the narrow/wide
    switch (16) come from the shapes the tests pick."""
    rng = np.random.default_rng(11)
    x = rng.standard_normal(shape) * 10.0 ** rng.uniform(-3, 2.5, (shape[0], 1))
    x[1] = 7.0
    x[2, ::3] = -np.inf
    x[3, -1] = np.inf
    x[4, x.shape[1] // 2] = np.nan
    x[5] = -np.inf
    x[6, 0] = 1e4
    with np.errstate(over="ignore"):
        return round_float64(x, fmt)


def _same(a: np.ndarray, b: np.ndarray) -> bool:
    return a.shape == b.shape and a.dtype == b.dtype and np.ascontiguousarray(a).tobytes() == np.ascontiguousarray(b).tobytes()


@pytest.mark.parametrize("width", [1, 5, 16, 17, 300])
@pytest.mark.parametrize("fmt", FORMATS)
@pytest.mark.parametrize("name", ROWS)
def test_the_bits_are_the_accurate_tiers(name, fmt, width):
    x = _rows(fmt, (40, width))
    g = getattr(ufuncs, name)
    assert g.signature == ROWS[name]
    assert _same(g(x), getattr(accurate, name)(x, axis=-1))


@pytest.mark.parametrize("name", ROWS)
def test_axes_keepdims_out_and_strided_views(name):
    g, f = getattr(ufuncs, name), getattr(accurate, name)
    x = _rows("float32", (30, 20))
    assert _same(g(x, axis=0), f(x, axis=0))
    assert _same(g(x.T), f(x.T, axis=-1))
    assert _same(g(x[::-2, ::3]), f(x[::-2, ::3], axis=-1))
    x3 = np.stack([x, -x, 2 * x])  # (3, 30, 20): the loop dimensions are broadcast
    assert _same(g(x3, axes=[(1,), (1,)] if ROWS[name] == "(n)->(n)" else [(1,), ()]), f(x3, axis=1))
    assert _same(g(x3.transpose(2, 0, 1)), f(x3.transpose(2, 0, 1), axis=-1))
    if name == "logsumexp":
        assert _same(g(x, keepdims=True), f(x, axis=-1, keepdims=True))
        out = np.full(60, -7.0, np.float32)
        r = g(x, out=out[::2])
        assert r.base is out and _same(out[::2], f(x, axis=-1)) and (out[1::2] == -7).all()
    else:
        out = np.full((30, 40), -7.0, np.float32)
        r = g(x, out=out[:, ::2])
        assert r.base is out and _same(out[:, ::2], f(x, axis=-1)) and (out[:, 1::2] == -7).all()
        y = x.copy()
        g(y, out=y)  # in place: the rows must not be overwritten while read
        assert _same(y, f(x, axis=-1))
        z = np.concatenate([x, x])
        g(z[:30], out=z[5:35])  # overlapping, shifted
        assert _same(z[5:35], f(x, axis=-1))


@pytest.mark.parametrize("name", ROWS)
def test_integers_and_lists_compute_in_float64_as_the_accurate_tier(name):
    g, f = getattr(ufuncs, name), getattr(accurate, name)
    ints = np.arange(-40, 20).reshape(3, 20)
    assert g(ints).dtype == np.float64
    assert _same(g(ints), f(ints, axis=-1))
    assert _same(g(ints.astype(np.int8)), f(ints.astype(np.int8), axis=-1))
    assert _same(g(ints > 0), f(ints > 0, axis=-1))
    assert _same(np.asarray(g([[1.0, 2.0, 3.0]])), f(np.array([[1.0, 2.0, 3.0]]), axis=-1))


@pytest.mark.parametrize("name", ROWS)
def test_dtype_picks_the_loop_and_long_double_is_refused(name):
    # were: long double silently computed in float64, and dtype=float32 on a
    # float64 input a UFuncTypeError about Float64DType -> Float32DType
    g, f = getattr(ufuncs, name), getattr(accurate, name)
    x = np.random.default_rng(1).normal(size=(4, 9)) * 30
    for dt in (np.float32, np.float16, ml_dtypes.bfloat16):
        y = g(x, dtype=dt)
        assert y.dtype == dt and _same(y, f(x.astype(dt), axis=-1))
    if np.dtype(np.longdouble) != np.float64:
        with pytest.raises(TypeError, match="no long double loop"):
            g(x.astype(np.longdouble))
        assert _same(g(x.astype(np.longdouble), dtype=np.float64), g(x))


def test_one_row_gives_a_scalar_or_a_row_and_empty_shapes_follow_numpy():
    v = np.array([0.5, -1.0, 2.0], np.float32)
    s = ufuncs.logsumexp(v)
    assert isinstance(s, np.float32) and s == accurate.logsumexp(v)
    assert _same(ufuncs.softmax(v), accurate.softmax(v))
    assert ufuncs.logsumexp(np.zeros((0, 4))).shape == (0,)
    assert _same(ufuncs.logsumexp(np.zeros((3, 0))), accurate.logsumexp(np.zeros((3, 0)), axis=-1))
    assert ufuncs.softmax(np.zeros((3, 0), np.float16)).shape == (3, 0)


def test_no_floating_point_warnings_leak_and_errors_reach_the_caller():
    x = np.array([[-np.inf, -np.inf], [np.inf, 1.0], [1e308, 1e308]])
    with np.errstate(all="raise"):
        assert _same(ufuncs.logsumexp(x), accurate.logsumexp(x, axis=-1))
        assert _same(ufuncs.softmax(x), accurate.softmax(x, axis=-1))

    def rows(x, out):
        raise KeyError(f"rows of {x.shape[1]}")

    bad = gufuncs.make("_test_raises", "(n)->()", "raises", rows)
    with pytest.raises(KeyError, match="rows of 3"):
        bad(np.ones((2, 3)))
    assert gufuncs.make("_test_raises", "(n)->()", "raises", rows) is bad  # once per name


def test_views_handed_to_the_loop_cover_numpys_buffers_without_copies():
    seen = []

    def rows(x, out):
        seen.append((x.shape, x.strides, x.flags.writeable, out.shape, out.flags.writeable))
        out[...] = x.sum(axis=-1)

    g = gufuncs.make("_test_views", "(n)->()", "sums", rows)
    x = np.arange(24.0).reshape(4, 6)
    assert (g(x[:, ::2]) == x[:, ::2].sum(axis=1)).all()
    assert seen == [((4, 3), (48, 16), False, (4,), True)]


def test_workers_and_the_numpy_path_give_the_same_bits(monkeypatch):
    x = _rows("float32", (3000, 200))
    ref = ufuncs.softmax(x)
    with accurate.workers(2):
        assert _same(ufuncs.softmax(x), ref)
    monkeypatch.setenv("STABKIT_NATIVE", "0")
    assert _same(ufuncs.softmax(x), ref)
    assert _same(ufuncs.logsumexp(x.astype(ml_dtypes.bfloat16)),
                 accurate.logsumexp(x.astype(ml_dtypes.bfloat16), axis=-1))


def test_array_ufunc_overrides_see_the_gufunc():
    class Wrapped:
        def __array_ufunc__(self, uf, method, *inputs, **kwargs):
            return ("dispatched", uf.__name__, method)

    assert ufuncs.logsumexp(Wrapped()) == ("dispatched", "logsumexp", "__call__")


def test_without_the_extension_the_names_are_absent_with_the_reason(monkeypatch):
    monkeypatch.setattr(gufuncs, "why_not", lambda: "the C extension is not built")
    with pytest.raises(AttributeError, match=r"stabkit.ufuncs.softmax is not available here \(the C ext"):
        ufuncs.softmax
    assert ufuncs.available()["log_softmax"] == "the C extension is not built"


def test_stabkit_list_says_whether_the_gufuncs_are_there(monkeypatch):
    from typer.testing import CliRunner

    from stabkit.cli import app

    def line():
        out = CliRunner().invoke(app, ["list"], env={"COLUMNS": "200", "NO_COLOR": "1"}).stdout
        return next(x for x in out.splitlines() if x.startswith("row-wise gufuncs of stabkit.ufuncs"))

    assert line().endswith("'(n)->(n)'): available")
    monkeypatch.setattr(gufuncs, "why_not", lambda: "the C extension is not built")
    assert line().endswith("): not available (the C extension is not built)")


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("name", ["softmax", "log_softmax"])
def test_out_is_written_in_place_without_a_result_sized_allocation(name, dtype):
    import tracemalloc

    g = getattr(ufuncs, name)
    x = _rows(np.dtype(dtype).name, (8000, 300))
    out = np.empty_like(x)
    g(x, out=out)  # the per-thread scratch, once
    tracemalloc.start()
    try:
        r = g(x, out=out)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert r is out and _same(out, getattr(accurate, name)(x, axis=-1))
    # no (8000, 300) result made and copied in: the compiled kernels allocate
    # nothing, the NumPy path (where they are off) a block's temporaries
    assert peak < x.nbytes / 2
    tracemalloc.start()
    try:
        g(x)
        assert tracemalloc.get_traced_memory()[1] >= x.nbytes  # without out=, the result itself
    finally:
        tracemalloc.stop()


def test_dask_arrays_go_through_apply_gufunc_chunk_by_chunk():
    """dask's __array_ufunc__ hands a gufunc to apply_gufunc: the result is
    lazy, chunked as the input's loop dimension, and the accurate tier's
    bits once computed."""
    da = pytest.importorskip("dask.array", reason="dask not installed (pip install 'stabkit[dask]')")
    x = _rows("float64", (600, 40))
    d = da.from_array(x, chunks=(100, 40))
    lse, sm = ufuncs.logsumexp(d), ufuncs.softmax(d)
    assert isinstance(lse, da.Array) and lse.chunks == ((100,) * 6,)
    assert _same(lse.compute(), accurate.logsumexp(x, axis=-1))
    assert _same(sm.compute(), accurate.softmax(x, axis=-1))


def test_masked_arrays_are_numpys_business_as_the_readme_says():
    # softmax gets the data, hidden entries included, and answers masked where
    # the input was. (logsumexp's (n)->() result goes through NumPy's
    # MaskedArray wrapping, which raises or leaves a mask of the input's shape
    # on it, depending on the warning filters: the README says not to; the
    # README said it computed over the hidden entries.)
    data = np.array([[1.0, 2.0], [3.0, 4.0]])
    x = np.ma.array(data, mask=[[0, 1], [0, 0]])
    y = ufuncs.softmax(x)
    assert isinstance(y, np.ma.MaskedArray) and y.mask.tolist() == [[False, True], [False, False]]
    assert _same(y.data, accurate.softmax(data))
    # the tier's function: one line, and the way out works
    with pytest.raises(TypeError, match="where="):
        accurate.logsumexp(x)
    assert accurate.logsumexp(x.data, where=~np.ma.getmaskarray(x)) == accurate.logsumexp([1.0, 3.0, 4.0])


def test_pandas_frames_need_a_keyword_as_the_readme_says():
    # pandas hands a one-input gufunc called without keywords its column
    # blocks (stored transposed): down the columns. With a keyword it goes
    # pandas' other route, row by row, as stabkit.softmax does.
    pd = pytest.importorskip("pandas", reason="pandas not installed")
    df = pd.DataFrame({"x": [1.0, 2.0], "y": [3.0, 0.5]})
    rows = accurate.softmax(df.to_numpy())
    assert _same(np.asarray(ufuncs.softmax(df)), accurate.softmax(df.to_numpy().T).T)
    y = ufuncs.softmax(df, axis=-1)
    assert isinstance(y, pd.DataFrame) and list(y.columns) == ["x", "y"]
    assert _same(y.to_numpy(), rows) and _same(np.asarray(accurate.softmax(df)), rows)
    assert _same(np.asarray(ufuncs.logsumexp(df, axis=-1)), accurate.logsumexp(df.to_numpy(), axis=-1))
