"""The wide-row kernels of stabkit/_native/_wide.h (rows of more than 16
columns, one call per block: ``wide_rows``, logsumexp and the log-softmax
at the label of the sparse cross-entropy; ``wide_softmax``, the softmax of
the rows that need no shift; ``wide_log_softmax``, the log-softmax, also
under the categorical cross-entropy of narrower targets; ``wide_ce``, the
float64 categorical cross-entropy from logits) against the NumPy passes.

The NumPy path (``STABKIT_NATIVE=0``) is the oracle: the five functions
must give the same bits in float64, float32, float16 and bfloat16, over the
row families of tests/helpers/logits.py, on both sides of the thresholds
the kernels hand rows back at or treat apart (sum_split's floor
``n**2 2**-39``, the subnormal floor, the cancellation limits, ``L = 0``, the unshifted range),
across widths that cut NumPy's pairwise blocks differently, strides, axes,
block boundaries and threads. A spy checks that the kernels ran and that
they left rows to the NumPy path where they should.
"""

from __future__ import annotations

import numpy as np
import pytest
from helpers.bits import same_bits
from helpers.logits import KINDS, logits
from helpers.native import WIDE_KERNELS, each_path
from hypothesis import given, settings
from hypothesis import strategies as st

import stabkit
from stabkit._accurate.blocks import BLOCK
from stabkit._native import narrowrows, widerows
from stabkit._native import rows as native

needs_c = pytest.mark.skipif(native.library() is None or narrowrows.narrow_status() != "native",
                             reason="the wide-row kernel is not built or its NumPy loops were not found here")

FORMATS = (np.float64, np.float32, np.float16, "bfloat16")
# 17: the narrowest; 128/129 and 1000/4097: one and several pairwise blocks of NumPy's sum
WIDTHS = (17, 24, 128, 129, 1000, 4097)


def _check(x: np.ndarray, rng, axis: int = -1, formats=FORMATS) -> None:
    """logsumexp, softmax, log_softmax and the sparse and categorical
    cross-entropies from logits of ``x`` (soft labels, a fifth of them 0, and
    one-hot rows) in each format, bit for bit on both paths (NaN compared
    without its sign)."""
    xl = np.moveaxis(x, axis, -1)
    n = xl.shape[-1]
    lab = rng.integers(0, n, xl.shape[:-1])
    y = rng.dirichlet(np.ones(n), size=xl.shape[:-1])
    y[rng.random(y.shape) < 0.2] = 0.0
    y[..., ::3, :] = np.eye(n)[lab[..., ::3]]
    y = np.moveaxis(y, -1, axis)
    with np.errstate(all="ignore"):
        for dt in formats:
            xd = x.astype(dt)
            calls = [(stabkit.logsumexp, (xd,), {"axis": axis}), (stabkit.softmax, (xd,), {"axis": axis}),
                     (stabkit.log_softmax, (xd,), {"axis": axis}),
                     (stabkit.sparse_categorical_crossentropy, (lab, xd), {"from_logits": True, "axis": axis})]
            # float64: wide_ce; narrower targets: wide_log_softmax, then the weighted sum
            calls.append((stabkit.categorical_crossentropy, (y.astype(dt), xd), {"from_logits": True, "axis": axis}))
            for fn, args, kw in calls:
                fast, slow = each_path(fn, *args, **kw)
                same_bits(fast, slow)


class _Spy:
    """Counts, while the kernels are on, the blocks each wide-row binding
    took (by its name), and the rows ``wide`` handed back (``left``)."""

    def __init__(self, mp):
        self.took = dict.fromkeys(WIDE_KERNELS, 0)
        self.left = 0
        for name in WIDE_KERNELS:
            mp.setattr(widerows, name, self._counting(name, getattr(widerows, name)))

    def _counting(self, name, fn):
        def counting(*a, **k):
            out = fn(*a, **k)
            if out is not None:
                self.took[name] += 1
                self.left += int(np.count_nonzero(out[2])) if name == "wide" else 0
            return out

        return counting


