"""Which path each compiled part runs, for :func:`stabkit.kernels`."""

from __future__ import annotations

from . import status, step

__all__ = ["kernels"]


def kernels() -> dict[str, str]:
    """Which path stabkit runs: ``"native"`` (the compiled kernel of the
    one extension ``stabkit._native._kernels``) or why the NumPy path runs
    instead, for each accurate-tier function and arithmetic format
    (``"sigmoid/float32"``, ``"softmax/float64"``, ...; a row-wise function's
    entry is for rows wider than 16, ``"logsumexp/float64 (rows <= 16)"`` and
    the like for the narrow-row kernel) and for
    the trainer's step (``"trainer_step"``; a model the C step does not
    handle runs NumPy all the same). The reasons: ``STABKIT_NATIVE=0``, the
    extension not built at install time or not loadable, no kernel for that
    format yet, and the like. Registers the bfloat16 loops (importing
    ml_dtypes) to tell whether they run."""
    out = status.kernels()
    where, why = step.status()
    out["trainer_step"] = "native" if where == "C" else why
    return out
