"""Float16 and bfloat16 rows through the compiled row passes (issue 16).

The accurate tier computes float16 and bfloat16 rows in float64 without
residuals and rounds once at the end, as for float32; rows wider than 16
take the compiled passes of stabkit/_native/_rows.c (the float64 shift,
top_sums, scale_rows, sub_rows), with float16 outputs written as float64
and rounded once by the caller. The NumPy path (``STABKIT_NATIVE=0``) is
the oracle: every routed function must give the same bits on both paths,
over row families that reach every branch, and the kernel must have run
(spies count its calls), or the comparison would be NumPy against itself.
Narrow rows (16 or fewer) of float32, float16 and bfloat16 targets: the
sparse cross-entropy from logits and ``narrow.log_softmax`` through the
narrow-row kernel, the same way.
"""

from __future__ import annotations

import ml_dtypes
import numpy as np
import pytest
from helpers.bits import same_bits
from helpers.native import each_path, wide_kernels_off
from hypothesis import given, settings
from hypothesis import strategies as st

import stabkit
from stabkit._native import narrowrows
from stabkit._native import rows as native
from stabkit._native import status

needs_c = pytest.mark.skipif(native.status() != "native", reason="the native row kernel is off here")

FORMATS = {"float16": np.float16, "bfloat16": ml_dtypes.bfloat16}
FAMILIES = ("normal", "shifted", "masked", "nan", "pinf", "ties", "huge", "tiny", "far", "overflow")
#: the kernels that a float16 or bfloat16 block may run, and their result when they did not
SPIED = {"shift": None, "top_sums": None, "scale_rows": None, "sub_rows": False, "minus_rows": None}


@pytest.fixture(autouse=True)
def _row_passes_only(monkeypatch):
    """These tests are the row passes': the wide-row kernels stay off here."""
    wide_kernels_off(monkeypatch)


def _rows(family: str, fmt: str, rng, rows: int, n: int) -> np.ndarray:
    """Logits of one family in ``fmt`` (generated in float64, then cast)."""
    big = {"float16": 6.0e4, "bfloat16": 3.0e38}[fmt]
    x = rng.standard_normal((rows, n)) * rng.choice([0.5, 3.0, 12.0])
    if family == "shifted":  # maxima beyond [-600, 650]: the shifted path, not the unshifted one
        x += rng.choice([700.0, -650.0, 3.0e4, -2.0e4], (rows, 1))
    elif family == "masked":  # -inf entries, rows with one finite entry
        x[rng.random((rows, n)) < 0.3] = -np.inf
        x[::3, 1:] = -np.inf
    elif family == "nan":  # a NaN in one row: the block goes to NumPy
        x[rng.integers(rows), rng.integers(n)] = np.nan
    elif family == "pinf":  # +inf maxima, single and tied
        x[0, 0] = np.inf
        x[-1, :2] = np.inf
    elif family == "ties":  # all-equal rows and tied maxima
        x = np.round(x)
        x[::2] = x[::2, :1]
        x[1::2, :3] = x[1::2].max(axis=-1, keepdims=True)
    elif family == "huge":  # magnitudes near the format's largest finite value
        x = big * np.clip(0.9 + 0.01 * x, -1.0, 1.0)
        x[1::2] *= -1.0
    elif family == "tiny":  # magnitudes near the least subnormals (float16 6e-8, bfloat16 9e-41)
        x *= {"float16": 1e-7, "bfloat16": 1e-39}[fmt]
    elif family == "far":  # a winner 8 to 40 ahead: subnormal and zero float16 probabilities
        x[:, 0] = x.max(axis=-1) + rng.choice([8.0, 12.0, 17.0, 40.0], rows)
    elif family == "overflow":  # exp(x) and the row sums past float16's 65504, fine in float64
        x = 11.0 + 4.0 * rng.random((rows, n))
    with np.errstate(over="ignore", invalid="ignore"):
        return x.astype(FORMATS[fmt])


def _labels(rng, x: np.ndarray, axis: int) -> tuple[np.ndarray, np.ndarray]:
    """Integer labels and soft labels (some exactly 0, some one-hot rows) for ``x``'s rows."""
    xl = np.moveaxis(x, axis, -1)
    if xl.shape[-1] == 0:
        return np.zeros(xl.shape[:-1], dtype=np.int64), np.zeros(x.shape, dtype=x.dtype)
    lab = rng.integers(0, xl.shape[-1], xl.shape[:-1])
    y = rng.dirichlet(np.ones(xl.shape[-1]), size=xl.shape[:-1])
    y[rng.random(y.shape) < 0.2] = 0.0
    return lab, np.moveaxis(y, -1, axis).astype(x.dtype)


