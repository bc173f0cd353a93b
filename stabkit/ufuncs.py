"""The accurate tier's elementwise functions as NumPy ufuncs.

``from stabkit.ufuncs import sigmoid`` gives the compiled ufunc that
:func:`stabkit.accurate.sigmoid` itself calls, so the values are that
function's, bit for bit (correctly rounded in float16, bfloat16 and float32;
within 0.54 ulp in float64), and NumPy supplies the rest of the calling
convention, as for ``scipy.special.expit``: ``out=``, ``where=``,
broadcasting, ``dtype=``, ``.at`` and the like::

    from stabkit.ufuncs import sigmoid, log_sigmoid, softplus
    sigmoid(x, out=buf)                 # no new array
    log_sigmoid(x, where=mask, out=buf) # only where mask is True

Loops: float16, float32, float64, and bfloat16 where ml_dtypes is installed.
Integer and bool inputs follow NumPy's casting rules (int8, uint8 and bool
compute in float32, wider integers in float64), where
:mod:`stabkit.accurate` computes every integer input in float64. Only NumPy
arrays (and what NumPy converts) go in; :mod:`stabkit.accurate` also takes
PyTorch tensors and JAX arrays and returns the caller's type.

The ufuncs exist only where the compiled extension runs: installed without a
C compiler, with ``STABKIT_NATIVE=0``, or where a loop failed its load-time
check against the NumPy path, attribute access raises AttributeError with
the reason (``from stabkit.ufuncs import sigmoid``, an ImportError without
it); :func:`available` says why, and :mod:`stabkit.accurate` computes the
same values there.

The row-wise functions are gufuncs: ``logsumexp`` with signature
``(n)->()``, ``softmax`` and ``log_softmax`` with ``(n)->(n)``, over the
last axis unless ``axis=`` (or ``axes=``) says otherwise::

    from stabkit.ufuncs import logsumexp, softmax
    logsumexp(x, axis=0, keepdims=True)  # NumPy's gufunc keywords
    softmax(x, out=buf)

Their loop hands NumPy's runs of rows, as views, to
:func:`stabkit.accurate.logsumexp` (and the others), so the values are that
function's bit for bit, in float16, bfloat16, float32 and float64 (integers
and bool in float64, as there); ``with stabkit.accurate.workers(n):``
applies. They need the compiled extension but none of its kernels, so
``STABKIT_NATIVE=0`` leaves them in place (the accurate tier then runs its
NumPy path, with the same bits). The losses stay functions of
:mod:`stabkit.accurate`: their options (weights, label smoothing,
reductions) have no place in a gufunc signature.
"""

from __future__ import annotations

import importlib

import numpy as np

__all__ = ["sigmoid", "log_sigmoid", "softplus", "logsumexp", "softmax", "log_softmax", "available"]

_NAMES = ("sigmoid", "log_sigmoid", "softplus")
#: the gufuncs: name -> (signature, what the function computes)
_ROWS = {
    "logsumexp": ("(n)->()", "log(sum(exp(x)))"),
    "softmax": ("(n)->(n)", "exp(x) / sum(exp(x))"),
    "log_softmax": ("(n)->(n)", "x - logsumexp(x)"),
}
# bfloat16 is left out: without ml_dtypes no bfloat16 array can reach a ufunc
_FORMATS = ("float16", "float32", "float64")


def _why_not(name: str) -> str | None:
    """None where ``name``'s compiled loops run in every format, else why not."""
    # the accurate tier binds the float64 loops (after checking them against
    # its NumPy path) when it is imported; until then they give NaN
    importlib.import_module("stabkit.accurate")
    from stabkit._native import elementwise

    whys = {fmt: elementwise.why_not(name, fmt) for fmt in _FORMATS}
    if len(set(whys.values())) == 1 and whys["float64"] is not None:
        return whys["float64"]  # one reason for all (STABKIT_NATIVE=0, not built, ...)
    bad = [f"{fmt}: {why}" for fmt, why in whys.items() if why is not None]
    if bad:
        return "; ".join(bad)
    # registers the bfloat16 loops (importing ml_dtypes) where it can
    elementwise.why_not(name, "bfloat16")
    return None


def available() -> dict[str, str]:
    """``{name: "native" or why the ufunc is not available}``, the gufuncs
    included."""
    from stabkit._native import gufuncs

    rows = gufuncs.why_not()
    return {**{name: _why_not(name) or "native" for name in _NAMES},
            **{name: rows or "native" for name in _ROWS}}


def _gufunc(name: str):
    """The gufunc ``name`` (made on first use), whose loop calls the
    accurate tier's function on each run of rows NumPy hands it."""
    from stabkit import accurate
    from stabkit._native import gufuncs

    core = accurate.ROW_CORES[name]

    def rows(x, out):
        # x: (m, n) rows, out: their (m,) or (m, n) results, both views on
        # NumPy's buffers; the core writes into a contiguous out itself, and
        # a result it had to allocate is copied in. Not into an out that
        # may overlap x: NumPy hands an in-place call the input's own buffer
        # (NumPy 2.0 does, for out=x), and a row's result needs its whole row.
        y = core(x, -1, _into=None if np.may_share_memory(x, out) else out)
        if y is not out:
            out[...] = y

    signature, what = _ROWS[name]
    doc = (f"{name}: {what} along the last axis (axis= or axes= picks another), the values of "
           f"stabkit.accurate.{name} bit for bit; float16, bfloat16, float32 and float64 loops.")
    return gufuncs.make(name, signature, doc, rows)


def __getattr__(name: str):
    if name in _ROWS:
        from stabkit._native import gufuncs

        why = gufuncs.why_not()
        if why is not None:
            raise AttributeError(f"stabkit.ufuncs.{name} is not available here ({why}); "
                                 f"stabkit.accurate.{name} computes the same values")
        return _gufunc(name)
    if name not in _NAMES:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    why = _why_not(name)
    if why is not None:
        raise AttributeError(f"stabkit.ufuncs.{name} is not available here ({why}); "
                             f"stabkit.accurate.{name} computes the same values")
    from stabkit._native import elementwise

    # not cached in globals(): STABKIT_NATIVE is read at every access
    return elementwise.ufunc(name, "float32")


def __dir__() -> list[str]:
    return sorted(__all__)
