"""The fast pass of the wide float32 rows (stabkit/_native/_wide_fast.h):
softmax and log-softmax of contiguous float32 rows into float32, and the
logsumexp, the sparse cross-entropy's log-softmax at the label and the
categorical cross-entropy (``_wide_ce32.h``) where the caller rounds them
once to float32, formed with stabkit's own exp and kept
where a rounding test settles every value, else formed again with NumPy's
exp.

Its claim is the NumPy path's bits. Three kinds of check:

- the bound it rests on: NumPy's float64 exp and log1p within 2^-48 of the
  exact value (measured here against mpmath, on the ranges the kernels
  call them on);
- the same bits as the NumPy path (``STABKIT_NATIVE=0``) and as the same
  kernel on a strided view of the same rows (which never takes the fast
  pass), over row families on both sides of each of its thresholds: masked
  entries, entries below -708, rows whose sum falls under its floor, rows
  near ``tie_rows``' threshold, large maxima with near-maximal entries;
- the fast pass runs where it should (most rows of ordinary logits) and
  not where it should not, counted by the kernels' ``fast`` output.
"""

from __future__ import annotations

import ml_dtypes
import mpmath
import numpy as np
import pytest
from helpers.bits import same_bits
from helpers.native import each_path

import stabkit
from stabkit._native import narrowrows, widerows
from stabkit._native import rows as native
from stabkit.floats import round_float64

needs_c = pytest.mark.skipif(native.library() is None or narrowrows.narrow_status() != "native",
                             reason="the wide-row kernel is not built or its NumPy loops were not found here")

KERNELS = {"softmax": widerows.wide_softmax, "log_softmax": widerows.wide_log_softmax}


def _rel_err_units(fn_np, fn_mp, x: np.ndarray) -> float:
    """The largest relative error of ``fn_np`` on ``x``, in units of 2^-53,
    against ``fn_mp`` at 80 digits."""
    y = fn_np(x)
    worst = 0.0
    with mpmath.workdps(80):
        for xi, yi in zip(x.tolist(), y.tolist()):
            ref = fn_mp(mpmath.mpf(xi))
            worst = max(worst, float(abs((mpmath.mpf(yi) - ref) / ref)) * 2.0**53)
    return worst


def test_numpy_exp_and_log1p_are_within_the_assumed_bound():
    """_wide_fast.h takes NumPy's exp and log1p to be within 2^-48 (32 units
    of 2^-53) of the exact value; they measure near 1.2 units. Sampled on
    the kernels' ranges: exp on [-708, 650] and near 0, log1p on the
    quotients q in (0, n)."""
    rng = np.random.default_rng(48)
    xs = np.concatenate([rng.uniform(-708.0, 650.0, 1500), rng.uniform(-2.0, 2.0, 500),
                         [-708.0, -600.0, -1e-300, 0.0, 650.0]])
    qs = np.concatenate([np.exp(rng.uniform(-700.0, 14.0, 1500)), [1e-300, 1.0, 1e6]])
    assert _rel_err_units(np.exp, mpmath.exp, xs) < 32.0
    assert _rel_err_units(np.log1p, mpmath.log1p, qs) < 32.0


def _kernel(name: str, x: np.ndarray):
    """``(out, redo, fast rows)`` of a kernel into a new float32 array."""
    fast = np.zeros(1, np.int64)
    out, redo = KERNELS[name](x, False, np.empty(x.shape, np.float32), fast=fast)
    return out, redo, int(fast[0])


def _strided(x: np.ndarray) -> np.ndarray:
    """The same rows as a view with a column stride of two floats (the
    kernel then converts each row and never takes the fast pass)."""
    wide = np.empty((x.shape[0], 2 * x.shape[1]), np.float32)
    wide[:, ::2] = x
    return wide[:, ::2]


def _same_three_ways(x: np.ndarray) -> dict:
    """softmax and log-softmax of the float32 rows ``x``: the kernel on the
    rows (fast pass), on a strided view (no fast pass) and the public
    functions on both paths, all the same bits. Returns the fast-row counts."""
    counts = {}
    with np.errstate(all="ignore"):
        for name, fn in (("softmax", stabkit.softmax), ("log_softmax", stabkit.log_softmax)):
            out, redo, counts[name] = _kernel(name, x)
            out_s, redo_s, none = _kernel(name, _strided(x))
            assert none == 0
            np.testing.assert_array_equal(redo, redo_s)
            same_bits(out[~redo], out_s[~redo_s])
            fast, slow = each_path(fn, x)
            same_bits(fast, slow)
            same_bits(fast[~redo], out[~redo])
    return counts


