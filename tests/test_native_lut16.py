"""The float16 and bfloat16 loops' tables (stabkit/_native/_lut16.h): calls of
at least LUT_MIN elements read each result from a table of all 2**16 bit
patterns, filled by the same block functions that shorter calls run. Both
paths are compared here with the NumPy path over every input, and the
table path over strided, reversed, in-place and masked runs."""

from __future__ import annotations

import threading

import ml_dtypes
import numpy as np
import pytest
from test_native_elementwise import EXT, FUNCTIONS, _all16, _assert_same_bits, _numpy_path

pytestmark = pytest.mark.skipif(EXT is None, reason="the C extension is not built")

LUT_MIN = 1 << 14  # _lut16.h
FORMATS = {"float16": np.float16, "bfloat16": ml_dtypes.bfloat16}


def _key(name, fmt):
    return f"{name}/{fmt}"


@pytest.fixture
def no_tables():
    EXT.lut16_tables(True)
    yield
    EXT.lut16_tables(True)


@pytest.mark.parametrize("fmt", list(FORMATS))
@pytest.mark.parametrize("name", FUNCTIONS)
def test_every_input_through_the_table_and_through_the_blocks(name, fmt, no_tables, monkeypatch):
    x = _all16(FORMATS[fmt])
    ref = _numpy_path(name, x, monkeypatch)
    uf = getattr(EXT, name)
    # calls shorter than LUT_MIN run the blocks and build nothing
    short = np.concatenate([uf(x[s : s + LUT_MIN - 1]) for s in range(0, x.size, LUT_MIN - 1)])
    assert EXT.lut16_tables() == []
    _assert_same_bits(x, short, ref)
    # one call of all 65536 builds the table and reads it
    _assert_same_bits(x, uf(x), ref)
    assert EXT.lut16_tables() == [_key(name, fmt)]
    # once built, a short call still runs the blocks, a long one the table
    _assert_same_bits(x[:100], uf(x[:100]), ref[:100])
    perm = np.random.default_rng(3).permutation(x.size)
    _assert_same_bits(x[perm], uf(x[perm]), ref[perm])


@pytest.mark.parametrize("fmt", list(FORMATS))
@pytest.mark.parametrize("name", FUNCTIONS)
def test_long_strided_reversed_in_place_and_masked_runs(name, fmt, monkeypatch):
    rng = np.random.default_rng(17)
    x = _all16(FORMATS[fmt])[rng.integers(0, 1 << 16, 3 * LUT_MIN + 5)]
    ref = _numpy_path(name, x, monkeypatch)
    uf = getattr(EXT, name)
    _assert_same_bits(x[::-1], uf(x[::-1]), ref[::-1])
    out = np.zeros(2 * x.size, x.dtype)
    uf(x, out=out[1::2])
    _assert_same_bits(x, out[1::2], ref)
    assert (out[0::2].view(np.uint16) == 0).all()
    y = x.copy()
    uf(y, out=y)
    _assert_same_bits(x, y, ref)
    # an output one element past the input, over the same memory (NumPy
    # copies such an input before the loop sees it)
    v = x.copy()
    uf(v[:-1], out=v[1:])
    _assert_same_bits(x[:-1], v[1:], ref[:-1])
    mask = rng.random(x.size) < 0.5
    w = np.full_like(x, 7)
    uf(x, out=w, where=mask)
    _assert_same_bits(x[mask], w[mask], ref[mask])
    assert (w[~mask] == 7).all()
    m2 = x[: 2 * LUT_MIN].reshape(2, LUT_MIN)
    _assert_same_bits(m2.T, uf(m2.T), ref[: 2 * LUT_MIN].reshape(2, LUT_MIN).T)
    assert _key(name, fmt) in EXT.lut16_tables()


def test_two_threads_building_one_table_agree(no_tables, monkeypatch):
    """Both threads may fill a table; one is kept, and both calls give the
    NumPy path's bits."""
    x = _all16(ml_dtypes.bfloat16)[np.random.default_rng(5).integers(0, 1 << 16, 1 << 17)]
    ref = _numpy_path("sigmoid", x, monkeypatch)
    for _ in range(5):
        EXT.lut16_tables(True)
        got = [None, None]
        barrier = threading.Barrier(2)

        def run(i):
            barrier.wait()
            got[i] = EXT.sigmoid(x)

        threads = [threading.Thread(target=run, args=(i,)) for i in range(2)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        for g in got:
            _assert_same_bits(x, g, ref)
        assert EXT.lut16_tables() == ["sigmoid/bfloat16"]


def test_building_a_table_raises_no_floating_point_flags(no_tables):
    with np.errstate(all="raise"):
        for name in FUNCTIONS:
            for f in FORMATS.values():
                getattr(EXT, name)(_all16(f))
    assert len(EXT.lut16_tables()) == 6
