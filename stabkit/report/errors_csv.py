"""``errors.csv``: every output of every implementation, with the exact
inputs it came from, so any line can be recomputed (:func:`read_errors`,
:func:`recompute`).

Columns: ``function`` (``loss:probs`` from probabilities), ``format``,
``impl``, ``coordinate`` and ``coord`` (the plotting axis: x, logit z,
logit(p) or the row's logit gap), ``input`` (the input's number in its
function and format: the element, or the row), ``entry`` (the output's
place in its row for softmax and log-softmax, else empty), ``y_true`` and
``x`` (the inputs), ``value``, ``reference`` (correctly rounded),
``ulp_error``, ``failure`` (0/1) and ``kind`` (what happened:
:data:`stabkit.analysis.stats.KINDS`).

Every number is Python's ``repr`` of the float64 that holds the format's
value exactly (``float()`` reads it back bit for bit; ``inf`` and ``nan``
too). A row is written as its entries separated by spaces (no field holds a comma or a
quote, so a line splits on its commas), a sparse label as
an integer, a categorical target as a row. A row's ``y_true`` and ``x`` are
written on the first line that uses it and left empty on the later ones
(another implementation's line, another entry of the row), which would
otherwise repeat a row of up to 10^4 entries 10^4 times.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np

from stabkit.analysis.stats import KINDS, classify
from stabkit.floats import get_format
from stabkit.registry import get

__all__ = ["HEADER", "errors_csv", "ErrorLine", "read_errors", "recompute"]

HEADER = ["function", "format", "impl", "coordinate", "coord", "input", "entry", "y_true", "x", "value", "reference",
          "ulp_error", "failure", "kind"]
PROBS = ":probs"


def _r(v) -> str:
    return repr(float(v))


def _cell(a) -> str:
    """One input as text: a number, an integer label, or a row."""
    a = np.asarray(a)
    if a.ndim == 0:
        return str(int(a)) if a.dtype.kind in "iu" else _r(a)
    return " ".join(_r(v) for v in a.astype(np.float64))


def _places(sample):
    """Per output (flattened over the groups): (input number, entry or -1,
    group, index of the input inside its group's arguments)."""
    out, base = [], 0
    for g in sample.groups:
        x = g.args[-1]
        k = np.arange(g.size)
        if x.ndim == 2 and g.size == x.size:  # one output per entry
            rows, entry = np.divmod(k, x.shape[1])
        else:
            rows, entry = k, np.full(g.size, -1)
        out += [(base + r, e, g, r) for r, e in zip(rows.tolist(), entry.tolist())]
        base += x.shape[0]
    return out


def errors_csv(rep, variant_name) -> str:
    """The CSV text of every defined output of ``rep`` (a report.build.Report);
    ``variant_name(analysis)`` names its function column."""
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(HEADER)
    for a in rep.analyses:
        name = variant_name(a)
        places = _places(a.sample)
        seen = set()
        for impl, p in a.points.items():
            if p is None:
                continue
            kind = classify(p)
            for i in np.flatnonzero(~p.undefined).tolist():
                inp, entry, g, r = places[i]
                y_true = x = ""
                if inp not in seen or g.args[-1].ndim == 1:
                    seen.add(inp)
                    x = _cell(g.args[-1][r])
                    y_true = _cell(g.args[0][r]) if len(g.args) == 2 else ""
                w.writerow([name, a.fmt, impl, a.sample.coord_name, _r(p.coord[i]), inp, "" if entry < 0 else entry,
                            y_true, x, _r(p.y[i]), _r(p.rounded[i]), _r(p.ulp[i]), int(p.failure[i]), KINDS[kind[i]]])
    return buf.getvalue()


@dataclass
class ErrorLine:
    """One line of errors.csv with its inputs rebuilt as a one-input call:
    ``args`` as the function takes them (``x`` of shape (1,) or (1, n))."""

    function: str
    from_logits: bool
    format: str
    impl: str
    args: tuple
    entry: int | None
    value: float
    reference: float
    ulp_error: float
    failure: bool
    kind: str


def _args(prim, fmt: str, y_text: str, x_text: str) -> tuple:
    """The call's arguments for one input: (x,) or (y_true, x), one element
    or one row."""
    dtype = get_format(fmt).dtype
    rows = prim.kind not in ("elementwise", "binary_loss")
    # the float64 values hold the format's exactly: the cast is exact
    x = np.array([float(v) for v in x_text.split()], np.float64).astype(dtype)
    x = x[None, :] if rows else x
    if not prim.is_loss:
        return (x,)
    if prim.kind == "sparse_loss":
        return np.array([int(y_text)], np.int64), x
    y = np.array([float(v) for v in y_text.split()], np.float64).astype(dtype)
    return (y[None, :] if rows else y), x


def read_errors(text: str) -> Iterator[ErrorLine]:
    """Each line of an errors.csv text, with the row inputs that earlier
    lines carried filled in."""
    lines = iter(text.splitlines())
    if next(lines, "").split(",") != HEADER:
        raise ValueError(f"not an errors.csv: the first line is not {','.join(HEADER)}")
    inputs: dict = {}
    # no field holds a comma or a quote, so a line splits on its commas (the
    # csv module would refuse a row of 10^4 entries as one field, 200 kB,
    # unless its limit were raised for the whole process)
    for d in (dict(zip(HEADER, raw.split(","))) for raw in lines):
        name, probs = (d["function"][: -len(PROBS)], True) if d["function"].endswith(PROBS) else (d["function"], False)
        prim = get(name)
        key = (d["function"], d["format"], d["input"])
        if d["x"]:  # parsed once per input: a row's later lines reuse it
            inputs[key] = _args(prim, d["format"], d["y_true"], d["x"])
        args = inputs[key]
        yield ErrorLine(name, not probs, d["format"], d["impl"], args, int(d["entry"]) if d["entry"] else None,
                        float(d["value"]), float(d["reference"]), float(d["ulp_error"]), d["failure"] == "1", d["kind"])


def recompute(line: ErrorLine, impl) -> float:
    """``line``'s output computed again by ``impl`` (a
    :class:`stabkit.analysis.thirdparty.Impl`), as a float."""
    y = np.asarray(impl.evaluate(line.function, line.format, line.args, line.from_logits))
    return float(y[0, line.entry] if line.entry is not None else y[0])
