"""``stabkit.ufuncs``: the compiled elementwise ufuncs, public. They give the
accurate tier's bits in every format, take NumPy's ufunc options, and where
they cannot run they are absent, with the reason."""

from __future__ import annotations

import numpy as np
import pytest

from stabkit import accurate, ufuncs
from stabkit._native import elementwise
from stabkit.floats import round_float64

NAMES = ("sigmoid", "log_sigmoid", "softplus")
FORMATS = ("float16", "bfloat16", "float32", "float64")

pytestmark = pytest.mark.skipif(elementwise.why_not("sigmoid", "float32") is not None,
                                reason=f"no compiled kernels here: {elementwise.why_not('sigmoid', 'float32')}")


def _values(fmt: str) -> np.ndarray:
    """Every regime of the three functions: tiny, around 0, the switch
    points, far tails, extremes of the format, specials."""
    rng = np.random.default_rng(7)
    v = np.concatenate([
        rng.standard_normal(3000) * 10.0 ** rng.uniform(-8, 2.8, 3000),
        [0.0, -0.0, 1e-300, -1e-300, 5e-324, 1e-30, -1e-30, 18.0, -18.0, 40.0, -40.0, 745.0, -745.0, 800.0,
         -800.0, 1e308, -1e308, np.inf, -np.inf, np.nan],
    ])
    with np.errstate(over="ignore"):
        return round_float64(v, fmt)


def _bits(a: np.ndarray) -> bytes:
    return np.ascontiguousarray(a).tobytes()


def _bits_any_nan_sign(a: np.ndarray) -> bytes:
    """The bits with each NaN's sign cleared: IEEE leaves a NaN result's sign
    unspecified, and the NumPy path's depends on NumPy's loops; the payload
    still counts."""
    u = np.ascontiguousarray(a).view(f"u{a.itemsize}").copy()
    u[np.isnan(a)] &= np.array(~(1 << (8 * a.itemsize - 1)) & ((1 << 8 * a.itemsize) - 1), u.dtype)
    return u.tobytes()


@pytest.mark.parametrize("fmt", FORMATS)
@pytest.mark.parametrize("name", NAMES)
def test_the_ufunc_gives_the_bits_of_the_numpy_path(name, fmt, monkeypatch):
    x = _values(fmt)
    got = getattr(ufuncs, name)(x)
    assert got.dtype == x.dtype
    monkeypatch.setenv("STABKIT_NATIVE", "0")  # the accurate tier's oracle
    assert _bits_any_nan_sign(got) == _bits_any_nan_sign(getattr(accurate, name)(x))


@pytest.mark.parametrize("name", NAMES)
def test_numpys_options_work(name):
    f, ref = getattr(ufuncs, name), getattr(accurate, name)
    x = _values("float64")[:1000].reshape(10, 100)
    # out=: written in place, no new array
    buf = np.full(x.shape, 7.0)
    assert f(x, out=buf) is buf and _bits(buf) == _bits(ref(x))
    # where=: the masked entries keep what out held
    mask = x > 0
    buf = np.full(x.shape, 7.0)
    f(x, out=buf, where=mask)
    assert _bits(buf[mask]) == _bits(ref(x)[mask]) and np.all(buf[~mask] == 7.0)
    # broadcasting against out, strided input, dtype=
    col = x[:, :1]
    assert _bits(f(col, out=np.empty((10, 5)))) == _bits(np.broadcast_to(ref(col), (10, 5)))
    assert _bits(f(x[:, ::3])) == _bits(ref(x[:, ::3]))
    assert f(x, dtype=np.float32).dtype == np.float32
    assert _bits(f(x.astype(np.float32), dtype=np.float32)) == _bits(ref(x.astype(np.float32)))
    # .at, in place at repeated indices (applied twice)
    y = x[0].copy()
    f.at(y, [0, 0])
    assert y[0] == ref(ref(x[0, 0]))


def test_integers_follow_numpys_casting():
    # NumPy picks the first loop the input casts to safely: float32 for small
    # integers and bool, float64 for wider ones (accurate computes every integer in float64)
    assert ufuncs.sigmoid(np.int8(3)).dtype == np.float32
    assert ufuncs.sigmoid(np.array([True])).dtype == np.float32
    assert ufuncs.sigmoid(np.int64(3)).dtype == np.float64
    assert ufuncs.sigmoid(3).dtype == np.float64 and ufuncs.sigmoid(3) == accurate.sigmoid(3)
    assert accurate.sigmoid(np.int8(3)).dtype == np.float64


ROWS = ("logsumexp", "softmax", "log_softmax")  # the gufuncs: tests/test_gufuncs.py


def test_names_and_availability():
    assert sorted(dir(ufuncs)) == sorted(["available", *NAMES, *ROWS])
    assert ufuncs.available() == {n: "native" for n in (*NAMES, *ROWS)}
    assert all(isinstance(getattr(ufuncs, n), np.ufunc) for n in NAMES)
    with pytest.raises(AttributeError, match="no attribute 'sparse_categorical_crossentropy'"):
        ufuncs.sparse_categorical_crossentropy


def test_without_the_kernels_the_names_are_absent_with_the_reason(monkeypatch):
    monkeypatch.setenv("STABKIT_NATIVE", "0")
    with pytest.raises(AttributeError, match=r"stabkit.ufuncs.sigmoid is not available here \(STABKIT_NATIVE=0\)"):
        ufuncs.sigmoid
    assert not hasattr(ufuncs, "softplus")
    with pytest.raises(ImportError):
        from stabkit.ufuncs import log_sigmoid  # noqa: F401
    # the gufuncs stay: their values are the accurate tier's, whichever path computes them
    assert ufuncs.available() == {**{n: "STABKIT_NATIVE=0" for n in NAMES}, **{n: "native" for n in ROWS}}
    monkeypatch.delenv("STABKIT_NATIVE")
    assert isinstance(ufuncs.sigmoid, np.ufunc)  # read at every access


def test_one_format_off_names_that_format(monkeypatch):
    real = elementwise.why_not
    monkeypatch.setattr(elementwise, "why_not",
                        lambda name, fmt, load=True: "the check failed" if fmt == "float64" else real(name, fmt, load))
    with pytest.raises(AttributeError, match=r"\(float64: the check failed\)"):
        ufuncs.softplus
    assert ufuncs.available()["sigmoid"] == "float64: the check failed"
