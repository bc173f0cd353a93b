"""``stabkit list | eval``: the functions, and every tier of one of them at
given inputs beside the correctly rounded reference.

Only parses, calls the library and prints; problems are raised as the
exceptions of :mod:`stabkit.cli.common`.
"""

from __future__ import annotations

import json
import math
import sys
from enum import Enum
from typing import Annotated, Optional

import numpy as np
import typer

from stabkit import registry
from stabkit._io import jsonable
from stabkit.analysis.thirdparty import KNOWN_IMPLS
from stabkit.floats import ARITH_FORMATS, FORMATS, get_format, round_float64
from stabkit.registry import TIERS
from .common import Failure, UsageFailure, invalid, none_can_run, plain_table, print_whole, rich_table
from stabkit.report.cells import ulp_text
from .numbers import parse_list, parse_number, refuse_unknown_options, rounded_once, written_value
from .options import check_formats, check_list, unknown_function

__all__ = ["app", "Format"]

app = typer.Typer()

#: the formats the functions run in (``--help`` lists them)
Format = Enum("Format", {name: name for name in ARITH_FORMATS}, type=str, module=__name__)


def _format(text: str) -> Format:
    """One format, parsed as report's --dtypes parses them (any case; a
    float8 format refused with its reason)."""
    names = check_formats("--dtype", text)
    if len(names) != 1:
        raise invalid("--dtype", f"one format only, got {text!r}")
    return Format(names[0])


# ------------------------------------------------------------------ list


@app.command("list")
def list_cmd(
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON object instead of tables.")] = False,
) -> None:
    """List the functions, their tiers and the formats they run in.

    On a terminal: tables that never cut a name. Through a pipe: plain
    aligned columns, the name first (`stabkit list | awk '{print $1}'`).
    """
    funcs = [
        {"name": p.name, "kind": p.kind, "args": list(p.args), "formula": p.formula,
         "tiers": {t: p.identities[t] for t in registry.TIERS}}
        for p in registry.PRIMITIVES.values()
    ]
    fmts = [{"name": f.name, "precision": f.precision, "emin": f.emin, "emax": f.emax, "max": f.max,
             "arithmetic": f.name in ARITH_FORMATS} for f in FORMATS.values()]
    if as_json:
        typer.echo(json.dumps({"functions": funcs, "formats": fmts, "tiers": list(registry.TIERS)}, indent=2))
        return
    tables = [
        ("functions (every tier: naive, stable, accurate)",
         ["function", "arguments", "formula", "accurate tier"],
         [[f["name"], ", ".join(f["args"]), f["formula"], f["tiers"]["accurate"]] for f in funcs]),
        ("formats",
         ["format", "precision (bits)", "emin", "emax", "max", "functions run in it"],
         [[f["name"], str(f["precision"]), str(f["emin"]), str(f["emax"]), f"{f['max']:.6g}",
           "yes" if f["arithmetic"] else "no (ulps, rounding and references only)"] for f in fmts]),
    ]
    from stabkit.nn import native_status  # ("C", "") or ("NumPy", why)

    from stabkit._native.status import summary as kernels_summary

    from stabkit._native import gufuncs

    step, why = native_status()
    rows_why = gufuncs.why_not()
    native = (kernels_summary() + "\n"
              + "row-wise gufuncs of stabkit.ufuncs (logsumexp '(n)->()', softmax and log_softmax '(n)->(n)'): "
              + (f"not available ({rows_why})" if rows_why else "available") + "\n"
              + f"trainer step: {step}" + (f" ({why})" if why else ""))
    if not sys.stdout.isatty():
        typer.echo("\n\n".join(plain_table(header, rows) for _, header, rows in tables) + "\n\n" + native)
        return
    from rich.console import Console
    from rich.text import Text

    console = Console()
    for title, header, rows in tables:
        rich_table(console, title, header, rows)
    console.print(Text(native))


