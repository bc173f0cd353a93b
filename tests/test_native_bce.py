"""The compiled binary cross-entropy from probabilities
(stabkit/_native/_bce_probs.c: ``binary_probs``, ``binary_probs_plain``)
against the NumPy path of stabkit.accurate (``STABKIT_NATIVE=0``), bit for
bit, in float32 and float64, through ``accurate.binary_crossentropy`` (the
default ``from_logits=False``) and on the ufuncs themselves.

Every bit is compared, NaN signs and payloads included, except where two
NaNs meet in one operation, whose result the NumPy path does not decide
itself: which operand NumPy's multiply or add passes on depends on where the
element falls in its SIMD loop (the scalar remainder takes the other one).
A NaN probability with a target strictly between 0 and 1 adds ``y log p``
and ``(1 - y) log1p(-p)``, the same NaN of opposite signs; a NaN target
with a NaN log multiplies two NaNs. Where that happens the result is NaN,
and only that is compared (:func:`_two_nans`, :func:`_assert_same_bits`).
"""

from __future__ import annotations

import subprocess
import sys

import ml_dtypes
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from helpers.native import each_path
from stabkit import accurate, kernels
from stabkit._accurate import native64
from stabkit._accurate.bceties import settle_plain
from stabkit._accurate.crossentropy import binary_terms
from stabkit._native import elementwise, status
from stabkit.floats import round_float64

EXT = elementwise.extension()
needs_ext = pytest.mark.skipif(EXT is None, reason="the C extension is not built")
#: why the loss from probabilities runs NumPy here, or None: the load-time
#: check refuses the loops where NumPy's own log gives an entry other bits
#: in the kernel's blocks than over the NumPy path's arrays (NumPy 2.0.0's
#: log depends on the special values sharing a call: 1 ulp on about 10% of
#: the probe); the tests of the loops' bits need them bound
PROBS_WHY = None if EXT is None else elementwise.why_not("binary_crossentropy", "float64", logits=False)
needs_probs = pytest.mark.skipif(EXT is None or PROBS_WHY is not None,
                                 reason=f"the loss from probabilities runs NumPy here: {PROBS_WHY}")
PROBS = "binary_crossentropy/{} (from probabilities)"
NP_DTYPES = [np.float32, np.float64, np.float16]
DTYPES = [*NP_DTYPES, ml_dtypes.bfloat16]


def _uint(dtype):
    return {8: np.uint64, 4: np.uint32, 2: np.uint16}[np.dtype(dtype).itemsize]


def _assert_same_bits(got, want, y=None, p=None, two=None):
    """Equal bits; where two NaNs meet (``y``, ``p`` given: :func:`_two_nans`;
    or where ``two`` is True), NaN."""
    got, want = np.asarray(got), np.asarray(want)
    assert got.dtype == want.dtype and got.shape == want.shape, (got.dtype, want.dtype, got.shape, want.shape)
    ut = _uint(got.dtype)
    g, w = got.view(ut).ravel(), want.view(ut).ravel()
    if y is not None or two is not None:
        two = _two_nans(np.broadcast_to(y, got.shape).ravel(), np.broadcast_to(p, got.shape).ravel()) \
            if two is None else np.ravel(two)
        assert np.isnan(got.ravel()[two]).all() and np.isnan(want.ravel()[two]).all()
        g, w = np.where(two, 0, g), np.where(two, 0, w)
    bad = np.flatnonzero(g != w)
    where = "" if p is None else f" at y={np.ravel(y)[bad[:4]]}, p={np.ravel(p)[bad[:4]]}"
    assert bad.size == 0, f"{bad.size} differ{where}: native {got.ravel()[bad[:4]]}, numpy {want.ravel()[bad[:4]]}"


