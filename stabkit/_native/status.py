"""Which path each accurate-tier function runs: the compiled kernel or NumPy."""

from __future__ import annotations

from . import elementwise

__all__ = ["kernels", "summary"]

_ALL_FORMATS = ("float32", "float16", "bfloat16", "float64")


def kernels(load: bool = True) -> dict[str, str]:
    """``{"function/format": "native" or why the NumPy path runs}`` for the
    elementwise functions in the four arithmetic formats. ``load=False``
    does not import ml_dtypes to register the bfloat16 loops (see
    :func:`stabkit._native.elementwise.why_not`)."""
    out = {}
    for name in elementwise.FUNCTIONS:
        for fmt in _ALL_FORMATS:
            why = elementwise.why_not(name, fmt, load)
            out[f"{name}/{fmt}"] = "native" if why is None else why
    return out


def summary() -> str:
    """One line for ``stabkit list``: which elementwise kernels are compiled
    (without importing ml_dtypes: ``list`` stays light)."""
    table = kernels(load=False)
    native = [k for k, v in table.items() if v == "native"]
    fmts = [f for f in _ALL_FORMATS if any(k.endswith("/" + f) for k in native)]
    head = "accurate elementwise kernels (sigmoid, log_sigmoid, softplus): "
    if not native:
        return head + "NumPy (" + next(iter(table.values())) + ")"
    rest = [f for f in _ALL_FORMATS if f not in fmts]
    return head + f"native for {', '.join(fmts)}" + (f"; NumPy for {', '.join(rest)}" if rest else "")