# ------------------------------------------------------------------ eval


def _show(v, dtype) -> str:
    """A value printed the way its own format prints it (shortest round-trip)."""
    f = float(v)
    if math.isnan(f):
        return "nan"
    if math.isinf(f):
        return "inf" if f > 0 else "-inf"
    return str(np.asarray(v).astype(dtype)[()])


def _cli_words(text: str) -> str:
    """A tier's advice in the command line's words (its options, not Python's keywords)."""
    text = text.replace("pass from_logits=True", "use --from-logits (or drop --from-probs)")
    return text.replace("with from_logits=False", "with --from-probs")


def _rescue_options(values: list[str], opts: dict) -> list[str]:
    """Options written after ``--`` arrive as values (``eval sigmoid -- -800
    --dtype float64``); take them back out so both spellings work."""
    out: list[str] = []
    it = iter(values)
    for tok in it:
        name, eq, val = tok.partition("=")
        if name in ("--dtype", "--labels", "--impls"):
            v = val if eq else next(it, None)
            if v is None:
                raise UsageFailure(f"option {name} needs a value")
            opts[name[2:]] = _format(v) if name == "--dtype" else v
        elif tok in ("--json",):
            opts["as_json"] = True
        elif tok in ("--from-logits", "--from-probs"):
            opts["from_logits"] = tok == "--from-logits"
        else:
            out.append(tok)
    return out


def _label_text(v: float) -> str:
    """A label as typed: ``0`` and ``1`` for whole numbers, else the float's shortest form."""
    return str(int(v)) if float(v).is_integer() else repr(float(v))


def _status(errs: np.ndarray, bad: np.ndarray, precision: int, inf_exact: np.ndarray | None = None) -> str:
    """One verdict for an implementation's outputs, from the worst of them
    (``inf_exact``: where the exact value is infinite)."""
    if bad.any():
        if inf_exact is not None and not (bad & ~inf_exact).any():
            return "FAIL: the exact value is infinite, the result is not"
        return "FAIL: inf/NaN where the exact value is finite"
    defined = errs[~np.isnan(errs)]
    if defined.size == 0:
        return "exact value undefined (NaN)"
    worst = float(defined.max())
    if worst <= 0.5:
        return "correctly rounded"
    if worst < 1:
        return "faithful (< 1 ulp)"
    # an error of 2**(p-1) ulp(exact) is at least half of |exact|: not one bit of the value is right
    if worst >= 2.0 ** (precision - 1):
        # past float64's range: a value far from an exact 0, whose ulp is the least subnormal
        return "wrong: over 1.8e+308 ulp" if np.isinf(worst) else f"wrong: {worst:.3g} ulp"
    return f"{worst:.3g} ulp off"


def _evaluate(impls, prim, fmt, args, from_logits) -> dict:
    """impl -> (outputs, None) or (None, why): "n/a" when the library has no
    such function, its error (one line) when it raised. A stabkit tier's
    ValueError is the user's input (a label out of range)."""
    from stabkit.analysis.stats import error_text
    from stabkit.analysis.thirdparty import Unsupported

    outs = {}
    for impl in impls:
        try:
            outs[impl.name] = (np.asarray(impl.evaluate(prim.name, fmt, args, from_logits)), None)
        except Unsupported:
            outs[impl.name] = (None, "n/a")
        except ValueError as e:
            if not impl.fail_soft:
                raise UsageFailure(_cli_words(str(e))) from None
            outs[impl.name] = (None, "error: " + error_text(e))
        except Exception as e:  # noqa: BLE001 - a library's failure is its row's result
            if not impl.fail_soft:
                raise
            outs[impl.name] = (None, "error: " + error_text(e))
    return outs