def _two_nans(y, p) -> np.ndarray:
    """Where the loss's operations meet two NaN operands: ``y log p``,
    ``(1 - y) log1p(-p)`` or their sum."""
    with np.errstate(all="ignore"):
        y, p = y.astype(np.float64), p.astype(np.float64)
        lp, l1, b = np.log(p), np.log1p(-p), 1.0 - y
        u, v = np.where(y == 0, 0.0, y * lp), np.where(b == 0, 0.0, b * l1)
    nan = np.isnan
    return (nan(y) & nan(lp)) | (nan(b) & nan(l1)) | (nan(u) & nan(v))


def _both(y, p, **options):
    """accurate.binary_crossentropy(y, p) with the kernel and with the NumPy path."""
    return each_path(accurate.binary_crossentropy, y, p, **options)


def _classes(dtype, outside: bool = True) -> np.ndarray:
    """Every class of value in [0, 1]: 0 and -0, the smallest subnormal and a
    larger one, the smallest normal, tiny and small values, 0.5, 1 - ulp, 1,
    a few fractions; NaNs with payloads and either sign, and a signalling
    one; with ``outside``, also 1 + ulp, -tiny, -0.25, 2 and +-inf (which the
    tier refuses as probabilities: only the ufuncs see them)."""
    f = ml_dtypes.finfo(dtype)
    one_below = np.nextafter(dtype(1), dtype(0))
    vals = [0.0, -0.0, f.smallest_subnormal, f.smallest_subnormal * 37, f.smallest_normal, f.tiny * 3, 1e-30,
            f.eps / 4, 1e-7, 0.1, 1 / 3, 0.5, 0.75, 0.9, 1 - 1e-7, one_below, 1.0]
    if outside:
        vals += [np.nextafter(dtype(1), dtype(2)), -f.smallest_subnormal, -0.25, 2.0, np.inf, -np.inf]
    ut = _uint(dtype)
    top = 8 * np.dtype(dtype).itemsize
    frac = top - 1 - {64: 11, 32: 8, 16: 5 if dtype == np.float16 else 8}[top]
    nans = [ut(((1 << (top - 1)) - 1) ^ ((1 << frac) - 1) | (1 << (frac - 1)) | k) for k in (0, 0x123)]
    nans = np.array(nans + [n | ut(1 << (top - 1)) for n in nans], dtype=ut).view(dtype)
    # a signalling NaN: NumPy's log passes it on made quiet
    snan = np.array([((1 << (top - 1)) - 1) ^ ((1 << frac) - 1) | 5], dtype=ut).view(dtype)
    return np.concatenate([np.array(vals, dtype=dtype), nans, snan])


# ---------------------------------------------------------------- what runs


@needs_ext
def test_kernels_and_list_name_the_loss_from_probabilities(monkeypatch):
    monkeypatch.delenv("STABKIT_NATIVE", raising=False)
    table = kernels()
    for fmt in ("float32", "float16", "bfloat16", "float64"):
        assert table[f"binary_crossentropy/{fmt}"] == "native"
        # the loops, or the load-time check's reason for keeping NumPy's path
        assert table[PROBS.format(fmt)] == ("native" if PROBS_WHY is None else PROBS_WHY)
    if PROBS_WHY is not None:
        assert "differs from the NumPy path" in PROBS_WHY
    lines = status.summary().splitlines()
    native = "native for float32, float16, bfloat16, float64"
    assert f"accurate binary_crossentropy kernel (from logits): {native}" in lines
    probs = native if PROBS_WHY is None else f"NumPy ({PROBS_WHY})"
    assert f"accurate binary_crossentropy kernel (from probabilities): {probs}" in lines
    monkeypatch.setenv("STABKIT_NATIVE", "0")
    assert kernels()[PROBS.format("float32")] == "STABKIT_NATIVE=0"
    assert elementwise.ufunc("binary_crossentropy", "float32", True, logits=False) is None
    assert "accurate binary_crossentropy kernel (from probabilities): NumPy (STABKIT_NATIVE=0)" in status.summary()


@needs_probs
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("options", [{}, {"label_smoothing": 0.1}, {"pos_weight": 2.5}, {"sample_weight": "random"},
                                     {"reduction": "mean"}])
