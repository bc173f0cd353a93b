"""The narrow-row kernel (``narrow_rows`` in stabkit/_native/_narrow.h, rows of
at most 16 columns) against the NumPy passes of ``Rows``.

The NumPy path is the oracle: logsumexp (every format), log_softmax and the
two cross-entropies from logits (float64) must give the same bits with the
kernel as with ``STABKIT_NATIVE=0``, for every width 1..16, over row
families the kernel takes (offsets up to 1e300, ties, masked entries,
subnormal terms, far winners, cancelling logsumexps) and rows it leaves to
``Rows`` (NaN and infinite maxima, zero maxima of both signs, tiny sums),
across chunk and block boundaries, strides and axes. A spy checks that the
kernel ran. NumPy's exp and log1p inner loops, which the kernel calls, are
checked against the ufuncs; and the narrow residual dot's column order
(which replaced einsum's) is checked to change no result. The softmax of
narrow rows (``narrow_softmax`` in _narrow_softmax.h: softmax_unshifted per
row) is compared the same way, in every format, with the rows it leaves to
the NumPy path mixed in.
"""

from __future__ import annotations

import numpy as np
import pytest
from helpers.bits import same_bits
from helpers.logits import KINDS, logits as _logits
from helpers.native import each_path
from hypothesis import given, settings
from hypothesis import strategies as st

import stabkit
from stabkit._accurate.blocks import NARROW_BLOCK_ROWS
from stabkit._accurate.rows import Rows
from stabkit._accurate.unshifted import softmax_unshifted
from stabkit._native import npyloops
from stabkit._native import narrowrows
from stabkit._native import rows as native
from stabkit.floats import get_format

needs_c = pytest.mark.skipif(native.library() is None or narrowrows.narrow_status() != "native",
                             reason="the narrow-row kernel is not built or not loadable here")

def _check_all(x: np.ndarray, rng, axis: int = -1) -> None:
    """The covered functions, bit for bit on both paths: float64 all four,
    logsumexp also in float32 and float16."""
    xl = np.moveaxis(x, axis, -1)
    n = xl.shape[-1]
    y = rng.dirichlet(np.ones(n), size=xl.shape[:-1])  # soft labels, some 0
    y[rng.random(y.shape) < 0.2] = 0.0
    y = np.moveaxis(y, -1, axis)
    lab = rng.integers(0, n, xl.shape[:-1])
    calls = [
        (stabkit.logsumexp, (x,), {"axis": axis}),
        (stabkit.log_softmax, (x,), {"axis": axis}),
        (stabkit.sparse_categorical_crossentropy, (lab, x), {"from_logits": True, "axis": axis}),
        (stabkit.categorical_crossentropy, (y, x), {"from_logits": True, "axis": axis}),
    ]
    with np.errstate(all="ignore"):
        for dt in (np.float32, np.float16, "bfloat16"):
            calls.append((stabkit.logsumexp, (x.astype(dt),), {"axis": axis}))
        for fn, args, kw in calls:
            fast, slow = each_path(fn, *args, **kw)
            same_bits(fast, slow)


class _Spy:
    """Counts the blocks the kernel took while it is on: ``took`` in all,
    ``took_lse`` those of ``narrow_lse`` (the logsumexp's own entry)."""

    def __init__(self, mp):
        self.took = self.took_lse = 0
        for name in ("narrow", "narrow_lse"):
            mp.setattr(narrowrows, name, self._counting(getattr(narrowrows, name), name == "narrow_lse"))

    def _counting(self, kernel, lse):
        def counting(*a, **k):
            out = kernel(*a, **k)
            self.took += out is not None
            self.took_lse += lse and out is not None
            return out

        return counting


# ------------------------------------------------------------ NumPy's loops


def test_numpys_exp_and_log1p_loops_are_found_and_give_the_ufuncs_bits():
    for uf in (np.exp, np.log1p):
        loop = npyloops.unary_loop(uf)
        if loop is None:
            pytest.skip(f"NumPy {np.__version__}: no d->d loop found; the kernel stays off")
        assert npyloops.same_bits(loop, uf)
        # the block tails and alignments of a long call
        a = np.random.default_rng(1).uniform(-800, 800, 100_003)
        a = np.abs(a) if uf is np.log1p else a
        with np.errstate(all="ignore"):
            same_bits(npyloops.call(loop, a[3:]), uf(a[3:]))