@app.command("eval", context_settings={"ignore_unknown_options": True})
def eval_cmd(
    function: Annotated[str, typer.Argument(help="Function name (see `stabkit list`).")],
    values: Annotated[list[str], typer.Argument(help="Input values (one row for row-wise functions; predictions for losses); negative numbers as they are (-3, -inf).")],
    dtype: Annotated[Format, typer.Option(case_sensitive=False, help="Format the inputs are rounded to and the tiers compute in.")] = Format.float64,
    labels: Annotated[Optional[str], typer.Option(help="Losses only (required there): one class index (sparse), or comma-separated targets (binary, categorical).")] = None,
    from_logits: Annotated[Optional[bool], typer.Option("--from-logits/--from-probs", help="Losses only: whether the loss inputs are logits (the default) or probabilities.", show_default=False)] = None,
    impls: Annotated[str, typer.Option(help=f"Comma-separated implementations: {', '.join(KNOWN_IMPLS)} (libraries that are not installed are skipped).")] = ",".join(TIERS),
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON object.")] = False,
) -> None:
    """Evaluate each tier (or library) at the given inputs beside the correctly rounded reference."""
    from stabkit.reference.ziv import reference

    opts = {"dtype": dtype, "labels": labels, "from_logits": from_logits, "as_json": as_json, "impls": impls}
    values = _rescue_options(values, opts)
    refuse_unknown_options(values)
    dtype, labels, from_logits, as_json = opts["dtype"], opts["labels"], opts["from_logits"], opts["as_json"]
    names = check_list("--impls", opts["impls"], KNOWN_IMPLS, "implementation")
    if not values:
        raise UsageFailure("no input values given")
    try:
        prim = registry.get(function)
    except ValueError as e:
        raise UsageFailure(unknown_function(e, function)) from None
    if not prim.is_loss and labels is not None:
        raise invalid("--labels", f"only for the losses; {prim.name} takes no labels")
    if not prim.is_loss and from_logits is not None:
        raise invalid("--from-logits" if from_logits else "--from-probs",
                      f"only for the losses; {prim.name} takes no logits or probabilities")
    from_logits = True if from_logits is None else from_logits
    fmt = get_format(dtype.value)
    xs = np.array([parse_number(v) for v in values], dtype=np.float64)
    x = rounded_once(values, xs, fmt)
    # an input the format cannot hold is said, not only shown in the title
    for text, r in zip(values, x.astype(np.float64)):
        written = written_value(text)
        if written.is_finite() and np.isinf(r):
            typer.echo(f"note: {text} rounds to {r:g} in {fmt.name} (beyond its largest finite value)", err=True)
        elif written != 0 and r == 0:
            typer.echo(f"note: {text} rounds to {r:g} in {fmt.name} (below half its least subnormal)", err=True)
    args: tuple
    if prim.is_loss:
        if labels is None:
            raise UsageFailure(f"{prim.name} needs --labels")
        lab = parse_list(labels)
        if prim.kind == "sparse_loss":
            if len(lab) != 1:
                raise UsageFailure(f"--labels takes one class index for {prim.name}, got {len(lab)}")
            if not lab[0].is_integer():
                raise UsageFailure(f"--labels {labels!r}: a class index is a whole number")
            if not 0 <= lab[0] < len(x):  # said here: 1e20 is no int64, and 2**63 - 1 is no float64
                raise UsageFailure(f"label {labels.strip()} is out of range for {len(x)} classes")
            x = x[None, :]
            y = np.array([int(lab[0])])
        else:
            if len(lab) != len(x):
                raise UsageFailure(f"--labels has {len(lab)} values but there are {len(x)} inputs")
            if not all(math.isfinite(v) for v in lab):  # a NaN target would give a NaN loss and exit 0
                raise UsageFailure(f"--labels {labels.strip()!r}: targets must be finite numbers in [0, 1]")
            # the targets in the inputs' format, as every tier takes them (and as the libraries need them)
            y = round_float64(np.array(lab, dtype=np.float64), fmt)
        args = (y, x)
    else:
        args = (x,)
    kw = {"from_logits": from_logits} if prim.is_loss else {}
    try:
        ref = reference(prim.name, *args, fmt=fmt, **kw)
    except ValueError as e:
        raise UsageFailure(_cli_words(str(e))) from None
    impl_objs, skipped = _resolve_cpu(names)
    if not impl_objs:
        raise Failure(none_can_run(skipped))
    for reason in skipped:
        typer.echo(reason, err=True)
    flat = lambda a: np.asarray(a).reshape(-1)  # noqa: E731
    rows = {}
    for name, (y_out, why) in _evaluate(impl_objs, prim, fmt, args, from_logits).items():
        if why is not None:
            rows[name] = (None, None, None, why)
            continue
        errs, bad = flat(ref.ulp_error(y_out)), flat(ref.failures(y_out))
        rows[name] = (flat(y_out), errs, bad, _status(errs, bad, fmt.precision, flat(np.isinf(ref.hi))))
    notes = {i.name: i.notes[(prim.name, fmt.name)] for i in impl_objs if (prim.name, fmt.name) in i.notes}
    if as_json:
        _print_json(prim, fmt, x, args, from_logits, ref, rows, notes, flat)
        return
    _print_table(prim, fmt, x, args, from_logits, ref, rows, flat)