def _same_reductions(x: np.ndarray, rng) -> dict:
    """logsumexp and the sparse cross-entropy from logits of the float32
    rows ``x`` (labels at random, and at each row's maximum for a third of
    the rows): the kernel with ``rounded`` (fast pass), its values rounded
    to float32, against the kernel on a strided view (NumPy's float64
    values, rounded here), and the public functions on both paths, plain and
    with a reduction and sample weights (which never take the fast pass).
    Returns the fast-row counts."""
    rows, n = x.shape
    lab = rng.integers(0, n, rows)
    lab[::3] = np.argmax(x[::3], axis=1)
    counts = {}
    with np.errstate(all="ignore"):
        for name, kw in (("logsumexp", {"lse": True}), ("sparse", {"cols": lab})):
            fast = np.zeros(1, np.int64)
            *_, redo, out = widerows.wide(x, False, rounded="float32", fast=fast, **kw)
            none = np.zeros(1, np.int64)
            *_, redo_s, out_s = widerows.wide(_strided(x), False, rounded="float32", fast=none, **kw)
            counts[name] = int(fast[0])
            assert none[0] == 0
            both = (redo == 0) & (redo_s == 0)
            same_bits(out[both].astype(np.float32), out_s[both].astype(np.float32))
        w = rng.random(rows)
        for fn, args, kw in ((stabkit.logsumexp, (x,), {"axis": -1}),
                             (stabkit.sparse_categorical_crossentropy, (lab, x), {"from_logits": True}),
                             (stabkit.sparse_categorical_crossentropy, (lab, x),
                              {"from_logits": True, "sample_weight": w, "reduction": "sum"})):
            fast_out, slow_out = each_path(fn, *args, **kw)
            same_bits(fast_out, slow_out)
    return counts


def _same_ce(x: np.ndarray, rng) -> dict:
    """The categorical cross-entropy from logits of the float32 rows ``x``
    with soft labels (a fifth of them 0), one-hot rows, all-zero rows and
    labels of 1 at -inf logits: the public function on both paths, plain
    and with a reduction and sample weights (never the fast pass). Returns
    the kernel's fast-row count (``wide_ce32``)."""
    rows, n = x.shape
    y = rng.dirichlet(np.ones(n), size=rows)
    y[rng.random(y.shape) < 0.2] = 0.0
    y[::3] = np.eye(n)[rng.integers(0, n, rows)[::3]]
    y[1::7] = 0.0
    y = y.astype(np.float32)
    w = rng.random(rows)
    with np.errstate(all="ignore"):
        for kw in ({}, {"sample_weight": w, "reduction": "sum"}):
            fast_out, slow_out = each_path(stabkit.categorical_crossentropy, y, x, from_logits=True, **kw)
            same_bits(fast_out, slow_out)
        fast = np.zeros(1, np.int64)
        widerows.wide_ce32(x, y, fast=fast)
    return {"ce": int(fast[0])}