CALLS = {
    "softmax": lambda x, lab, y, axis: stabkit.softmax(x, axis=axis),
    "log_softmax": lambda x, lab, y, axis: stabkit.log_softmax(x, axis=axis),
    "logsumexp": lambda x, lab, y, axis: stabkit.logsumexp(x, axis=axis),
    "sparse_categorical_crossentropy": lambda x, lab, y, axis: stabkit.sparse_categorical_crossentropy(
        lab, x, from_logits=True, axis=axis),
    "categorical_crossentropy": lambda x, lab, y, axis: stabkit.categorical_crossentropy(
        y, x, from_logits=True, axis=axis),
}


def _same(name: str, x: np.ndarray, rng, axis: int = -1) -> None:
    lab, y = _labels(rng, x, axis)
    with np.errstate(all="ignore"):
        fast, slow = each_path(CALLS[name], x, lab, y, axis)
    same_bits(fast, slow)


class _Spy:
    """Counts the calls of each spied kernel binding that ran the kernel,
    on float64 rows (the float16 and bfloat16 ones, converted)."""

    def __init__(self, mp):
        self.ran = dict.fromkeys(SPIED, 0)
        for name, missed in SPIED.items():
            mp.setattr(native, name, self._counting(name, getattr(native, name), missed))

    def _counting(self, name, fn, missed):
        def counting(*a, **k):
            out = fn(*a, **k)
            if native.library() is not None and out is not missed:
                self.ran[name] += 1
            return out

        return counting


# ------------------------------------------------------------ every function, family and format


@needs_c
@pytest.mark.parametrize("fmt", FORMATS)
@pytest.mark.parametrize("family", FAMILIES)
@pytest.mark.parametrize("name", CALLS)
@pytest.mark.parametrize("shape", [(3, 17), (40, 300), (132, 1000), (50, 10), (9, 1)])
def test_both_paths_give_the_same_bits(name, family, fmt, shape):
    rng = np.random.default_rng([FAMILIES.index(family), *shape, len(name), len(fmt)])
    _same(name, _rows(family, fmt, rng, *shape), rng)


#: the kernels each function runs on wide float16 and bfloat16 rows: common
#: ones (softmax, log_softmax and the categorical loss unshifted) and ones
#: past the unshifted bounds (shifted: Rows, the float64 shift first)
#: (minus_rows runs through sub_rows)
LSE, MINUS = {"shift", "top_sums"}, {"minus_rows", "sub_rows"}
RAN = {"normal": {"softmax": {"scale_rows"}, "log_softmax": MINUS, "logsumexp": LSE,
                  "sparse_categorical_crossentropy": LSE, "categorical_crossentropy": MINUS},
       "shifted": {"softmax": {"shift", "scale_rows"}, "log_softmax": LSE | MINUS, "logsumexp": LSE,
                   "sparse_categorical_crossentropy": LSE, "categorical_crossentropy": LSE | MINUS}}


@needs_c
@pytest.mark.parametrize("fmt", FORMATS)
@pytest.mark.parametrize("name", CALLS)
def test_the_kernel_runs_on_wide_rows(name, fmt, monkeypatch):
    """On common rows (unshifted for softmax, log_softmax and the
    categorical loss) and on rows past the unshifted bounds (shifted), the
    passes run: the float64 shift for every shifted block, and a pass that
    writes the results."""
    rng = np.random.default_rng(len(name))
    for family in ("normal", "shifted"):
        with pytest.MonkeyPatch.context() as mp:  # the spies of one family (the fixture's patch stays)
            spy = _Spy(mp)
            _same(name, _rows(family, fmt, rng, 64, 200), rng)
        assert {k for k, v in spy.ran.items() if v} == RAN[family][name], spy.ran


@needs_c
@pytest.mark.parametrize("fmt", FORMATS)
def test_blocks_with_a_nan_or_inf_maximum_go_to_numpy(fmt, monkeypatch):
    rng = np.random.default_rng(7)
    for family in ("nan", "pinf"):
        x = _rows(family, fmt, rng, 20, 300) + FORMATS[fmt](700.0)  # shifted rows: Rows itself
        with pytest.MonkeyPatch.context() as mp:  # the fixture's patch stays
            spy = _Spy(mp)
            _same("logsumexp", x, rng)
        assert spy.ran["shift"] == 0 and spy.ran["top_sums"] == 0


