"""The native row kernel (stabkit/_native/_rows.c, in the one extension) against the NumPy passes.

The NumPy path is the oracle: every float64 row-wise function must give the
same bits with the kernel (``STABKIT_NATIVE`` unset) as without it
(``STABKIT_NATIVE=0``), over shapes around the block boundaries, rows the
kernel takes (offsets up to 1e300, ties, masked entries, entries below the
Fast2Sum floor, tiny sums, cancelling logsumexp rows) and rows it leaves to
NumPy (a NaN or an infinite maximum in the block). The pairwise sum the
kernel repeats is checked against np.add.reduce itself, for every length
up to 2048 and a few far beyond. Float32 rows (the narrower targets' float64
passes: shift, plain sums, outputs) are checked the same way.
"""

from __future__ import annotations

import shutil
import sysconfig
import threading

import numpy as np
import pytest
from helpers.bits import same_bits
from helpers.native import each_path, wide_kernels_off, without_extension
from hypothesis import given, settings
from hypothesis import strategies as st

import stabkit
from stabkit._accurate import eft
from stabkit._accurate.blocks import BLOCK
from stabkit._accurate.rows import Rows
from stabkit._native import rows as native

needs_c = pytest.mark.skipif(native.library() is None, reason="the native row kernel is not built")


@pytest.fixture(autouse=True)
def _row_passes_only(monkeypatch):
    """These tests are the row passes': the wide-row kernels stay off here."""
    wide_kernels_off(monkeypatch)


def test_the_kernel_is_built_where_a_compiler_is():
    """A silently skipped build would silently lose the kernel: where the
    interpreter's C compiler exists, it must have been built."""
    cc = (sysconfig.get_config_var("CC") or "cc").split()[0]
    if shutil.which(cc) is None:
        pytest.skip(f"no C compiler ({cc}) here: the NumPy passes are used")
    st = native.status()
    # or turned off by its own check: a NumPy that sums rows in another order
    # (NumPy 2.0 past 8192 terms) keeps the NumPy passes and its bits
    assert st in ("native", "STABKIT_NATIVE=0") or "in another order" in st, st


# ------------------------------------------------------------ the pairwise sum


def _spread(rng, shape):
    """Terms of both signs over 26 decades: a sum whose bits depend on the order."""
    return rng.standard_normal(shape) * np.exp(rng.uniform(-30, 30, shape))


@needs_c
def test_pairwise_sum_is_numpys_for_every_length_to_2048():
    rng = np.random.default_rng(0)
    for n in range(1, 2049):
        a = _spread(rng, (3, n))
        same_bits(native.row_sums(a), np.add.reduce(a, axis=-1))


@needs_c
@pytest.mark.parametrize("n", [4095, 4096, 8191, 8192, 8193, 100_000, 131_072, 1_000_000])
def test_pairwise_sum_is_numpys_for_long_rows(n):
    a = _spread(np.random.default_rng(n), (2, n))
    same_bits(native.row_sums(a), np.add.reduce(a, axis=-1))


@needs_c
@pytest.mark.parametrize("rows", [1, 7, 131, 3000])
def test_pairwise_sum_is_numpys_row_by_row(rows):
    rng = np.random.default_rng(rows)
    for n in (1, 7, 8, 9, 17, 127, 128, 129, 255, 1000):
        a = _spread(rng, (rows, n))
        same_bits(native.row_sums(a), np.add.reduce(a, axis=-1))


@needs_c
def test_pairwise_sum_starts_from_positive_zero():
    # np.add.reduce adds the row to its identity +0.0: -0.0 rows sum to +0.0
    a = np.full((2, 40), -0.0)
    a[1, :3] = [np.inf, -np.inf, 1.0]
    with np.errstate(invalid="ignore"):
        same_bits(native.row_sums(a), np.add.reduce(a, axis=-1))
    assert not np.signbit(native.row_sums(a)[0])


# ------------------------------------------------------------ row generators

KINDS = ("normal", "offset", "huge", "ties", "masked", "far", "tiny", "losers", "cancelling", "zeros", "special")


