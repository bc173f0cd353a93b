"""Which path each accurate-tier function runs: the compiled kernel or NumPy."""

from __future__ import annotations

from . import elementwise, narrowrows, rounding, rows, targets

__all__ = ["kernels", "summary"]

_ALL_FORMATS = ("float32", "float16", "bfloat16", "float64")
#: the row-wise functions whose rows wider than 16 the row kernel runs, in
#: every format (float16 and bfloat16 rows converted to float64, as float32
#: ones are inside the passes; results rounded once at the end)
ROWWISE = ("softmax", "log_softmax", "logsumexp", "sparse_categorical_crossentropy", "categorical_crossentropy")
#: the suffix of the keys of the binary cross-entropy from probabilities
FROM_PROBABILITIES = " (from probabilities)"
#: the functions and formats whose rows of 16 or fewer columns the narrow-row
#: kernel runs (every format; the narrower ones in float64 without residuals;
#: the cross-entropies from logits)
NARROW = {"softmax": _ALL_FORMATS, "logsumexp": _ALL_FORMATS, "log_softmax": _ALL_FORMATS,
          "sparse_categorical_crossentropy": _ALL_FORMATS, "categorical_crossentropy": _ALL_FORMATS}
#: the functions whose rows wider than 16 the wide-row kernel runs in one
#: call per block (every format; the row kernel's passes where it does not)
WIDE = {"softmax": _ALL_FORMATS, "log_softmax": _ALL_FORMATS, "logsumexp": _ALL_FORMATS,
        "sparse_categorical_crossentropy": _ALL_FORMATS, "categorical_crossentropy": ("float64",)}
#: the suffix of those keys
WIDE_SUFFIX = " (rows > 16, one call per block)"
#: the entry of the compiled rounding of float64 results (every tier's
#: float16 and bfloat16 results, floats.round_float64)
ROUNDING = "rounding to float16/bfloat16"
#: the entries of the compiled steps of the logsumexp rows where m + log1p(s)
#: cancels (stabkit._accurate.cancelling; every format, the rows in float64):
#: the vectorised double-double step and the one-entry one after it
CANCELLING = ("logsumexp (cancelling rows, vectorised double-double step)",
              "logsumexp (cancelling rows, double-double step)")
#: the entry of the weighted logsumexp's compiled pass (_lse_weighted.c;
#: float32 and float64 rows read as they are, 16-bit ones converted)
WEIGHTED = "logsumexp with weights b (correctly rounded pass)"
#: the entry of the sparse cross-entropy from probabilities' winner and rest
#: (_winner_rest.h; every format, the rows in float64)
PROB_REST = "sparse_categorical_crossentropy (from probabilities: each row's winner and rest)"
#: the entry of the losses' smoothed and weighted targets (_targets.c; every
#: format, the targets in float64)
TARGETS = "loss targets (label smoothing, class and positive-class weights)"


def kernels(load: bool = True) -> dict[str, str]:
    """``{"function/format": "native" or why the NumPy path runs}`` for the
    elementwise functions and the binary cross-entropy from logits in the
    four arithmetic formats (``"binary_crossentropy/float32 (from
    probabilities)"`` and the like for the loss from probabilities, the
    default ``from_logits=False``) and the row-wise ones (their rows wider than 16;
    NaN or infinite maxima always run NumPy), and ``{"function/format (rows
    <= 16)": ...}`` for the pairs whose narrow rows the narrow-row kernel runs
    (:data:`NARROW`), ``{"function/format (rows > 16, one call per block)":
    ...}`` for those whose wide rows the wide-row kernel runs (:data:`WIDE`),
    :data:`ROUNDING` for the rounding of float64
    results to float16 and bfloat16, :data:`CANCELLING` for the steps of
    the logsumexp rows that cancel, :data:`WEIGHTED` for the weighted
    logsumexp's pass, :data:`PROB_REST` for the sparse cross-entropy from
    probabilities' row sums, and :data:`TARGETS` for the losses'
    smoothed and weighted targets. ``load=False`` does not import ml_dtypes to register
    the bfloat16 loops (see :func:`stabkit._native.elementwise.why_not`)."""
    out = {}
    for name in (*elementwise.FUNCTIONS, *elementwise.LOSSES):
        for fmt in _ALL_FORMATS:
            why = elementwise.why_not(name, fmt, load)
            out[f"{name}/{fmt}"] = "native" if why is None else why
    for name in elementwise.PROBABILITIES:
        for fmt in _ALL_FORMATS:
            why = elementwise.why_not(name, fmt, load, logits=False)
            out[f"{name}/{fmt}{FROM_PROBABILITIES}"] = "native" if why is None else why
    row = rows.status()
    for name in ROWWISE:
        for fmt in _ALL_FORMATS:
            out[f"{name}/{fmt}"] = row
    narrow = narrowrows.narrow_status()
    for name, fmts in NARROW.items():
        for fmt in fmts:
            out[f"{name}/{fmt} (rows <= 16)"] = narrow
    for name, fmts in WIDE.items():
        for fmt in fmts:
            out[f"{name}/{fmt}{WIDE_SUFFIX}"] = narrow
    out[ROUNDING] = rounding.status()
    out[CANCELLING[0]] = out[CANCELLING[1]] = out[WEIGHTED] = out[PROB_REST] = row
    out[TARGETS] = targets.status()
    return out