@needs_c
@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("rows", [1, 9, 300])
def test_every_family_and_width_is_bit_identical(kind, rows, monkeypatch):
    spy = _Spy(monkeypatch)
    for n in WIDTHS:
        rng = np.random.default_rng([KINDS.index(kind), rows, n])
        _check(logits(kind, rng, rows, n), rng)
    # else NumPy would be compared with itself
    assert all(spy.took.values()), spy.took


@needs_c
@pytest.mark.parametrize("n", [17, 1000])
def test_both_sides_of_the_sum_floor_and_the_cancellation_limits(n, monkeypatch):
    """Winners 1-60 ahead put s on both sides of sum_split's floor n**2 2**-39
    (float64 rows summed again, test_native_sum2.py); maxima near -log(n) make m + L cancel (float64
    limit 1.125, narrower 2**12); a winner 745 ahead makes L = 0 (handed back
    with cols); one finite entry among -inf makes s = 0."""
    rng = np.random.default_rng(n)
    rows = 400
    x = rng.standard_normal((rows, n))
    x[:, 0] = x.max(axis=-1) + np.linspace(1.0, 60.0, rows)
    lp = np.log(rng.dirichlet(np.ones(n), size=rows)) + rng.uniform(-1e-3, 1e-3, (rows, 1))
    far = rng.standard_normal((20, n))
    far[:, 3] = far.max(axis=-1) + np.linspace(700.0, 800.0, 20)
    alone = np.full((5, n), -np.inf)
    alone[:, 2] = [-3.0, 0.0, -0.0, 5e-324, 700.0]
    spy = _Spy(monkeypatch)
    _check(np.concatenate([x, lp, far, alone]), rng)
    assert spy.took["wide"] > 0 and spy.left > 0 and spy.took["wide_ce"] > 0


@needs_c
@pytest.mark.parametrize("layout", ["strided", "transposed", "fortran", "reversed", "3d-axis1"])
def test_non_contiguous_inputs_and_other_axes(layout, monkeypatch):
    rng = np.random.default_rng(7)
    base = logits("offset", rng, 400, 120)
    x, axis = {
        "strided": (base[::2, ::3], -1),
        "transposed": (base[:, :40].T, 0),
        "fortran": (np.asfortranarray(base[:, :50]), -1),
        "reversed": (base[::-1, ::-2], -1),
        "3d-axis1": (base.reshape(40, 30, 40)[:, :, ::3], 1),
    }[layout]
    spy = _Spy(monkeypatch)
    _check(x, rng, axis=axis)
    assert spy.took["wide"] > 0


