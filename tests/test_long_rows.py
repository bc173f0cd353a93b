"""Rows of millions of entries (``stabkit._accurate.longrows``): logsumexp
chunk by chunk gives the bits of the whole-row path (``Rows``), in memory
bounded by its chunks, and hands back the rows it does not finish."""

from __future__ import annotations

import tracemalloc

import ml_dtypes
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from stabkit import accurate
from stabkit._accurate import longrows

FORMATS = {"float64": np.float64, "float32": np.float32, "float16": np.float16, "bfloat16": ml_dtypes.bfloat16}
pytestmark = pytest.mark.skipif(not longrows._same_order(),
                                reason=f"NumPy {np.__version__} reduces long rows in pieces: long rows keep Rows")


# ------------------------------------------------------------ the tree


@pytest.mark.parametrize("chunk", [8, 100, 128, 1000, 4096])
@pytest.mark.parametrize("n", [1, 7, 8, 9, 128, 129, 1000, 4097, 10007, 65537])
def test_tree_sums_are_numpys_reduce(n, chunk):
    rng = np.random.default_rng([n, chunk])
    # terms of both signs over 40 decades: every addition's rounding shows
    a = rng.standard_normal(n) * np.exp(rng.uniform(-46, 46, n))
    b = np.abs(a)
    got = longrows.tree_sums(n, lambda lo, hi: (a[lo:hi], b[lo:hi]), chunk)
    assert got[0].tobytes() == np.add.reduce(a).tobytes()
    assert got[1].tobytes() == np.add.reduce(b[None, :], axis=-1)[0].tobytes()


def test_tree_sums_of_special_terms():
    for a in (np.full(300, -0.0), np.array([np.inf, 1.0] * 200), np.array([np.inf, -np.inf] * 200),
              np.array([1.0, np.nan] * 150), np.array([1e308] * 300)):
        with np.errstate(all="ignore"):
            got = longrows.tree_sums(a.size, lambda lo, hi: (a[lo:hi],), 64)[0]
            want = np.add.reduce(a)
        assert got.tobytes() == want.tobytes() or (np.isnan(got) and np.isnan(want))


# ------------------------------------------------------------ logsumexp


