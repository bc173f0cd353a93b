"""The compiled float64 loops (stabkit/_native/_elementwise64.c): sigmoid,
softplus and log_sigmoid, and the binary cross-entropy from logits
(``binary_logits``, ``binary_logits_plain``), against the NumPy path of
stabkit.accurate (``STABKIT_NATIVE=0``) bit for bit.

Every bit is compared but a NaN's sign: the NumPy path's own NaN sign
depends on where an element falls in NumPy's SIMD loops (the scalar
remainder of a block takes the other operand's NaN), so where the NumPy
path gives NaN only the payload is compared, as in test_native_elementwise.py.
"""

from __future__ import annotations

import subprocess
import sys
import threading

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from stabkit import accurate
from stabkit._accurate import native64
from stabkit._accurate.bceties import settle_plain
from stabkit._accurate.crossentropy import binary_terms
from stabkit._accurate.elementwise import softplus_f64, softplus_pair_f64
from stabkit._native import elementwise, status

FUNCTIONS = ["sigmoid", "log_sigmoid", "softplus"]
EXT = elementwise.extension()
needs_ext = pytest.mark.skipif(EXT is None, reason="the C extension is not built")
SIGN64, SIGN32 = np.uint64(1 << 63), np.uint32(1 << 31)


def _assert_same_bits(got, want, x=None):
    got, want = np.asarray(got), np.asarray(want)
    assert got.dtype == want.dtype and got.shape == want.shape
    ut, sign = (np.uint64, SIGN64) if got.dtype == np.float64 else (np.uint32, SIGN32)
    g, w = got.view(ut).ravel(), want.view(ut).ravel()
    nan = np.isnan(want).ravel()
    g, w = np.where(nan, g & ~sign, g), np.where(nan, w & ~sign, w)
    bad = np.flatnonzero(g != w)
    xs = "" if x is None else f" at x={np.asarray(x).ravel()[bad[:5]]}"
    assert bad.size == 0, f"{bad.size} differ{xs}: native {got.ravel()[bad[:5]]}, numpy {want.ravel()[bad[:5]]}"


def _numpy_path(fn, monkeypatch):
    with monkeypatch.context() as m:
        m.setenv("STABKIT_NATIVE", "0")
        return fn()


def _around(centers, k: int = 4) -> np.ndarray:
    """The 2k + 1 float64 bit patterns around each center, of either sign."""
    c = np.abs(np.asarray(centers, np.float64)).view(np.int64)
    near = (c[:, None] + np.arange(-k, k + 1)).ravel().view(np.float64)
    return np.concatenate([near, -near])


def _edges() -> np.ndarray:
    """Both sides of every threshold: the series at 2**-10, the sigmoid
    table's ends (40) and every grid point and half-point (i 2**-7), exp's
    limits (-708.4 to normal, -745.13 to 0: subnormal results), the tail's
    clamp at -790, the extremes; +-0, +-inf and NaNs with payloads."""
    grid = np.arange(-5121, 5122) * 2.0**-7
    centers = [2.0**-10, 40.0, 40.0 + 2.0**-8, 708.39, 708.4, 709.78, 744.44, 745.13, 745.14, 790.0, 36.04, 37.43,
               2.0**-1022, 5e-324, 2.0**-60, 1.0, 20.0, 1e10, 2.0**44, 2.0**45, 1.7976931348623157e308]
    specials = np.array([0x7FF8000000000000, 0xFFF8000000000000, 0x7FF0000000000001, 0xFFF4000000000123,
                         0x7FF8DEAD00000000, 0x7FF0000000000000, 0xFFF0000000000000, 0, 1 << 63],
                        np.uint64)  # fmt: skip
    return np.concatenate([specials.view(np.float64), _around(centers), grid, grid + 2.0**-8, _around(grid[::50], 2),
                           _around(grid[::50] + 2.0**-8, 2)])