def _logits(kind: str, rng, rows: int, n: int) -> np.ndarray:
    """Float64 logits of one family."""
    x = rng.standard_normal((rows, n)) * rng.choice([0.5, 5.0, 30.0])
    if kind == "offset":  # a shift with a rounding error in every entry
        x += rng.choice([1e4, -1e4, 3.7, -123.25]) * rng.integers(1, 3, (rows, 1))
    elif kind == "huge":  # offsets up to 1e300, and shifts past 2**1020
        scale = rng.choice([1e300, -1e300, 1.7e308])
        x = scale * (1.0 + 1e-14 * x)
        x[:, rng.integers(n)] = rng.choice([1.79e308, -1.79e308])
    elif kind == "ties":  # several equal maxima, integers with many repeats
        x = np.round(x / 10.0)
        x[:, : rng.integers(2, 5)] = x.max(axis=-1, keepdims=True)
    elif kind == "masked":  # -inf entries, rows with a single finite entry
        x[rng.random((rows, n)) < 0.3] = -np.inf
        x[::3, 1:] = -np.inf
        x[::3, 0] = rng.standard_normal(len(x[::3]))
    elif kind == "far":  # entries below the Fast2Sum floor of their row's maximum
        x[:, 0] = rng.choice([15.0, 1e4, 0.75, 2.0**-1030])
        x[:, 1:] = -rng.choice([16.0, 3e4, 900.0, 1e-300]) * (1.0 + rng.random((rows, n - 1)))
        x[::2, 2:] = rng.standard_normal((len(x[::2]), n - 2))
    elif kind == "tiny":  # a winner far ahead: subnormal terms, L = 0 past a gap of 745
        x[:, 0] = x.max(axis=-1) + rng.choice([40.0, 700.0, 740.0, 760.0, 1500.0], rows)
    elif kind == "losers":  # issue 13: a winner over many equal losers near a cut-off
        x = np.full((rows, n), -rng.choice([17.77, 20.0, 17.0, 13.5]))
        x[:, 0] = 0.0
        x += 1e-9 * rng.standard_normal((rows, n)) * (rng.random((rows, 1)) < 0.5)
    elif kind == "cancelling":  # log-probabilities: logsumexp about 0, m < 0
        p = rng.dirichlet(np.ones(n), size=rows)
        x = np.log(p)
        x[0, :2] = [-1e-40, np.log1p(-1e-40) - 92.0]
    elif kind == "zeros":  # maxima of both zero signs, -0.0 first
        x = np.where(rng.random((rows, n)) < 0.5, -0.0, -np.abs(x))
        x[:, 1] = 0.0
    elif kind == "special":  # NaN, +inf and all -inf rows: their blocks go to NumPy
        x[rng.integers(rows), rng.integers(n)] = np.nan
        x[rng.integers(rows), rng.integers(n)] = np.inf
        x[rng.integers(rows)] = -np.inf
    return x


def _soft(rng, rows: int, n: int, x: np.ndarray) -> np.ndarray:
    """Soft labels, some exactly 0 (also at masked logits) and one-hot rows."""
    y = rng.dirichlet(np.ones(n), size=rows)
    y[rng.random((rows, n)) < 0.2] = 0.0
    y[::4] = np.eye(n)[rng.integers(n, size=len(y[::4]))]
    return y


def _check_all(x: np.ndarray, rng, axis: int = -1) -> None:
    """Every float64 row-wise function, bit for bit on both paths."""
    xl = np.moveaxis(x, axis, -1)
    rows, n = xl.shape
    y = np.moveaxis(_soft(rng, rows, n, xl), -1, axis)
    lab = rng.integers(0, n, rows)
    for fn, args, kw in (
        (stabkit.log_softmax, (x,), {"axis": axis}),
        (stabkit.logsumexp, (x,), {"axis": axis}),
        (stabkit.softmax, (x,), {"axis": axis}),
        (stabkit.sparse_categorical_crossentropy, (lab, x), {"from_logits": True, "axis": axis}),
        (stabkit.categorical_crossentropy, (y, x), {"from_logits": True, "axis": axis}),
        (stabkit.categorical_crossentropy, (y, x), {"from_logits": True, "axis": axis, "label_smoothing": 0.1}),
    ):
        with np.errstate(all="ignore"):
            fast, slow = each_path(fn, *args, **kw)
        same_bits(fast, slow)