def test_the_tier_runs_the_kernel_and_the_spy_sees_the_numpy_path_otherwise(dtype, options, monkeypatch):
    """With the kernel on, binary_terms (the NumPy path's arithmetic) is
    never called, with or without options; with STABKIT_NATIVE=0 it is."""
    rng = np.random.default_rng(1)
    p = rng.random(70_000).astype(dtype)
    y = rng.choice([0.0, 1.0, 0.25], p.size).astype(dtype)
    if options.get("sample_weight") == "random":
        options = {"sample_weight": rng.random(p.size)}
    monkeypatch.delenv("STABKIT_NATIVE", raising=False)
    want = each_path(accurate.binary_crossentropy, y, p, **options)[1]
    calls = []
    real = accurate.binary_terms
    monkeypatch.setattr(accurate, "binary_terms", lambda *a: calls.append(a[3]) or real(*a))
    _assert_same_bits(accurate.binary_crossentropy(y, p, **options), want)
    assert calls == []
    monkeypatch.setenv("STABKIT_NATIVE", "0")
    _assert_same_bits(accurate.binary_crossentropy(y, p, **options), want)
    assert calls and set(calls) == {False}


# ---------------------------------------------------------------- bits


@needs_probs
@pytest.mark.parametrize("dtype", DTYPES)
def test_every_target_class_with_every_probability_class(dtype):
    """The outer product of :func:`_classes` with itself through the tier
    (values in [0, 1] and NaN) and on both ufuncs (every value)."""
    c = _classes(dtype, outside=False)
    y, p = np.meshgrid(c, c, indexing="ij")
    fast, slow = _both(y, p)
    _assert_same_bits(fast, slow, y, p)
    # the plain ufunc alone, and the general one with a = y, b = 1 - y
    c = _classes(dtype)
    y, p = np.meshgrid(c, c, indexing="ij")
    with np.errstate(all="ignore"):
        y64, p64 = y.astype(np.float64), p.astype(np.float64)
        want = binary_terms(y64, 1.0 - y64, p64, False)
        b = 1.0 - y64
    _assert_same_bits(EXT.binary_probs_plain(y, p), round_float64(want, np.dtype(dtype).name), y, p)
    _assert_same_bits(EXT.binary_probs(y64, b, p64), want, y, p)


@needs_probs
@pytest.mark.parametrize("dtype", DTYPES)
def test_random_probabilities_and_targets(dtype):
    """Uniform and log-uniform probabilities, ones near 1, and random bit
    patterns in [0, 1] (those of 0 to 1.0 as integers); fractional, 0/1 and
    mixed targets; lengths that are no multiple of the kernel's blocks."""
    rng = np.random.default_rng(7)
    n = 60_001
    with np.errstate(all="ignore"):
        p = np.concatenate([rng.random(n), 10.0 ** rng.uniform(-320, 0, n), 1 - 10.0 ** rng.uniform(-17, 0, n),
                            rng.integers(0, 0x3FF0000000000001, n, dtype=np.uint64).view(np.float64)]).astype(dtype)
    p[::1001] = np.nan
    for y in (rng.random(p.size), (rng.random(p.size) < 0.5) * 1.0, rng.choice([0.0, 1.0, 0.5, 1e-300], p.size)):
        y = y.astype(dtype)
        fast, slow = _both(y, p)
        _assert_same_bits(fast, slow, y, p)


