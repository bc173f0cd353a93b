"""The compiled widening of float16 and bfloat16 to float64
(stabkit/_native/_round.c, bound by stabkit._native.rounding.widen), which
the accurate tier's row functions run on each block of 16-bit rows.

Widening is exact, so there is one right answer per bit pattern, NaN
payloads included: NumPy's and ml_dtypes' ``astype(np.float64)``. Every one
of the 65,536 patterns is compared, and spies check that the kernel ran in
the end-to-end tests, or they would compare the astype with itself.
"""

from __future__ import annotations

import ml_dtypes
import numpy as np
import pytest
from helpers.bits import same_bits
from helpers.native import each_path, without_extension

from stabkit import accurate
from stabkit._native import rounding

needs_c = pytest.mark.skipif(rounding.status() != "native" or rounding.widen(np.zeros(1 << 14, np.float16), "float16") is None,
                             reason="the compiled widening is off here")
FORMATS = {"float16": np.float16, "bfloat16": ml_dtypes.bfloat16}


@pytest.fixture
def calls(monkeypatch):
    """The formats and sizes the widening ran for, in order."""
    monkeypatch.delenv("STABKIT_NATIVE", raising=False)
    seen = []
    real = rounding.widen

    def spy(x, name):
        y = real(x, name)
        if y is not None:
            seen.append((name, x.size))
        return y

    monkeypatch.setattr(rounding, "widen", spy)
    return seen


def _every_pattern(fmt: str) -> np.ndarray:
    return np.arange(1 << 16, dtype=np.uint32).astype(np.uint16).view(FORMATS[fmt])


@needs_c
@pytest.mark.parametrize("fmt", FORMATS)
def test_every_bit_pattern_widens_as_astype(fmt):
    x = _every_pattern(fmt)
    if rounding.widen(x, fmt) is None:
        pytest.skip(f"the load check keeps {fmt} on astype here: {rounding.status()}")
    with np.errstate(invalid="ignore"):
        want = x.astype(np.float64)
    same_bits(rounding.widen(x, fmt), want)
    # and a 2-D block, shuffled
    x2 = np.random.default_rng(1).permutation(x).reshape(256, 256)
    with np.errstate(invalid="ignore"):
        same_bits(rounding.widen(x2, fmt), x2.astype(np.float64))


@needs_c
def test_what_stays_on_astype():
    x = np.linspace(-3, 3, 2 * rounding.WIDEN_MIN_SIZE).astype(np.float16)
    assert rounding.widen(x[: rounding.WIDEN_MIN_SIZE - 1], "float16") is None  # a call costs more
    assert rounding.widen(x[::2], "float16") is None  # not contiguous
    assert rounding.widen(x.astype(np.float32), "float32") is None  # not a 16-bit format
    assert rounding.widen(x, "float16") is not None


def test_stabkit_native_0_and_no_extension_leave_it_off(monkeypatch):
    x = np.zeros(1 << 14, np.float16)
    monkeypatch.setenv("STABKIT_NATIVE", "0")
    assert rounding.widen(x, "float16") is None
    without_extension(monkeypatch)
    assert rounding.widen(x, "float16") is None


@needs_c
def test_a_disagreeing_check_keeps_the_astype(monkeypatch):
    monkeypatch.setattr(rounding, "_WIDE", {"bfloat16": "the widening gives 0x7ff8000000000000 for 0x7f81 where astype gives 0x7ff0200000000000"})
    x = np.zeros(1 << 14, ml_dtypes.bfloat16)
    assert rounding.widen(x, "bfloat16") is None
    assert rounding.status() == ("NumPy for widening bfloat16: the widening gives 0x7ff8000000000000 for 0x7f81 "
                                 "where astype gives 0x7ff0200000000000")
    assert rounding.widen(x.astype(np.float16), "float16") is not None


@needs_c
@pytest.mark.parametrize("fmt", FORMATS)
@pytest.mark.parametrize("name", ["softmax", "log_softmax", "logsumexp", "sparse_categorical_crossentropy"])
def test_the_row_functions_widen_through_the_kernel(fmt, name, calls, monkeypatch):
    """End to end, with special values and every pattern's neighbours in the
    rows: the same bits as with the astype, and the kernel ran."""
    rng = np.random.default_rng(len(name))
    x = (rng.standard_normal((600, 40)) * 12).astype(FORMATS[fmt])
    x.view(np.uint16)[::7, 3] = rng.integers(0, 1 << 16, x.shape[0] // 7 + 1).astype(np.uint16)  # NaNs, infs, subnormals
    if name == "sparse_categorical_crossentropy":
        labels = rng.integers(0, 40, 600)
        fn = lambda: accurate.sparse_categorical_crossentropy(labels, x, from_logits=True)  # noqa: E731
    else:
        fn = lambda: getattr(accurate, name)(x, axis=-1)  # noqa: E731
    with np.errstate(all="ignore"):
        fast = fn()
        monkeypatch.setattr(rounding, "widen", lambda *a: None)
        slow = fn()
    same_bits(fast, slow)
    assert calls and all(c[0] == fmt for c in calls), calls
    fast, numpy_path = each_path(fn)
    same_bits(fast, numpy_path)