class _Spy:
    """Counts the blocks the kernel took (shift succeeded) and left, while it is on."""

    def __init__(self, mp):
        self.took = self.left = 0
        shift = native.shift

        def counting(*a, **k):
            out = shift(*a, **k)
            if native.library() is None:
                pass
            elif out is None:
                self.left += 1
            else:
                self.took += 1
            return out

        mp.setattr(native, "shift", counting)


@needs_c
@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("shape", [(1, 17), (3, 18), (40, 129), (131, 1000), (132, 1000), (5, 5000), (27, 5000)])
def test_every_function_is_bit_identical(kind, shape, monkeypatch):
    rng = np.random.default_rng([KINDS.index(kind), *shape])
    spy = _Spy(monkeypatch)
    _check_all(_logits(kind, rng, *shape), rng)
    if kind != "special":
        # the kernel ran on these rows (else the check would compare NumPy to itself)
        assert spy.took > 0 and spy.left == 0
    else:
        assert spy.left > 0


@needs_c
@pytest.mark.parametrize("n", [17, 100, 1000, 5000])
def test_block_boundaries_and_blocks_left_to_numpy(n, monkeypatch):
    per_block = BLOCK // n
    rng = np.random.default_rng(n)
    x = _logits("offset", rng, 2 * per_block + 1, n)
    x[per_block + 3, 5] = np.nan  # the second block holds a NaN row: NumPy's
    spy = _Spy(monkeypatch)
    _check_all(x, rng)
    assert spy.took > 0 and spy.left > 0


@needs_c
@pytest.mark.parametrize("layout", ["strided", "transposed", "fortran", "reversed"])
def test_non_contiguous_inputs(layout, monkeypatch):
    rng = np.random.default_rng(3)
    base = _logits("offset", rng, 60, 400)
    x, axis = {
        "strided": (base[:, ::2], -1),
        "transposed": (base.T, 0),
        "fortran": (np.asfortranarray(base), -1),
        "reversed": (base[::-1, ::-1], -1),
    }[layout]
    spy = _Spy(monkeypatch)
    _check_all(x, rng, axis=axis)
    assert spy.took > 0


@needs_c
def test_the_float64_holes_of_issue_13_on_wide_rows():
    rng = np.random.default_rng(13)
    x = np.full((3, 10000), -17.77)
    x[:, 0] = 0.0
    x[1] = -20.0
    x[1, 0] = 0.0
    big = np.zeros((2, 40))
    big[:, 0], big[:, 1] = 1.7976931348623157e308, -1.7976931348623157e308  # a finite loss, log_softmax -inf
    for rows in (x, big, np.array([[0.0, -800.0] + [-np.inf] * 20])):
        _check_all(rows, rng)


@needs_c
@settings(max_examples=60, deadline=None)
@given(
    kind=st.sampled_from(KINDS),
    rows=st.integers(1, 40),
    n=st.integers(17, 300),
    seed=st.integers(0, 2**32 - 1),
)
def test_bit_identity_property(kind, rows, n, seed):
    rng = np.random.default_rng(seed)
    _check_all(_logits(kind, rng, rows, n), rng)


# ------------------------------------------------------------ the kernels one by one


@needs_c
@pytest.mark.parametrize("kind", KINDS[:-1])
def test_shift_and_sums_match_the_numpy_passes(kind, monkeypatch):
    rng = np.random.default_rng(KINDS.index(kind))
    x = _logits(kind, rng, 50, 300)
    d, r = np.empty_like(x), np.empty_like(x)
    top, m = native.shift(x, d, r)
    with np.errstate(all="ignore"):
        e = np.exp(d)
    hi, lo, corr = native.split_sums(e, r, top, eft.split_sigma(x.shape[1]))
    monkeypatch.setenv("STABKIT_NATIVE", "0")
    with np.errstate(all="ignore"):
        ref = Rows(x, True)
        ref.L  # noqa: B018 - the NumPy residual sum zeroes the masked entries' r
    assert not ref.native
    same_bits(top, np.argmax(x, axis=-1))
    same_bits(m, ref.m)
    same_bits(d, ref.d)
    same_bits(r, ref.r)
    e0 = e.copy()
    e0[np.arange(50), top] = 0.0
    q = (e0 + eft.split_sigma(x.shape[1])) - eft.split_sigma(x.shape[1])
    same_bits(hi, np.add.reduce(q, axis=-1))
    same_bits(lo, np.add.reduce(e0 - q, axis=-1))
    same_bits(corr, np.add.reduce(e * ref.r, axis=-1))