@needs_probs
@pytest.mark.parametrize("dtype", DTYPES)
def test_non_contiguous_mixed_and_byte_swapped_inputs(dtype):
    rng = np.random.default_rng(3)
    p = rng.random((300, 200)).astype(dtype)
    p[::7, ::5] = 0.0
    p[1::7, ::3] = 1.0
    y = (rng.random(p.shape) < 0.5).astype(dtype)
    y[::11] = 0.3
    cases = [(y[:, ::3], p[:, ::3]), (y.T, p.T), (y[::-1], p[::-1]), (y[:, :77], p[:, :77]),
             (y.astype(np.float64), p), (y > 0.5, p), (y, p.astype(p.dtype.newbyteorder(">"))),
             (y[5], p[5]), (y[0, 0], p[0, 0]), (y[:0], p[:0])]
    for yy, pp in cases:
        fast, slow = _both(yy, pp)
        _assert_same_bits(fast, slow)
    # the ufuncs on strided arrays and into a strided output
    y64, p64 = y.astype(np.float64)[:, ::2], p.astype(np.float64)[:, ::2]
    want = binary_terms(y64, 1.0 - y64, p64, False)
    out = np.zeros((300, 200))
    EXT.binary_probs_plain(y64, p64, out=out[:, ::2])
    _assert_same_bits(out[:, ::2], want)
    _assert_same_bits(EXT.binary_probs(y64, 1.0 - y64, p64), want)
    # in place: the output is an input (written from a buffer, not over the
    # inputs it still reads), contiguous or not
    for k in range(3):
        yy, pp, bb = y64.copy(), p64.copy(), 1.0 - y64
        args = (yy, pp) if k < 2 else (yy, bb, pp)
        got = (EXT.binary_probs_plain if k < 2 else EXT.binary_probs)(*args, out=args[k % 2])
        assert got is args[k % 2]
        _assert_same_bits(got, want)
    yy, pp = y.astype(np.float64), p.astype(np.float64)
    EXT.binary_probs_plain(yy[:, ::2], pp[:, ::2], out=pp[:, ::2])
    _assert_same_bits(pp[:, ::2], want)


@needs_probs
@settings(max_examples=60, deadline=None)
@given(data=st.data(), dtype=st.sampled_from(NP_DTYPES))
def test_hypothesis_any_values_any_shape(data, dtype):
    shape = data.draw(hnp.array_shapes(min_dims=1, max_dims=2, max_side=700))
    width = np.dtype(dtype).itemsize * 8
    unit = st.floats(0, 1, width=width)
    nan = st.just(np.nan)
    p = data.draw(hnp.arrays(dtype, shape, elements=st.one_of(unit, nan)))
    y = data.draw(hnp.arrays(dtype, shape, elements=st.one_of(st.sampled_from([0.0, 1.0]), unit, nan)))
    fast, slow = _both(y, p)
    _assert_same_bits(fast, slow, y, p)
    # every value on the ufunc
    p = data.draw(hnp.arrays(dtype, shape, elements=st.floats(width=width)))
    with np.errstate(all="ignore"):
        y64, p64 = y.astype(np.float64), p.astype(np.float64)
        want = binary_terms(y64, 1.0 - y64, p64, False).astype(dtype)
    _assert_same_bits(EXT.binary_probs_plain(y, p), want, y, p)


@needs_probs
def test_no_floating_point_warnings_or_errors():
    c = _classes(np.float64)
    y, p = np.meshgrid(c, c)
    with np.errstate(all="ignore"):
        b, y32, p32 = 1.0 - y, y.astype(np.float32), p.astype(np.float32)
    with np.errstate(all="raise"):
        EXT.binary_probs_plain(y, p)
        EXT.binary_probs_plain(y32, p32)
        EXT.binary_probs(y, b, p)
    c = _classes(np.float64, outside=False)
    with np.errstate(all="raise"):
        accurate.binary_crossentropy(*np.meshgrid(c, c))


# ---------------------------------------------------------------- the load-time check


