"""The compiled rounding of float64 to float16 and bfloat16
(stabkit/_native/_round.c, bound by stabkit/_native/rounding.py), which
stabkit.floats.round_float64 and the accurate tier's stores run.

The oracle is the NumPy path (``STABKIT_NATIVE=0``): NumPy's float16 cast,
and round_float64's own bfloat16 code (an exact rint on the bfloat16 grid,
then ml_dtypes' cast of a value it holds exactly). That keeps the bfloat16
tests independent of the ml_dtypes version: ml_dtypes < 0.7 rounds float64
to bfloat16 twice (through float32), but the oracle never asks it to round;
the only thing it takes from ml_dtypes is the NaN it writes (0x7fc0 with the
sign, in 0.7), which the kernel must match whatever it is. An exact integer
rounding (floats.round_to_format) is a second, NumPy-free oracle on a sample.
Spies check that the kernel ran, or the comparison would be NumPy against
itself.
"""

from __future__ import annotations

import ml_dtypes
import numpy as np
import pytest
from helpers.bits import same_bits
from helpers.native import each_path, without_extension

import stabkit
from stabkit import accurate
from stabkit._native import rounding, status
from stabkit.floats import _round_numpy, get_format, round_float64, round_to_format

needs_c = pytest.mark.skipif(rounding.status() != "native", reason="the compiled rounding is off here")

FORMATS = {"float16": np.float16, "bfloat16": ml_dtypes.bfloat16}


@pytest.fixture
def calls(monkeypatch):
    """The formats and sizes the kernel was called for, in order."""
    monkeypatch.delenv("STABKIT_NATIVE", raising=False)
    for fmt in FORMATS:  # each format's probe has run (it calls the kernel too)
        round_float64(np.zeros(4096), fmt)
    seen = []
    real = rounding._call

    def spy(name, x, out):
        seen.append((name, x.size))
        real(name, x, out)

    monkeypatch.setattr(rounding, "_call", spy)
    monkeypatch.delenv("STABKIT_NATIVE", raising=False)
    return seen


def _values(fmt: str) -> np.ndarray:
    """Every finite value of ``fmt`` in float64, ascending (one zero)."""
    v = np.arange(2**16, dtype=np.uint16).view(FORMATS[fmt])
    with np.errstate(invalid="ignore"):
        v = v.astype(np.float64)
    return np.unique(v[np.isfinite(v)])


def _hard_cases(fmt: str) -> np.ndarray:
    """Every value of ``fmt`` and its float64 neighbours; every midpoint
    between neighbours (ties to even, both ways: every other one rounds down)
    and one float64 ulp either side, including half the least subnormal and
    the midpoint past the largest finite value; zeros, infinities, float64's
    subnormals and largest value; NaNs with several payloads; both signs."""
    v = _values(fmt)
    v = v[v >= 0]
    top = v[-1] + (v[-1] - v[-2])  # the next power of two, where the format overflows
    grid = np.append(v, top)
    mid = (grid[:-1] + grid[1:]) / 2
    sub64 = np.array([5e-324, 1e-320, 2.2250738585072009e-308, 2.2250738585072014e-308])
    nan_bits = np.array([0x7FF8000000000000, 0x7FF0000000000001, 0x7FF4000000000000, 0x7FFFFFFFFFFFFFFF,
                         0x7FF0040000000000, 0x7FF0000000000400, 0x7FFC000000000000, 0x7FF8000000000001],
                        dtype=np.uint64)  # fmt: skip
    x = np.concatenate([v, np.nextafter(v, np.inf), np.nextafter(v, -np.inf), mid, np.nextafter(mid, np.inf),
                        np.nextafter(mid, -np.inf), [top, np.inf, 1.7976931348623157e308], sub64,
                        nan_bits.view(np.float64)])  # fmt: skip
    return np.concatenate([x, -x])


def _random(n: int, seed: int) -> np.ndarray:
    """Random significands across every float64 exponent, and random bit
    patterns (NaNs with random payloads included)."""
    rng = np.random.default_rng(seed)
    with np.errstate(over="ignore"):
        a = rng.uniform(-2, 2, n) * 2.0 ** rng.integers(-1074, 1024, n).astype(np.float64)
    return np.concatenate([a, rng.integers(0, 2**64, n, dtype=np.uint64).view(np.float64)])


