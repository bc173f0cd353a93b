"""The compiled sigmoid, log_sigmoid and softplus ufuncs (stabkit/_native/
_elementwise.c) against the NumPy path of stabkit.accurate, bit for bit.

The NumPy path is the oracle (correctly rounded for float32 and narrower);
every float16 and bfloat16 input is compared here, float32 by a sample of
bit patterns plus every threshold, tail and special value (all 2**32 float32
inputs: benchmarks/exhaustive_elementwise.py, recorded in
benchmarks/RESULTS.md). NaNs are compared by their bits too.
"""

from __future__ import annotations

import importlib.util
import shutil
import subprocess
import sys
import sysconfig
import threading
import time
from pathlib import Path

import ml_dtypes
import numpy as np
import pytest
from helpers.native import without_extension
from typer.testing import CliRunner

from stabkit import accurate
from stabkit._native import elementwise, status
from stabkit.cli import app

FUNCTIONS = ["sigmoid", "log_sigmoid", "softplus"]
BITS = {np.dtype(np.float32): np.uint32, np.dtype(np.float16): np.uint16, np.dtype(ml_dtypes.bfloat16): np.uint16}
EXT = elementwise.extension()
SOURCE = Path(elementwise.__file__).with_name("_elementwise.c")
needs_ext = pytest.mark.skipif(EXT is None, reason="the C extension is not built")


def _numpy_path(name, x, monkeypatch):
    """The accurate tier's NumPy path (STABKIT_NATIVE=0) on ``x``."""
    with monkeypatch.context() as m:
        m.setenv("STABKIT_NATIVE", "0")
        return np.asarray(getattr(accurate, name)(x))


def _assert_same_bits(x, got, ref):
    ut = BITS[np.dtype(x.dtype)]
    assert got.dtype == ref.dtype == x.dtype
    g, r = np.asarray(got).view(ut), np.asarray(ref).view(ut)
    # A NaN's sign is the one bit that NumPy's own operations set differently
    # from release to release (NumPy 2.0's NumPy path gives +NaN where 2.4's
    # gives -NaN from the same input; IEEE 754 leaves it unspecified): the
    # kernel follows the newer one, and where the NumPy path's result is NaN
    # only the payload is compared. Every other bit, NaN's payload included,
    # must match.
    nan = np.isnan(np.asarray(ref, dtype=np.float32))
    sign = ut(1 << (8 * np.dtype(ut).itemsize - 1))
    g = np.where(nan, g & ~sign, g)
    r = np.where(nan, r & ~sign, r)
    bad = np.flatnonzero(g.ravel() != r.ravel())
    xs = np.asarray(x).view(ut).ravel()
    assert bad.size == 0, f"{bad.size} inputs differ, first: " + ", ".join(
        f"x={xs[i]:#x}: native {g.ravel()[i]:#x}, numpy {r.ravel()[i]:#x}" for i in bad[:5])


def test_the_extension_is_built_where_a_compiler_is():
    """A silently skipped build would silently lose the kernels."""
    cc = (sysconfig.get_config_var("CC") or "cc").split()[0]
    if shutil.which(cc) is None:
        pytest.skip(f"no C compiler ({cc}) here: the NumPy path is used")
    assert EXT is not None, "the C extension was not built (pip install -e . builds it)"
    assert EXT.bfloat16 == 1


# ---------------------------------------------------------------- bits


def _all16(dtype):
    return np.arange(2**16, dtype=np.uint32).astype(np.uint16).view(dtype)


@needs_ext
@pytest.mark.parametrize("dtype", [np.float16, ml_dtypes.bfloat16], ids=["float16", "bfloat16"])
@pytest.mark.parametrize("name", FUNCTIONS)
def test_every_16bit_input_is_bit_identical(name, dtype, monkeypatch):
    x = _all16(dtype)
    _assert_same_bits(x, getattr(EXT, name)(x), _numpy_path(name, x, monkeypatch))