class _SumsSpy:
    """Counts the softmax denominators the kernel formed, with residuals
    (shifted rows, Rows.softmax) and without (unshifted rows)."""

    def __init__(self, mp):
        self.shifted = self.unshifted = 0
        sums = native.softmax_sums

        def counting(e, r, sigma):
            out = sums(e, r, sigma)
            if out is not None:
                self.unshifted += r is None
                self.shifted += r is not None
            return out

        mp.setattr(native, "softmax_sums", counting)


@needs_c
@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("shape", [(1, 17), (40, 129), (131, 1000), (132, 1000), (27, 5000)])
def test_softmax_denominators_run_the_kernel(kind, shape, monkeypatch):
    rng = np.random.default_rng([KINDS.index(kind), *shape, 7])
    x = _logits(kind, rng, *shape)
    # half the rows shifted (entries past 650 or below -708), half not
    x[::2] += 1e3
    spy = _SumsSpy(monkeypatch)
    with np.errstate(all="ignore"):
        fast, slow = each_path(stabkit.softmax, x)
    same_bits(fast, slow)
    if kind != "special":
        assert spy.shifted > 0
    if kind in ("normal", "ties", "losers") and shape[0] > 1:
        assert spy.unshifted > 0


@needs_c
@pytest.mark.parametrize("sigma", [0.0, 4096.0])
def test_softmax_sums_match_the_numpy_passes(sigma):
    rng = np.random.default_rng(int(sigma) + 1)
    e = np.exp(rng.standard_normal((60, 300)) * 30 - 40) * np.exp(rng.uniform(0, 600, (60, 1)))
    e[1, 4], e[2, 9], e[3, :] = np.nan, np.inf, 0.0  # not ok (sigma 0), and an all-zero row
    r = rng.standard_normal(e.shape) * 2.0**-54
    for res in (None, r):
        got = e.copy()
        with np.errstate(all="ignore"):
            hi, lo, ok = native.softmax_sums(got, res, sigma)
            want = e + e * res if res is not None else e.copy()
            same_bits(got, want)
            if sigma:
                sg = np.float64(sigma)
            else:
                sg = np.ldexp(1.0, np.frexp(np.where(ok, eft.rowmax(want) * 300, 0.0))[1] + 1)[:, None]
            q = (want + sg) - sg
            rest = np.add.reduce(want - q, axis=-1)
        same_bits(ok, np.isfinite(eft.rowmax(want) * 300) if not sigma else np.ones(60, bool))
        same_bits(hi[ok], np.add.reduce(q, axis=-1)[ok])
        same_bits(lo[ok], rest[ok])
        same_bits(hi[~ok], np.add.reduce(want, axis=-1)[~ok])
        assert not np.count_nonzero(lo[~ok])
    assert not ok[1] and not ok[2] if not sigma else ok.all()


# ------------------------------------------------------------ float32 rows


class _Spy32:
    """Counts the float32 blocks the kernel's narrow-target passes took."""

    def __init__(self, mp):
        self.calls = {}
        for name in ("scale_rows", "log_softmax32", "shift32"):
            fn = getattr(native, name)

            def counting(*a, _fn=fn, _name=name, **k):
                out = _fn(*a, **k)
                if out is not None:
                    self.calls[_name] = self.calls.get(_name, 0) + 1
                return out

            mp.setattr(native, name, counting)


def _check_all32(x: np.ndarray, rng, axis: int = -1) -> None:
    """Every row-wise function of float32 logits, bit for bit on both paths."""
    xl = np.moveaxis(x, axis, -1)
    rows, n = xl.shape
    y = np.moveaxis(_soft(rng, rows, n, xl).astype(np.float32), -1, axis)
    lab = rng.integers(0, n, rows)
    for fn, args, kw in (
        (stabkit.log_softmax, (x,), {"axis": axis}),
        (stabkit.logsumexp, (x,), {"axis": axis}),
        (stabkit.softmax, (x,), {"axis": axis}),
        (stabkit.sparse_categorical_crossentropy, (lab, x), {"from_logits": True, "axis": axis}),
        (stabkit.categorical_crossentropy, (y, x), {"from_logits": True, "axis": axis}),
    ):
        with np.errstate(all="ignore"):
            fast, slow = each_path(fn, *args, **kw)
        assert fast.dtype == np.float32
        same_bits(fast, slow)