@needs_c
@pytest.mark.parametrize("fmt", FORMATS)
def test_softmax_into_float16_subnormals_and_zeros(fmt):
    """Probabilities below float16's least normal (6.1e-5) and its least
    subnormal: the kernel's float64 results, rounded once by the caller."""
    rng = np.random.default_rng(3)
    x = _rows("far", fmt, rng, 50, 100)
    fast, slow = each_path(stabkit.softmax, x)
    same_bits(fast, slow)
    if fmt == "float16":
        p = fast.astype(np.float64)
        assert ((p > 0) & (p < 6.1e-5)).any() and (p == 0).any()


@needs_c
@pytest.mark.parametrize("fmt", FORMATS)
@pytest.mark.parametrize("name", CALLS)
def test_layouts_axes_and_empty_arrays(name, fmt):
    rng = np.random.default_rng(11)
    x = _rows("normal", fmt, rng, 300, 40)
    _same(name, x.T, rng, axis=0)  # transposed: columns are the rows
    _same(name, x.T, rng, axis=-1)  # Fortran-ordered rows
    _same(name, x[::2, ::3], rng)  # strided
    _same(name, _rows("shifted", fmt, rng, 6, 30 * 20).reshape(6, 30, 20), rng, axis=1)
    _same(name, np.zeros((0, 20), dtype=FORMATS[fmt]), rng)
    if name != "sparse_categorical_crossentropy":  # no label fits a row of no classes
        _same(name, np.zeros((4, 0), dtype=FORMATS[fmt]), rng)


@needs_c
@pytest.mark.parametrize("fmt", FORMATS)
def test_logsumexp_keepdims(fmt):
    x = _rows("shifted", fmt, np.random.default_rng(5), 8, 50)
    fast, slow = each_path(stabkit.logsumexp, x, axis=0, keepdims=True)
    same_bits(fast, slow)
    assert fast.shape == (1, 50)


@needs_c
@settings(max_examples=40, deadline=None)
@given(rows=st.integers(1, 70), n=st.integers(1, 300), family=st.sampled_from(FAMILIES),
       fmt=st.sampled_from(list(FORMATS)), name=st.sampled_from(list(CALLS)), seed=st.integers(0, 2**16))
def test_any_shape(rows, n, family, fmt, name, seed):
    rng = np.random.default_rng(seed)
    _same(name, _rows(family, fmt, rng, rows, n), rng)


# ------------------------------------------------------------ narrow rows of narrower targets

needs_narrow = pytest.mark.skipif(narrowrows.narrow_status() != "native", reason="the narrow-row kernel is off here")
NARROWER = {**FORMATS, "float32": np.float32}


def _narrow_rows(family: str, fmt: str, rng, rows: int, n: int) -> np.ndarray:
    """The families above, and maxima of both zero signs (left to Rows)."""
    if family == "zeros":
        x = np.where(rng.random((rows, n)) < 0.5, -0.0, -np.abs(rng.standard_normal((rows, n))))
        x[:, 0] = 0.0
        return x.astype(NARROWER[fmt])
    if fmt == "float32":
        x = _rows(family, "bfloat16", rng, rows, n).astype(np.float64)
        return (x * (1.0 + 1e-5 * rng.standard_normal(x.shape))).astype(np.float32)  # float32's own bits
    return _rows(family, fmt, rng, rows, n)


class _NarrowSpy:
    """Counts the narrow kernel's blocks, and those where the float32 rows'
    fast pass (``_narrow_fast32.h``) took rows in its place."""

    def __init__(self, mp):
        self.blocks = 0
        for name in ("narrow", "narrow_log_softmax32", "narrow_lse32"):
            mp.setattr(narrowrows, name, self._counting(getattr(narrowrows, name)))

    def _counting(self, kernel):
        def counting(*a, **k):
            out = kernel(*a, **k)
            if out is None:
                took = False
            elif kernel.__name__ == "narrow":
                took = True
            else:  # the fast pass's mask of rows taken: alone, or after the values
                took = bool(np.any(out[1] if isinstance(out, tuple) else out))
            self.blocks += took and native.library() is not None
            return out

        return counting


@needs_narrow
@pytest.mark.parametrize("fmt", NARROWER)
@pytest.mark.parametrize("family", (*FAMILIES, "zeros"))
@pytest.mark.parametrize("n", [1, 2, 5, 10, 16])
def test_narrow_sparse_crossentropy_runs_the_kernel(n, family, fmt, monkeypatch):
    rng = np.random.default_rng([n, len(family), len(fmt)])
    spy = _NarrowSpy(monkeypatch)
    x = _narrow_rows(family, fmt, rng, 600, n)
    _same("sparse_categorical_crossentropy", x, rng)
    assert spy.blocks > 0
    _same("sparse_categorical_crossentropy", x.T, rng, axis=0)