def _around(center: float, n: int = 600) -> np.ndarray:
    """The 2n float32 bit patterns nearest ``center`` (on its side of zero)."""
    c = np.float32(center).view(np.int32).astype(np.int64)
    return (c + np.arange(-n, n)).astype(np.int32).view(np.float32)


def _edges() -> np.ndarray:
    """float32 inputs at every threshold, tail and special value."""
    specials = np.array([0x0, 0x80000000, 0x7F800000, 0xFF800000, 0x1, 0x80000001, 0x7FFFFF, 0x807FFFFF, 0x800000,
                         0x7F7FFFFF, 0xFF7FFFFF, 0x7FC00000, 0xFFC00000, 0x7F800001, 0xFF800001, 0x7FC12345,
                         0xFFA00000, 0x7FBFFFFF], np.uint32).view(np.float32)  # fmt: skip
    # sigmoid near 0: 1/2 + x/4 is a float32 midpoint at odd multiples of
    # 2**-24, where only -x**3/48 decides the rounding
    k = np.arange(1, 2**14 + 1, dtype=np.float32)
    grid = np.concatenate([k, -k]) * np.float32(2.0**-24)
    centers = [2.0**-10, -(2.0**-10), 2.0**-24, 1.0, -1.0, 4.849598815584976, -4.849598815584976,
               -4.4680992e-04, 4.4680992e-04,  # the input the softplus double-double tie rule fixed
               15.9, 16.64, 17.33, 20.0, -20.0, 40.0, -40.0,  # sigmoid reaching 1; softplus's usual threshold
               -87.34, 87.34, -103.28, 103.28, -103.97, 103.97, -104.0, 104.0,  # subnormal results, then 0
               88.72, -88.72, 200.0, -200.0, 1e30, -1e30]  # fmt: skip
    return np.concatenate([specials, grid, *(_around(c) for c in centers)])


@needs_ext
@pytest.mark.parametrize("name", FUNCTIONS)
def test_float32_edges_are_bit_identical(name, monkeypatch):
    x = _edges()
    _assert_same_bits(x, getattr(EXT, name)(x), _numpy_path(name, x, monkeypatch))


@needs_ext
@pytest.mark.parametrize("name", FUNCTIONS)
def test_float32_sampled_bit_patterns_are_bit_identical(name, monkeypatch):
    """Three million uniform bit patterns, and three million inputs with
    |x| < 110 (where the results are not 0, 1 or x)."""
    rng = np.random.default_rng(16)
    x = np.concatenate([rng.integers(0, 2**32, 3_000_000, dtype=np.uint64).astype(np.uint32).view(np.float32),
                        rng.uniform(-110, 110, 3_000_000).astype(np.float32)])
    _assert_same_bits(x, getattr(EXT, name)(x), _numpy_path(name, x, monkeypatch))


def _slow_pass_build(tmp_path):
    """The extension compiled with STABKIT_MARGIN=1.0: every element fails the
    rounding test, so the double-double pass computes all of them."""
    cc = (sysconfig.get_config_var("CC") or "cc").split()
    if shutil.which(cc[0]) is None:
        pytest.skip(f"no C compiler ({cc[0]}) here")
    out = tmp_path / ("_kernels" + sysconfig.get_config_var("EXT_SUFFIX"))  # its module init is _elementwise.c's
    cmd = [*cc, "-O1", "-ffp-contract=off", "-fno-math-errno", "-fno-trapping-math", "-std=gnu11", "-fPIC",
           "-shared", *(["-undefined", "dynamic_lookup"] if sys.platform == "darwin" else []),
           "-DSTABKIT_MARGIN=1.0", "-DNPY_NO_DEPRECATED_API=NPY_2_0_API_VERSION", f"-I{np.get_include()}",
           f"-I{sysconfig.get_paths()['include']}", str(SOURCE), str(SOURCE.with_name("_elementwise64.c")),
           str(SOURCE.with_name("_bce_probs.c")), str(SOURCE.with_name("_bce_logits.c")),
           str(SOURCE.with_name("_bce_ties.c")),
               "-o", str(out)]  # fmt: skip
    run = subprocess.run(cmd, capture_output=True, text=True, timeout=300)
    assert run.returncode == 0, run.stderr
    spec = importlib.util.spec_from_file_location("_kernels", out)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    mod.register_bfloat16()
    return mod


