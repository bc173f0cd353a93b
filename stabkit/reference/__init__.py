"""Correctly rounded references: the mpmath oracles, Ziv's loop, the certified
fast tiers, the on-disk cache and the executors that spread the work.

``from stabkit.reference import reference, Reference`` is the usual door; the
names below are loaded on first use (PEP 562), so that importing a sibling
(``stabkit.reference.cache``) does not load mpmath.
"""

from .._lazy import exports

#: public name -> (submodule, name there)
_EXPORTS = {
    "Reference": ("ziv", "Reference"),
    "reference": ("ziv", "reference"),
    "MP_LOCK": ("ziv", "MP_LOCK"),
    "DD_PRECISION": ("ziv", "DD_PRECISION"),
    "Oracle": ("oracles", "Oracle"),
    "ORACLES": ("oracles", "ORACLES"),
    "oracle_value": ("oracles", "oracle_value"),
    "ReferenceOptions": ("options", "ReferenceOptions"),
    "DEFAULT_OPTIONS": ("options", "DEFAULT_OPTIONS"),
}

__all__ = list(_EXPORTS)


__getattr__, __dir__ = exports(__name__, _EXPORTS)
