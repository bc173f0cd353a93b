"""What every implementation under test is: an :class:`Impl`, whose
``evaluate`` returns the result in the format under test, and stabkit's own
tiers as Impls. The libraries' adapters build on this
(:mod:`stabkit.analysis.thirdparty`, :mod:`stabkit.analysis.keras_tf`)."""

from __future__ import annotations

import warnings
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

from stabkit.floats import get_format, round_float64
from stabkit.registry import get

__all__ = ["Impl", "Unsupported", "tier_impl"]


class Unsupported(Exception):
    """The implementation has no version of this function (or variant)."""


@dataclass
class Impl:
    """One implementation: ``fn(function, from_logits, args) -> array`` (any
    dtype), or ``(array, note)`` when the adapter fed the library an upcast
    copy; may raise :class:`Unsupported`. With ``fail_soft`` any other
    exception is recorded as the cell's error instead of ending the run."""

    name: str
    fn: Callable
    version: str = ""
    notes: dict = field(default_factory=dict)  # (function, format) -> note
    fail_soft: bool = False

    def evaluate(self, function: str, fmt, args: tuple, from_logits: bool = True) -> np.ndarray:
        """The result in ``fmt`` (rounded once from whatever the library returned)."""
        f = get_format(fmt)
        with np.errstate(all="ignore"), warnings.catch_warnings():
            warnings.simplefilter("ignore")
            y = self.fn(function, from_logits, args)
            y, note = y if isinstance(y, tuple) else (y, "")
            y = np.asarray(y)
            if y.dtype != f.dtype:
                self.notes[(function, f.name)] = note or f"returned {y.dtype}, rounded to {f.name}"
                y = round_float64(y.astype(np.float64), f)
        return y

    def __repr__(self) -> str:
        return f"Impl({self.name}{' ' + self.version if self.version else ''})"


def tier_impl(tier: str) -> Impl:
    """stabkit's own ``naive``, ``stable`` or ``accurate`` tier."""

    def fn(function, from_logits, args):
        f = get(function).tier(tier)
        return f(*args, from_logits=from_logits) if get(function).is_loss else f(*args)

    from stabkit import __version__

    return Impl(tier, fn, f"stabkit {__version__}")
