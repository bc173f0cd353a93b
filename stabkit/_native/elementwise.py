"""The compiled elementwise ufuncs of ``_elementwise.c`` (registered by the
one extension's module init: :mod:`stabkit._native.load`), loaded on first use.

:func:`ufunc` gives the ufunc that :mod:`stabkit.accurate` calls for a
function and format, or None where the NumPy path runs instead: with
``STABKIT_NATIVE=0`` in the environment (read at every call), where the
extension was not built (no C compiler or no NumPy headers at install time)
or cannot be loaded, for float64 (no kernel yet), and for bfloat16 where
ml_dtypes' type could not be given a loop. :func:`why_not` says which.
"""

from __future__ import annotations

import importlib.util

from . import disabled
from . import load as _load  # why_not's argument `load` is another thing

__all__ = ["FUNCTIONS", "FORMATS", "ufunc", "why_not", "disabled", "extension"]

#: the functions and formats the extension has loops for
FUNCTIONS = ("sigmoid", "log_sigmoid", "softplus")
FORMATS = ("float32", "float16", "bfloat16")

_BF16_WHY: str | None | bool = False  # False: the bfloat16 loops not registered yet


def _module():
    return _load.module()


def extension():
    """The extension module (whatever ``STABKIT_NATIVE`` says) with its
    bfloat16 loops registered where ml_dtypes imports, or None if it is
    absent: for the tests and the exhaustive check, which compare it with the
    NumPy path."""
    mod = _module()
    if mod is not None:
        _bfloat16(mod)
    return mod


def _bfloat16(mod) -> str | None:
    """Register the bfloat16 loops (importing ml_dtypes) once: None, or why not."""
    global _BF16_WHY
    if _BF16_WHY is False:
        try:
            mod.register_bfloat16()
            _BF16_WHY = None
        except ImportError as e:
            _BF16_WHY = f"ml_dtypes' bfloat16 is not importable ({e})"
    return _BF16_WHY


def why_not(name: str, fmt: str, load: bool = True) -> str | None:
    """None where ``name`` (one of :data:`FUNCTIONS`) runs compiled for the
    format ``fmt`` (a format name), else why the NumPy path runs. For
    bfloat16 the loops are registered first (which imports ml_dtypes); with
    ``load=False`` they are not, and ml_dtypes being installed counts."""
    if name not in FUNCTIONS or fmt not in FORMATS:
        return f"no compiled kernel for {name} in {fmt} yet"
    if disabled():
        return "STABKIT_NATIVE=0"
    mod = _module()
    if mod is None:
        return _load.why()
    if fmt == "bfloat16":
        if load or _BF16_WHY is not False:
            return _bfloat16(mod)
        return None if importlib.util.find_spec("ml_dtypes") else "ml_dtypes is not installed"
    return None


def ufunc(name: str, fmt: str):
    """The compiled ufunc for ``name`` in the format ``fmt``, or None."""
    return None if why_not(name, fmt) is not None else getattr(_module(), name)
