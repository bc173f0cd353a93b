"""The compiled rounding of float64 results to float16 and bfloat16
(``_round.c``), bound with ctypes from the one extension
(:mod:`stabkit._native.load`), and the exact widening back (:func:`widen`,
which the accurate tier's blocks of 16-bit rows run).

:func:`stabkit.floats.round_float64` calls :func:`convert` first and runs
its NumPy code (NumPy's float16 cast; bfloat16's exact ``rint`` on the
format's grid) where that returns None: the extension not built or not
loadable, ``STABKIT_NATIVE=0`` in the environment (read at every call), an
input that is not float64, or a format without a kernel. The kernels are
bit-identical to that code, NaNs included (``_round.c`` says how); before a
format's kernel runs for the first time in a process, it is compared with the
NumPy code on a probe of ties, subnormals, overflow and NaN payloads, and a
disagreement (another NumPy's or ml_dtypes' NaN, say) keeps that format on
NumPy for the process, which :func:`status` then says.
"""

from __future__ import annotations

import ctypes
import threading

import numpy as np

from . import disabled, load

__all__ = ["FORMATS", "convert", "widen", "status"]

#: format name -> (C function, fraction bits, least normal exponent, largest exponent)
FORMATS = {"float16": ("round_float16", 10, -14, 15), "bfloat16": ("round_bfloat16", 7, -126, 127)}

#: the least size worth a call: below it NumPy's float16 cast of normal values
#: (~2 ns each) costs less than the call's ~5 us (measured: 256 values 3.5 us
#: against 5.2, 4096 values 12.4 us against 10.2); bfloat16's NumPy code costs
#: ~20 us at any size
MIN_SIZE = {"float16": 2048, "bfloat16": 0}

#: the least size worth a widening call: NumPy's casts take 0.5-0.8 ns a
#: value, the call ~5 us
WIDEN_MIN_SIZE = 8192

_LOCK = threading.Lock()
_LIB: ctypes.CDLL | None | bool = False  # False: not looked for yet
_WHY = ""  # why _LIB is None
#: an array's data address for the calls (load.address_function, set with _LIB)
_ADDR = load.ctypes_address
#: format name -> "" (the kernel agrees with the NumPy code) or why it does not run
_PROBED: dict[str, str] = {}
#: the same for the widening back to float64
_WIDE: dict[str, str] = {}


def _load() -> ctypes.CDLL | None:
    global _LIB, _WHY, _ADDR
    if _LIB is False:
        with _LOCK:  # once per process
            if _LIB is False:
                lib = load.library()
                _WHY = load.why()
                try:
                    for fn, *_ in FORMATS.values():
                        getattr(lib, fn).argtypes = [ctypes.c_void_p, ctypes.c_int64, ctypes.c_void_p]
                        getattr(lib, fn).restype = None
                    lib.widen16.argtypes = [ctypes.c_void_p, ctypes.c_int64, ctypes.c_int, ctypes.c_void_p]
                    lib.widen16.restype = None
                except AttributeError as e:
                    lib = None
                    _WHY = _WHY or f"the C extension {load.NAME} is stale ({e}; rebuild it: pip install -e .)"
                _ADDR = load.address_function()
                _LIB = lib
    return _LIB


def status() -> str:
    """``"native"``, or why :func:`convert` returns None (``STABKIT_NATIVE=0``,
    the extension not built or stale, a format whose kernel disagreed with
    the NumPy code on the probe)."""
    if disabled():
        return "STABKIT_NATIVE=0"
    if _load() is None:
        return _WHY
    bad = [f"{name}: {why}" for name, why in _PROBED.items() if why]
    bad += [f"widening {name}: {why}" for name, why in _WIDE.items() if why]
    return "native" if not bad else "NumPy for " + "; ".join(bad)


def probe(name: str) -> np.ndarray:
    """float64 values (both signs) where a rounding to ``name`` goes wrong
    first: every boundary between two neighbours of the format (the least
    subnormals, around the least normal, 1 and 3, the largest finite values
    and the next power of two) exactly at its midpoint and one float64 ulp
    either side; zeros, infinities, float64's subnormals and largest value,
    and NaNs with several payloads."""
    _, frac, emin, emax = FORMATS[name]
    tiny = 2.0 ** (emin - frac)
    top = 2.0**emax * (2 - 2.0**-frac)
    grid = np.array([0.0, tiny, 2 * tiny, 3 * tiny, 2.0**emin - tiny, 2.0**emin, 2.0**emin + 2 * tiny,
                     1.0, 1 + 2.0**-frac, 1 + 2.0 ** (1 - frac), 3.0, 3 + 2.0 ** (2 - frac),
                     top - 2.0 ** (emax - frac), top, 2.0 ** (emax + 1)])  # fmt: skip
    # halfway between neighbours: the ties, even and odd in turn
    mid = (grid[:-1] + grid[1:]) / 2
    x = np.concatenate([grid, mid, np.nextafter(mid, 0), np.nextafter(mid, np.inf),
                        [5e-324, 2.2250738585072014e-308, 1.7976931348623157e308, np.inf]])  # fmt: skip
    nan_bits = np.array([0x7FF8000000000000, 0x7FF0000000000001, 0x7FF4000000000000, 0x7FFFFFFFFFFFFFFF,
                         0x7FF0040000000000, 0x7FF8000000000001], dtype=np.uint64)  # fmt: skip
    x = np.concatenate([x, nan_bits.view(np.float64)])
    return np.concatenate([x, -x])