def _logits32(kind: str, rng, rows: int, n: int) -> np.ndarray:
    """Float32 logits of one family (the float64 ones rounded; ``huge`` then
    holds infinities), half of the rows past the unshifted range."""
    with np.errstate(over="ignore"):
        x = _logits(kind, rng, rows, n).astype(np.float32)
    x[1::2] += np.float32(rng.choice([700.0, -650.0]))
    return x


@needs_c
@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("shape", [(1, 17), (3, 18), (40, 129), (131, 1000), (132, 1000), (27, 5000)])
def test_float32_rows_are_bit_identical(kind, shape, monkeypatch):
    rng = np.random.default_rng([KINDS.index(kind), *shape, 32])
    spy = _Spy32(monkeypatch)
    x = _logits32(kind, rng, *shape)
    _check_all32(x, rng)
    # the kernel ran (else the check would compare NumPy to itself): the
    # unshifted log-softmax always; the shift and the softmax's sums unless
    # a row of the block has an infinite or NaN maximum (then NumPy's)
    assert spy.calls.get("log_softmax32", 0) > 0
    if kind not in ("huge", "special"):
        assert spy.calls.get("shift32", 0) > 0 and spy.calls.get("scale_rows", 0) > 0


@needs_c
@pytest.mark.parametrize("n", [17, 100, 1000, 5000])
def test_float32_block_boundaries(n, monkeypatch):
    per_block = BLOCK // n
    rng = np.random.default_rng(n + 32)
    x = _logits32("offset", rng, 2 * per_block + 1, n)
    x[per_block + 3, 5] = np.nan
    x[2 * per_block, 3] = np.inf
    spy = _Spy32(monkeypatch)
    _check_all32(x, rng)
    assert spy.calls.get("log_softmax32", 0) >= 3
    # logsumexp, sparse CE and the shifted softmax rows: the first block
    assert spy.calls.get("shift32", 0) >= 3


@needs_c
@pytest.mark.parametrize("layout", ["strided", "transposed", "fortran", "reversed"])
def test_float32_non_contiguous_inputs(layout, monkeypatch):
    rng = np.random.default_rng(32)
    base = _logits32("ties", rng, 60, 400)
    x, axis = {
        "strided": (base[:, ::2], -1),
        "transposed": (base.T, 0),
        "fortran": (np.asfortranarray(base), -1),
        "reversed": (base[::-1, ::-1], -1),
    }[layout]
    spy = _Spy32(monkeypatch)
    _check_all32(x, rng, axis=axis)
    assert spy.calls.get("shift32", 0) > 0


@needs_c
@pytest.mark.parametrize("kind", [k for k in KINDS if k not in ("huge", "special")])  # those have infinite maxima
def test_float32_shift_and_sums_match_the_numpy_passes(kind, monkeypatch):
    rng = np.random.default_rng(KINDS.index(kind) + 32)
    x = _logits32(kind, rng, 50, 300)
    m = x[np.arange(50), np.argmax(x, axis=-1)]
    assert np.isfinite(m).all()
    d = np.empty(x.shape)
    dmin = native.shift32(x, m.astype(np.float64), d)
    with np.errstate(under="ignore"):
        e = np.exp(d)
    s = native.top_sums(e.copy(), np.argmax(x, axis=-1))
    lp32, lp64 = np.empty(x.shape, np.float32), np.empty(x.shape)
    assert native.sub_rows(d, np.log1p(s), lp32) and native.sub_rows(d, np.log1p(s), lp64)
    monkeypatch.setenv("STABKIT_NATIVE", "0")
    ref = Rows(x, False)
    assert not ref.native
    same_bits(d, ref.d)
    same_bits(dmin, np.minimum.reduce(ref.d, axis=-1))
    same_bits(s, ref.sums()[0])
    same_bits(lp64, ref.d - ref.L[:, None])
    same_bits(lp32, (ref.d - ref.L[:, None]).astype(np.float32))


