"""Correctly rounded references: the mpmath oracles, Ziv's loop, the certified
fast tiers, the on-disk cache and the executors that spread the work.

``from stabkit.reference import reference, Reference`` is the usual door; the
names below are loaded on first use (PEP 562), so that importing a sibling
(``stabkit.reference.cache``) does not load mpmath.
"""

import importlib

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


def __getattr__(name: str):
    """A public name, imported from its submodule on first use."""
    try:
        module, attr = _EXPORTS[name]
    except KeyError:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}") from None
    value = getattr(importlib.import_module(f".{module}", __name__), attr)
    globals()[name] = value  # later lookups skip this function
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
