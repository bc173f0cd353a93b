"""The float64 loops of the compiled elementwise ufuncs (sigmoid, softplus,
log_sigmoid, and the binary cross-entropy from logits in
``stabkit/_native/_elementwise64.c``), bound to the tables and constants of
the NumPy path and checked against it bit for bit before any is used; and
the binary cross-entropy from probabilities (``_bce_probs.c``), bound to
NumPy's log and log1p loops and checked on its own (:func:`bind_probabilities`).

The C loops repeat the NumPy path's operations in its order and call NumPy's
own float64 exp and log1p loops, so they give its bits; the check
here makes sure of it on this NumPy and this processor (a NumPy whose
loops are not reachable, or any differing bit, leaves the NumPy path on, and
:func:`stabkit._native.elementwise.why_not` says why). Importing this module
registers :func:`bind` and :func:`bind_probabilities` with
:mod:`stabkit._native.elementwise`, which calls each once, on the first call
that needs it.
"""

from __future__ import annotations

import numpy as np

from stabkit._native import elementwise as _native

from stabkit.floats import round_float64

from . import sigmoid64 as _s64
from .bceties import settle_plain
from .crossentropy import binary_terms
from .elementwise import _LN2_HI, _LN2_LO, log_sigmoid_f64, sigmoid_f64, softplus_f64

__all__ = ["bind", "bind_probabilities", "sample", "probabilities"]


def sample(n: int = 3001, seed: int = 16) -> np.ndarray:
    """float64 inputs that visit every regime of the three functions: both
    sides of each threshold (|x| = 2**-10, the table's ends at +-40, its grid
    points and half-points, exp's limits near -708 and -745, the tail's
    clamp at -790, subnormal results), +-0, +-inf, NaNs with payloads and
    either sign, the extremes, and ``n`` random bit patterns and ``n``
    random values of every magnitude."""
    rng = np.random.default_rng(seed)
    edges = np.array([2.0**-10, 40.0, 40.0 - 2.0**-8, 2.0**-8, 3 * 2.0**-8, 708.4, 709.8, 745.1, 745.2, 790.0, 800.0,
                      744.4, 1e-300, 5e-324, 2.2250738585072014e-308, 1.0, 0.5, 20.0, 36.7, 37.5, 1e10, 1.7e308])
    near = np.concatenate([np.nextafter(edges, np.inf), edges, np.nextafter(edges, 0.0)])
    specials = np.array([0x7FF8000000000000, 0x7FF0000000000001, 0x7FF8DEAD00000000, 0x7FF4000000000123,
                         0x7FF0000000000000, 0], dtype=np.uint64).view(np.float64)
    bits = rng.integers(0, 2**64, n, dtype=np.uint64, endpoint=False).view(np.float64)
    vals = rng.standard_normal(n) * 10.0 ** rng.uniform(-6, 3, n)
    grid = rng.integers(-5120, 5121, n) * 2.0**-7
    x = np.concatenate([near, specials, bits, vals, grid, grid + 2.0**-8])
    return np.concatenate([x, -x])


_SIGN = np.uint64(1 << 63)


def _differs(got: np.ndarray, want: np.ndarray) -> bool:
    """Whether two float64 results differ in a bit. A NaN's sign is left out:
    the NumPy path's own NaN sign depends on where the element falls in
    NumPy's SIMD loops (the scalar remainder of a block picks the other
    operand's NaN), so only the payload is compared there."""
    g, w = np.asarray(got).view(np.uint64), np.asarray(want).view(np.uint64)
    nan = np.isnan(want)
    return not np.array_equal(np.where(nan, g & ~_SIGN, g), np.where(nan, w & ~_SIGN, w))


def _logits_targets(x: np.ndarray) -> np.ndarray:
    """Targets for the loss checks: 0, fractions, and NaN (not beside a NaN
    logit: where two NaNs meet, the NumPy path's own choice of payload
    depends on the element's place)."""
    rng = np.random.default_rng(17)
    a = np.where(rng.random(x.size) < 0.3, 0.0, rng.random(x.size))
    a[::97] = np.where(np.isnan(x[::97]), 0.5, np.nan)
    return a