@needs_c
def test_float32_ties_behind_a_far_winner():
    """Rows whose ``x - m`` is a float32 midpoint behind a winner ~40 ahead:
    below_ties settles them after the kernel's pass, the same bits."""
    rng = np.random.default_rng(40)
    x = np.round(rng.standard_normal((64, 300)) * 8).astype(np.float32) * np.float32(0.5) + np.float32(0.25)
    x[:, 7] = x.max(axis=-1) + np.float32(41.0)
    x[::3, 9] = -np.inf
    _check_all32(x, rng)


@needs_c
def test_a_nan_or_infinite_maximum_is_left_to_numpy():
    x = np.zeros((4, 20))
    for bad in (np.nan, np.inf):
        x[2, 7] = bad
        assert native.shift(x, np.empty_like(x), np.empty_like(x)) is None
    x[2] = -np.inf
    assert native.shift(x, np.empty_like(x), np.empty_like(x)) is None


@needs_c
def test_threads_share_nothing():
    rng = np.random.default_rng(5)
    xs = [_logits(k, rng, 200, 700) for k in ("offset", "masked", "far", "losers")]
    want = [stabkit.log_softmax(x) for x in xs]
    got = [None] * len(xs)

    def work(i):
        for _ in range(5):
            got[i] = stabkit.log_softmax(xs[i])

    threads = [threading.Thread(target=work, args=(i,)) for i in range(len(xs))]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    for g, w in zip(got, want):
        same_bits(g, w)


# ------------------------------------------------------------ the fallback


def test_stabkit_native_0_turns_the_kernel_off(monkeypatch):
    monkeypatch.setenv("STABKIT_NATIVE", "0")
    assert native.status() == "STABKIT_NATIVE=0"
    assert native.library() is None
    x = np.zeros((2, 30))
    assert native.shift(x, np.empty_like(x), np.empty_like(x)) is None


@pytest.mark.parametrize("why", ["not built", "not loadable"])
def test_without_the_extension_the_numpy_path_runs(why, monkeypatch):
    rng = np.random.default_rng(11)
    x = _logits("offset", rng, 300, 500)
    y = _soft(rng, 300, 500, x)
    monkeypatch.setenv("STABKIT_NATIVE", "0")
    want = (stabkit.log_softmax(x), stabkit.categorical_crossentropy(y, x, from_logits=True))
    monkeypatch.delenv("STABKIT_NATIVE")
    without_extension(monkeypatch, why)
    assert native.library() is None
    status = native.status()
    assert status != "native" and ("not built" in status if why == "not built" else "cannot be loaded" in status)
    same_bits(stabkit.log_softmax(x), want[0])
    same_bits(stabkit.categorical_crossentropy(y, x, from_logits=True), want[1])


@needs_c
def test_arrays_of_the_wrong_layout_are_refused():
    """The kernel reads and writes through raw pointers: a mismatched
    workspace is a ValueError, never an out-of-bounds write."""
    x = np.zeros((4, 20))
    with pytest.raises(ValueError, match="wrong layout"):
        native.shift(x, np.empty((4, 19)), np.empty((4, 20)))
    d, r = np.empty((4, 20)), np.empty((4, 20))
    top, _ = native.shift(x, d, r)
    with pytest.raises(ValueError, match="wrong layout"):
        native.split_sums(np.exp(d), r, top.astype(np.int32), 64.0)
    with pytest.raises(ValueError, match="wrong layout"):
        native.log_softmax(d, r[:, ::2], np.zeros(4), d)


@needs_c
def test_a_numpy_that_sums_in_another_order_keeps_the_numpy_passes(monkeypatch):
    """The kernel repeats NumPy's pairwise order, which NumPy does not
    promise: loading checks it, and a NumPy that adds one by one (here a
    stand-in) leaves the kernel off, with the reason."""
    lib = native.library()
    assert native._same_order(lib)

    def one_by_one(a, axis):
        return np.cumsum(a, axis=axis)[..., -1]

    assert not native._same_order(lib, reduce=one_by_one)
    monkeypatch.setattr(native, "_LIB", False)
    monkeypatch.setattr(native, "_same_order", lambda lib: False)
    assert native.library() is None
    assert "another order" in native.status()
    x = _logits("offset", np.random.default_rng(2), 20, 300)
    monkeypatch.setenv("STABKIT_NATIVE", "0")
    want = stabkit.log_softmax(x)
    monkeypatch.delenv("STABKIT_NATIVE")
    same_bits(stabkit.log_softmax(x), want)