def summary() -> str:
    """Seven lines for ``stabkit list``: which elementwise, loss (from logits,
    from probabilities), row, narrow-row and wide-row kernels and the rounding to float16/bfloat16 are compiled (without importing ml_dtypes or the
    accurate tier, which checks the float64 loops on first use: ``list``
    stays light)."""
    all_ = kernels(load=False)
    table = {k: v for k, v in all_.items() if k.split("/")[0] in elementwise.FUNCTIONS}
    row = rows.status()
    row_line = "accurate row kernel (rows wider than 16): " + (
        "native for " + ", ".join(_ALL_FORMATS) if row == "native" else f"NumPy ({row})")
    narrow = narrowrows.narrow_status()
    narrow_line = "accurate narrow-row kernel (rows of 16 or fewer): " + (
        "native for softmax (rows that need no shift), logsumexp, log_softmax and the sparse and categorical "
        "cross-entropies from logits (every format)"
        if narrow == "native" else f"NumPy ({narrow})")
    wide_line = "accurate wide-row kernel (rows wider than 16, one call per block): " + (
        "native for softmax (rows that need no shift), log_softmax, logsumexp and the sparse cross-entropy "
        "from logits (every format), the categorical one (float64)"
        if narrow == "native" else f"NumPy passes ({narrow})")
    why = rounding.status()
    round_line = "rounding of float64 results to float16/bfloat16: " + (
        "native" if why == "native" else f"NumPy ({why})")
    return "\n".join((_elementwise_line(table), _loss_line(all_), _loss_line(all_, FROM_PROBABILITIES), row_line,
                      narrow_line, wide_line, round_line))


def _loss_line(table: dict[str, str], suffix: str = "") -> str:
    head = f"accurate binary_crossentropy kernel{suffix or ' (from logits)'}: "
    fmts = [f for f in _ALL_FORMATS if table[f"binary_crossentropy/{f}{suffix}"] == "native"]
    if not fmts:
        return head + "NumPy (" + table[f"binary_crossentropy/float64{suffix}"] + ")"
    rest = [f for f in _ALL_FORMATS if f not in fmts]
    return head + f"native for {', '.join(fmts)}" + (f"; NumPy for {', '.join(rest)}" if rest else "")


def _elementwise_line(table: dict[str, str]) -> str:
    native = [k for k, v in table.items() if v == "native"]
    fmts = [f for f in _ALL_FORMATS if any(k.endswith("/" + f) for k in native)]
    head = "accurate elementwise kernels (sigmoid, log_sigmoid, softplus): "
    if not native:
        return head + "NumPy (" + next(iter(table.values())) + ")"
    rest = [f for f in _ALL_FORMATS if f not in fmts]
    # _lut16.h: long 16-bit calls read a table of every result
    table16 = " (16-bit calls of 2^14 elements or more: a table of all 2^16 results)" \
        if {"float16", "bfloat16"} & set(fmts) else ""
    return head + f"native for {', '.join(fmts)}" + (f"; NumPy for {', '.join(rest)}" if rest else "") + table16