@needs_c
@pytest.mark.parametrize("extra", [-1, 1])
def test_block_boundaries_with_special_rows(extra, monkeypatch):
    n = 64
    rows = 2 * (BLOCK // n) + extra
    rng = np.random.default_rng(extra + 11)
    x = logits("offset", rng, rows, n)
    for i, v in ((0, np.nan), (BLOCK // n - 1, np.inf), (BLOCK // n, np.nan), (rows - 1, np.inf)):
        x[i, 5] = v
    x[17] = -np.inf
    spy = _Spy(monkeypatch)
    _check(x, rng, formats=(np.float64, np.float32))
    assert spy.took["wide"] >= 3 and spy.left >= 5


@needs_c
def test_threads_give_the_same_bits_and_run_the_kernel(monkeypatch):
    rng = np.random.default_rng(12)
    x = logits("normal", rng, 3000, 500)
    lab = rng.integers(0, 500, 3000)
    spy = _Spy(monkeypatch)
    for dt in (np.float64, np.float32, np.float16):
        xd = x.astype(dt)
        one = stabkit.logsumexp(xd, axis=-1), stabkit.sparse_categorical_crossentropy(lab, xd, from_logits=True)
        two = (stabkit.logsumexp(xd, axis=-1, workers=2),
               stabkit.sparse_categorical_crossentropy(lab, xd, from_logits=True, workers=2))
        for a, b in zip(one, two):
            same_bits(a, b)
    assert spy.took["wide"] > 0


@needs_c
@pytest.mark.parametrize("fmt", ["float32", "float16", "bfloat16"])
def test_the_ends_of_the_narrower_formats(fmt, monkeypatch):
    """Rows at each format's largest finite values (shifts of twice the
    range), in its subnormals, all equal, and offset past float32's
    unshifted range, converted to the format first."""
    big, tiny = {"float32": (3.4e38, 1e-44), "float16": (6.5e4, 6e-8), "bfloat16": (3.3e38, 1e-40)}[fmt]
    rng = np.random.default_rng(len(fmt))
    n, rows = 200, 40
    x = np.concatenate([
        np.clip(rng.standard_normal((rows, n)) * big, -big, big),
        rng.standard_normal((rows, n)) * tiny,
        np.full((rows, n), -7.25),
        rng.standard_normal((rows, n)) * 3 + rng.choice([700.0, -650.0, 1e4], (rows, 1)),
    ])
    x[::5, 0] = big
    spy = _Spy(monkeypatch)
    _check(x, rng, formats=(np.float32 if fmt == "float32" else np.float16 if fmt == "float16" else fmt,))
    assert spy.took["wide"] > 0


@needs_c
@settings(max_examples=40, deadline=None)
@given(kind=st.sampled_from(KINDS), rows=st.integers(1, 300), n=st.integers(17, 700), seed=st.integers(0, 2**32 - 1))
def test_bit_identity_property(kind, rows, n, seed):
    rng = np.random.default_rng(seed)
    _check(logits(kind, rng, rows, n), rng, formats=(np.float64, np.float32))


# ------------------------------------------------------------ the binding


@needs_c
def test_the_kernel_refuses_what_it_does_not_take(monkeypatch):
    monkeypatch.delenv("STABKIT_NATIVE", raising=False)
    x = np.random.default_rng(1).standard_normal((5, 40))
    assert widerows.wide(x[:, :16], True, lse=True) is None  # narrow rows: narrow_rows' job
    assert widerows.wide(x.astype(np.float32), True, lse=True) is None  # float64 targets need float64 rows
    assert widerows.wide(x.astype(np.float16), False, lse=True) is None
    assert widerows.wide(x[0], False, lse=True) is None  # not 2-d
    with pytest.raises(ValueError, match="column out of range"):
        widerows.wide(x, True, cols=np.array([0, 1, 2, 3, 40]))
    with pytest.raises(ValueError, match="wrong layout"):
        widerows.wide(x, True, cols=np.array([0, 1]))
    y = np.full(x.shape, 1 / 40)
    assert widerows.wide_ce(x.astype(np.float32), y) is None  # float64 targets only
    assert widerows.wide_ce(x[:, :16], y[:, :16]) is None
    assert widerows.wide_ce(x, y[:, :39]) is None
    out, redo = widerows.wide_ce(x, y.astype(np.float32))  # labels converted exactly
    assert not redo.any() and np.all(out < 0)  # sum y log p, before the negation
    monkeypatch.setenv("STABKIT_NATIVE", "0")
    assert widerows.wide(x, True, lse=True) is None
    assert widerows.wide_ce(x, y) is None


@needs_c
def test_the_kernels_own_outputs(monkeypatch):
    """m is the first maximum itself, L = log1p(s) of the terms without it,
    the logsumexp m + L; a NaN or infinite maximum is handed back."""
    monkeypatch.delenv("STABKIT_NATIVE", raising=False)
    x = np.array([[0.0] * 20, [1.0] + [-np.inf] * 19, [np.nan] + [0.0] * 19, [np.inf] + [0.0] * 19])
    m, L, redo, out = widerows.wide(x, True, lse=True)
    # float64 targets: s = 0 (row 1) is below Rows.sums' subnormal floor, which Rows treats apart
    assert list(redo) == [0, 1, 1, 1]
    assert m[0] == 0.0 and L[0] == np.log1p(19.0) and out[0] == np.log1p(19.0)
    m, L, redo, out = widerows.wide(x.astype(np.float32), False, lse=True)
    assert list(redo) == [0, 0, 1, 1]
    assert m[1] == 1.0 and L[1] == 0.0 and out[1] == 1.0
    m, L, redo, lp = widerows.wide(x[:2].astype(np.float32), False, cols=np.array([3, 0]))
    # row 1 has L = 0 (its other entries masked): Rows signs that zero
    assert list(redo) == [0, 1] and lp[0] == -np.log1p(19.0)