@needs_narrow
@pytest.mark.parametrize("fmt", NARROWER)
@pytest.mark.parametrize("family", (*FAMILIES, "zeros"))
@pytest.mark.parametrize("name", ["log_softmax", "categorical_crossentropy"])
def test_narrow_log_softmax_and_categorical_crossentropy_run_the_kernel(name, family, fmt, monkeypatch):
    """The public functions on rows of 10: the kernel ran, and the bits are
    the NumPy path's (rows and columns)."""
    rng = np.random.default_rng([len(name), len(family), len(fmt)])
    spy = _NarrowSpy(monkeypatch)
    x = _narrow_rows(family, fmt, rng, 700, 10)
    _same(name, x, rng)
    assert spy.blocks > 0
    _same(name, x.T, rng, axis=0)


@needs_narrow
@pytest.mark.parametrize("fmt", NARROWER)
@pytest.mark.parametrize("family", (*FAMILIES, "zeros"))
def test_narrow_log_softmax_of_narrower_targets(family, fmt, monkeypatch):
    """``narrow.log_softmax`` for float32, float16 and bfloat16 targets:
    the bits of ``Rows.log_softmax`` into every ``dst`` the tier passes (a
    float64 result is rounded once into the block's format, as the tier does)."""
    from stabkit._accurate import narrow
    from stabkit._accurate.blocks import store
    from stabkit.floats import get_format

    rng = np.random.default_rng([len(family), len(fmt)])
    spy = _NarrowSpy(monkeypatch)
    x = _narrow_rows(family, fmt, rng, 700, 10)
    block = x if fmt == "float32" else x.astype(np.float64)
    f = get_format(fmt)

    def rounded(dst):
        with np.errstate(all="ignore"):
            got = narrow.log_softmax(block, f, None if dst is None else dst.copy())
        out = np.empty(x.shape, f.dtype)
        store(out, got, f)
        return out

    # the tier's dst: its output block, but never a bfloat16 one (rounded apart)
    for dst in (None, np.empty(x.shape)) if fmt == "bfloat16" else (None, np.empty(x.shape, f.dtype)):
        same_bits(*each_path(rounded, dst))
    assert spy.blocks > 0
    if family == "far":
        # a winner 40 ahead: d - L rounds back to d, and the kernel's pass
        # steps it one ulp down (below_ties), as the NumPy path does
        with np.errstate(all="ignore"):
            got = narrow.log_softmax(block, f)
            d = block.astype(np.float64) + (-block.max(axis=-1, keepdims=True).astype(np.float64))
        assert np.count_nonzero((got == np.nextafter(d, -np.inf)) & (d != 0.0)) > 0


# ------------------------------------------------------------ the bindings and the status


def test_writable_leaves_float16_blocks_to_the_caller():
    out = np.empty((2, 3))
    assert native.writable(out) is out and native.writable(None) is None
    assert native.writable(out.astype(np.float32)) is not None
    assert native.writable(np.empty((2, 3), np.float16), out) is out
    assert native.writable(np.empty((2, 3), np.float16)) is None


@needs_c
def test_minus_rows_is_numpys_subtraction(monkeypatch):
    rng = np.random.default_rng(2)
    x = rng.standard_normal((5, 40)) * 100
    c = rng.standard_normal(5) * 100
    same_bits(native.minus_rows(x, c, None), np.subtract(x, c[:, None]))
    out32 = np.empty((5, 40), np.float32)
    assert native.minus_rows(x, c, out32) is out32
    same_bits(out32, np.subtract(x, c[:, None]).astype(np.float32))
    assert native.minus_rows(x.astype(np.float32), c, None) is None  # float32 rows: log_softmax32
    assert native.minus_rows(np.asfortranarray(x), c, None) is None  # not contiguous
    assert native.minus_rows(x, c, np.empty((5, 40), np.float16)) is None
    monkeypatch.setenv("STABKIT_NATIVE", "0")
    assert native.minus_rows(x, c, None) is None


def test_status_lists_float16_and_bfloat16_rows(monkeypatch):
    monkeypatch.delenv("STABKIT_NATIVE", raising=False)
    table = status.kernels()
    for name in status.ROWWISE:
        for fmt in ("float32", "float16", "bfloat16", "float64"):
            assert table[f"{name}/{fmt}"] == native.status()
    line = [s for s in status.summary().splitlines() if s.startswith("accurate row kernel")]
    expected = ("native for float32, float16, bfloat16, float64" if native.status() == "native"
                else f"NumPy ({native.status()})")
    assert line == [f"accurate row kernel (rows wider than 16): {expected}"]
    monkeypatch.setenv("STABKIT_NATIVE", "0")
    assert {status.kernels()[f"{name}/float16"] for name in status.ROWWISE} == {"STABKIT_NATIVE=0"}