def _resolve_cpu(names):
    from stabkit.analysis.thirdparty import resolve

    try:
        return resolve(names, "cpu")
    except ValueError as e:
        raise Failure(str(e)) from None


def _print_json(prim, fmt, x, args, from_logits, ref, rows, notes, flat) -> None:
    labels = {}
    if prim.is_loss:
        lab = flat(args[0])
        labels = {"labels": [int(v) for v in lab] if prim.kind == "sparse_loss" else [float(v) for v in lab],
                  "from_logits": from_logits}
    impls = {}
    for name, (vals, errs, bad, status) in rows.items():
        if vals is None:
            impls[name] = {"status": status}
            continue
        impls[name] = {"values": [float(v) for v in vals], "ulp_error": [float(e) for e in errs],
                       "failures": [bool(b) for b in bad], "status": status,
                       **({"note": notes[name]} if name in notes else {})}
    obj = jsonable({"function": prim.name, "dtype": fmt.name, "inputs": [float(v) for v in x.reshape(-1)], **labels,
                    "reference": [float(v) for v in flat(ref.rounded)], "implementations": impls})
    typer.echo(json.dumps(obj, indent=2))


def _print_table(prim, fmt, x, args, from_logits, ref, rows, flat) -> None:
    from rich.table import Table

    shown_in = " ".join(_show(v, fmt.dtype) for v in x.reshape(-1))
    title = f"{prim.name}({shown_in}) in {fmt.name}"
    if prim.is_loss:
        lab = " ".join(_label_text(v) for v in flat(args[0]))
        title += (f", label {lab}" if prim.kind == "sparse_loss" else f", labels {lab}")
        title += ", from logits" if from_logits else ", from probabilities"
    t = Table(title=title)
    cells = [("reference (mpmath, correctly rounded)", [_show(v, fmt.dtype) for v in flat(ref.rounded)], [], "")]
    for name, (vals, errs, bad, status) in rows.items():
        if vals is None:
            cells.append((name, ["—"], ["—"], status))
        else:
            cells.append((name, [_show(v, fmt.dtype) for v in vals], [ulp_text(e) for e in errs], status))
    # the words wrap; each number keeps a line of its own width, never folded
    widest = [max((len(v) for c in cells for v in c[k]), default=1) for k in (1, 2)]
    t.add_column("implementation", overflow="fold")
    t.add_column("value", overflow="fold", min_width=widest[0])
    t.add_column("ulp error", overflow="fold", min_width=max(widest[1], len("ulp error")))
    t.add_column("status", overflow="fold")
    for name, vals, errs, status in cells:
        t.add_row(name, " ".join(vals), " ".join(errs), status)
    print_whole(t, 160)