def _random(n: int, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return np.concatenate([rng.integers(0, 2**64, n, dtype=np.uint64).view(np.float64),
                           rng.standard_normal(n) * 10.0 ** rng.uniform(-8, 3, n), rng.uniform(-800, -35, n)])


def test_the_float64_loops_are_bound_where_the_extension_is():
    """A build that has the extension must run float64 compiled (the load-time
    check against the NumPy path passed), and say so."""
    if EXT is None:
        pytest.skip("the C extension is not built")
    assert elementwise.why_not("sigmoid", "float64") is None
    table = status.kernels()
    assert {table[f"{n}/float64"] for n in FUNCTIONS} == {"native"}
    assert table["binary_crossentropy/float64"] == table["binary_crossentropy/float32"] == "native"


# ---------------------------------------------------------------- bits


@needs_ext
@pytest.mark.parametrize("name", FUNCTIONS)
def test_edges_and_random_bit_patterns_are_bit_identical(name, monkeypatch):
    x = np.concatenate([_edges(), _random(200_000, 64)])
    want = _numpy_path(lambda: getattr(accurate, name)(x), monkeypatch)
    _assert_same_bits(getattr(accurate, name)(x), want, x)
    _assert_same_bits(getattr(EXT, name)(x), want, x)


@needs_ext
def test_nan_keeps_its_payload_and_sign():
    """NaN in, the same NaN made quiet out (what every NumPy operation does
    in the body of its SIMD loops); +-inf and +-0 give the exact limits."""
    x = np.array([0x7FF0000000000001, 0xFFF8000000000123], np.uint64).view(np.float64)
    for name in FUNCTIONS:
        assert list(getattr(EXT, name)(x).view(np.uint64)) == [0x7FF8000000000001, 0xFFF8000000000123]
    inf = np.array([np.inf, -np.inf, 0.0, -0.0])
    assert EXT.sigmoid(inf).tolist() == [1.0, 0.0, 0.5, 0.5]
    assert EXT.softplus(inf)[:2].tolist() == [np.inf, 0.0] and np.signbit(EXT.softplus(inf)[1]) == 0
    assert np.signbit(EXT.log_sigmoid(inf)[0]) and EXT.log_sigmoid(inf)[1] == -np.inf


@needs_ext
@pytest.mark.parametrize("name", ["exp", "log1p"])
def test_the_bound_numpy_loops_are_numpys(name):
    """The loops called from C give np.exp's and np.log1p's bits,
    on lengths across NumPy's SIMD widths and remainders."""
    x = _random(5000, 7)
    x[::7] = np.concatenate([_edges(), _edges()])[: x[::7].size]
    for n in (1, 3, 7, 8, 9, 16, 31, 512, 1000, x.size):
        out = np.empty(n)
        EXT.numpy_loop(name, x[:n].copy(), out)
        with np.errstate(all="ignore"):
            _assert_same_bits(out, getattr(np, name)(x[:n]))


def test_the_shared_log_term_gives_two_softplus_calls_bits():
    """binary_terms' softplus_pair_f64 is two softplus_f64 calls, every bit
    (NaN's sign included: the same operations at the same places)."""
    x = np.concatenate([_edges(), _random(20_000, 3)])
    with np.errstate(all="ignore"):
        neg, pos = softplus_pair_f64(x)
        assert np.array_equal(neg.view(np.uint64), softplus_f64(-x).view(np.uint64))
        assert np.array_equal(pos.view(np.uint64), softplus_f64(x).view(np.uint64))


# ---------------------------------------------------------------- layouts


@needs_ext
@settings(max_examples=60, deadline=None)
@given(name=st.sampled_from(FUNCTIONS),
       x=hnp.arrays(np.float64, hnp.array_shapes(max_dims=3, max_side=700), elements=st.floats(width=64)),
       step=st.sampled_from([1, 2, 3, -1, -2]), data=st.data())
def test_any_shape_stride_out_and_where(name, x, step, data):
    """Strided views, out= (also the input itself) and where= masks: the
    compiled loop writes exactly the NumPy path's values where asked and
    leaves the rest."""
    uf, ref = getattr(EXT, name), getattr(accurate, name)
    view = x[..., ::step]
    with np.errstate(all="ignore"):
        want = np.asarray(_plain(ref, view))
    _assert_same_bits(uf(view), want)
    mask = data.draw(hnp.arrays(np.bool_, view.shape))
    out = np.full(view.shape, 7.0)
    uf(view, out=out, where=mask)
    _assert_same_bits(out, np.where(mask, want, 7.0))
    inplace = view.copy()
    uf(inplace, out=inplace)
    _assert_same_bits(inplace, want)


def _plain(fn, x):
    """The accurate tier's NumPy path (the environment switch, without pytest's monkeypatch)."""
    import os

    old = os.environ.get("STABKIT_NATIVE")
    os.environ["STABKIT_NATIVE"] = "0"
    try:
        return fn(x)
    finally:
        if old is None:
            del os.environ["STABKIT_NATIVE"]
        else:
            os.environ["STABKIT_NATIVE"] = old


@needs_ext
@pytest.mark.parametrize("name", FUNCTIONS)
def test_non_contiguous_and_byte_swapped_input_through_the_tier(name, monkeypatch):
    x = _random(30_000, 11).reshape(30, -1)
    for v in (x[:, ::3], x.T, x.astype(">f8")):
        want = _numpy_path(lambda: getattr(accurate, name)(v), monkeypatch)
        _assert_same_bits(getattr(accurate, name)(v), want)


@needs_ext
def test_threads_get_the_same_results():
    x = _random(400_000, 5)
    want = EXT.sigmoid(x)
    got = [None, None]

    def run(i):
        got[i] = EXT.sigmoid(x)

    threads = [threading.Thread(target=run, args=(i,)) for i in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert all(np.array_equal(g.view(np.uint64), want.view(np.uint64)) for g in got)


@needs_ext
def test_no_floating_point_warnings_or_errors():
    x = _edges()
    with np.errstate(all="raise"):
        for name in FUNCTIONS:
            getattr(EXT, name)(x)
        EXT.binary_logits(np.zeros_like(x), np.ones_like(x), x)
        EXT.binary_logits_plain(np.full_like(x, 0.5), x)


# ---------------------------------------------------------------- wiring


@needs_ext
@pytest.mark.parametrize("name", FUNCTIONS)
def test_the_accurate_tier_runs_the_compiled_loop(name, monkeypatch):
    """With the kernel on, the NumPy function is never called for float64."""

    def boom(*_a, **_k):
        raise AssertionError("the NumPy path ran")

    x = _random(1000, 2)
    want = _numpy_path(lambda: getattr(accurate, name)(x), monkeypatch)
    monkeypatch.setattr(accurate, f"{name}_f64", boom)
    _assert_same_bits(getattr(accurate, name)(x), want)
    monkeypatch.setenv("STABKIT_NATIVE", "0")
    with pytest.raises(AssertionError, match="the NumPy path ran"):
        getattr(accurate, name)(x)


def test_unbound_float64_loops_give_nan_and_the_check_catches_a_wrong_bit():
    """The extension alone (nothing bound) gives NaN for float64, never
    garbage; a loop that differs from the NumPy path in one bit, or a NumPy
    without reachable loops, keeps the NumPy path on with a reason."""
    if EXT is None:
        pytest.skip("the C extension is not built")
    code = ("import numpy as np; from stabkit._native import _kernels as m; "
            "print(np.isnan(m.sigmoid(np.ones(3))).all(), "
            "np.isnan(m.binary_logits_plain(np.ones(3), np.ones(3))).all())")
    run = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert run.stdout.split() == ["True", "True"], run.stderr

    class OneBitOff:
        def __getattr__(self, name):
            return getattr(EXT, name)

        def softplus(self, x):
            y = EXT.softplus(x)
            y.view(np.uint64)[len(y) // 2] ^= 1
            return y

    assert native64._mismatch(EXT) is None
    assert native64._mismatch(OneBitOff()) == "softplus"

    class NoLoops(OneBitOff):
        def bind_float64(self, *args):
            raise ImportError("numpy.exp has no legacy float64 loop to call")

    why = native64.bind(NoLoops())
    assert why.startswith("the float64 loops cannot be bound") and "numpy.exp" in why


# ---------------------------------------------------------------- binary cross-entropy


def _bce_cases(rng, n):
    """Targets 0, 1 and fractional, some NaN, and logits of every kind. A NaN
    target never meets a NaN logit here: where two NaNs meet, the NumPy
    path's choice of payload depends on the element's place in NumPy's SIMD
    loops (test_two_nans_give_nan)."""
    p = _random(n, 21)[: 3 * n]
    y = rng.choice([0.0, 1.0, 0.25, 0.5, 1.0 - 2.0**-53], p.size)
    y[::501] = np.nan
    p[::501] = np.where(np.isnan(p[::501]), 1.0, p[::501])
    return y, p


@needs_ext
def test_two_nans_give_nan():
    nan = np.array([0x7FF800000000A000, 0x7FF8000000000BAD], np.uint64).view(np.float64)
    y, p = np.full(37, nan[0]), np.full(37, nan[1])
    assert np.isnan(EXT.binary_logits(y, 1.0 - y, p)).all() and np.isnan(EXT.binary_logits_plain(y, p)).all()


@needs_ext
def test_binary_logits_is_binary_terms():
    rng = np.random.default_rng(8)
    y, p = _bce_cases(rng, 50_000)
    p = np.concatenate([p, _edges()])
    y = np.concatenate([y, rng.choice([0.0, 1.0, 0.5], p.size - y.size)])
    a, b = y * 3.0, 1.0 - y
    b[::97] = np.where(np.isnan(y[::97]), b[::97], np.inf)  # inf * 0 = NaN, but no second NaN
    with np.errstate(all="ignore"):
        _assert_same_bits(EXT.binary_logits(a, b, p), binary_terms(a, b, p, True), p)
        _assert_same_bits(EXT.binary_logits_plain(y, p), binary_terms(y, 1.0 - y, p, True), p)


@needs_ext
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_blocks_of_logits_near_zero_are_bit_identical(dtype, monkeypatch):
    """Whole blocks (512 elements) of logits below 2**-10, zeros of both
    signs and subnormals among them, which skip NumPy's exp and log1p (no
    value needs them) and take the series in lanes; then blocks where one
    element in each is a NaN, a larger logit or a NaN target, on both paths
    of the tier, soft and 0/1 targets. (A kernel that differs from the
    NumPy path at load is switched off, so the loops must be bound here.)"""
    table = status.kernels()
    assert table["binary_crossentropy/float64"] == table["softplus/float64"] == "native"
    rng = np.random.default_rng(11)
    n = 512 * 12
    p = rng.standard_normal(n) * 10.0 ** rng.uniform(-320, -3.1, n)
    p[:512] = 0.0
    p[512:1024:2] = -0.0
    y = rng.choice([0.0, 1.0], n)
    y[2048:4096] = rng.random(2048)
    p[3 * 512 + 100], p[4 * 512 + 7], y[5 * 512 + 300] = np.nan, 0.5, np.nan
    p[6 * 512 + 9], p[7 * 512 + 511] = 3.0, -2.0**-10
    p, y = p.astype(dtype), y.astype(dtype)
    with np.errstate(all="ignore"):
        for fn, args in ((accurate.binary_crossentropy, (y, p)), (accurate.softplus, (p,)),
                         (accurate.log_sigmoid, (p,))):
            kw = {"from_logits": True} if fn is accurate.binary_crossentropy else {}
            got = fn(*args, **kw)
            _assert_same_bits(got, _numpy_path(lambda: fn(*args, **kw), monkeypatch), p)


@needs_ext
def test_float32_targets_0_and_1_with_logits_near_zero_take_the_series_rounded_once():
    """In float32, 0/1 targets with |p| < 2**-10 take the float64 series
    rounded once inside the float32 loop (before, their blocks went to the
    float64 loss): every third float32 logit of the binade [2**-11, 2**-10)
    of both signs, and 10**6 random ones below it down to the subnormals,
    each with both targets, against binary_terms rounded to float32 after
    bceties.settle_plain (the NumPy path). A one-off exhaustive run over
    every float32 below 2**-10 found one where the float32 softplus kernel
    differed from the plain rounded series (its float64 value is a float32
    midpoint): 0x39ea41d0, both signs, among them here; settled, the series
    gives the kernel's (correctly rounded) bits there too."""
    assert status.kernels()["binary_crossentropy/float32"] == "native"
    lo, hi = np.float32(2.0**-11).view(np.uint32), np.float32(2.0**-10).view(np.uint32)
    top = np.arange(lo, hi, 3, dtype=np.uint32).view(np.float32)  # a third of it: 2.8 million values
    rng = np.random.default_rng(13)
    below = (rng.choice([-1.0, 1.0], 10**6) * 2.0 ** rng.uniform(-149.0, -11.0, 10**6)).astype(np.float32)
    odd = np.uint32([0x39EA41D0]).view(np.float32)
    p = np.concatenate([top, -top, below, np.float32([0.0, -0.0]), odd, -odd])
    for t in (0.0, 1.0):
        y = np.full(p.size, t, np.float32)
        with np.errstate(all="ignore"):
            y64, p64 = y.astype(np.float64), p.astype(np.float64)
            want = settle_plain(binary_terms(y64, 1.0 - y64, p64, True), y64, p64, "float32")
            _assert_same_bits(accurate.binary_crossentropy(y, p, from_logits=True), want.astype(np.float32), p)


@needs_ext
def test_float32_targets_0_and_1_take_the_float32_softplus_with_the_same_bits():
    """Blocks of targets 0 and 1 (and |p| >= 2**-10) go through the float32
    softplus kernel: 2**23 random float32 bit patterns, and logits on both
    sides of 2**-10 (where those blocks fall back to the float64 loop)."""
    rng = np.random.default_rng(12)
    p = rng.integers(0, 2**32, 2**23, dtype=np.uint64).astype(np.uint32).view(np.float32)
    near = (np.float32(2.0**-10).view(np.int32) + np.arange(-1024, 1024, dtype=np.int32)).view(np.float32)
    p[: 2**12] = np.concatenate([near, -near])
    for y in (np.zeros(p.size, np.float32), np.ones(p.size, np.float32), (rng.random(p.size) < 0.5).astype(np.float32)):
        y64 = y.astype(np.float64)
        with np.errstate(all="ignore"):
            p64 = p.astype(np.float64)
            want = settle_plain(binary_terms(y64, 1.0 - y64, p64, True), y64, p64, "float32").astype(np.float32)
        _assert_same_bits(EXT.binary_logits_plain(y, p), want, p)
        # strided: the inputs are gathered first
        _assert_same_bits(EXT.binary_logits_plain(y[::3], p[::3]), want[::3])


@needs_ext
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("options", [{}, {"label_smoothing": 0.1}, {"pos_weight": 2.5}, {"sample_weight": "random"},
                                     {"reduction": "mean"}, {"reduction": "sum", "pos_weight": 0.5}])
@pytest.mark.parametrize("labels01", [False, True])
def test_binary_crossentropy_through_the_tier(dtype, options, labels01, monkeypatch):
    rng = np.random.default_rng(9)
    y, p = _bce_cases(rng, 40_000)
    p = np.concatenate([p, _edges()])
    y = np.concatenate([y, rng.choice([0.0, 1.0, 0.75], p.size - y.size)])
    if labels01:
        y = (rng.random(p.size) < 0.5).astype(np.float64)
    with np.errstate(all="ignore"):  # float32: huge logits become inf
        y, p = y.astype(dtype), p.astype(dtype)
    if options.get("sample_weight") == "random":
        options = {"sample_weight": rng.random(p.size)}

    def boom(*_a, **_k):
        raise AssertionError("the NumPy path ran")

    want = _numpy_path(lambda: accurate.binary_crossentropy(y, p, from_logits=True, **options), monkeypatch)
    monkeypatch.setattr(accurate, "binary_terms", boom)
    got = accurate.binary_crossentropy(y, p, from_logits=True, **options)
    _assert_same_bits(got, want)
    # strided and 2-d inputs
    y2, p2 = y[: 2 * 9000].reshape(90, -1)[:, ::2], p[: 2 * 9000].reshape(90, -1)[:, ::2]
    monkeypatch.undo()
    want = _numpy_path(lambda: accurate.binary_crossentropy(y2, p2, from_logits=True), monkeypatch)
    _assert_same_bits(accurate.binary_crossentropy(y2, p2, from_logits=True), want)