def _mismatch(mod) -> str | None:
    """The first function whose compiled float64 loop differs from the
    NumPy path on :func:`sample` (whose length is no multiple of the loops'
    block), or None; the loss's float32 and float16 loops included
    (bfloat16: :func:`bind_bfloat16`)."""
    x = sample()
    with np.errstate(all="ignore"):
        for name, ref in (("sigmoid", sigmoid_f64), ("softplus", softplus_f64), ("log_sigmoid", log_sigmoid_f64)):
            if _differs(getattr(mod, name)(x), ref(x.copy())):
                return name
        rng = np.random.default_rng(18)
        a = _logits_targets(x)
        b = np.where(rng.random(x.size) < 0.3, 0.0, 1.0 - a)
        b[::89] = np.where(np.isnan(a[::89]), 0.5, np.inf)  # inf * 0 gives NaN: not beside another
        if _differs(mod.binary_logits(a, b, x), binary_terms(a, b, x, True)):
            return "binary_crossentropy"
        # the plain loss: a = y, b = 1 - y; float32 inputs rounded once at the end
        if _differs(mod.binary_logits_plain(a, x), binary_terms(a, 1.0 - a, x, True)):
            return "binary_crossentropy"
    return _plain_mismatch(mod, (np.float32, np.float16))


def _plain_mismatch(mod, types) -> str | None:
    """The plain loss's loops for the narrower formats ``types``: fractional
    targets (the float64 loop) and 0/1 ones (the format's softplus kernel,
    where |p| >= 2**-10), float16 and bfloat16 rounded by _half.h as the
    NumPy path's store rounds, after bceties.settle_plain."""
    x = sample()
    a = _logits_targets(x)
    rng = np.random.default_rng(19)
    with np.errstate(all="ignore"):
        for t in types:
            xt = x.astype(t)
            for at in (a.astype(t), (rng.random(x.size) < 0.5).astype(t)):
                a64 = at.astype(np.float64)
                x64, name = xt.astype(np.float64), np.dtype(t).name
                want = round_float64(settle_plain(binary_terms(a64, 1.0 - a64, x64, True), a64, x64, name), name)
                if _differs(mod.binary_logits_plain(at, xt).astype(np.float64), want.astype(np.float64)):
                    return f"binary_crossentropy ({np.dtype(t).name})"
    return None


def _bfloat16(mod):
    """ml_dtypes' bfloat16 with the extension's loops registered, or None
    where it does not import."""
    try:
        mod.register_bfloat16()
        import ml_dtypes
    except ImportError:
        return None
    return ml_dtypes.bfloat16


def _check_bfloat16(mod, mismatch, what: str) -> str | None:
    """``mismatch(mod, (bfloat16,))`` run once ml_dtypes is there: None, or
    why the NumPy path runs for bfloat16 (``what``: the loop's name)."""
    bf = _bfloat16(mod)
    if bf is None:
        return "ml_dtypes' bfloat16 is not importable"
    if mismatch(mod, (bf,)) is not None:
        return (f"the bfloat16 loop of {what} differs from the NumPy path on NumPy {np.__version__} "
                "(checked at load): the NumPy path runs")
    return None


def bind_bfloat16(mod) -> str | None:
    """Check the plain loss's bfloat16 loop (after :func:`bind`), on the
    first bfloat16 call, so that float32 and float64 callers never import
    ml_dtypes: None, or why the NumPy path runs for bfloat16."""
    return _check_bfloat16(mod, _plain_mismatch, "binary_crossentropy")


def bind(mod) -> str | None:
    """Give the extension ``mod`` the NumPy path's tables and NumPy's loops,
    then check it: None, or why the NumPy path stays on."""
    sh, sl = _s64._table()
    p2 = _s64._pow2_table()
    consts = (_s64._C1, _s64._C2, _s64._INV, _LN2_HI, _LN2_LO)
    try:
        mod.bind_float64(sh, sl, np.ascontiguousarray(p2.real), np.ascontiguousarray(p2.imag), consts)
    except (ImportError, ValueError, AttributeError) as e:
        return f"the float64 loops cannot be bound to NumPy's exp and log1p ({e})"
    bad = _mismatch(mod)
    if bad is not None:
        return (f"the float64 loop of {bad} differs from the NumPy path on NumPy {np.__version__} "
                "(checked at load): the NumPy path runs")
    return None