def _row(family: str, n: int, rng) -> np.ndarray:
    x = rng.standard_normal(n) * rng.choice([0.3, 3.0, 30.0])
    if family == "offset":
        x += 1e4
    elif family == "far_negative":
        x -= 800.0
    elif family == "masked":
        x[rng.random(n) < 0.3] = -np.inf
    elif family == "winner":
        x[n // 3] = x.max() + 60.0
    elif family == "ties":
        x[:] = 1.5
    elif family == "flat":  # every term near 1: a large sum
        x = rng.uniform(-1e-3, 0, n)
    elif family == "logprobs":  # logsumexp ~ 0: cancels
        x = np.log(np.full(n, 1.0 / n)) + rng.standard_normal(n) * 1e-9
    elif family == "nan":
        x[n // 2] = np.nan
    elif family == "inf":
        x[n // 5] = np.inf
    elif family == "huge":
        x *= 1e300
    return x


FAMILIES = ("plain", "offset", "far_negative", "masked", "winner", "ties", "flat", "logprobs", "nan", "inf", "huge")


@pytest.fixture
def small(monkeypatch):
    """Long rows at test sizes, and a count of the rows the chunks finished."""
    monkeypatch.setattr(longrows, "LONG", 5000)
    monkeypatch.setattr(longrows, "CHUNK", 1024)
    done = []
    row = longrows.logsumexp_row

    def counted(x, fmt):
        got = row(x, fmt)
        done.append(got is not None)
        return got

    monkeypatch.setattr(longrows, "logsumexp_row", counted)
    return done


def _whole_rows(call, monkeypatch):
    with monkeypatch.context() as mp:
        mp.setattr(longrows, "LONG", 10**12)
        return call()


def _cast(x: np.ndarray, fmt: str) -> np.ndarray:
    with np.errstate(over="ignore"):
        return x.astype(FORMATS[fmt])


@pytest.mark.parametrize("fmt", FORMATS)
@pytest.mark.parametrize("family", FAMILIES)
@pytest.mark.parametrize("n", [5000, 12345, 40000])
def test_logsumexp_of_long_rows_has_the_whole_row_bits(n, family, fmt, small, monkeypatch):
    x = _cast(_row(family, n, np.random.default_rng([n, len(family)])), fmt)
    with np.errstate(all="ignore"):
        got = accurate.logsumexp(x)
        want = _whole_rows(lambda: accurate.logsumexp(x), monkeypatch)
    assert np.asarray(got).tobytes() == np.asarray(want).tobytes()
    assert len(small) == 1  # the row went through the long-row path (finished or handed to Rows)


@pytest.mark.parametrize("fmt", ["float32", "float16", "bfloat16"])
@pytest.mark.parametrize("family", ["plain", "offset", "far_negative", "masked", "winner", "ties", "flat"])
def test_narrower_formats_finish_every_ordinary_row_in_chunks(family, fmt, small):
    x = _cast(_row(family, 20000, np.random.default_rng(len(family))), fmt)
    accurate.logsumexp(x)
    assert small == [True]


@pytest.mark.parametrize("family", ["plain", "offset", "far_negative", "masked", "winner", "ties", "flat"])
@pytest.mark.parametrize("n", [20000, 33333])
def test_float64_rows_finish_in_chunks_and_small_sums_take_sum2s_halving(n, family, small, monkeypatch):
    halvings = []
    real = longrows._sum2
    monkeypatch.setattr(longrows, "_sum2", lambda *a: halvings.append(1) or real(*a))
    x = _row(family, n, np.random.default_rng([n, 5]))
    got = accurate.logsumexp(x)
    assert small == [True]
    # sum_split's floor n**2 2**-39: below it the row's terms are summed again as eft.sum2 sums them
    if family == "winner":  # s ~ e**-60 n
        assert halvings
    if family in ("flat", "ties"):  # s ~ n
        assert not halvings
    assert np.asarray(got).tobytes() == np.asarray(_whole_rows(lambda: accurate.logsumexp(x), monkeypatch)).tobytes()


@pytest.mark.parametrize("family", ["nan", "inf", "logprobs"])
@pytest.mark.parametrize("fmt", ["float64", "float32"])
def test_rows_the_chunks_do_not_finish_go_to_rows(family, fmt, small):
    x = _cast(_row(family, 20000, np.random.default_rng(6)), fmt)
    with np.errstate(all="ignore"):
        accurate.logsumexp(x)
    assert small == [False]


def test_several_rows_axes_keepdims_and_strides(small, monkeypatch):
    rng = np.random.default_rng(7)
    x = rng.standard_normal((3, 9000, 2)) * 4.0
    x[1, :, 0] = np.nan
    cases = [
        lambda: accurate.logsumexp(x, axis=1),
        lambda: accurate.logsumexp(x, axis=1, keepdims=True),
        lambda: accurate.logsumexp(x.astype(np.float32)[:, ::2, :], axis=-2),
        lambda: accurate.logsumexp(np.moveaxis(x, 1, -1).copy()),
    ]
    for call in cases:
        got = call()
        assert got.tobytes() == _whole_rows(call, monkeypatch).tobytes()
    assert small.count(False) >= 3 and small.count(True) >= 9  # the NaN rows went to Rows


@settings(max_examples=150, deadline=None)
@given(n=st.integers(5000, 30000), scale=st.sampled_from([0.01, 1.0, 20.0, 300.0]),
       shift=st.sampled_from([0.0, -700.0, 650.0, 1e5]), fmt=st.sampled_from(list(FORMATS)),
       seed=st.integers(0, 2**16), chunk=st.sampled_from([200, 1024, 3000]),
       fn=st.sampled_from(["logsumexp", "softmax", "log_softmax"]))
def test_any_long_row(n, scale, shift, fmt, seed, chunk, fn):
    x = _cast(np.random.default_rng(seed).standard_normal(n) * scale + shift, fmt)
    old = longrows.LONG, longrows.CHUNK
    try:
        longrows.LONG, longrows.CHUNK = 5000, chunk
        got = getattr(accurate, fn)(x)
        longrows.LONG = 10**12
        want = getattr(accurate, fn)(x)
    finally:
        longrows.LONG, longrows.CHUNK = old
    assert np.asarray(got).tobytes() == np.asarray(want).tobytes()


def test_a_real_long_float32_row_stays_within_its_chunks(monkeypatch):
    n = longrows.LONG + 4099
    x = (np.random.default_rng(8).standard_normal(n) * 5.0).astype(np.float32)
    accurate.logsumexp(x[:1000])  # modules and tables loaded before measuring
    tracemalloc.start()
    try:
        got = accurate.logsumexp(x)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    # the chunks' six float64 buffers (3 MiB) and little else; the whole
    # row's path takes several float64 copies of the row (16 MiB each here)
    assert peak < 8 * longrows.CHUNK * 8 + (1 << 20), peak
    assert np.asarray(got).tobytes() == np.asarray(_whole_rows(lambda: accurate.logsumexp(x), monkeypatch)).tobytes()


# ------------------------------------------------------------ softmax and log_softmax (narrower targets)

NARROWER = ("float32", "float16", "bfloat16")
PROB_FAMILIES = (*FAMILIES, "shifted_up", "far_winner", "huge_winner")


def _prob_row(family: str, n: int, rng) -> np.ndarray:
    if family == "shifted_up":  # a maximum above 650: the shifted path
        return rng.standard_normal(n) * 3.0 + 700.0
    if family == "far_winner":  # L below half an ulp of the span: the tie fix
        x = rng.standard_normal(n).astype(np.float32).astype(np.float64) * 0.5
        x[n // 4] = 40.0
        return x
    if family == "huge_winner":  # shifted, s underflows: L = 0, left to Rows
        x = rng.standard_normal(n) * 2.0 - 100.0
        x[7] = 700.0
        return x
    return _row(family, n, rng)


@pytest.fixture
def spied(monkeypatch):
    """Long rows at test sizes; which rows the chunked passes finished."""
    from stabkit._accurate import longprobs

    monkeypatch.setattr(longrows, "LONG", 5000)
    monkeypatch.setattr(longrows, "CHUNK", 1024)
    done = []
    for name in ("softmax_row", "log_softmax_row"):
        fn = getattr(longprobs, name)

        def counted(x, out, fmt, fn=fn):
            ok = fn(x, out, fmt)
            done.append(ok)
            return ok

        monkeypatch.setattr(longprobs, name, counted)
    return done


@pytest.mark.parametrize("fmt", NARROWER)
@pytest.mark.parametrize("family", PROB_FAMILIES)
@pytest.mark.parametrize("fn", ["softmax", "log_softmax"])
@pytest.mark.parametrize("n", [5000, 12345])
def test_softmax_and_log_softmax_of_long_rows_have_the_whole_row_bits(n, fn, family, fmt, spied, monkeypatch):
    x = _cast(_prob_row(family, n, np.random.default_rng([n, len(family), len(fn)])), fmt)
    call = getattr(accurate, fn)
    with np.errstate(all="ignore"):
        got = call(x)
        want = _whole_rows(lambda: call(x), monkeypatch)
    assert got.dtype == want.dtype and got.tobytes() == want.tobytes()
    assert len(spied) == 1
    special = family in ("nan", "inf") or (family == "huge" and fmt != "float32")
    assert spied[0] == (not special and not (fn == "log_softmax" and family == "huge_winner")) or family == "huge"


@pytest.mark.parametrize("fn", ["softmax", "log_softmax"])
def test_the_tie_fix_and_the_shifted_path_run_in_chunks(fn, spied, monkeypatch):
    # the far winner: entries whose x - (m + L) rounds back to x - m are moved down one ulp
    x = _prob_row("far_winner", 9000, np.random.default_rng(3)).astype(np.float32)
    got = getattr(accurate, fn)(x)
    assert got.tobytes() == _whole_rows(lambda: getattr(accurate, fn)(x), monkeypatch).tobytes()
    if fn == "log_softmax":  # the fix moved some ties: float32's x - m rounds them up (to even)
        rest = np.arange(x.size) != np.argmax(x)
        assert np.any(got[rest] < (x - np.float32(40.0))[rest])
    assert spied == [True]


def test_several_long_rows_along_any_axis(spied, monkeypatch):
    rng = np.random.default_rng(9)
    x = (rng.standard_normal((2, 12000, 3)) * 6.0).astype(np.float32)
    x[0, 5, 1] = np.nan
    for fn in ("softmax", "log_softmax"):
        for call in (lambda: getattr(accurate, fn)(x, axis=1), lambda: getattr(accurate, fn)(x[:, ::2, :], axis=-2)):
            got = call()
            assert got.shape == x.shape[:1] + got.shape[1:2] + x.shape[2:]
            assert got.tobytes() == _whole_rows(call, monkeypatch).tobytes()
    assert spied.count(False) == 2 and spied.count(True) == 22  # the NaN row went to the whole-row path


def test_a_real_long_softmax_stays_within_its_chunks_and_the_output():
    n = longrows.LONG + 999
    x = (np.random.default_rng(10).standard_normal(n) * 5.0).astype(np.float32)
    accurate.softmax(x[:1000])
    tracemalloc.start()
    try:
        accurate.log_softmax(x)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    # the float32 output (8 MiB) and two chunk buffers; the whole-row path
    # adds float64 copies of the row (16 MiB each)
    assert peak < 4 * n + 4 * longrows.CHUNK * 8 + (1 << 20), peak


# ------------------------------------------------------------ the sparse cross-entropy from logits


@pytest.mark.parametrize("fmt", FORMATS)
@pytest.mark.parametrize("family", PROB_FAMILIES)
def test_sparse_crossentropy_of_long_rows_has_the_whole_row_bits(family, fmt, small, monkeypatch):
    at, seen = longrows.log_softmax_at_row, []
    monkeypatch.setattr(longrows, "log_softmax_at_row", lambda *a: seen.append(at(*a)) or seen[-1])
    rng = np.random.default_rng([len(family), len(fmt)])
    x = _cast(np.stack([_prob_row(family, 9000, rng), _row("masked", 9000, rng)]), fmt)
    # labels: the maximum, an ordinary entry, and a masked one (an infinite loss)
    masked = int(np.flatnonzero(np.isneginf(np.asarray(x[1], np.float64)))[0])
    for labels in (np.array([int(np.nanargmax(np.asarray(x[0], np.float64))), masked]), np.array([17, 3])):
        calls = [lambda: accurate.sparse_categorical_crossentropy(labels, x, from_logits=True),
                 lambda: accurate.sparse_categorical_crossentropy(labels, x, from_logits=True, reduction="sum",
                                                                  class_weight={3: 2.0}),
                 lambda: accurate.sparse_categorical_crossentropy(labels[:, None], x.T, from_logits=True, axis=0)]
        for call in calls:
            with np.errstate(all="ignore"):
                got, want = call(), _whole_rows(call, monkeypatch)
            assert np.asarray(got).tobytes() == np.asarray(want).tobytes()
    assert len(seen) == 12  # two rows, three calls, two label sets: all through the long-row path
    finished = sum(v is not None for v in seen)
    if family not in ("nan", "inf", "huge", "huge_winner") and (fmt != "float64" or family in ("flat", "ties")):
        assert finished == 12


@pytest.mark.parametrize("family", PROB_FAMILIES)
@pytest.mark.parametrize("n", [5000, 23456])
def test_float64_log_softmax_of_long_rows_has_the_whole_row_bits(n, family, spied, monkeypatch):
    x = _prob_row(family, n, np.random.default_rng([n, len(family), 64]))
    with np.errstate(all="ignore"):
        got = accurate.log_softmax(x)
        want = _whole_rows(lambda: accurate.log_softmax(x), monkeypatch)
    assert got.tobytes() == want.tobytes()
    assert len(spied) == 1
    if family in ("plain", "masked", "winner", "ties", "flat", "far_winner", "shifted_up"):
        assert spied == [True]


@pytest.mark.parametrize("family", (*PROB_FAMILIES, "below_708"))
@pytest.mark.parametrize("n", [5000, 23456])
def test_float64_softmax_of_long_rows_has_the_whole_row_bits(n, family, spied, monkeypatch):
    if family == "below_708":  # one entry below -708: the shifted path for float64
        x = np.random.default_rng(n).standard_normal(n)
        x[11] = -720.0
    else:
        x = _prob_row(family, n, np.random.default_rng([n, len(family), 65]))
    with np.errstate(all="ignore"):
        got = accurate.softmax(x)
        want = _whole_rows(lambda: accurate.softmax(x), monkeypatch)
    assert got.tobytes() == want.tobytes()
    assert len(spied) == 1
    if family in ("plain", "masked", "winner", "ties", "flat", "far_winner", "shifted_up", "below_708"):
        assert spied == [True]