def _agrees(name: str, oracle) -> str:
    x = probe(name)
    with np.errstate(all="ignore"):
        want = np.asarray(oracle(x)).view(np.uint16)
    got = np.empty(x.shape, dtype=np.uint16)
    _call(name, x, got)
    bad = np.flatnonzero(got != want)
    if bad.size == 0:
        return ""
    i = bad[0]
    return (f"the kernel gives {got[i]:#06x} for float64 {x.view(np.uint64)[i]:#018x} where this NumPy's path "
            f"gives {want[i]:#06x}")


def _call(name: str, x: np.ndarray, out: np.ndarray) -> None:
    # ctypes releases the GIL for the call; both arrays are C-contiguous with
    # x.size elements (checked by the callers)
    getattr(_LIB, FORMATS[name][0])(_ADDR(x), x.size, _ADDR(out))


def convert(x: np.ndarray, name: str, dtype, oracle, out: np.ndarray | None = None) -> np.ndarray | None:
    """``x`` (a float64 array of any layout) rounded once to the format
    ``name`` (float16 or bfloat16), of ``dtype``: a new array of ``x``'s
    shape, or ``out`` (of that dtype and shape, any layout) written and
    returned. None where the NumPy code must run instead (see the module's
    docstring), and for fewer than :data:`MIN_SIZE` values; ``oracle(x)``
    is that code, run once per format and process on :func:`probe` before
    the kernel is trusted."""
    if name not in FORMATS or disabled() or _load() is None:
        return None
    if not isinstance(x, np.ndarray) or x.dtype != np.float64 or np.dtype(dtype).itemsize != 2:
        return None
    if x.size < MIN_SIZE[name]:
        return None
    why = _PROBED.get(name)
    if why is None:
        with _LOCK:
            why = _PROBED.setdefault(name, _agrees(name, oracle))
    if why:
        return None
    src = x if x.flags.c_contiguous else np.ascontiguousarray(x)  # copied, so the kernel reads x.size values
    direct = (out is not None and out.dtype == dtype and out.shape == x.shape and out.flags.c_contiguous
              and out.flags.writeable)  # fmt: skip
    dst = out if direct else np.empty(x.shape, dtype=dtype)
    _call(name, src, dst)
    if out is not None and not direct:
        out[...] = dst
        return out
    return dst


def _widen_agrees(name: str, dtype) -> str:
    # every bit pattern of the format, NaNs and subnormals included
    h = np.arange(1 << 16, dtype=np.uint16)
    with np.errstate(all="ignore"):  # ml_dtypes warns on its NaNs
        want = h.view(dtype).astype(np.float64).view(np.uint64)
    got = np.empty(h.shape, dtype=np.float64)
    _LIB.widen16(h.ctypes.data, h.size, name == "bfloat16", got.ctypes.data)
    bad = np.flatnonzero(got.view(np.uint64) != want)
    if bad.size == 0:
        return ""
    i = bad[0]
    return f"the widening gives {got.view(np.uint64)[i]:#018x} for {h[i]:#06x} where astype gives {want[i]:#018x}"


def widen(x: np.ndarray, name: str) -> np.ndarray | None:
    """``x`` (a C-contiguous float16 or bfloat16 array, ``name`` its format)
    as float64, exactly: the same bits as ``x.astype(np.float64)``. None
    where that astype must run instead: the kernels off or not built, fewer
    than :data:`WIDEN_MIN_SIZE` values, another layout, or a kernel that
    disagreed with the astype on all 65,536 inputs (checked once per format
    and process)."""
    if name not in FORMATS or disabled() or _load() is None:
        return None
    if not isinstance(x, np.ndarray) or x.dtype.itemsize != 2 or not x.flags.c_contiguous or x.size < WIDEN_MIN_SIZE:
        return None
    why = _WIDE.get(name)
    if why is None:
        with _LOCK:
            why = _WIDE.setdefault(name, _widen_agrees(name, x.dtype))
    if why:
        return None
    out = np.empty(x.shape, dtype=np.float64)
    _LIB.widen16(_ADDR(x), x.size, name == "bfloat16", _ADDR(out))
    return out
