"""The compiled elementwise ufuncs of ``_elementwise.c`` (and its float64
part ``_elementwise64.c``; registered by the one extension's module init:
:mod:`stabkit._native.load`), loaded on first use.

:func:`ufunc` gives the ufunc that :mod:`stabkit.accurate` calls for a
function and format, or None where the NumPy path runs instead: with
``STABKIT_NATIVE=0`` in the environment (read at every call), where the
extension was not built (no C compiler or no NumPy headers at install time)
or cannot be loaded, for bfloat16 where ml_dtypes' type could not be given a
loop, and for float64 until the layer above has bound its loops to the NumPy
path's tables and checked them against that path (:func:`provide_float64`,
called by :mod:`stabkit._accurate.native64`), or where that check failed.
:func:`why_not` says which. The binary cross-entropy from logits
(``binary_crossentropy``, the ufunc ``binary_logits``) is one of the float64
loops: it serves predictions in all four formats (computed in float64). So
is the one from probabilities (``logits=False``, the ufunc ``binary_probs``
of ``_bce_probs.c``), bound to NumPy's log and log1p loops and checked on
its own (:func:`provide_probabilities`).
"""

from __future__ import annotations

import importlib.util

from . import disabled
from . import load as _load  # why_not's argument `load` is another thing

__all__ = ["FUNCTIONS", "FORMATS", "LOSSES", "LOSS_FORMATS", "ufunc", "why_not", "disabled", "extension",
           "provide_float64", "provide_probabilities", "PROBABILITIES"]

#: the functions and formats the extension has loops for
FUNCTIONS = ("sigmoid", "log_sigmoid", "softplus")
FORMATS = ("float32", "float16", "bfloat16", "float64")
#: the loss with a float64 loop (narrower predictions go through it in
#: float64), and its ufuncs: ``a softplus(-p) + b softplus(p)``, and the
#: same with ``a = y, b = 1 - y`` (no options) on ``y`` and ``p`` of one
#: format, the loss rounded once to it (bfloat16: once registered)
LOSSES = {"binary_crossentropy": ("binary_logits", "binary_logits_plain")}
LOSS_FORMATS = FORMATS
#: the same loss from probabilities: ``-(a log p + b log1p(-p))``, and with
#: ``a = y, b = 1 - y``, for the same formats
PROBABILITIES = {"binary_crossentropy": ("binary_probs", "binary_probs_plain")}

_BF16_WHY: str | None | bool = False  # False: the bfloat16 loops not registered yet
_F64_BINDER = None  # set by provide_float64
_F64_WHY: str | None | bool = False  # False: the float64 loops not bound yet
_PROB_BINDER = None  # set by provide_probabilities
_PROB_WHY: str | None | bool = False  # False: the loops from probabilities not bound yet
_F64_BF16 = None  # set by provide_float64: the check of the loss's bfloat16 loop
_PROB_BF16 = None  # set by provide_probabilities: the same from probabilities
_BF16_LOSS_WHY: dict[str, str | None] = {}  # their results, once each


def _module():
    return _load.module()


def extension():
    """The extension module (whatever ``STABKIT_NATIVE`` says) with its
    bfloat16 loops registered where ml_dtypes imports and its float64 loops
    (and those from probabilities) bound where :func:`provide_float64` (and
    :func:`provide_probabilities`) was called, or None if it is absent:
    for the tests and the exhaustive check, which compare it with the NumPy
    path."""
    mod = _module()
    if mod is not None:
        _bfloat16(mod)
        _float64(mod)
        _probabilities(mod)
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


def _bfloat16_status(mod, load: bool) -> str | None:
    """Why the bfloat16 loops do not run (registering them where ``load``)."""
    if load or _BF16_WHY is not False:
        return _bfloat16(mod)
    return None if importlib.util.find_spec("ml_dtypes") else "ml_dtypes is not installed"


def provide_float64(binder, bfloat16=None) -> None:
    """Register ``binder(module) -> None or a reason``, which binds the
    float64 loops to the NumPy path's tables and checks them against that
    path (:mod:`stabkit._accurate.native64`: the tables and the oracle live
    in the layer above this one). It runs once, on the first float64 call.
    ``bfloat16(module)`` checks the loss's bfloat16 loop, once, on the first
    bfloat16 loss (so that other callers never import ml_dtypes)."""
    global _F64_BINDER, _F64_BF16
    _F64_BINDER, _F64_BF16 = binder, bfloat16