@needs_ext
@pytest.mark.slow
def test_the_double_double_pass_alone_is_bit_identical(tmp_path, monkeypatch):
    """The slow pass decides only the rare inputs near a rounding boundary;
    here it computes every 16-bit input, the float32 edges and a float32
    sample, and must give the same bits too."""
    slow = _slow_pass_build(tmp_path)
    rng = np.random.default_rng(61)
    x32 = np.concatenate([_edges(), rng.integers(0, 2**32, 200_000, dtype=np.uint64).astype(np.uint32).view(np.float32),
                          rng.uniform(-110, 110, 200_000).astype(np.float32)])
    for name in FUNCTIONS:
        for x in (_all16(np.float16), _all16(ml_dtypes.bfloat16), x32):
            _assert_same_bits(x, getattr(slow, name)(x), _numpy_path(name, x, monkeypatch))


@needs_ext
@pytest.mark.slow
def test_the_slow_pass_reads_the_input_not_an_output_written_over_it(tmp_path, monkeypatch):
    """The loops read a contiguous input in place unless the output overlaps
    it; the slow pass reads x[i] after the block wrote y[i], so an in-place
    call must go through the copy. In the build where every element takes
    the slow pass, in place, into a separate array and into a strided view
    give the NumPy path's bits (reading y back as x would not)."""
    slow = _slow_pass_build(tmp_path)
    rng = np.random.default_rng(67)
    x32 = np.concatenate([_edges(), rng.uniform(-110, 110, 3 * 256 + 77).astype(np.float32)])
    x16 = [_all16(f)[rng.permutation(1 << 16)[: 3 * 256 + 77]] for f in (np.float16, ml_dtypes.bfloat16)]
    for name in FUNCTIONS:
        for x in (x32, *x16):
            ref = _numpy_path(name, x, monkeypatch)
            y = x.copy()
            getattr(slow, name)(y, out=y)
            _assert_same_bits(x, y, ref)
            z = np.empty_like(x)
            getattr(slow, name)(x, out=z)
            _assert_same_bits(x, z, ref)
            w = np.empty(2 * x.size, x.dtype)
            getattr(slow, name)(x, out=w[::2])
            _assert_same_bits(x, w[::2], ref)
            # outputs overlapping the input one element off, and reversed over it
            for src, dst, want in ((slice(None, -1), slice(1, None), ref[:-1]), (slice(1, None), slice(None, -1), ref[1:]),
                                   (slice(None, None, -1), slice(None), ref[::-1])):
                v = x.copy()
                getattr(slow, name)(v[src], out=v[dst])
                _assert_same_bits(x[src], v[dst], want)


# ---------------------------------------------------------------- ufunc mechanics


@needs_ext
@pytest.mark.parametrize("name", FUNCTIONS)
def test_strides_out_where_0d_and_empty(name, monkeypatch):
    uf = getattr(EXT, name)
    rng = np.random.default_rng(3)
    base = rng.normal(0, 30, (64, 48)).astype(np.float32)
    ref = _numpy_path(name, base, monkeypatch)
    # strided, reversed and transposed views
    _assert_same_bits(base[::3, ::-2], uf(base[::3, ::-2]), ref[::3, ::-2])
    _assert_same_bits(base.T, uf(base.T), ref.T)
    # out= into a strided view, and in place
    out = np.full((64, 96), -1.0, np.float32)
    r = uf(base, out=out[:, ::2])
    assert r.base is out
    _assert_same_bits(base, out[:, ::2], ref)
    assert (out[:, 1::2] == -1).all()
    y = base.copy()
    uf(y, out=y)
    _assert_same_bits(base, y, ref)
    # where=: untouched where False
    mask = rng.random(base.shape) < 0.5
    out = np.full_like(base, 7.0)
    uf(base, out=out, where=mask)
    _assert_same_bits(base[mask], out[mask], ref[mask])
    assert (out[~mask] == 7).all()
    # 0-d gives a scalar of the input's type, empty an empty array
    z = uf(np.float32(1.5))
    assert isinstance(z, np.float32) and z == ref.dtype.type(_numpy_path(name, np.float32(1.5), monkeypatch))
    assert uf(np.zeros((0, 3), np.float16)).shape == (0, 3)
    assert uf(np.zeros(0, ml_dtypes.bfloat16)).dtype == ml_dtypes.bfloat16
    # byte-swapped input: NumPy casts it for the loop
    _assert_same_bits(base, uf(base.astype(">f4")), ref)