def probabilities(n: int = 3001, seed: int = 18) -> np.ndarray:
    """float64 probabilities over the branches of log and log1p(-p): +-0,
    subnormals, the smallest normal, tiny values, 0.5, values next to 1 and 1
    itself, the outside of [0, 1] (NaN from the logs), +-inf, NaNs with
    payloads, and ``n`` each of uniform values, log-uniform ones down to
    1e-300, ones just below 1 and random bit patterns."""
    rng = np.random.default_rng(seed)
    special = np.array([0.0, -0.0, 5e-324, 1e-310, 2.2250738585072014e-308, 1e-300, 1e-17, 2.0**-53, 0.5,
                        1.0 - 2.0**-53, 1.0 - 2.0**-52, 1.0, 1.0 + 2.0**-52, 2.0, -1e-300, -0.5, np.inf, -np.inf])
    nans = np.array([0x7FF8000000000000, 0xFFF8000000000000, 0x7FF8DEAD00000000, 0x7FF4000000000123],
                    dtype=np.uint64).view(np.float64)
    bits = rng.integers(0, 2**64, n, dtype=np.uint64, endpoint=False).view(np.float64)
    return np.concatenate([special, nans, rng.random(n), 10.0 ** rng.uniform(-300, 0, n),
                           1.0 - 10.0 ** rng.uniform(-16, 0, n), bits])


def _probability_targets(p: np.ndarray) -> np.ndarray:
    """Targets for the checks from probabilities: 0, 1, fractions, NaN (not
    beside a NaN probability: see :func:`_logits_targets`)."""
    rng = np.random.default_rng(19)
    a = np.where(rng.random(p.size) < 0.3, 0.0, rng.random(p.size))
    a[rng.random(p.size) < 0.3] = 1.0
    a[::97] = np.where(np.isnan(p[::97]), 0.5, np.nan)
    return a


def _probabilities_mismatch(mod) -> str | None:
    """The first loop from probabilities that differs from the NumPy path on
    :func:`probabilities` (whose length is no multiple of the loops' block),
    or None; float32 and float16 included (bfloat16:
    :func:`bind_probabilities_bfloat16`)."""
    p = probabilities()
    with np.errstate(all="ignore"):
        a = _probability_targets(p)
        b = 1.0 - a
        b[::89] = np.where(np.isnan(a[::89]), 0.5, np.inf)
        if _differs(mod.binary_probs(a, b, p), binary_terms(a, b, p, False)):
            return "binary_crossentropy"
        if _differs(mod.binary_probs_plain(a, p), binary_terms(a, 1.0 - a, p, False)):
            return "binary_crossentropy"
    return _probabilities_plain_mismatch(mod, (np.float32, np.float16))


def _probabilities_plain_mismatch(mod, types) -> str | None:
    """The plain loss from probabilities for the narrower formats ``types``."""
    p = probabilities()
    with np.errstate(all="ignore"):
        a = _probability_targets(p)
        for t in types:
            at, pt = a.astype(t), p.astype(t)
            a64, p64 = at.astype(np.float64), pt.astype(np.float64)
            want = round_float64(binary_terms(a64, 1.0 - a64, p64, False), np.dtype(t).name)
            if _differs(mod.binary_probs_plain(at, pt).astype(np.float64), want.astype(np.float64)):
                return f"binary_crossentropy ({np.dtype(t).name})"
    return None


def bind_probabilities_bfloat16(mod) -> str | None:
    """:func:`bind_bfloat16` for the loss from probabilities."""
    return _check_bfloat16(mod, _probabilities_plain_mismatch, "binary_crossentropy from probabilities")


def bind_probabilities(mod) -> str | None:
    """Give the extension ``mod`` NumPy's log and log1p loops for the loss
    from probabilities, then check it: None, or why the NumPy path stays on."""
    try:
        mod.bind_probs()
    except (ImportError, AttributeError) as e:
        return f"the loops from probabilities cannot be bound to NumPy's log and log1p ({e})"
    bad = _probabilities_mismatch(mod)
    if bad is not None:
        return (f"the loop of {bad} from probabilities differs from the NumPy path on NumPy {np.__version__} "
                "(checked at load): the NumPy path runs")
    return None


_native.provide_float64(bind, bind_bfloat16)
_native.provide_probabilities(bind_probabilities, bind_probabilities_bfloat16)