@needs_c
@pytest.mark.parametrize("scale", [1e-3, 1.0, 3.0, 30.0])
@pytest.mark.parametrize("n", [17, 31, 100, 1000])
def test_ordinary_logits_take_the_fast_pass_with_numpys_bits(scale, n):
    rng = np.random.default_rng([n, int(scale * 1000)])
    rows = max(40, 40_000 // n)
    x = (rng.standard_normal((rows, n)) * scale).astype(np.float32)
    counts = _same_three_ways(x) | _same_reductions(x, rng) | _same_ce(x, rng)
    # about one value in 2^17 is unsettled; a row of n values falls back with it
    assert min(counts.values()) >= 0.9 * rows, counts


@needs_c
def test_masked_and_far_entries():
    """-inf entries (masked logits) and entries below -708 (whose exp the
    fast pass raises to e^-708): the rows stay fast where the sum holds a
    finite term, and the values at those entries are +0 and -inf / the
    far difference, as on the NumPy path."""
    rng = np.random.default_rng(7)
    rows, n = 400, 64
    x = (rng.standard_normal((rows, n)) * 2).astype(np.float32)
    x[rng.random((rows, n)) < 0.3] = -np.inf
    x[::4, 1] = -1e4
    x[1::4, 2] = -3.0e38
    x[:, 0] = 5.0  # every row keeps a finite maximum
    counts = _same_three_ways(x) | _same_reductions(x, rng)
    assert min(counts.values()) >= 0.9 * rows, counts
    # the cross-entropy leaves rows with a -inf logit to the NumPy path
    masked = np.isinf(x).any(axis=1)
    assert _same_ce(x, rng)["ce"] == rows - masked.sum()


@needs_c
def test_rows_whose_sum_is_under_the_floor_fall_back():
    """A maximum of -590 with every other entry below -708 - 590: the
    log-softmax's sum without the maximum is at most n e^-1298, under the
    floor n 2^-960, and NumPy's own terms are 0 or subnormal, so the row
    must go back to NumPy's exp; the softmax (whose sum holds e^-590)
    stays fast."""
    rows, n = 50, 40
    x = np.full((rows, n), -1300.0, np.float32)
    x[:, 3] = -590.0
    x[::2, 5] = -1299.0
    rng = np.random.default_rng(960)
    counts = _same_three_ways(x) | _same_reductions(x, rng) | _same_ce(x, rng)
    assert counts == {"softmax": rows, "log_softmax": 0, "logsumexp": 0, "sparse": 0, "ce": 0}


@needs_c
def test_rows_on_either_side_of_the_tie_threshold():
    """tie_rows' rows (L <= (m - min) 2^-53: the NumPy path forms d - L, one
    ulp down where it rounds back to d): a maximum of 600, eighteen entries
    at 600 - g and a least entry from -1e6 to -1e9, so that the threshold
    runs from 1.1e-10 to 1.1e-7 down the rows while L is about 18 e^-g,
    1.4e-8 at g = 21: rows on both sides, through all five functions."""
    n, rows = 20, 60
    tied = []
    for g in (19.0, 21.0, 23.0):
        x = np.full((rows, n), 600.0 - g, np.float32)
        x[:, 0] = 600.0
        x[:, 7] = -np.logspace(6, 9, rows).astype(np.float32)
        rng = np.random.default_rng(int(g))
        counts = _same_three_ways(x) | _same_reductions(x, rng) | _same_ce(x, rng)
        assert min(counts.values()) >= 0.9 * rows, (g, counts)
        xd = x.astype(np.float64)
        L = np.log1p(np.exp(xd[:, 1:] - 600.0).sum(axis=1))
        tied.append(L <= (600.0 - xd[:, 7]) * 2.0**-53)
    tied = np.concatenate(tied)
    assert tied.any() and not tied.all()


@needs_c
def test_large_maxima_with_near_maximal_entries():
    """m near 600 and entries one float32 ulp below it: x - (m + L) then
    carries m + L's rounding (2^-43 m), far more than the value's own
    margin, so most such rows are unsettled and go back; the results are
    the NumPy path's either way. Also maxima at both ends of the unshifted
    range [-600, 650] and just outside it (never fast)."""
    rng = np.random.default_rng(600)
    rows, n = 200, 33
    top = np.float32(600.0)
    below = np.nextafter(top, np.float32(0), dtype=np.float32)
    x = np.where(rng.random((rows, n)) < 0.5, below, top - rng.random((rows, n)).astype(np.float32) * 10)
    x[:, 0] = top
    _same_three_ways(x.astype(np.float32))
    _same_reductions(x.astype(np.float32), rng)
    _same_ce(x.astype(np.float32), rng)
    for m in (-600.0, 650.0, -600.0001, 650.0001):
        y = (m - np.abs(rng.standard_normal((rows, n)))).astype(np.float32)
        y[:, 0] = np.float32(m)
        counts = _same_three_ways(y)
        inside = -600.0 <= float(np.float32(m)) <= 650.0
        assert (counts["softmax"] > 0) == inside, (m, counts)


@needs_c
def test_the_float32_scan():
    """The fast pass's own scan (sixteen float32 lanes): the first of tied
    maxima, -0.0 beside +0.0, a NaN anywhere and +inf (the row is flagged),
    a lane whose sum overflows, all -inf, and widths that leave 0 to 15
    entries past the last full vector."""
    rng = np.random.default_rng(16)
    for n in range(17, 50):
        x = (rng.standard_normal((24, n)) * 4).astype(np.float32)
        x[0, :] = 0.0
        x[0, ::3] = -0.0
        x[1, [2, n - 1]] = 9.0
        x[2, n // 2] = np.nan
        x[3, 0] = np.inf
        x[4, [1, 17 % n, 33 % n]] = -3.0e38  # a lane's sum overflows to -inf: no NaN
        x[5, n - 1] = 20.0
        x[6, :] = -np.inf
        _same_three_ways(x)
        out, redo, _ = _kernel("softmax", x)
        assert redo[2] and redo[3] and redo[6] and not redo[1] and not redo[4]


@needs_c
def test_what_does_not_take_the_fast_pass():
    """float64 rows, a float64 output, a strided view: the kernels run, the
    fast pass does not."""
    rng = np.random.default_rng(3)
    x = rng.standard_normal((50, 40))
    for name, kern in KERNELS.items():
        fast = np.zeros(1, np.int64)
        assert kern(x, False, np.empty(x.shape), fast=fast) is not None and fast[0] == 0
        assert kern(x.astype(np.float32), False, np.empty(x.shape), fast=fast) is not None and fast[0] == 0
        assert _kernel(name, _strided(x.astype(np.float32)))[2] == 0
        assert _kernel(name, x.astype(np.float32))[2] > 0


@needs_c
@pytest.mark.slow
def test_many_rows_at_many_scales():
    """About 1.5 million float32 rows (60 million entries) of 17 to 1000
    columns, scales from 1e-4 to 300 and offsets across the unshifted range,
    through the four functions: every unsettled value the fast pass meets
    goes back to NumPy's exp, and every row matches the strided kernel and
    the NumPy path."""
    rng = np.random.default_rng(2**17)
    fell_back = unsettled = 0
    for n in (17, 23, 64, 129, 1000):
        for scale in (1e-4, 0.1, 1.0, 5.0, 40.0, 300.0):
            rows = 2_000_000 // n
            x = rng.standard_normal((rows, n)) * scale + rng.uniform(-500.0, 500.0, (rows, 1))
            x = x.astype(np.float32)
            counts = _same_three_ways(x) | _same_reductions(x, rng) | _same_ce(x, rng)
            fell_back += 5 * rows - sum(counts.values())
            if n == 1000 and scale <= 5.0:  # every row in range: the misses are unsettled rows
                unsettled += rows - counts["softmax"]
    # rows past the unshifted range, sums under the floor, unsettled values
    assert fell_back > 0
    # softmax at 1000 columns: about one row in 200 holds an unsettled value
    # (40 of 8000 here), formed by NumPy's exp, and the bits still matched
    assert 0 < unsettled < 200, unsettled


@needs_c
def test_logsumexp_near_cancellation_falls_back():
    """Rows whose logsumexp is near 0 with a negative maximum (n equal
    entries log(1/n), and small perturbations of them): m + L cancels, the
    NumPy path treats the rows apart above (|m| + L) / |m + L| = 2^12, and
    the fast pass hands back every row above 2^11. Rows far from it stay
    fast."""
    rng = np.random.default_rng(12)
    rows, n = 300, 64
    base = np.float32(-np.log(n))
    x = np.full((rows, n), base, np.float32)
    x += (rng.standard_normal((rows, n)) * np.logspace(-9, -1, rows)[:, None]).astype(np.float32)
    counts = _same_reductions(x, rng)
    fast = np.zeros(1, np.int64)
    *_, redo, _ = widerows.wide(x, False, lse=True, rounded="float32", fast=fast)
    assert 0 < fast[0] < rows and redo.any()
    far = (x - 40.0).astype(np.float32)  # logsumexp near -40: no cancellation
    assert _same_reductions(far, rng)["logsumexp"] == rows, counts


@needs_c
def test_what_rounded_does_not_change():
    """float64 rows, strided float32 rows, and calls without ``rounded`` (the
    long-row path combines chunks in float64): the kernel runs, no fast
    pass, NumPy's float64 values."""
    rng = np.random.default_rng(4)
    x = rng.standard_normal((50, 40)).astype(np.float32)
    for kw in ({"lse": True}, {"cols": rng.integers(0, 40, 50)}):
        fast = np.zeros(1, np.int64)
        plain = widerows.wide(x, False, **kw)
        got = widerows.wide(x, False, fast=fast, **kw)
        assert fast[0] == 0
        same_bits(got[3], plain[3])
        widerows.wide(x.astype(np.float64), False, rounded="float32", fast=fast, **kw)
        assert fast[0] == 0
        widerows.wide(x, False, rounded="float32", fast=fast, **kw)
        assert fast[0] > 0


@needs_c
def test_the_fast_L_lies_well_inside_the_assumed_interval():
    """The fast pass settles values on NumPy's L lying in L (1 -+ 2^-43),
    from bounds (exp_fast below 2^-45.4, the sum, log1p). Measured: the
    kernel's own L of fast rows (``rounded``) against NumPy's (the same
    rows as a strided view), over row scales and widths where the sum runs
    from about 2^-900 to n: the largest relative distance (2^-45.6 here,
    rows whose sum is a few terms, each carrying exp_fast's error) stays
    below the bounds' 2^-43.8, and below 2^-44.5 (about half of it)."""
    rng = np.random.default_rng(43)
    worst = 0.0
    for n in (17, 100, 1000):
        for scale in (1e-3, 1.0, 10.0, 60.0, 200.0):
            x = (rng.standard_normal((3000 if n < 1000 else 300, n)) * scale).astype(np.float32)
            fast = np.zeros(1, np.int64)
            _, L, redo, _ = widerows.wide(x, False, lse=True, rounded="float32", fast=fast)
            _, L_np, redo_np, _ = widerows.wide(_strided(x), False, lse=True)
            ok = (redo == 0) & (redo_np == 0) & (L_np > 0)
            assert ok.sum() > 0.5 * len(x)
            worst = max(worst, float(np.max(np.abs(L[ok] - L_np[ok]) / L_np[ok])))
    assert 0.0 < worst < 2.0**-44.5, worst


@needs_c
@pytest.mark.parametrize("fmt", ["float16", "bfloat16"])
def test_the_16_bit_formats_take_the_fast_pass(fmt):
    """float16 and bfloat16 blocks reach the kernels widened to float64, and
    their float64 results are rounded once by the caller: with ``rounded``
    naming the format, the logsumexp, the sparse loss's log-softmax at the
    label and the categorical loss convert each row to float32 (exact) and
    take the fast pass, settling each row's value in the 16-bit format.
    (Softmax and log-softmax do not: settling every entry in a 16-bit
    format cost more than NumPy's exp saved.) Each kernel's results,
    rounded, against the same rows as a strided view (no fast pass: NumPy's
    float64 values, rounded), and the public functions on both paths. A
    float64 block that is not widened 16-bit values is refused row by
    row."""
    dt = np.float16 if fmt == "float16" else ml_dtypes.bfloat16
    rng = np.random.default_rng(len(fmt))
    rows, n = 300, 200
    x = (rng.standard_normal((rows, n)) * rng.choice([0.3, 3.0, 9.0], (rows, 1))).astype(dt)
    x[::5, 1::3] = -np.inf
    x[1::7, 2] = -1e4
    y = rng.dirichlet(np.ones(n), size=rows)
    y[::3] = np.eye(n)[rng.integers(0, n, rows)[::3]]
    y = y.astype(dt)
    lab = rng.integers(0, n, rows)
    xw, yw = x.astype(np.float64), y.astype(np.float64)
    with np.errstate(all="ignore"):
        for kw in ({"lse": True}, {"cols": lab}):
            fast = np.zeros(1, np.int64)
            *_, redo, out = widerows.wide(xw, False, rounded=fmt, fast=fast, **kw)
            *_, redo_s, out_s = widerows.wide(_strided(xw), False, **kw)
            assert fast[0] >= 0.9 * rows
            both = (redo == 0) & (redo_s == 0)
            same_bits(round_float64(out[both], fmt), round_float64(out_s[both], fmt))
            widerows.wide(xw + 0.1, False, rounded=fmt, fast=fast, **kw)  # not widened 16-bit values
            assert fast[0] == 0
        fast = np.zeros(1, np.int64)
        widerows.wide_ce32(xw, yw, fmt, fast=fast)
        assert fast[0] >= 0.7 * rows  # rows with a -inf logit go the NumPy way
        widerows.wide_ce32(xw + 0.1, yw, fmt, fast=fast)
        assert fast[0] == 0
        for fn, args, kw in ((stabkit.logsumexp, (x,), {"axis": -1}),
                             (stabkit.sparse_categorical_crossentropy, (lab, x), {"from_logits": True}),
                             (stabkit.categorical_crossentropy, (y, x), {"from_logits": True}),
                             (stabkit.softmax, (x,), {}), (stabkit.log_softmax, (x,), {})):
            same_bits(*each_path(fn, *args, **kw))