def test_the_exp_loop_gives_zero_where_the_kernels_leave_arguments_out():
    """The kernels keep arguments below npyloops.EXP_ZERO (-746: -inf of a
    mask, x - m far below the maximum) out of exp's calls, which run a slow
    path for them, and write +0 themselves, once zero_below has checked the
    loop. The check must hold here and fail one step too high (exp(-745) is
    the least subnormal); the families masked, far and subnormal then keep
    the NumPy path's bits (test_native_wide.py, and above)."""
    loop = npyloops.unary_loop(np.exp)
    if loop is None:
        pytest.skip(f"NumPy {np.__version__}: no d->d loop found; the kernel stays off")
    assert npyloops.zero_below(loop)
    assert not npyloops.zero_below(loop, -745.0)
    x = np.array([np.nextafter(npyloops.EXP_ZERO, 0.0), npyloops.EXP_ZERO, -745.13, -745.14])
    with np.errstate(under="ignore"):
        assert list(np.exp(x) > 0) == [False, False, True, False]


def test_a_loop_that_differs_or_a_ufunc_that_does_not_fit_is_refused():
    # a two-input ufunc, and a loop checked against another function
    assert npyloops.unary_loop(np.add) is None
    assert npyloops.unary_loop(len) is None
    loop = npyloops.unary_loop(np.exp)
    if loop is not None:
        assert not npyloops.same_bits(loop, np.expm1)


def test_without_numpys_loops_the_numpy_passes_run(monkeypatch):
    monkeypatch.setattr(narrowrows, "_LOOPS", False)
    monkeypatch.setattr(narrowrows, "_NARROW_WHY", narrowrows._NARROW_WHY)
    monkeypatch.setattr(npyloops, "unary_loop", lambda uf: None)
    monkeypatch.delenv("STABKIT_NATIVE", raising=False)
    x = _logits("offset", np.random.default_rng(4), 50, 10)
    assert narrowrows.narrow(x, True, np.empty_like(x), np.empty_like(x), np.empty_like(x)) is None
    assert "inner loops were not found" in narrowrows.narrow_status() or native.status() != "native"
    got = stabkit.logsumexp(x, axis=-1)
    monkeypatch.setenv("STABKIT_NATIVE", "0")
    same_bits(got, stabkit.logsumexp(x, axis=-1))


# ------------------------------------------------------------ bit identity


@needs_c
@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("rows", [1, 7, 37, 300])
def test_every_width_is_bit_identical(kind, rows, monkeypatch):
    spy = _Spy(monkeypatch)
    for n in range(1, 17):
        rng = np.random.default_rng([KINDS.index(kind), rows, n])
        _check_all(_logits(kind, rng, rows, n), rng)
    # the kernel ran (else NumPy would be compared with itself)
    assert spy.took > 0


@needs_c
@pytest.mark.parametrize("extra", [-1, 0, 1])
def test_block_boundaries_with_special_rows_mixed_in(extra, monkeypatch):
    rng = np.random.default_rng(extra + 5)
    x = _logits("offset", rng, NARROW_BLOCK_ROWS + extra, 10)
    # special rows at both ends of the kernel's chunks (256 rows) and blocks
    for i, v in ((0, np.nan), (255, np.inf), (256, np.nan), (NARROW_BLOCK_ROWS - 1, np.inf), (NARROW_BLOCK_ROWS, np.nan)):
        if i < len(x):
            x[i, 3] = v
    x[100] = -np.inf
    spy = _Spy(monkeypatch)
    _check_all(x, rng)
    # the logsumexp too: its chunks share one scratch (narrow_lse)
    assert spy.took > spy.took_lse > 0


@needs_c
@pytest.mark.parametrize("layout", ["strided", "transposed", "fortran", "reversed", "3d-axis1"])
def test_non_contiguous_inputs_and_other_axes(layout, monkeypatch):
    rng = np.random.default_rng(3)
    base = _logits("offset", rng, 600, 24)
    x, axis = {
        "strided": (base[::2, ::3], -1),
        "transposed": (base[:, :12].T, 0),
        "fortran": (np.asfortranarray(base[:, :9]), -1),
        "reversed": (base[::-1, ::-2], -1),
        "3d-axis1": (base.reshape(50, 12, 24)[:, :, :3], 1),
    }[layout]
    spy = _Spy(monkeypatch)
    _check_all(x, rng, axis=axis)
    assert spy.took > 0