def test_unbound_loops_give_nan_and_the_check_catches_a_wrong_bit(monkeypatch):
    """The extension alone (nothing bound) gives NaN, never garbage; a loop
    one bit off, or an extension without the loops, keeps the NumPy path on
    with a reason that kernels() reports."""
    if EXT is None:
        pytest.skip("the C extension is not built")
    code = ("import numpy as np; from stabkit._native import _kernels as m; "
            "print(np.isnan(m.binary_probs_plain(np.ones(3), np.full(3, 0.5))).all(), "
            "np.isnan(m.binary_probs_plain(np.ones(3, np.float32), np.full(3, 0.5, np.float32))).all())")
    run = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert run.stdout.split() == ["True", "True"], run.stderr

    class OneBitOff:
        def __getattr__(self, name):
            return getattr(EXT, name)

        def binary_probs_plain(self, y, p):
            out = EXT.binary_probs_plain(y, p)
            if out.dtype == np.float32:
                out.view(np.uint32)[len(out) // 3] ^= 1
            return out

    assert native64.bind_probabilities(EXT) == PROBS_WHY  # None where the loops are this NumPy's bits
    why = native64.bind_probabilities(OneBitOff())
    if PROBS_WHY is None:
        assert why.startswith("the loop of binary_crossentropy (float32) from probabilities differs from the NumPy path")
    else:  # the float64 loop is refused first, as at load
        assert why == PROBS_WHY
    assert native64.bind_probabilities(object()).startswith("the loops from probabilities cannot be bound")
    # the reason reaches kernels(), and the tier runs the NumPy path
    monkeypatch.delenv("STABKIT_NATIVE", raising=False)
    monkeypatch.setattr(elementwise, "_PROB_WHY", False)
    monkeypatch.setattr(elementwise, "_PROB_BINDER", lambda mod: native64.bind_probabilities(OneBitOff()))
    assert kernels()[PROBS.format("float64")] == why
    assert elementwise.ufunc("binary_crossentropy", "float64", True, logits=False) is None
    assert kernels()["binary_crossentropy/float64"] == "native"  # from logits: bound and checked on its own


@needs_probs
@pytest.mark.parametrize("dtype", DTYPES)
def test_workers_split_the_call_and_keep_the_bits(dtype, monkeypatch):
    """accurate.workers(n): the plain loss is one ufunc call cut into n
    chunks run on threads (the loops release the GIL); the same bits."""
    from stabkit._accurate import threads

    rng = np.random.default_rng(5)
    n = 3 * threads.MIN_SPLIT + 17
    p, y = rng.random(n).astype(dtype), (rng.random(n) < 0.5).astype(dtype)
    one = accurate.binary_crossentropy(y, p)
    chunks = []
    run = threads._run
    monkeypatch.setattr(threads, "_run", lambda tasks: chunks.append(len(tasks)) or run(tasks))
    with accurate.workers(3):
        _assert_same_bits(accurate.binary_crossentropy(y, p), one)
    assert chunks == [3]


# ---------------------------------------------------------------- float16 (both losses)


@needs_ext
@pytest.mark.parametrize("dtype", [np.float16, ml_dtypes.bfloat16])
def test_the_16_bit_conversions_are_the_numpy_paths(dtype):
    """_half.h against the NumPy path's conversions (NumPy's casts; for
    bfloat16 ml_dtypes' widening and stabkit's round_float64, whose NaN is
    ml_dtypes'): every 16-bit value widened, and float64 values narrowed:
    random bit patterns (NaN payloads, both signs), values of every
    magnitude, every midpoint between two neighbours and its neighbours,
    the overflow and underflow edges."""
    rng = np.random.default_rng(16)
    g = np.arange(2**16, dtype=np.uint16)
    big = float(ml_dtypes.finfo(dtype).max)
    with np.errstate(all="ignore"):
        wide = g.view(dtype).astype(np.float64)
        lo = wide[np.isfinite(wide)]
        hi = np.nextafter(lo.astype(dtype), dtype(np.inf)).astype(np.float64)
        mid = (lo + hi) / 2
    x = np.concatenate([rng.integers(0, 2**64, 400_000, dtype=np.uint64).view(np.float64),
                        rng.standard_normal(400_000) * 10.0 ** rng.uniform(-9, 5.5, 400_000),
                        mid, np.nextafter(mid, np.inf), np.nextafter(mid, -np.inf),
                        [65504.0, 65519.99, 65520.0, 65536.0, 2.0**-24, 2.0**-25, 2.0**-25 * (1 + 2**-52), 2.0**-26,
                         2.0**-133, 2.0**-134, 2.0**-134 * (1 + 2**-52), 2.0**-135, 2.0**128, big, big * (1 + 2**-9),
                         big * (1 + 2**-9 - 2**-40), 1e308, 5e-324, 0.0, -0.0, np.inf, -np.inf]])  # fmt: skip
    x = x[~np.isnan(x) | (rng.random(x.size) < 0.5)]  # keep some NaNs, not half the array
    x = np.concatenate([x, -x])
    h, d = np.empty(x.size, np.uint16), np.empty(g.size)
    EXT.half_conversions(x, h, g, d, dtype != np.float16)
    with np.errstate(all="ignore"):
        want = round_float64(x, np.dtype(dtype).name).view(np.uint16)
    assert np.array_equal(h, want), (x[h != want][:5], h[h != want][:5], want[h != want][:5])
    assert np.array_equal(d.view(np.uint64), wide.view(np.uint64))


@needs_ext
@pytest.mark.parametrize("options", [{}, {"label_smoothing": 0.1}, {"pos_weight": 2.5}, {"reduction": "sum"}])
def test_float16_from_logits_through_the_tier(options, monkeypatch):
    """binary_logits_plain's float16 loop (and, with options, the float64
    one) in place of binary_terms; every float16 logit with 0/1, soft and
    NaN targets, and strided arrays. Where a NaN target or logit meets
    another NaN (a NaN logit's two softplus terms), only NaN is compared."""
    rng = np.random.default_rng(2)
    p = np.arange(2**16, dtype=np.uint16).view(np.float16)
    y = rng.choice([0.0, 1.0, 0.3, 1e-5, np.nan], p.size, p=[0.4, 0.4, 0.1, 0.05, 0.05]).astype(np.float16)
    if options.get("reduction") == "sum":  # a NaN would make the sum NaN
        y, p = np.nan_to_num(y), p[np.isfinite(p)]
        y = y[: p.size]
    monkeypatch.delenv("STABKIT_NATIVE", raising=False)
    want = each_path(accurate.binary_crossentropy, y, p, from_logits=True, **options)[1]
    calls = []
    real = accurate.binary_terms
    monkeypatch.setattr(accurate, "binary_terms", lambda *a: calls.append(a[3]) or real(*a))
    got = accurate.binary_crossentropy(y, p, from_logits=True, **options)
    assert calls == []
    nans = None if np.ndim(got) == 0 else np.isnan(y) | np.isnan(p)
    _assert_same_bits(got, want, two=nans)
    y2, p2 = y.reshape(256, -1)[:, ::3], p.reshape(256, -1)[:, ::3]
    fast, slow = each_path(accurate.binary_crossentropy, y2, p2, from_logits=True)
    _assert_same_bits(fast, slow, two=np.isnan(y2) | np.isnan(p2))


@needs_ext
@pytest.mark.parametrize("dtype", [np.float16, ml_dtypes.bfloat16], ids=["float16", "bfloat16"])
def test_16bit_targets_0_and_1_take_the_correctly_rounded_softplus(dtype):
    """binary_logits_plain's 16-bit loop gives blocks whose targets are all 0
    or 1 and whose logits have |p| >= 2^-10 (not NaN) the format's
    correctly rounded softplus(-+p): the same bits as the float64 loss
    rounded once, on every such logit with target 0, with target 1, and
    with both mixed, and on the blocks that fall back (small logits, NaN)."""
    with np.errstate(invalid="ignore"):
        p = np.arange(2**16, dtype=np.uint32).astype(np.uint16).view(dtype)
        ok = ~np.isnan(p.astype(np.float64)) & (np.abs(p.astype(np.float64)) >= 2.0**-10)
    rng = np.random.default_rng(9)
    EXT.lut16_tables(True)
    # every block valid, then the fallback mixed in; calls of 2**14 elements
    # or more read the softplus table (_lut16.h), shorter ones run its blocks
    for pv in (p[ok], p, p[ok][:5000], p[:9000]):
        with np.errstate(invalid="ignore"):
            nan = np.isnan(pv.astype(np.float64))
        for y in (np.zeros(pv.size, dtype), np.ones(pv.size, dtype),
                  rng.integers(0, 2, pv.size).astype(dtype), -np.zeros(pv.size, dtype)):
            fast, slow = each_path(accurate.binary_crossentropy, y, pv, from_logits=True)
            _assert_same_bits(fast, slow, two=nan)
    fmt = "float16" if dtype == np.float16 else "bfloat16"
    assert EXT.lut16_tables() == [f"softplus/{fmt}"]
    # inf logits inside a valid block, and a strided view
    pv = np.array([np.inf, -np.inf, 3.0, -3.0] * 200, dtype)
    y = np.array([0, 0, 1, 1, 1, 1, 0, 0] * 100, dtype)
    fast, slow = each_path(accurate.binary_crossentropy, y, pv, from_logits=True)
    _assert_same_bits(fast, slow)
    assert np.isinf(fast[0]) and fast[1] == 0
    fast, slow = each_path(accurate.binary_crossentropy, y[::3], p[ok][: 3 * 267][::3], from_logits=True)
    _assert_same_bits(fast, slow)
    # the ufunc itself into a strided output, and in place over the logits
    plain = EXT.binary_logits_plain
    want = plain(y, pv)
    out = np.zeros(2 * y.size, dtype)
    plain(y, pv, out=out[::2])
    _assert_same_bits(out[::2], want)
    assert (out[1::2].view(np.uint16) == 0).all()
    q = pv.copy()
    plain(y, q, out=q)
    _assert_same_bits(q, want)


@needs_ext
@pytest.mark.parametrize("dtype", [np.float32, np.float16, ml_dtypes.bfloat16], ids=["float32", "float16", "bfloat16"])
def test_blocks_with_a_few_refused_elements(dtype):
    """binary_logits_plain's float32 and 16-bit loops: in a block of 512
    whose targets are 0 or 1, up to 64 elements the softplus kernel cannot
    serve (|p| < 2**-10, a NaN logit, a target of 0.5 or -1) go alone to the
    float64 loss and the rest keep the kernel's bits; 65 or more send the
    whole block. Both sides of that threshold, at random places, against the
    float64 loss rounded once (after bceties.settle_plain); long calls read the 16-bit softplus table,
    short ones its blocks."""
    rng = np.random.default_rng(31)
    blocks = 40
    y = (rng.random((blocks, 512)) < 0.5).astype(np.float64)
    p = rng.standard_normal((blocks, 512)) * 4
    for b, k in enumerate([0, 1, 2, 7, 63, 64, 65, 66, 200, 512] * 4):
        at = rng.choice(512, k, replace=False)
        kind = rng.integers(0, 4, k)
        p[b, at[kind == 0]] = rng.uniform(-(2.0**-10), 2.0**-10, (kind == 0).sum()) * 2.0 ** rng.integers(0, 40, (kind == 0).sum())
        p[b, at[kind == 1]] = np.nan
        y[b, at[kind == 2]] = 0.5
        y[b, at[kind == 3]] = -1.0
    with np.errstate(all="ignore"):  # float16: the largest logits become inf
        yd, pd = y.ravel().astype(dtype), p.ravel().astype(dtype)
        y64, p64 = yd.astype(np.float64), pd.astype(np.float64)
        name = np.dtype(dtype).name
        want = round_float64(settle_plain(binary_terms(y64, 1.0 - y64, p64, True), y64, p64, name), name)
    plain = EXT.binary_logits_plain
    _assert_same_bits(plain(yd, pd), want, two=np.isnan(want))
    _assert_same_bits(plain(yd[:5000], pd[:5000]), want[:5000], two=np.isnan(want[:5000]))
    # a strided output, and the input one element off a block's start
    out = np.zeros(2 * yd.size, dtype)
    plain(yd, pd, out=out[::2])
    _assert_same_bits(out[::2], want, two=np.isnan(want))
    _assert_same_bits(plain(yd[1:], pd[1:]), want[1:], two=np.isnan(want[1:]))
