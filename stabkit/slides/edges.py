"""Where a figure's event begins, exactly: the numbers its caption gives.

A figure's grid shows where something happens only to within its spacing:
on the cross-entropy slide's grid the float32 loss "underflows from g = 107"
where the edge is 105.07, and float64's "758" stands for 745.13 and 746.23.
A caption that prints a threshold prints the edge itself, found here by
bisection over the format's own values between the last grid sample without
the event and the first with it (the event must switch once there, as
every event the slides mark does: an overflow, a result that becomes 0), or,
where the exact value's edge has a closed form, that form.
"""

from __future__ import annotations

import math

import numpy as np

__all__ = ["edge", "underflow_edge", "HALF_TINIEST"]

#: half the least subnormal (as a natural log): an exact value at or below it
#: rounds to 0 (ties to even at the half)
HALF_TINIEST = {"float32": -150 * math.log(2), "float64": -1075 * math.log(2)}


def edge(event, xs: np.ndarray, hits: np.ndarray, dtype, rising: bool = True) -> float:
    """The first value of ``dtype`` (walking up the axis where ``rising``,
    else down) at which ``event(value)`` holds, given the grid ``xs``
    (ascending) and where the event held on it (``hits``): bisection
    between the bracketing samples; NaN where it never held. If the grid's
    first sample (in the walking direction) already has it, that sample."""
    idx = np.flatnonzero(hits)
    if not idx.size:
        return math.nan
    i = int(idx[0] if rising else idx[-1])
    j = i - 1 if rising else i + 1
    if not 0 <= j < xs.size:
        return float(xs[i])
    off, on = dtype.type(xs[j]), dtype.type(xs[i])
    while True:
        # the midpoint in float64, rounded to the format: the format's values
        # between off and on shrink to none
        mid = dtype.type((float(off) + float(on)) / 2)
        if mid == off or mid == on:
            return float(on)
        if event(mid):
            on = mid
        else:
            off = mid


def underflow_edge(c: float, fmt: str) -> float:
    """The gap g from which the exact ``log1p(c e^-g)`` (the winner's loss,
    ``c`` losers at gap g) rounds to 0 in ``fmt``: ``c e^-g`` at half the
    least subnormal, where ``log1p(t) = t`` to far more than the format's
    precision."""
    return math.log(c) - HALF_TINIEST[fmt]
