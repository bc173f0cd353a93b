"""NumPy's own float64 inner loops of np.exp and np.log1p, for the narrow-row
kernel (``narrow_rows`` in ``_narrow.h``) to call on a whole block.

A legacy ufunc object (``PyUFuncObject``) lists its inner loops: after the
object header, ``int nin, nout, nargs, identity``, then the pointers
``functions`` and ``data``, ``int ntypes, reserved1``, ``name`` and ``types``
(``ntypes`` rows of ``nargs`` type numbers). The first float64 -> float64
row is the loop NumPy dispatched for this processor at import (on x86-64 its
SIMD exp and log1p, which round differently from libm's), the one
``np.exp(a)`` runs. Nothing here trusts that: :func:`unary_loop` reads the
fields only where the integers before them look right and the name matches,
and :func:`same_bits` runs the loop against the ufunc itself on values that
cover every branch, tails of every length, and every alignment; the caller
keeps the NumPy path where either fails.
"""

from __future__ import annotations

import ctypes

import numpy as np

_P = ctypes.sizeof(ctypes.c_void_p)
_NPY_DOUBLE = np.dtype(np.float64).num
_LOOP = ctypes.CFUNCTYPE(None, ctypes.POINTER(ctypes.c_void_p), ctypes.POINTER(ctypes.c_int64),
                         ctypes.POINTER(ctypes.c_int64), ctypes.c_void_p)


def unary_loop(ufunc: np.ufunc) -> tuple[int, int] | None:
    """``(function, data)`` pointers of ``ufunc``'s first ``d->d`` loop, or
    None where the object does not look like a one-input legacy ufunc."""
    if not isinstance(ufunc, np.ufunc) or ctypes.sizeof(ctypes.c_int64) != _P:
        return None
    base = id(ufunc) + object.__basicsize__
    nin, nout, nargs, _ = (ctypes.c_int * 4).from_address(base)
    if (nin, nout, nargs) != (1, 1, 2) or (ufunc.nin, ufunc.nout, ufunc.ntypes) != (1, 1, ufunc.ntypes):
        return None
    ptrs = base + 16
    functions, data = (ctypes.c_void_p * 2).from_address(ptrs)
    ntypes = ctypes.c_int.from_address(ptrs + 2 * _P).value
    name, types = (ctypes.c_void_p * 2).from_address(ptrs + 2 * _P + 8)
    if ntypes != ufunc.ntypes or not (functions and name and types):
        return None
    if ctypes.string_at(name) != ufunc.__name__.encode():
        return None
    codes = ctypes.string_at(types, ntypes * nargs)
    for i in range(ntypes):
        if codes[2 * i] == codes[2 * i + 1] == _NPY_DOUBLE:
            fn = (ctypes.c_void_p * ntypes).from_address(functions)[i]
            dat = (ctypes.c_void_p * ntypes).from_address(data)[i] if data else None
            return (fn, dat) if fn else None
    return None


def call(loop: tuple[int, int], a: np.ndarray) -> np.ndarray:
    """The loop over a contiguous float64 array, into a new one."""
    a = np.ascontiguousarray(a, dtype=np.float64)
    out = np.empty_like(a)
    if a.size:
        args = (ctypes.c_void_p * 2)(a.ctypes.data, out.ctypes.data)
        _LOOP(loop[0])(args, (ctypes.c_int64 * 1)(a.size), (ctypes.c_int64 * 2)(8, 8), loop[1])
    return out


def _samples() -> np.ndarray:
    """Arguments of exp and log1p over their branches: overflow and
    underflow edges, the subnormal results, signed zeros, inf, NaN, tiny
    and huge arguments, and random ones."""
    rng = np.random.default_rng(20261203)
    special = np.array([0.0, -0.0, np.inf, -np.inf, np.nan, 5e-324, -5e-324, 2.2e-308, 1e-300, -1e-300,
                        709.78, 709.79, -708.39, -708.4, -745.13, -745.14, -1.0, -0.999999, 1e-17, 1e300])
    return np.concatenate([special, rng.uniform(-750, 710, 4000), rng.uniform(-40, 0, 4000),
                           np.exp(rng.uniform(-740, 700, 2000)), rng.standard_normal(1000) * 1e-8])


#: Arguments at or below which exp's value is below a quarter of the least
#: subnormal (exp(-745.13) is half of it): +0 in round to nearest.
EXP_ZERO = -746.0


def zero_below(loop: tuple[int, int], z: float = EXP_ZERO) -> bool:
    """Whether the exp loop gives +0 for every argument below ``z``, on
    both sides of it, at every float64 binade down to -inf and at random
    ones (the kernels then leave such arguments out of its calls)."""
    below = -np.ldexp(1.0, np.arange(10, 1024)).astype(np.float64)
    rng = np.random.default_rng(746)
    a = np.concatenate([[np.nextafter(z, -np.inf), -np.inf, -1.7976931348623157e308], below[below < z],
                        np.nextafter(below[below < z], 0.0), rng.uniform(-2000.0, z, 5000),
                        -np.exp(rng.uniform(np.log(-z), 709.0, 5000))])
    a = a[a < z]
    with np.errstate(all="ignore"):
        out = call(loop, a)
    return bool(np.all(out.view(np.uint64) == 0))


def same_bits(loop: tuple[int, int], ufunc: np.ufunc) -> bool:
    """Whether the loop gives ``ufunc``'s bits on :func:`_samples`, from
    every offset 0..16 (alignments and tail lengths) and in short runs."""
    a = _samples()
    with np.errstate(all="ignore"):
        for k in range(17):
            for b in (a[k:], a[k:k + 11]):
                if not np.array_equal(call(loop, b).view(np.uint64), ufunc(b).view(np.uint64)):
                    return False
    return True