@needs_c
@pytest.mark.parametrize("fmt", FORMATS)
def test_hard_cases_are_bit_identical_to_the_numpy_path(fmt, calls):
    x = _hard_cases(fmt)
    fast, slow = each_path(round_float64, x, fmt)
    assert calls == [(fmt, x.size)]  # the fast path ran the kernel, the NumPy one did not
    same_bits(fast, slow)
    # ties really went to even (the even neighbour: last bit 0), both ways
    v = _values(fmt)
    assert fast.dtype == FORMATS[fmt]
    got = fast.astype(np.float64)
    pos = v[v > 0]
    mid = (pos[:-1] + pos[1:]) / 2
    tie = round_float64(mid, fmt)
    assert not (tie.view(np.uint16) & 1).any()
    tie = tie.astype(np.float64)
    assert (tie == pos[:-1]).any() and (tie == pos[1:]).any()
    assert np.isinf(got).sum() > 4 and np.isnan(got).sum() == 16


@needs_c
@pytest.mark.parametrize("fmt", FORMATS)
def test_random_values_over_every_exponent_are_bit_identical(fmt, calls):
    x = _random(1_000_000, 16)
    fast, slow = each_path(round_float64, x, fmt)
    assert calls == [(fmt, x.size)]
    same_bits(fast, slow)