@needs_ext
def test_no_floating_point_warnings_or_errors():
    v = [np.nan, np.inf, -np.inf, -200, 200, 1e-45, 6e-8, 0, 60000]
    xs = [np.array(v, dt) for dt in (np.float32, np.float16, ml_dtypes.bfloat16)]
    with np.errstate(all="raise"):
        for name in FUNCTIONS:
            for x in xs:
                getattr(EXT, name)(x)


@needs_ext
def test_threads_get_the_same_results():
    x = np.random.default_rng(5).normal(0, 20, 2_000_000).astype(np.float32)
    want = EXT.softplus(x)
    got = [None, None]

    def run(i):
        got[i] = EXT.softplus(x)

    threads = [threading.Thread(target=run, args=(i,)) for i in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert all(np.array_equal(g.view(np.uint32), want.view(np.uint32)) for g in got)


# ---------------------------------------------------------------- wiring


@needs_ext
@pytest.mark.parametrize("name", FUNCTIONS)
def test_the_accurate_tier_calls_the_ufunc(name, monkeypatch):
    calls = []
    real = elementwise.ufunc

    def spy(fn, fmt):
        uf = real(fn, fmt)
        calls.append((fn, fmt, uf is not None))
        return uf

    monkeypatch.setattr(elementwise, "ufunc", spy)
    x = np.linspace(-30, 30, 101, dtype=np.float32)
    y = getattr(accurate, name)(x)
    getattr(accurate, name)(x.astype(np.float64))
    getattr(accurate, name)([0.5, 1.5], dtype="bfloat16")
    assert calls == [(name, "float32", True), (name, "float64", True), (name, "bfloat16", True)]
    _assert_same_bits(x, y, _numpy_path(name, x, monkeypatch))
    # the wrapper's conventions hold: 0-d in, NumPy scalar out; dtype= casts first
    s = getattr(accurate, name)(np.float16(2.0))
    assert isinstance(s, np.float16)
    assert getattr(accurate, name)(x.astype(np.float64), dtype=np.float32).dtype == np.float32


def test_stabkit_native_0_forces_the_numpy_path(monkeypatch):
    monkeypatch.setenv("STABKIT_NATIVE", "0")
    assert elementwise.ufunc("sigmoid", "float32") is None
    assert set(status.kernels().values()) == {"STABKIT_NATIVE=0"}
    r = CliRunner().invoke(app, ["list"])
    assert "accurate elementwise kernels (sigmoid, log_sigmoid, softplus): NumPy (STABKIT_NATIVE=0)" in r.stdout
    assert "accurate binary_crossentropy kernel (from logits): NumPy (STABKIT_NATIVE=0)" in r.stdout
    assert "accurate binary_crossentropy kernel (from probabilities): NumPy (STABKIT_NATIVE=0)" in r.stdout
    assert "accurate row kernel (rows wider than 16): NumPy (STABKIT_NATIVE=0)" in r.stdout


@needs_ext
def test_stabkit_list_names_the_native_formats(monkeypatch):
    monkeypatch.delenv("STABKIT_NATIVE", raising=False)
    r = CliRunner().invoke(app, ["list"])
    assert ("accurate elementwise kernels (sigmoid, log_sigmoid, softplus): native for float32, float16, bfloat16, "
            "float64 (16-bit calls of 2^14 elements or more: a table of all 2^16 results)") in r.stdout.splitlines()
    native = "native for float32, float16, bfloat16, float64"
    assert f"accurate binary_crossentropy kernel (from logits): {native}" in r.stdout.splitlines()
    # from probabilities: native, or the load-time check's reason where it ran and refused the loops
    # (NumPy 2.0.0: see tests/test_native_bce.py)
    why = elementwise.why_not("binary_crossentropy", "float64", logits=False)
    probs = native if why is None else f"NumPy ({why})"
    assert f"accurate binary_crossentropy kernel (from probabilities): {probs}" in r.stdout.splitlines()
    assert status.kernels()["softplus/bfloat16"] == "native"


def test_kernels_lists_the_row_kernel_per_function_and_format(monkeypatch):
    from stabkit._native import rows

    monkeypatch.delenv("STABKIT_NATIVE", raising=False)
    table = status.kernels()
    for name in status.ROWWISE:
        assert table[f"{name}/float64"] == table[f"{name}/float32"] == rows.status()
        assert table[f"{name}/float16"] == table[f"{name}/bfloat16"] == rows.status()
    line = [s for s in status.summary().splitlines() if s.startswith("accurate row kernel")]
    expected = ("native for float32, float16, bfloat16, float64" if rows.status() == "native"
                else f"NumPy ({rows.status()})")
    assert line == [f"accurate row kernel (rows wider than 16): {expected}"]


def test_without_the_extension_the_numpy_path_runs(monkeypatch):
    """An install where the extension was not built: every function runs,
    and the status says why."""
    without_extension(monkeypatch)
    assert elementwise.ufunc("softplus", "float32") is None
    assert elementwise.extension() is None
    assert status.kernels()["sigmoid/float32"].startswith("the C extension stabkit._native._kernels was not built")
    x = np.linspace(-50, 50, 1001, dtype=np.float32)
    for name in FUNCTIONS:
        y = getattr(accurate, name)(x)
        _assert_same_bits(x, y, _numpy_path(name, x, monkeypatch))
    assert "NumPy (the C extension stabkit._native._kernels was not built" in status.summary()


@needs_ext
@pytest.mark.parametrize("dtype", [np.float32, ml_dtypes.bfloat16], ids=["float32", "bfloat16"])
def test_the_gil_is_released_inside_the_loop(dtype):
    """While one thread is inside a long ufunc call, another runs Python code
    (with the GIL held by the loop it could not, however many cores: a
    ``sum(range(10**7))`` in its place gives 0 steps in the middle half).
    For bfloat16 with ml_dtypes < 0.7, whose dtype asks NumPy to keep the
    GIL, the loop releases it itself."""
    x = np.linspace(-50, 50, 20_000_000).astype(dtype)
    window = []

    def worker():
        t0 = time.perf_counter()
        EXT.softplus(x)
        window.extend([t0, time.perf_counter()])

    ticks = []
    t = threading.Thread(target=worker)
    t.start()
    while t.is_alive():
        ticks.append(time.perf_counter())
    t.join()
    # the middle half of the call: the worker's own timestamps are taken with
    # the GIL, and the main thread may hold it for a switch interval (5 ms)
    # before the worker records the end
    t0, t1 = window
    inside = sum(t0 + (t1 - t0) / 4 < s < t1 - (t1 - t0) / 4 for s in ticks)
    assert inside >= 10, f"{inside} steps of the main thread ran during the middle of the {t1 - t0:.2f} s call"


def test_bfloat16_without_ml_dtypes_runs_the_numpy_path(monkeypatch):
    """The bfloat16 loops need ml_dtypes' type: where it cannot be imported,
    bfloat16 runs the NumPy path and the status says why."""

    class NoMlDtypes:
        def register_bfloat16(self):
            raise ImportError("No module named 'ml_dtypes'")

    monkeypatch.delenv("STABKIT_NATIVE", raising=False)
    monkeypatch.setattr(elementwise, "_module", NoMlDtypes)  # the extension, as loaded
    monkeypatch.setattr(elementwise, "_BF16_WHY", False)
    why = "ml_dtypes' bfloat16 is not importable (No module named 'ml_dtypes')"
    assert elementwise.why_not("softplus", "bfloat16") == why
    assert elementwise.ufunc("softplus", "bfloat16") is None
    assert status.kernels()["sigmoid/bfloat16"] == why
    assert status.kernels()["sigmoid/float32"] == "native"


@needs_ext
@pytest.mark.parametrize("fmt", [np.float16, ml_dtypes.bfloat16])
@pytest.mark.parametrize("name", FUNCTIONS)
def test_16bit_strides_in_place_and_offsets(name, fmt, monkeypatch):
    """The 16-bit loop reads contiguous input in one copy and writes
    contiguous output straight from the block; strided, reversed, in-place
    and odd-offset runs (ragged last blocks included) give the same bits."""
    uf = getattr(EXT, name)
    x = _all16(fmt)[np.random.default_rng(5).permutation(1 << 16)[: 3 * 256 + 77]]  # every regime, NaN too
    ref = _numpy_path(name, x, monkeypatch)
    _assert_same_bits(x[::-3], uf(x[::-3]), ref[::-3])
    out = np.zeros(2 * x.size, fmt)
    uf(x, out=out[1::2])
    _assert_same_bits(x, out[1::2], ref)
    assert (out[0::2].view(np.uint16) == 0).all()
    y = x.copy()
    uf(y, out=y)
    _assert_same_bits(x, y, ref)
    z = np.zeros(x.size + 1, fmt)[1:]  # contiguous, one element past an allocation's start
    uf(x, out=z)
    _assert_same_bits(x, z, ref)


def _near16(y, bf):
    flags = np.zeros(len(y), np.uint8)
    EXT.near16(np.ascontiguousarray(y, np.float64), flags, bf)
    return flags.astype(bool)


@needs_ext
@pytest.mark.parametrize("fmt", [np.float16, ml_dtypes.bfloat16], ids=["float16", "bfloat16"])
def test_the_16bit_rounding_test_flags_exactly_the_ys_that_round_to_midpoints(fmt):
    """The 16-bit loops round y (within 2^-27 |y| of the exact value)
    through float32 and send to the slow pass the y whose float32 rounding
    is a midpoint of the format, where rounding twice may go wrong: so every
    y within 2^-26 |y| of a midpoint is flagged, and a midpoint's float32
    neighbours and the format's own values are not; NaN is flagged, inf and
    the overflowing range are not."""
    bf = fmt is ml_dtypes.bfloat16
    with np.errstate(invalid="ignore"):
        v = _all16(fmt).astype(np.float64)
    v = np.unique(np.abs(v[np.isfinite(v)]))  # every finite magnitude, 0 first
    top = 2.0 ** 128 if bf else 65536.0  # the power of 2 past the largest value
    mids = np.concatenate([(v[:-1] + v[1:]) / 2, [(v[-1] + top) / 2]])  # exact in float64 and float32
    assert (mids.astype(np.float32) == mids).all()
    m32 = mids.astype(np.float32)
    with np.errstate(over="ignore"):
        neighbours = np.concatenate([np.nextafter(m32, np.float32(np.inf)), np.nextafter(m32, np.float32(0))])
    for sign in (1.0, -1.0):
        assert _near16(sign * mids, bf).all()
        for eps in (2.0**-26, -(2.0**-26)):
            assert _near16(sign * mids * (1 + eps), bf).all()
        assert not _near16(sign * neighbours[np.isfinite(neighbours)].astype(np.float64), bf).any()
        assert not _near16(sign * v, bf).any()  # the values themselves, 0 included
    assert _near16(np.array([np.nan, -np.nan]), bf).all()
    assert not _near16(np.array([np.inf, -np.inf, top, 2 * top, 1e300]), bf).any()
