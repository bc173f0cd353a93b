"""The one loader of stabkit's compiled extension, ``stabkit._native._kernels``.

setup.py compiles every C file of this folder into that one library. Its
module init (in ``_elementwise.c``) registers the elementwise ufuncs, which
:mod:`~stabkit._native.elementwise` takes from :func:`module`; the plain C
functions of ``_rows.c``, ``_round.c`` and ``_cstep.c`` are in the same
file, which :func:`library` opens with ctypes for
:mod:`~stabkit._native.rows`, :mod:`~stabkit._native.rounding` and
:mod:`~stabkit._native.step`. Each of those checks what only it can (the
symbols it needs, NumPy's summation order, the layout of the trainer's plan)
and says "stale" or why on top of :func:`why`.

The extension is imported once per process, whatever ``STABKIT_NATIVE``
says: the callers read :func:`stabkit._native.disabled` at every call, so a
test or a user can switch between the compiled and the NumPy paths.
"""

from __future__ import annotations

import ctypes
import importlib.util
import threading

__all__ = ["NAME", "module", "library", "why", "address_function", "ctypes_address"]

NAME = "stabkit._native._kernels"
_NOT_BUILT = f"the C extension {NAME} was not built at install time (it needs a C compiler and NumPy's headers)"

_LOCK = threading.Lock()
#: (module, ctypes library, why): None until the first look, then kept
_STATE: tuple[object | None, ctypes.CDLL | None, str] | None = None


def _import():
    # a plain import, so that the sweep's key (analysis/sweep.py) sees the
    # extension and hashes every C source of the build
    from . import _kernels

    return _kernels


def _open() -> tuple[object | None, ctypes.CDLL | None, str]:
    if importlib.util.find_spec(NAME) is None:  # no file (or None in sys.modules)
        return None, None, _NOT_BUILT
    try:
        mod = _import()
    except ImportError as e:  # a file that is not a loadable extension, or its init failed
        return None, None, f"the C extension {NAME} cannot be loaded ({e})"
    try:
        # the file the import machinery loaded: dlopen finds it open already
        lib = ctypes.CDLL(mod.__file__)
    except (OSError, TypeError) as e:
        return None, None, f"the C extension {NAME} cannot be loaded with ctypes ({e})"
    return mod, lib, ""


def _state() -> tuple[object | None, ctypes.CDLL | None, str]:
    global _STATE
    if _STATE is None:
        with _LOCK:  # once per process
            if _STATE is None:
                _STATE = _open()
    return _STATE


def module():
    """The imported extension (its ufuncs), or None where it was not built
    or cannot be loaded (:func:`why` says which)."""
    return _state()[0]


def library() -> ctypes.CDLL | None:
    """The extension's file opened with ctypes (its plain C functions), or
    None with :func:`module`."""
    return _state()[1]


def why() -> str:
    """Why :func:`module` is None ("not built" or "cannot be loaded", with
    the error), or "" where the extension is loaded."""
    return _state()[2]


def ctypes_address(a) -> int:
    """The address of the ndarray ``a``'s first element, through ctypes."""
    return a.ctypes.data


def address_function():
    """A function giving the address of an ndarray's first element, for the
    ctypes calls: the extension's ``data_address`` (about 45 ns) where it is
    loaded and has it, else ``ndarray.ctypes.data`` (about 1 us: it builds a
    helper object each time, and a small call of the row kernels passes up
    to a dozen arrays)."""
    return getattr(module(), "data_address", None) or ctypes_address