@needs_c
@pytest.mark.parametrize("fmt", FORMATS)
def test_an_exact_rounding_agrees_on_a_sample(fmt, calls):
    """NumPy-free: the exact integer rounding of floats.round_to_format."""
    rng = np.random.default_rng(7)
    x = np.concatenate([_hard_cases(fmt)[::17], _random(1000, 3)])
    x = x[~np.isnan(x)]
    x = np.concatenate([x] * (-(-rounding.MIN_SIZE[fmt] // x.size) + 1))
    y = round_float64(x, fmt)
    assert calls == [(fmt, x.size)]
    pick = rng.choice(x.size, 2000, replace=False)
    want = np.array([round_to_format(float(x[i]), fmt) for i in pick])
    same_bits(y[pick].astype(np.float64), want)


@needs_c
@pytest.mark.parametrize("fmt", FORMATS)
def test_known_values(fmt, calls):
    """Values whose result is known by hand: one rounding (ml_dtypes < 0.7's
    double rounding would give 1.0 for bfloat16), ties to even, the zero
    boundary, the overflow boundary, NaN's sign."""
    p, tiny, top = {"float16": (10, 2.0**-24, 65504.0), "bfloat16": (7, 2.0**-133, 3.3895313892515355e38)}[fmt]
    cases = {1 + 2.0 ** -(p + 1) + 2.0**-30: 1 + 2.0**-p, 1 + 2.0 ** -(p + 1): 1.0,
             1 + 3 * 2.0 ** -(p + 1): 1 + 2 * 2.0**-p, tiny / 2: 0.0, np.nextafter(tiny / 2, 1): tiny,
             -tiny / 2: -0.0, 1.5 * tiny: 2 * tiny, top: top, top + top * 2.0 ** -(p + 2): top,
             top + top * 2.0 ** -(p + 1): np.inf, -1e300: -np.inf}  # fmt: skip
    x = np.resize(np.array(list(cases)), 4096)
    y = round_float64(x, fmt).astype(np.float64)
    assert calls == [(fmt, 4096)]
    same_bits(y[: len(cases)], np.array(list(cases.values())))
    nan = round_float64(np.resize([np.nan, -np.nan], 4096), fmt).view(np.uint16)
    assert (nan[0] & 0x8000, nan[1] & 0x8000) == (0, 0x8000)


@needs_c
@pytest.mark.parametrize("fmt", FORMATS)
def test_layouts_and_out(fmt, calls):
    """Strided, reversed and 2-d inputs are copied first; ``out`` of any
    layout is written (directly where contiguous); empty and 0-d arrays."""
    x = _random(5000, 5).reshape(100, 100)
    fast, slow = each_path(round_float64, x, fmt)
    same_bits(fast, slow)
    for view in (x[:, ::3], x[::-1], x.T):
        calls.clear()
        y, want = each_path(round_float64, view, fmt)
        assert calls == [] if view.size < rounding.MIN_SIZE[fmt] else calls == [(fmt, view.size)]
        same_bits(y, want)
    out = np.zeros((100, 300), dtype=FORMATS[fmt])
    calls.clear()
    assert round_float64(x, fmt, out=out[:, ::3]) is not None
    assert calls == [(fmt, x.size)]
    same_bits(out[:, ::3], slow)
    assert not out[:, 1::3].view(np.uint16).any()  # nothing else written
    dense = np.empty(x.shape, dtype=FORMATS[fmt])
    assert round_float64(x, fmt, out=dense) is dense
    same_bits(dense, slow)
    for small in (np.empty((0, 3)), np.array(1.5), np.arange(5.0)):
        same_bits(round_float64(small, fmt), np.asarray(small).astype(np.float32).astype(FORMATS[fmt]))


@needs_c
def test_small_float16_arrays_stay_on_numpy(calls):
    x = np.linspace(-1, 1, rounding.MIN_SIZE["float16"] - 1)
    same_bits(round_float64(x, "float16"), x.astype(np.float16))
    assert calls == []
    round_float64(x[:1], "bfloat16")
    assert calls == [("bfloat16", 1)]


def test_stabkit_native_0_runs_the_numpy_code(calls, monkeypatch):
    monkeypatch.setenv("STABKIT_NATIVE", "0")
    x = _random(5000, 1)
    for fmt in FORMATS:
        assert rounding.convert(x, fmt, FORMATS[fmt], None) is None
        round_float64(x, fmt)
    assert calls == []
    assert rounding.status() == "STABKIT_NATIVE=0"
    assert status.kernels()["rounding to float16/bfloat16"] == "STABKIT_NATIVE=0"


def test_without_the_extension_the_numpy_code_runs(calls, monkeypatch):
    without_extension(monkeypatch)
    x = _random(5000, 2)
    with np.errstate(over="ignore"):
        same_bits(round_float64(x, "float16"), x.astype(np.float16))
    assert calls == [] and rounding.status().startswith("the C extension stabkit._native._kernels was not built")
    assert "rounding of float64 results to float16/bfloat16: NumPy (the C extension" in status.summary()


@needs_c
def test_a_disagreeing_probe_keeps_the_format_on_numpy(calls, monkeypatch):
    """A NumPy path that wrote other NaNs (another ml_dtypes, say) turns the
    kernel off for that format, and the status says so."""
    monkeypatch.setattr(rounding, "_PROBED", {})

    def other_nans(v):
        # the NumPy path's rounding (a plain astype rounds twice with
        # ml_dtypes < 0.7), with other NaNs
        y = _round_numpy(np.asarray(v, dtype=np.float64), get_format("bfloat16"))
        y.view(np.uint16)[np.isnan(v)] = 0x7FFF
        return y

    x = _random(5000, 4)
    assert rounding.convert(x, "bfloat16", ml_dtypes.bfloat16, other_nans) is None
    assert rounding.status().startswith("NumPy for bfloat16: the kernel gives 0x7fc0 for float64 ")
    assert rounding.convert(x, "float16", np.float16, lambda v: v.astype(np.float16)) is not None
    assert calls[-1] == ("float16", x.size)


@needs_c
@pytest.mark.parametrize("fmt", FORMATS)
@pytest.mark.parametrize("name", ["softmax", "log_softmax", "categorical_crossentropy", "logsumexp"])
@pytest.mark.parametrize("shape", [(2500, 40), (4000, 10)])  # >= MIN_SIZE rows: the losses too
def test_the_accurate_tier_stores_through_the_kernel(fmt, name, shape, calls):
    """End to end, float16/bfloat16 results (many subnormal and tiny ones)
    are the NumPy path's bits, and the stores ran the kernel."""
    rng = np.random.default_rng(shape[0] + len(name))
    x = (rng.standard_normal(shape) * 12).astype(FORMATS[fmt])
    if name == "categorical_crossentropy":
        y = rng.dirichlet(np.ones(shape[1]), shape[0]).astype(FORMATS[fmt])
        fn = lambda: accurate.categorical_crossentropy(y, x, from_logits=True)  # noqa: E731
    else:
        fn = lambda: getattr(accurate, name)(x, axis=-1)  # noqa: E731
    fast, slow = each_path(fn)
    same_bits(fast, slow)
    assert any(c[0] == fmt for c in calls), calls
    assert stabkit.kernels()["rounding to float16/bfloat16"] == "native"


def test_kernels_and_list_report_one_rounding_line(monkeypatch):
    monkeypatch.delenv("STABKIT_NATIVE", raising=False)
    why = rounding.status()
    assert status.kernels()["rounding to float16/bfloat16"] == why
    line = [s for s in status.summary().splitlines() if s.startswith("rounding of float64 results")]
    assert line == ["rounding of float64 results to float16/bfloat16: " + ("native" if why == "native"
                                                                           else f"NumPy ({why})")]
