"""The fused row passes of the accurate tier (``_rows.c``), bound with
ctypes from the one extension (:mod:`stabkit._native.load`).

:mod:`stabkit._accurate.rows`, :mod:`~stabkit._accurate.unshifted` and the
categorical cross-entropy call these on blocks of float64 or float32 rows
(float16 and bfloat16 ones converted to float64, exactly) with more than
16 columns whose maxima are finite and free of NaN; the
functions below check nothing but the arrays' layout, and return ``None``
(or False) where the caller must run its NumPy passes. Whether a block runs
the kernel is decided once, by the first of them it calls (:func:`shift`,
:func:`shift32`, :func:`softmax_sums`, :func:`scale_rows`, :func:`log_softmax32`,
:func:`minus_rows`: the environment is read there); the others run on the
loaded library.
Every result is bit-identical to those passes (``_rows.c`` says how; the
tests compare both paths bit for bit).

The NumPy path runs instead where the extension was not built (no C
compiler at install time), cannot be loaded, where this NumPy's
``np.add.reduce`` does not add in the order the kernel repeats (checked
once, when the kernel is loaded), or with ``STABKIT_NATIVE=0`` in
the environment, read at every call (so a test or a user can compare the two
paths in one process). :func:`status` says which path is active and why.
"""

from __future__ import annotations

import ctypes
import threading

import numpy as np

from . import disabled, load

_LIB: ctypes.CDLL | None | bool = False  # False: not looked for yet
#: an array's data address for the calls (load.address_function, set when the library opens)
_ADDRESS = load.ctypes_address
_LOCK = threading.Lock()
_WHY = ""  # why _LIB is None

_p, _i64, _f64 = ctypes.c_void_p, ctypes.c_int64, ctypes.c_double
_SIGNATURES = {
    "row_sums": ([_p, _i64, _i64, _p], None),
    "sums_at": ([_p, _i64, _i64, _p, _p], _i64),
    "row_quotients": ([_p, _f64, _i64, _f64, _f64, _p], _i64),
    "row_sum2": ([_p, _i64, _p, _p], None),
    "set_exp_zero": ([_f64], None),
    "shift_rows": ([_p, _i64, _i64, _i64, _i64, _p, _p, _p, _p], _i64),
    "split_sums": ([_p, _p, _p, _i64, _i64, _f64, _p, _p, _p], None),
    "log_softmax_rows": ([_p, _p, _p, _i64, _i64, _p], None),
    "crossentropy_sums": ([_p, _p, _p, _p, _i64, _i64, _p, _p, _p, _p], None),
    "softmax_sums": ([_p, _p, _i64, _i64, _f64, _p, _p, _p], None),
    "scale_rows": ([_p, _i64, _i64, _p, _p], None),
    "shift32_rows": ([_p, _i64, _i64, _i64, _i64, _p, _p, _p], None),
    "top_sums": ([_p, _p, _i64, _i64, _p], None),
    "sub_rows": ([_p, _p, _i64, _i64, _p, _p], None),
    "log_softmax32_rows": ([_p, _i64, _i64, _p, _p, _p, _p, _p, _p], None),
    "narrow_rows": ([_p] + [_i64] * 6 + [_p] * 12, _i64),
    "narrow_chunk": ([], _i64),
    "narrow_ce": ([_p, _p, _p, _p, _i64, _i64, _p, _p, _p], None),
    "narrow_log_softmax": ([_p, _p, _p, _i64, _i64, _p], None),
    "narrow_log_softmax_at": ([_p, _p, _p, _p, _i64, _i64, _p], None),
    "narrow_softmax": ([_p] + [_i64] * 6 + [_p] * 4, _i64),
    "narrow_softmax32": ([_p] + [_i64] * 3 + [_p] * 2, _i64),
    "narrow_lse32": ([_p] + [_i64] * 3 + [_p] * 5, _i64),
    "narrow_log_softmax32": ([_p] + [_i64] * 3 + [_p] * 5, _i64),
    "wide_rows": ([_p] + [_i64] * 6 + [_p] * 11 + [_i64, _p], _i64),
    "wide_ce": ([_p] + [_i64] * 4 + [_p] * 7, _i64),
    "wide_ce32": ([_p] + [_i64] * 4 + [_p, _i64] + [_p] * 5, _i64),
    "wide_softmax": ([_p] + [_i64] * 6 + [_p] * 6, _i64),
    "wide_log_softmax": ([_p] + [_i64] * 6 + [_p] * 8, _i64),
    "near_zero_sums": ([_p, _i64, _i64] + [_p] * 9, _i64),
    "row_fsum": ([_p, _i64, _i64, _i64, _p], None),
    "lse_rows_dd": ([_p, _i64, _i64, _p, _p], None),
    "lse_rows_fast": ([_p, _i64, _i64, _p, _p], None),
    "lse_fast_terms": ([_p, _i64, _f64, _p, _p], None),
    "ce_rest": ([_p] * 6 + [_i64, _i64] + [_p] * 4, None),
    "winner_rest": ([_p, _i64, _i64, _p, _p, _p, _p, _p], None),
    "lse_weighted_rows": ([_p, _i64, _p, _i64, _i64, _p, _p, _p], None),
}


