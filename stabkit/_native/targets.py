"""The accurate losses' smoothed and weighted targets in C (``_targets.c``),
bound with ctypes from the one extension (:mod:`stabkit._native.load`).

:func:`smooth` gives what ``stabkit._accurate.targets64``'s NumPy code (its
``oracle``, which the caller passes down) gives, bit for bit: the same IEEE
operations in the same order, element by element. Before its first use in
a process it is compared with the oracle on a probe (random labels and
weights, the ends of [0, 1], subnormal labels, zero, huge, infinite and NaN
weights, smoothings near 0 and 1); a difference keeps the NumPy code for the
process, which :func:`status` says. None where the NumPy code must run: the
extension off (``STABKIT_NATIVE=0``, read at every call) or not built.
"""

from __future__ import annotations

import ctypes
import threading

import numpy as np

from . import disabled, load

_LOCK = threading.Lock()
_LIB: ctypes.CDLL | None | bool = False  # False: not looked for yet
_WHY = ""  # why _LIB is None
_ADDR = load.ctypes_address
_CHECKED: str | None = None  # None: not checked yet; "" agrees; else why not
_p, _i64 = ctypes.c_void_p, ctypes.c_int64
#: the NumPy code (stabkit._accurate.targets64), registered by it on import,
#: so that status() can make the check before the first call
_ORACLE = None


def register(oracle) -> None:
    """Keep ``oracle`` (the module holding ``constants`` and ``numpy``) for
    :func:`status`."""
    global _ORACLE
    _ORACLE = oracle


def _load() -> ctypes.CDLL | None:
    global _LIB, _WHY, _ADDR
    if _LIB is False:
        with _LOCK:  # once per process
            if _LIB is False:
                lib = load.library()
                _WHY = load.why()
                if lib is not None:
                    try:
                        lib.smooth_targets.argtypes = [_p, _i64, _i64, _p, ctypes.c_int, _p, _p, _p, _p, _p]
                        lib.smooth_targets.restype = _i64
                    except AttributeError as e:
                        lib = None
                        _WHY = f"the C extension {load.NAME} is stale ({e}; rebuild it: pip install -e .)"
                _ADDR = load.address_function()
                _LIB = lib
    return _LIB


def _call(lib, y, consts, w, ncols, binary):
    n = y.size
    t, redo_t = np.empty(n), np.empty(n, np.uint8)
    b, redo_b = (np.empty(n), np.empty(n, np.uint8)) if binary else (None, None)
    addr = (lambda a: None if a is None else _ADDR(a))  # noqa: E731
    w_full = int(w is not None and w.size == n)
    marked = lib.smooth_targets(_ADDR(y), n, ncols, addr(w), w_full, _ADDR(consts), _ADDR(t), addr(b),
                                _ADDR(redo_t), addr(redo_b))
    return t, b, redo_t.view(bool), None if redo_b is None else redo_b.view(bool), marked


def _probe():
    rng = np.random.default_rng(20261206)
    y = np.concatenate([rng.random(500), [0.0, 1.0, 0.5, 1 - 2**-53, 2**-53, 5e-324, 1e-310, 1e-300, np.nan],
                        1 - rng.random(20) * 2.0**-45])
    weights = [None, rng.uniform(0.5, 10, y.size),
               rng.choice([0.0, 1.0, 1e-310, 3e-300, 1e300, 1.7e308, np.inf, np.nan], y.size)]
    return y, weights, [0.1, 0.3, 0.001, 1 - 2**-53, 1.0, 0.0, float(rng.random()), 2.0**-899]


def _check(lib, oracle) -> str:
    y, weights, smoothings = _probe()
    for ls in smoothings:
        for w in weights:
            for k, binary in ((2, True), (7, False)):
                consts = oracle.constants(ls, k)
                got = _call(lib, y, consts, w, y.size, binary)
                want = oracle.numpy(y, consts, w, binary)
                for g, h in zip(got[:4], want):
                    if g is None and h is None:
                        continue
                    if h is None or g is None:
                        return "the kernel differs from the NumPy code (binary targets)"
                    if not np.array_equal(np.asarray(g).view(np.uint8), np.asarray(h).view(np.uint8)):
                        return (f"the kernel differs from the NumPy code (label_smoothing={ls!r}, "
                                f"{'binary' if binary else 'categorical'} targets)")
    return ""


def smooth(y: np.ndarray, consts: np.ndarray, w, ncols: int, binary: bool, oracle):
    """``(t, b, redo_t, redo_b)`` as ``oracle.numpy`` gives them (the two
    marks None where nothing is marked) for a
    contiguous float64 ``y`` (``w``: None, ``ncols`` weights that repeat
    along each row, or one per element), or None where the NumPy code must
    run. ``oracle``: the module holding ``constants`` and ``numpy``
    (stabkit._accurate.targets64)."""
    global _CHECKED
    if disabled():
        return None
    lib = _load()
    if lib is None:
        return None
    if _CHECKED is None:
        with _LOCK:
            if _CHECKED is None:
                _CHECKED = _check(lib, oracle)
    if _CHECKED:
        return None
    t, b, redo_t, redo_b, marked = _call(lib, y, consts, w, ncols, binary)
    # nothing marked (the usual call): the caller need not look for marks
    return (t, b, redo_t, redo_b) if marked else (t, b, None, None)


def status(oracle=None) -> str:
    """``"native"`` where the targets are formed in C, else why not (makes
    the check against ``oracle``, default the registered NumPy code, when
    none was made)."""
    oracle = oracle or _ORACLE
    global _CHECKED
    if disabled():
        return "STABKIT_NATIVE=0"
    lib = _load()
    if lib is None:
        return _WHY
    if _CHECKED is None and oracle is None:
        return "checked against the NumPy code on first use (stabkit.accurate is not loaded)"
    if _CHECKED is None:
        with _LOCK:
            if _CHECKED is None:
                _CHECKED = _check(lib, oracle)
    return "native" if not _CHECKED else _CHECKED
