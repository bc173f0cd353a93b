"""stabkit: naive, stable and accurate softmax, sigmoid and cross-entropy,
measured in ulps against correctly rounded mpmath references.

The top-level functions are the accurate tier (:mod:`stabkit.accurate`);
:mod:`stabkit.naive` and :mod:`stabkit.stable` hold the same names.

They are loaded on first use (PEP 562), so that ``import stabkit`` and the
command line's ``--help`` stay fast: ``from stabkit import softmax`` and
``stabkit.softmax`` work as usual. :func:`kernels` says which of them (and
the trainer's step) run compiled code and which the NumPy path.
"""

import importlib
import sys

__version__ = "0.1.0"

__all__ = [
    "sigmoid",
    "log_sigmoid",
    "softplus",
    "softmax",
    "log_softmax",
    "logsumexp",
    "binary_crossentropy",
    "sparse_categorical_crossentropy",
    "categorical_crossentropy",
    "kernels",
    "DetachedGradWarning",
    "__version__",
]

#: public subpackages reachable as attributes (``stabkit.ufuncs.sigmoid``)
#: without their own import, as the tiers are
_SUBMODULES = ("ufuncs", "nn", "floats")

#: public names that live outside the accurate tier: (module, attribute)
_ELSEWHERE = {"kernels": ("._native.paths", "kernels"),
              "DetachedGradWarning": ("._api.arrays", "DetachedGradWarning")}

from .registry import missing_attribute as _missing_attribute  # noqa: E402 - static records, no tier imported
from .registry import TIERS as _TIERS  # noqa: E402


def __getattr__(name: str):
    """An accurate-tier function, :func:`kernels`, or a tier module, imported on first use."""
    if name in _ELSEWHERE:
        module, attr = _ELSEWHERE[name]
        # the accurate tier binds its float64 loops on import (after a check
        # against its NumPy path): kernels() reports on them bound, not pending
        importlib.import_module(".accurate", __name__)
        value = getattr(importlib.import_module(module, __name__), attr)
    elif name in __all__:
        value = getattr(importlib.import_module(".accurate", __name__), name)
    elif name in _TIERS or name in _SUBMODULES:
        value = importlib.import_module(f".{name}", __name__)
    else:  # another library's name (expit) is answered with ours
        raise _missing_attribute(__name__, name, sys._getframe(1))
    globals()[name] = value  # later lookups skip this function
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__) | set(_TIERS) | set(_SUBMODULES))