@needs_c
@settings(max_examples=60, deadline=None)
@given(kind=st.sampled_from(KINDS), rows=st.integers(1, 600), n=st.integers(1, 16), seed=st.integers(0, 2**32 - 1))
def test_bit_identity_property(kind, rows, n, seed):
    rng = np.random.default_rng(seed)
    _check_all(_logits(kind, rng, rows, n), rng)


@needs_c
@pytest.mark.parametrize("fmt", ["float32", "float16", "bfloat16"])
def test_narrower_log_softmax_settles_its_ties_as_the_numpy_path(fmt, monkeypatch):
    """Winners 30-120 ahead of float32-exact entries: L falls below half a
    float64 ulp of some d = x - m, where d - L rounds back to d and
    ``below_ties`` steps one ulp down (now in the kernel's last pass, on
    every row). Both paths bit for bit, the log-softmax and the categorical
    loss (which weighs it), with rows of both kinds in one block, and the
    step itself seen to happen."""
    monkeypatch.delenv("STABKIT_NATIVE", raising=False)
    rng = np.random.default_rng(len(fmt))
    n, rows = 10, 600
    x = np.round(rng.standard_normal((rows, n)) * 8, 1)
    x[:, 3] = x.max(axis=-1) + rng.uniform(30.0, 120.0, rows)
    x[::4] = rng.standard_normal((rows // 4 + (rows % 4 > 0), n))  # rows without ties between them
    xd = x.astype(fmt)
    x64 = xd.astype(np.float64)
    d = x64 - x64.max(axis=-1, keepdims=True)
    e = np.exp(d)
    e[d == 0.0] = 0.0  # the winner (no ties at the top here)
    L = np.log1p(e.sum(axis=-1))  # near enough to find the ties
    stepped = np.count_nonzero((d - L[:, None] == d) & (L[:, None] > 0))
    assert stepped > 100  # the tie fix matters on this input
    spy = _Spy(monkeypatch)
    y = rng.dirichlet(np.ones(n), size=rows).astype(fmt)
    with np.errstate(all="ignore"):
        same_bits(*each_path(stabkit.log_softmax, xd))
        same_bits(*each_path(stabkit.categorical_crossentropy, y, xd, from_logits=True))
    assert spy.took > 0


# ------------------------------------------------------------ the kernel itself


@needs_c
def test_rows_left_to_numpy_are_flagged():
    x = np.tile([0.5, 2.0, -3.0, 1.0], (9, 1))
    x[0, 1] = np.nan
    x[1, 2] = np.inf
    x[2] = -np.inf
    x[3] = [0.0, -0.0, -3.0, -1.0]  # a zero maximum of both signs
    x[4, 0] = 802.0  # a sum below n 2**-1020 (float64 targets)
    x[5, :] = np.log([0.4, 0.3, 0.2, 0.1])  # m + L cancels (log-probabilities)
    d, r, e = np.empty_like(x), np.empty_like(x), np.empty_like(x)
    m, L, redo = narrowrows.narrow(x, True, d, r, e)
    assert list(redo) == [1, 1, 1, 1, 1, 0, 0, 0, 0]
    # the logsumexp's entry, over three chunks of its one scratch (256 rows)
    many = np.tile(x, (70, 1))
    for k in (6, 7, 8):  # rows that differ from copy to copy (a stale chunk would show)
        many[k::9] += np.arange(70.0)[:, None] * [0.25, -0.5, 0.125, 1.0]
    redo, out = narrowrows.narrow_lse(many, True)
    assert list(redo) == [1, 1, 1, 1, 1, 2, 0, 0, 0] * 70
    with np.errstate(all="ignore"):
        kept = redo == 0
        same_bits(out[kept], Rows(many[kept], True).logsumexp(get_format("float64")))
        same_bits(L[6:], Rows(x[6:], True).L)
        same_bits(m[6:], x[6:].max(axis=-1))


@needs_c
def test_wrong_layouts_are_refused():
    x = np.zeros((4, 10))
    with pytest.raises(ValueError, match="wrong layout"):
        narrowrows.narrow(x, True, np.empty((4, 9)), np.empty((4, 10)), np.empty((4, 10)))
    assert narrowrows.narrow(x.astype(np.float32), True, *(np.empty((4, 10)),) * 3) is None  # float32 has no residuals
    assert narrowrows.narrow(np.zeros((4, 17)), True, *(np.empty((4, 17)),) * 3) is None  # wide rows: the other kernel
    d, r, e = np.empty_like(x), np.empty_like(x), np.empty_like(x)
    _, L, _ = narrowrows.narrow(x, True, d, r, e)
    with pytest.raises(ValueError, match="out of range"):
        narrowrows.narrow_log_softmax_at(d, r, L, np.array([0, 1, 10, 2]))


def test_status_names_the_narrow_kernel_per_function_and_format(monkeypatch):
    from stabkit._native import status

    monkeypatch.delenv("STABKIT_NATIVE", raising=False)
    table, why = status.kernels(), narrowrows.narrow_status()
    narrow = {k for k in table if k.endswith(" (rows <= 16)")}
    assert narrow == {f"{f}/{fmt} (rows <= 16)" for f, fmts in status.NARROW.items() for fmt in fmts}
    assert {table[k] for k in narrow} == {why}
    line = [s for s in status.summary().splitlines() if s.startswith("accurate narrow-row kernel")]
    assert len(line) == 1 and (("native for softmax" in line[0]) == (why == "native"))
    monkeypatch.setenv("STABKIT_NATIVE", "0")
    assert "accurate narrow-row kernel (rows of 16 or fewer): NumPy (STABKIT_NATIVE=0)" in status.summary().splitlines()


def test_stabkit_native_0_turns_the_narrow_kernel_off(monkeypatch):
    monkeypatch.setenv("STABKIT_NATIVE", "0")
    x = np.zeros((3, 5))
    assert narrowrows.narrow(x, True, *(np.empty((3, 5)),) * 3) is None
    assert narrowrows.narrow_status() == "STABKIT_NATIVE=0"


# ------------------------------------------------------------ the residual dot's order


def test_the_column_order_of_the_residual_dot_changed_no_result(monkeypatch):
    """Rows._dot sums the narrow residuals column after column (the order the
    kernel repeats) where it used einsum, whose order is not defined: on
    these families the NumPy path gives the same bits both ways (the dot is
    a first-order correction; ~10**8 outputs were compared when it changed)."""
    monkeypatch.setenv("STABKIT_NATIVE", "0")
    column = Rows._dot

    def einsum(self, e, r):
        return column(self, e, r) if e.shape[1] > 16 else np.einsum("ij,ij->i", e, r)

    rng = np.random.default_rng(16)
    xs = [_logits(k, rng, 2000, n) for k in KINDS for n in (2, 5, 10, 16)]
    with np.errstate(all="ignore"):
        want = [(stabkit.logsumexp(x, axis=-1), stabkit.log_softmax(x)) for x in xs]
        monkeypatch.setattr(Rows, "_dot", einsum)
        got = [(stabkit.logsumexp(x, axis=-1), stabkit.log_softmax(x)) for x in xs]
    for (a, b), (c, d) in zip(got, want):
        same_bits(a, c)
        same_bits(b, d)


# ------------------------------------------------------------ softmax


class _SoftmaxSpy:
    """Counts the blocks narrow_softmax took, and the rows it left."""

    def __init__(self, mp):
        self.took, self.left = 0, 0
        real = narrowrows.narrow_softmax

        def counting(*a, **k):
            out = real(*a, **k)
            if out is not None:
                self.took += 1
                self.left += int(out[1].sum())
            return out

        mp.setattr(narrowrows, "narrow_softmax", counting)


@needs_c
@pytest.mark.parametrize("fmt", ["float64", "float32", "float16", "bfloat16"])
@pytest.mark.parametrize("kind", KINDS)
def test_softmax_of_every_width_is_bit_identical(kind, fmt, monkeypatch):
    """narrow_softmax (softmax_unshifted's operations per row) against the
    NumPy path, every width 1..16, with the rows it leaves to that path
    (NaN, +-inf, entries past the unshifted bounds) mixed in."""
    spy = _SoftmaxSpy(monkeypatch)
    for n in range(1, 17):
        rng = np.random.default_rng([KINDS.index(kind), n, len(fmt)])
        x = _logits(kind, rng, 300, n)
        x[::7, 0] = np.nan
        x[1::11, -1] = np.inf
        x[2::13] = -np.inf
        x[3::17, 0] = -np.inf  # fine for narrower targets, shifted for float64 ones
        x[4::19, 0] = 651.0  # past the unshifted maximum
        x[5::23, 0] = -709.0  # past float64's unshifted minimum
        x[6::29, 0] = -601.0 if n == 1 else x[6::29, 0]  # a maximum below narrower targets' bound
        with np.errstate(all="ignore"):
            xf = x.astype(get_format(fmt).dtype)
        fast, slow = each_path(stabkit.softmax, xf)
        same_bits(fast, slow)
        fast, slow = each_path(stabkit.softmax, xf[::-2].T, axis=0)  # strided, other axis
        same_bits(fast, slow)
    assert spy.took > 0 and spy.left > 0


@needs_c
def test_softmax_rows_left_to_numpy_are_flagged():
    x = np.tile([0.5, 2.0, -3.0, 1.0], (9, 1))
    x[0, 1] = np.nan
    x[1, 2] = np.inf
    x[2] = -np.inf
    x[3, 0] = -np.inf  # a masked entry: its term is an exact 0, taken
    x[4, 0] = 650.5
    x[5, 0] = -708.5  # float64 targets only
    x[6] = -650.0  # a maximum below -600: narrower targets only
    x[8, :2] = [-np.inf, -708.5]  # masked, and one entry below -708: float64 targets only
    p, redo = narrowrows.narrow_softmax(x, True)
    assert redo.tolist() == [True, True, True, False, True, True, False, False, True]
    p32, redo32 = narrowrows.narrow_softmax(x.astype(np.float32), False)
    assert redo32.tolist() == [True, True, True, False, True, False, True, False, False]
    # the rows it took: the NumPy path's values
    same_bits(p[~redo], softmax_unshifted(x[~redo], True, None, 8))
    assert p[3, 0] == 0.0 and not np.signbit(p[3, 0])
    same_bits(p32[~redo32], softmax_unshifted(x.astype(np.float32)[~redo32], False, None, 8))
    assert narrowrows.narrow_softmax(x.astype(np.float32), True) is None  # float64 targets need float64 rows
    assert narrowrows.narrow_softmax(np.zeros((4, 17)), True) is None  # wide rows: the other kernel
    with pytest.raises(ValueError, match="wrong layout"):
        narrowrows.narrow_softmax(x, True, np.empty((8, 3)))
    buf = np.empty((9, 4))
    assert narrowrows.narrow_softmax(x, True, buf)[0] is buf


def test_small_softmax_calls_take_the_kernel(monkeypatch):
    """The small call that motivated it: a (4, 10) float64 block, one kernel
    call, none left over."""
    if narrowrows.narrow_status() != "native":
        pytest.skip(f"the narrow kernel is off here: {narrowrows.narrow_status()}")
    spy = _SoftmaxSpy(monkeypatch)
    x = np.random.default_rng(8).standard_normal((4, 10))
    fast, slow = each_path(stabkit.softmax, x)
    same_bits(fast, slow)
    assert (spy.took, spy.left) == (1, 0)


# ------------------------------------------------------------ float32 softmax's fast pass


@needs_c
def test_float32_fast_pass_gives_the_narrow_kernels_roundings():
    """narrow_softmax32 (exp_fast, the rows eight at a time, a rounding
    test with the margin 2^-42) against narrow_softmax's float64 values
    rounded once, on every width it takes (3 to 16) and logit scales from
    1e-3 (all values near 1/n) to 300 (a winner, tiny and underflowing
    terms): the rows it settles have those bits, and it settles nearly all
    the rows that need no shift (and none of the others)."""
    rng = np.random.default_rng(916)
    for n in range(3, 17):
        for scale in (1e-3, 1.0, 5.0, 40.0, 300.0):
            x = (rng.standard_normal((4000, n)) * scale).astype(np.float32)
            out = np.empty_like(x)
            done = narrowrows.narrow_softmax32(x, out)
            p, redo = narrowrows.narrow_softmax(x, False)
            assert not redo[done].any()
            same_bits(out[done], p[done].astype(np.float32))
            top = x.max(axis=1)
            unshifted = (top >= -600.0) & (top <= 650.0)
            assert not done[~unshifted].any()
            assert done.sum() >= 0.99 * unshifted.sum() > 0, (n, scale, done.mean())


@needs_c
def test_float32_fast_pass_leaves_the_rows_it_cannot_settle():
    x = np.tile(np.linspace(-2.0, 3.0, 12, dtype=np.float32), (10, 1))
    x[0, 1] = np.nan
    x[1, 2] = np.inf
    x[2] = -np.inf
    x[3, 0] = -np.inf  # masked: the narrow kernel takes it, the fast pass leaves it (its NaN test)
    x[4, 0] = 650.5  # past the unshifted maximum
    x[5] = -650.0  # a maximum below -600
    out = np.empty_like(x)
    done = narrowrows.narrow_softmax32(x, out)
    assert done.tolist() == [False] * 6 + [True] * 4
    same_bits(out[6:], narrowrows.narrow_softmax(x[6:], False)[0].astype(np.float32))
    # what it refuses: other widths, float64, entries not contiguous, another output
    assert narrowrows.narrow_softmax32(np.zeros((4, 2), np.float32), np.empty((4, 2), np.float32)) is None
    assert narrowrows.narrow_softmax32(np.zeros((4, 17), np.float32), np.empty((4, 17), np.float32)) is None
    assert narrowrows.narrow_softmax32(x.astype(np.float64), np.empty(x.shape, np.float32)) is None
    xs = np.zeros((4, 24), np.float32)[:, ::2]
    assert narrowrows.narrow_softmax32(xs, np.empty(xs.shape, np.float32)) is None
    assert narrowrows.narrow_softmax32(x, np.empty(x.shape)) is None
    assert narrowrows.narrow_softmax32(x, np.empty(x.shape, np.float32).T.copy().T) is None


def _calls_take_the_fast_pass(monkeypatch, fn, kernel: str, seed: int) -> list:
    """``fn`` on float32 rows of 3 to 16 columns (views with any row stride,
    another axis too, NaN rows among them) goes through the fast pass
    ``narrowrows.<kernel>`` (each call with the kernels on took rows), with
    the NumPy path's bits; returns the (view, axis) pairs."""
    calls = []
    real = getattr(narrowrows, kernel)

    def counting(*a, **k):
        out = real(*a, **k)
        # the mask of rows taken: alone, or after the values
        calls.append(None if out is None else int((out[1] if isinstance(out, tuple) else out).sum()))
        return out

    monkeypatch.setattr(narrowrows, kernel, counting)
    rng = np.random.default_rng(seed)
    x = (rng.standard_normal((3000, 32)) * 6).astype(np.float32)
    x[::50, 1] = np.nan
    views = ((x[:, :16], -1), (x[:, 3:12], -1), (x[::3, :14], -1), (x[:1000, :4].T, 0))
    for view, axis in views:
        calls.clear()
        fast, slow = each_path(fn, view, axis=axis)
        same_bits(fast, slow)
        took = [c for c in calls if c is not None]  # None: the run with STABKIT_NATIVE=0
        assert took and all(c > 0 for c in took)
    return views


@needs_c
def test_float32_softmax_calls_take_the_fast_pass(monkeypatch):
    """stabkit.softmax of float32 rows of 3 to 16 columns goes through the
    fast pass (rows as views with any row stride, another axis too), the
    narrow path gets only the rows it leaves, and the result is the NumPy
    path's bit for bit."""
    spy = _SoftmaxSpy(monkeypatch)
    views = _calls_take_the_fast_pass(monkeypatch, stabkit.softmax, "narrow_softmax32", 17)
    nan_rows = sum(int(np.isnan(view).any(axis=axis).sum()) for view, axis in views)
    # the narrow kernel saw the rows the fast pass left, and flagged the NaN ones
    assert spy.took > 0 and spy.left == nan_rows > 0


@needs_c
def test_float32_lse_fast_pass_gives_the_numpy_paths_roundings(monkeypatch):
    """narrow_lse32 (cols_shifted_sums32's sums, NumPy's log1p, m + L at
    both ends of L (1 -+ 2^-43)) against the NumPy path's float32
    logsumexp, every width it takes, logit scales from 1e-3 to 300 and rows
    shifted so that m + L nears 0 (the narrow kernel's cancellation test,
    which the fast pass must leave to it): the rows it settles have the
    NumPy path's bits, and it settles nearly all rows that neither cancel
    nor need the shift's floors."""
    rng = np.random.default_rng(1603)
    for n in range(3, 17):
        for scale, off in ((1e-3, 0.0), (1.0, 0.0), (5.0, 3.0), (40.0, -20.0), (300.0, 0.0), (1e-3, -np.log(n))):
            x = (rng.standard_normal((3000, n)) * scale + off).astype(np.float32)
            out, done = narrowrows.narrow_lse32(x)
            monkeypatch.setenv("STABKIT_NATIVE", "0")
            want = stabkit.logsumexp(x, axis=-1)
            monkeypatch.delenv("STABKIT_NATIVE")
            same_bits(out[done].astype(np.float32), want[done])
            m = x.max(axis=1).astype(np.float64)
            # far from cancelling (m + L not near 0) and above the floor
            # (a second term within 650 of the maximum: s >= e^-650 = 2^-937.8)
            second = np.sort(x, axis=1)[:, -2].astype(np.float64)
            plain = (np.abs(m + np.log(n)) > 1.0) & (second - m > -650.0)
            assert done[plain].sum() >= 0.99 * plain.sum(), (n, scale, off, done[plain].mean())
            if off < -1.0 and scale < 1.0:
                # m + L within ~1e-3 of 0: (|m| + L) / |m + L| past 2^11 on many rows, none settled there
                amp = (np.abs(m) + np.log(n)) / np.abs(want.astype(np.float64))
                assert not done[amp > 2.0**11].any() and (amp > 2.0**11).any()


@needs_c
def test_float32_lse_fast_pass_leaves_the_rows_it_cannot_settle():
    x = np.tile(np.linspace(-2.0, 3.0, 7, dtype=np.float32), (9, 1))
    x[0, 1] = np.nan
    x[1, 2] = np.inf
    x[2] = -np.inf
    x[3, 0] = -np.inf  # masked: the narrow kernel takes it, the fast pass leaves it (its NaN test)
    x[4] = 0.0  # a maximum 0: the narrow kernel checks its zeros' signs
    x[5] = -1000.0  # every entry a tie of the maximum (s = n - 1, m far below 0): taken
    out, done = narrowrows.narrow_lse32(x)
    assert done.tolist() == [False] * 5 + [True] * 4
    np.testing.assert_array_equal(out[5:].astype(np.float32), stabkit.logsumexp(x[5:], axis=-1))
    assert narrowrows.narrow_lse32(np.zeros((4, 2), np.float32)) is None
    assert narrowrows.narrow_lse32(np.zeros((4, 17), np.float32)) is None
    assert narrowrows.narrow_lse32(np.zeros((4, 8))) is None
    assert narrowrows.narrow_lse32(np.zeros((4, 24), np.float32)[:, ::2]) is None


@needs_c
def test_float32_logsumexp_calls_take_the_fast_pass(monkeypatch):
    """stabkit.logsumexp of float32 rows of 3 to 16 columns goes through
    the fast pass (views, another axis), with the NumPy path's bits."""
    _calls_take_the_fast_pass(monkeypatch, stabkit.logsumexp, "narrow_lse32", 18)


@needs_c
def test_float32_log_softmax_fast_pass_gives_the_narrow_kernels_roundings(monkeypatch):
    """narrow_log_softmax32 (narrow_lse32's L, below_ties(d, L) at both ends
    of L (1 -+ 2^-43)) against the NumPy path's float32 log-softmax: every
    width it takes, scales from 1e-3 to 300, winners far ahead (L below
    half an ulp of d, where below_ties steps down), rows far from 0: the
    rows it settles have the NumPy path's bits, and nearly all rows above
    the sums' floor settle."""
    rng = np.random.default_rng(1604)
    for n in range(3, 17):
        for scale, off in ((1e-3, 0.0), (1.0, 0.0), (5.0, -30.0), (300.0, 0.0), (1.0, 1e5)):
            x = (rng.standard_normal((2000, n)) * scale + off).astype(np.float32)
            x[::5, 0] += np.float32(60.0)  # a winner 60 ahead: L ~ e^-60, below half an ulp of most d
            out = np.empty_like(x)
            done = narrowrows.narrow_log_softmax32(x, out)
            monkeypatch.setenv("STABKIT_NATIVE", "0")
            want = stabkit.log_softmax(x, axis=-1)
            monkeypatch.delenv("STABKIT_NATIVE")
            same_bits(out[done], want[done])
            m = x.max(axis=1).astype(np.float64)
            second = np.sort(x, axis=1)[:, -2].astype(np.float64)
            plain = second - m > -650.0
            assert done[plain].sum() >= 0.99 * plain.sum() > 0, (n, scale, off, done[plain].mean())


@needs_c
def test_float32_log_softmax_fast_pass_leaves_the_rows_it_cannot_settle():
    x = np.tile(np.linspace(-2.0, 3.0, 5, dtype=np.float32), (9, 1))
    x[0, 1] = np.nan
    x[1, 2] = np.inf
    x[2] = -np.inf
    x[3, 0] = -np.inf  # masked: the narrow kernel takes it, the fast pass leaves it (its NaN test)
    x[4] = 0.0  # a maximum 0: the narrow kernel checks its zeros' signs
    x[5, 0] = 900.0  # the other terms below e^-897: under the sums' floor
    out = np.empty_like(x)
    done = narrowrows.narrow_log_softmax32(x, out)
    assert done.tolist() == [False] * 6 + [True] * 3
    same_bits(out[6:], stabkit.log_softmax(x[6:], axis=-1))
    assert narrowrows.narrow_log_softmax32(np.zeros((4, 2), np.float32), np.empty((4, 2), np.float32)) is None
    assert narrowrows.narrow_log_softmax32(np.zeros((4, 17), np.float32), np.empty((4, 17), np.float32)) is None
    assert narrowrows.narrow_log_softmax32(x.astype(np.float64), np.empty(x.shape, np.float32)) is None
    assert narrowrows.narrow_log_softmax32(x, np.empty(x.shape)) is None


@needs_c
def test_float32_log_softmax_calls_take_the_fast_pass(monkeypatch):
    """stabkit.log_softmax of float32 rows of 3 to 16 columns goes through
    the fast pass (views, another axis), with the NumPy path's bits."""
    _calls_take_the_fast_pass(monkeypatch, stabkit.log_softmax, "narrow_log_softmax32", 19)


@pytest.mark.parametrize("fmt", ["float64", "float32", "float16", "bfloat16"])
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_rows_of_one_entry_give_the_numpy_passes_bits(fmt, dtype):
    """Rows of width 1 skip the kernel (which sent each one to Rows): the
    logsumexp is the entry (+0.0 for -0.0), the log-softmax +0 or NaN, the
    bits of Rows' passes, special values included."""
    from stabkit._accurate import narrow

    rng = np.random.default_rng(1)
    special = [np.nan, -np.nan, np.inf, -np.inf, -0.0, 0.0, 1e-45, -1e-45, 3e38, -3e38, 3.5, -700.0]
    x = np.concatenate([special, rng.standard_normal(40) * 10.0 ** rng.uniform(-30, 30, 40)]).astype(dtype)[:, None]
    f, exact = get_format(fmt), fmt == "float64"
    with np.errstate(all="ignore"):
        same_bits(narrow.logsumexp(x, f), narrow._rows(x, exact).logsumexp(f))
        same_bits(narrow.log_softmax(x, f), narrow._rows(x, exact).log_softmax())
        dst = np.full(x.shape, 5.0)
        assert narrow.log_softmax(x, f, dst) is dst
        same_bits(dst, narrow._rows(x, exact).log_softmax())


@pytest.mark.parametrize("dtype", ["float64", "float32", "float16", "bfloat16"])
def test_public_functions_on_rows_of_one_entry(dtype):
    import ml_dtypes

    dt = ml_dtypes.bfloat16 if dtype == "bfloat16" else np.dtype(dtype)
    x = np.array([[np.nan], [np.inf], [-np.inf], [-0.0], [2.5], [-3.0]]).astype(dt)
    lse = stabkit.logsumexp(x, axis=-1)
    assert lse.dtype == dt
    same_bits(lse, np.array([np.nan, np.inf, -np.inf, 0.0, 2.5, -3.0]).astype(dt))
    same_bits(stabkit.log_softmax(x, axis=-1), np.array([[np.nan], [0.0], [np.nan], [0.0], [0.0], [0.0]]).astype(dt))