def _load() -> ctypes.CDLL | None:
    global _LIB
    if _LIB is False:
        with _LOCK:  # once per process; _LIB is never reset after
            if _LIB is False:
                _LIB = _open()
    return _LIB


def _open() -> ctypes.CDLL | None:
    global _WHY, _ADDRESS
    lib = load.library()
    if lib is None:
        _WHY = load.why()
        return None
    try:
        for name, (args, res) in _SIGNATURES.items():
            fn = getattr(lib, name)
            fn.argtypes, fn.restype = args, res
    except AttributeError as e:
        _WHY = f"the C extension {load.NAME} is stale ({e}; rebuild it: pip install -e .)"
        return None
    _ADDRESS = load.address_function()
    if not _same_order(lib):
        _WHY = (f"NumPy {np.__version__} sums a row in another order than the kernel's replica of its "
                "pairwise summation: the NumPy passes run, so that results keep NumPy's bits")
        return None
    return lib


def _same_order(lib: ctypes.CDLL, reduce=np.add.reduce) -> bool:
    """Whether the kernel's pairwise sum is this NumPy's ``np.add.reduce``,
    bit for bit, on rows whose sums depend on the order (terms of both signs
    over 26 decades; lengths across NumPy's 8-lane and 128-term blocks, and
    past 8192 terms, where NumPy 2.0 sums a row in buffers of 8192 and
    NumPy 2.4 in one piece). The kernel repeats NumPy's order, which NumPy
    does not promise to keep."""
    rng = np.random.default_rng(20261203)
    for n in (7, 8, 9, 100, 128, 129, 1000, 4099, 10007):
        a = rng.standard_normal((3, n)) * np.exp(rng.uniform(-30, 30, (3, n)))
        got = np.empty(3)
        lib.row_sums(_ptr(a), 3, n, _ptr(got))
        if not np.array_equal(got.view(np.uint64), reduce(a, axis=-1).view(np.uint64)):
            return False
    return True


def library() -> ctypes.CDLL | None:
    """The compiled passes, or None (not built, not loadable, or ``STABKIT_NATIVE=0``)."""
    return None if disabled() else _load()


def status() -> str:
    """``"native"`` where the accurate tier's float64 rows run the compiled
    passes, else why they run NumPy's."""
    if disabled():
        return "STABKIT_NATIVE=0"
    return "native" if _load() is not None else _WHY


def _ptr(a: np.ndarray) -> int:
    return _ADDRESS(a)


def _fits(shape: tuple, *arrays: np.ndarray, dtype=np.float64) -> bool:
    """Whether every array is C-contiguous, of ``dtype`` and ``shape``: what
    the kernel reads and writes through raw pointers."""
    return all(a.dtype == dtype and a.flags.c_contiguous and a.shape == shape for a in arrays)


def _need(ok: bool) -> None:
    if not ok:  # a caller's bug: the kernel would read or write out of bounds
        raise ValueError("stabkit._native.rows: arrays of the wrong layout")


def writable(dst: np.ndarray | None, instead: np.ndarray | None = None) -> np.ndarray | None:
    """``dst`` where the narrower targets' passes can write it (float32 or
    float64; None stays None), else ``instead``: a float16 block gets float64
    results, which its caller rounds once, as NumPy's float64 loops writing
    into ``dst`` round them (a float64 value cast to float16: the same bits)."""
    return dst if dst is None or dst.dtype in (np.float32, np.float64) else instead


