"""logsumexp's options, shared by the three tiers: the weights ``b`` (checked
and broadcast against ``x``) and the sign that ``return_sign`` reports."""

from __future__ import annotations

import numpy as np

from stabkit.floats import Format

from .inputs import as_input, targets_in


def weights_in(b, x: np.ndarray, fmt: Format, exact: bool) -> tuple[np.ndarray, np.ndarray]:
    """``x`` and the weights ``b`` broadcast against each other (NumPy's rules;
    both may grow, as in SciPy), ``b`` real: booleans and integers are taken
    as float64, float16/bfloat16/float32/float64 as they are; complex is a
    TypeError, any other dtype or a shape that does not broadcast a
    ValueError naming ``b``.

    With ``exact`` the weights are float64, their exact values (the accurate
    tier: every supported format converts to float64 exactly; an integer
    beyond 2**53 is rounded once; float64 weights are not copied, and the
    caller only reads them); otherwise they are rounded once to
    ``x``'s format (the naive and stable tiers compute in that format), as
    the losses round their labels. Either way ``b``'s dtype never widens the
    result, which stays in ``x``'s format (SciPy promotes instead).
    """
    w, _ = as_input(b, "b")
    try:
        xb, wb = np.broadcast_arrays(x, w)
    except ValueError:
        raise ValueError(f"b has shape {w.shape}, which does not broadcast against x's shape {x.shape}") from None
    return xb, (wb.astype(np.float64, copy=False) if exact else targets_in(wb, fmt))


def plain_sign(out: np.ndarray) -> np.ndarray:
    """The sign of ``sum(exp(x))`` from its logsumexp ``out`` (no weights):
    1, or 0 for an empty sum (``out = -inf``), NaN where ``out`` is NaN; in
    ``out``'s dtype."""
    sign = np.ones(out.shape, dtype=out.dtype)
    sign[out == -np.inf] = 0
    sign[np.isnan(out)] = np.nan
    return sign


def signed_result(out: np.ndarray, sign: np.ndarray, axis: int, keepdims: bool, return_sign: bool):
    """``(out, sign)`` with ``return_sign``; else ``out`` with NaN where the
    sum is negative (its log is not real: SciPy's convention). ``keepdims``
    puts the reduced axis back, of length 1."""
    if keepdims:
        out, sign = np.expand_dims(out, axis), np.expand_dims(sign, axis)
    if return_sign:
        return out, sign
    out = np.array(out, copy=True)
    out[sign < 0] = np.nan
    return out