def _float64(mod) -> str | None:
    """Bind and check the float64 loops once: None, or why not."""
    global _F64_WHY
    if _F64_WHY is False:
        if _F64_BINDER is None:
            return "the float64 loops are bound by stabkit.accurate, which is not imported yet"
        _F64_WHY = _F64_BINDER(mod)
    return _F64_WHY


def provide_probabilities(binder, bfloat16=None) -> None:
    """Register ``binder(module) -> None or a reason``, which binds the loops
    of the loss from probabilities to NumPy's log and log1p and checks them
    against the NumPy path; it runs once, on the first call from
    probabilities. ``bfloat16``: as for :func:`provide_float64`."""
    global _PROB_BINDER, _PROB_BF16
    _PROB_BINDER, _PROB_BF16 = binder, bfloat16


def _checked_bfloat16(mod, kind: str) -> str | None:
    """The bfloat16 check of the loss (``kind``: "logits" or
    "probabilities"), once: None, or why not."""
    check = _F64_BF16 if kind == "logits" else _PROB_BF16
    if kind not in _BF16_LOSS_WHY:
        _BF16_LOSS_WHY[kind] = None if check is None else check(mod)
    return _BF16_LOSS_WHY[kind]


def _probabilities(mod) -> str | None:
    """Bind and check the loops from probabilities once: None, or why not."""
    global _PROB_WHY
    if _PROB_WHY is False:
        if _PROB_BINDER is None:
            return "the loops from probabilities are bound by stabkit.accurate, which is not imported yet"
        _PROB_WHY = _PROB_BINDER(mod)
    return _PROB_WHY


def _why_not_probabilities(name: str, fmt: str, load: bool) -> str | None:
    """:func:`why_not` for the loss from probabilities."""
    if not (name in PROBABILITIES and fmt in LOSS_FORMATS):
        return f"no compiled kernel for {name} from probabilities in {fmt} yet"
    if disabled():
        return "STABKIT_NATIVE=0"
    mod = _module()
    if mod is None:
        return _load.why()
    if fmt == "bfloat16" and (why := _bfloat16_status(mod, load)) is not None:
        return why
    if not load and _PROB_WHY is False:
        return None if hasattr(mod, "bind_probs") else "the C extension predates its loops from probabilities"
    why = _probabilities(mod)
    if why is None and fmt == "bfloat16" and load:
        why = _checked_bfloat16(mod, "probabilities")
    return why


def why_not(name: str, fmt: str, load: bool = True, logits: bool = True) -> str | None:
    """None where ``name`` (one of :data:`FUNCTIONS` or :data:`LOSSES`) runs
    compiled for the format ``fmt`` (a format name), else why the NumPy path
    runs. For bfloat16 the loops are registered first (which imports
    ml_dtypes); with ``load=False`` they are not, and ml_dtypes being
    installed counts. float64 (and the loss) are bound and checked first;
    with ``load=False``, before that has happened (``stabkit list`` imports
    no tier), loops present in the extension count. ``logits=False``: the
    loss from probabilities (:data:`PROBABILITIES`)."""
    if not logits:
        return _why_not_probabilities(name, fmt, load)
    if not ((name in FUNCTIONS and fmt in FORMATS) or (name in LOSSES and fmt in LOSS_FORMATS)):
        return f"no compiled kernel for {name} in {fmt} yet"
    if disabled():
        return "STABKIT_NATIVE=0"
    mod = _module()
    if mod is None:
        return _load.why()
    if fmt == "bfloat16" and ((why := _bfloat16_status(mod, load)) is not None or name not in LOSSES):
        return why
    if fmt == "float64" or name in LOSSES:
        if not load and _F64_WHY is False:
            return None if hasattr(mod, "bind_float64") else "the C extension predates its float64 loops"
        why = _float64(mod)
        if why is None and fmt == "bfloat16" and load:  # the loss in bfloat16
            why = _checked_bfloat16(mod, "logits")
        return why
    return None


def ufunc(name: str, fmt: str, plain: bool = False, logits: bool = True):
    """The compiled ufunc for ``name`` in the format ``fmt``, or None; for
    the loss, ``plain`` picks the ufunc of the loss without options and
    ``logits`` the one from logits or from probabilities."""
    if why_not(name, fmt, logits=logits) is not None:
        return None
    if not logits:
        return getattr(_module(), PROBABILITIES[name][plain])
    return getattr(_module(), LOSSES[name][plain] if name in LOSSES else name)