def shift(x: np.ndarray, d: np.ndarray, r: np.ndarray) -> tuple[np.ndarray, np.ndarray] | None:
    """``(top, m)``, the first index of each row's maximum and the maximum,
    with the shift ``d = x - m`` and its exact error ``r`` written into ``d``
    and ``r`` (contiguous, ``x``'s shape; a masked entry's ``r`` is 0). None
    where the kernel is unavailable or a row holds a NaN or an infinite
    maximum (then ``d`` and ``r`` hold garbage)."""
    lib = library()
    if lib is None or x.dtype != np.float64 or x.ndim != 2:
        return None
    _need(_fits(x.shape, d, r))
    rows, n = x.shape
    top, m = np.empty(rows, np.int64), np.empty(rows)
    if rows and lib.shift_rows(_ptr(x), rows, n, x.strides[0], x.strides[1], _ptr(d), _ptr(r), _ptr(top), _ptr(m)):
        return None
    return top, m


def split_sums(e: np.ndarray, r: np.ndarray, top: np.ndarray, sigma: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per row, without the ``top`` entry: the sums of ``q = (e + sigma) - sigma``
    and of ``e - q`` (``eft._extract_sums`` before normalising), and of ``e * r``,
    each as ``np.add.reduce`` adds them."""
    rows, n = e.shape
    _need(_fits(e.shape, e, r) and _fits((rows,), top, dtype=np.int64))
    hi, lo, corr = np.empty(rows), np.empty(rows), np.empty(rows)
    _load().split_sums(_ptr(e), _ptr(r), _ptr(top), rows, n, sigma, _ptr(hi), _ptr(lo), _ptr(corr))
    return hi, lo, corr


def log_softmax(d: np.ndarray, r: np.ndarray, L: np.ndarray, out: np.ndarray) -> bool:
    """``out = (d - L[:, None]) + r`` (``out`` may be ``d``); False (nothing
    written) where ``out`` is not contiguous float64."""
    lib = _load()
    _need(_fits(d.shape, d, r) and _fits(d.shape[:1], L))
    if not _fits(d.shape, out):
        return False
    lib.log_softmax_rows(_ptr(d), _ptr(r), _ptr(L), d.shape[0], d.shape[1], _ptr(out))
    return True


def crossentropy_sums(d, r, L, y, t) -> tuple[np.ndarray, np.ndarray, np.ndarray] | None:
    """The terms ``t = y * ((d - L) + r)`` (into ``t``) and their extracted sums as
    ``eft.sum_split_scaled`` forms them (before normalising): ``(hi, lo, ok)``,
    with ``hi`` the plain ``np.add.reduce`` sum and ``lo = 0`` where ``ok`` is
    False. None where ``y`` does not fit."""
    lib = _load()
    _need(_fits(d.shape, d, r, t) and _fits(d.shape[:1], L))
    if not _fits(d.shape, y):
        return None
    rows, n = d.shape
    hi, lo, ok = np.empty(rows), np.empty(rows), np.empty(rows, np.int64)
    lib.crossentropy_sums(_ptr(d), _ptr(r), _ptr(L), _ptr(y), rows, n, _ptr(t), _ptr(hi), _ptr(lo), _ptr(ok))
    return hi, lo, ok.astype(bool)


def ce_rest(x, m, L, y, w, c) -> tuple[np.ndarray, np.ndarray] | None:
    """``stabkit._accurate.rowrest.numpy_rest``'s ``(hi, lo)`` of float64
    cross-entropy rows (``_ce_rest.h``: its operations in its order), or
    None where that NumPy code must run (no kernel, or arrays not contiguous)."""
    lib = library()
    rows, n = x.shape
    if lib is None or not (_fits(x.shape, x, y) and _fits((rows,), m, L) and _fits((4,), c)
                           and (w is None or _fits((n,), w))):
        return None
    # the terms' scratch (rows over 16 columns only)
    t, u = (np.empty(x.shape), np.empty(x.shape)) if n > 16 else (np.empty(1), np.empty(1))
    hi, lo = np.empty(rows), np.empty(rows)
    lib.ce_rest(_ptr(x), _ptr(m), _ptr(L), _ptr(y), None if w is None else _ptr(w), _ptr(c), rows, n, _ptr(t),
                _ptr(u), _ptr(hi), _ptr(lo))
    return hi, lo


def softmax_sums(e: np.ndarray, r: np.ndarray | None, sigma: float) -> tuple[np.ndarray, np.ndarray, np.ndarray] | None:
    """Softmax denominators of the terms ``e`` (contiguous float64 rows):
    ``e += e * r`` first where ``r`` is given, then the extraction's two row
    sums, not normalised, with ``sigma`` (``eft.sum_split``) or, for
    ``sigma = 0``, a sigma per row from ``n max e`` (``eft.sum_split_scaled``
    of terms >= 0): ``(hi, lo, ok)``, ``hi`` the plain ``np.add.reduce`` sum
    and ``lo = 0`` where ``ok`` is False. None where the kernel is off (the
    environment is read here) or ``e`` does not fit."""
    lib = library()
    if lib is None or e.ndim != 2 or not _fits(e.shape, e):
        return None
    if r is not None:
        _need(_fits(e.shape, r))
    rows, n = e.shape
    hi, lo, ok = np.empty(rows), np.empty(rows), np.empty(rows, np.int64)
    lib.softmax_sums(_ptr(e), None if r is None else _ptr(r), rows, n, sigma, _ptr(hi), _ptr(lo), _ptr(ok))
    return hi, lo, ok.astype(bool)


def scale_rows(e: np.ndarray, out: np.ndarray | None) -> np.ndarray | None:
    """``out = e * (1 / np.add.reduce(e, axis=-1))[:, None]`` (the plain
    softmax of a narrower target) into a float32 or float64 ``out``, or into
    ``e`` itself for None; returns it. None (nothing written) where the
    kernel is off or the arrays do not fit."""
    lib = library()
    if lib is None or e.ndim != 2 or not _fits(e.shape, e):
        return None
    out = e if out is None else out
    if not (_fits(e.shape, out) or _fits(e.shape, out, dtype=np.float32)):
        return None
    o32, o64 = (_ptr(out), None) if out.dtype == np.float32 else (None, _ptr(out))
    if e.size:
        lib.scale_rows(_ptr(e), e.shape[0], e.shape[1], o32, o64)
    return out


def log_softmax32(x: np.ndarray, c: np.ndarray, L: np.ndarray, top: np.ndarray, out: np.ndarray | None):
    """``(out, mn)``: ``out = x - c[:, None]`` in float64 (``x`` contiguous
    float32 rows), ``-L`` at each row's ``top`` entry, rounded once more into
    a float32 ``out`` (or a new float64 array for None), and ``mn`` the rows'
    least entries (NaN ignored). None where the kernel is off or the arrays
    do not fit."""
    lib = library()
    if lib is None or x.ndim != 2 or not _fits(x.shape, x, dtype=np.float32):
        return None
    rows, n = x.shape
    if out is None:
        out = np.empty(x.shape)
    if not (_fits(x.shape, out) or _fits(x.shape, out, dtype=np.float32)):
        return None
    _need(_fits((rows,), c, L) and _fits((rows,), top, dtype=np.int64))
    mn = np.empty(rows)
    o32, o64 = (_ptr(out), None) if out.dtype == np.float32 else (None, _ptr(out))
    if rows:
        lib.log_softmax32_rows(_ptr(x), rows, n, _ptr(c), _ptr(L), _ptr(top), o32, o64, _ptr(mn))
    return out, mn


def minus_rows(x: np.ndarray, c: np.ndarray, out: np.ndarray | None) -> np.ndarray | None:
    """``x - c[:, None]`` of contiguous float64 rows ``x`` by :func:`sub_rows`'
    pass, into a float32 or float64 ``out`` (a new float64 array for None);
    returns it. None (nothing written) where the kernel is off (the
    environment is read here) or the arrays do not fit."""
    lib = library()
    if lib is None or x.ndim != 2 or not _fits(x.shape, x):
        return None
    out = np.empty(x.shape) if out is None else out
    return out if sub_rows(x, c, out) else None


def shift32(x: np.ndarray, m: np.ndarray, d: np.ndarray) -> np.ndarray | None:
    """The shift of float32 rows without residuals: ``d = x - m[:, None]`` in
    float64 (into ``d``, contiguous float64 of ``x``'s shape; ``m`` float64,
    finite) and the rows' least ``d``. None where the kernel is off or ``x``
    is not a 2-d float32 array."""
    lib = library()
    if lib is None or x.dtype != np.float32 or x.ndim != 2:
        return None
    _need(_fits(x.shape, d) and _fits(x.shape[:1], m))
    rows, n = x.shape
    dmin = np.empty(rows)
    if rows:
        lib.shift32_rows(_ptr(x), rows, n, x.strides[0], x.strides[1], _ptr(m), _ptr(d), _ptr(dmin))
    return dmin


def top_sums(e: np.ndarray, top: np.ndarray) -> np.ndarray:
    """Per row, ``np.add.reduce`` of the terms ``e`` without the ``top`` entry."""
    _need(_fits(e.shape, e) and _fits(e.shape[:1], top, dtype=np.int64))
    s = np.empty(e.shape[0])
    _load().top_sums(_ptr(e), _ptr(top), e.shape[0], e.shape[1], _ptr(s))
    return s


def sub_rows(d: np.ndarray, L: np.ndarray, out: np.ndarray) -> bool:
    """``out = d - L[:, None]`` into a float64 (may be ``d``) or float32
    ``out``; False (nothing written) where ``out`` does not fit."""
    _need(_fits(d.shape, d) and _fits(d.shape[:1], L))
    if not (_fits(d.shape, out) or _fits(d.shape, out, dtype=np.float32)):
        return False
    o32, o64 = (_ptr(out), None) if out.dtype == np.float32 else (None, _ptr(out))
    _load().sub_rows(_ptr(d), _ptr(L), d.shape[0], d.shape[1], o32, o64)
    return True


def row_sums(a: np.ndarray) -> np.ndarray:
    """``np.add.reduce(a, axis=-1)`` of a contiguous 2-d float64 array, in
    the kernel's replica of NumPy's pairwise order (for the tests)."""
    a = np.ascontiguousarray(a, dtype=np.float64)
    out = np.empty(a.shape[0])
    if a.size:
        _load().row_sums(_ptr(a), a.shape[0], a.shape[1], _ptr(out))
    else:
        out[:] = 0.0
    return out


def sums_at(e: np.ndarray, k: int) -> tuple[float, float, bool]:
    """The float64 softmax's denominator pair of one row of terms ``e``
    (>= 0, no NaN) with its largest term expected at ``k``: the pair and
    ``ok`` that :func:`softmax_sums` gives the row, whatever ``k`` (for
    the tests)."""
    e = np.array(e, dtype=np.float64)  # a copy: the C side takes a writable row
    hi, lo = np.zeros(1), np.zeros(1)
    ok = _load().sums_at(_ptr(e), e.size, int(k), _ptr(hi), _ptr(lo))
    return float(hi[0]), float(lo[0]), bool(ok)


def sum2(e: np.ndarray) -> tuple[float, float]:
    """``eft.sum2`` of one row of terms ``e`` (no NaN) as the float64 wide
    rows form it below ``sum_split``'s floor: the pair ``(hi, lo)`` (for
    the tests)."""
    e = np.array(e, dtype=np.float64).ravel()  # a copy: the C side overwrites it
    hi, lo = np.zeros(1), np.zeros(1)
    _load().row_sum2(_ptr(e), e.size, _ptr(hi), _ptr(lo))
    return float(hi[0]), float(lo[0])


def quotients(a: np.ndarray, b: float, lo: float | None = None,
              hi: float | None = None) -> tuple[np.ndarray, bool]:
    """``a / b`` of a float64 row ``a`` by ``b`` (positive, finite) as the
    float64 softmax divides its terms: by Markstein's correction from
    ``1 / b`` with fused multiply-adds where the processor has them and
    ``[lo, hi]`` (default: ``a``'s own least and largest entries) keeps
    every entry and quotient in its range, else by division; the IEEE
    quotients either way, and whether Markstein's correction formed them
    (for the tests)."""
    a = np.ascontiguousarray(a, dtype=np.float64)
    out = np.empty_like(a)
    lo = float(a.min()) if lo is None else lo
    hi = float(a.max()) if hi is None else hi
    fused = _load().row_quotients(_ptr(a), float(b), a.size, lo, hi, _ptr(out))
    return out, bool(fused)
