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
from stabkit.floats import ARITH_FORMATS, FORMATS, get_format, round_float64
from .common import UsageFailure, invalid, plain_table, rich_table

__all__ = ["app", "Format"]

app = typer.Typer()

#: the formats the functions run in (``--help`` lists them)
Format = Enum("Format", {name: name for name in ARITH_FORMATS}, type=str, module=__name__)


def _format(text: str) -> Format:
    try:
        return Format(text)
    except ValueError:
        raise invalid("--dtype", f"unknown format {text!r}; use one of {', '.join(ARITH_FORMATS)}") from None


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
           "yes" if f["arithmetic"] else "reports only"] for f in fmts]),
    ]
    from stabkit.nn import native_status  # ("C", "") or ("NumPy", why)

    step, why = native_status()
    native = f"trainer step: {step}" + (f" ({why})" if why else "")
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


def _parse_number(text: str) -> float:
    try:
        v = float(text)
    except ValueError:
        raise UsageFailure(f"{text!r} is not a number") from None
    return v


def _parse_list(text: str) -> list[float]:
    return [_parse_number(t) for t in text.replace(",", " ").split()]


def _show(v, dtype) -> str:
    """A value printed the way its own format prints it (shortest round-trip)."""
    f = float(v)
    if math.isnan(f):
        return "nan"
    if math.isinf(f):
        return "inf" if f > 0 else "-inf"
    return str(np.asarray(v).astype(dtype)[()])


def _rescue_options(values: list[str], opts: dict) -> list[str]:
    """Options written after ``--`` arrive as values (``eval sigmoid -- -800
    --dtype float64``); take them back out so both spellings work."""
    out: list[str] = []
    it = iter(values)
    for tok in it:
        name, eq, val = tok.partition("=")
        if name in ("--dtype", "--labels"):
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


@app.command("eval", context_settings={"ignore_unknown_options": True})
def eval_cmd(
    function: Annotated[str, typer.Argument(help="Function name (see `stabkit list`).")],
    values: Annotated[list[str], typer.Argument(help="Input values (one row for row-wise functions; predictions for losses). Put `--` before negative numbers.")],
    dtype: Annotated[Format, typer.Option(help="Format the inputs are rounded to and the tiers compute in.")] = Format.float64,
    labels: Annotated[Optional[str], typer.Option(help="Labels for the losses: one class index (sparse), or comma-separated targets (binary, categorical).")] = None,
    from_logits: Annotated[bool, typer.Option("--from-logits/--from-probs", help="Whether the loss inputs are logits or probabilities.")] = True,
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON object.")] = False,
) -> None:
    """Evaluate every tier at the given inputs beside the correctly rounded reference."""
    from stabkit.reference.ziv import reference

    opts = {"dtype": dtype, "labels": labels, "from_logits": from_logits, "as_json": as_json}
    values = _rescue_options(values, opts)
    dtype, labels, from_logits, as_json = opts["dtype"], opts["labels"], opts["from_logits"], opts["as_json"]
    if not values:
        raise UsageFailure("no input values given")
    try:
        prim = registry.get(function)
    except ValueError as e:
        raise UsageFailure(str(e)) from None
    fmt = get_format(dtype.value)
    xs = np.array([_parse_number(v) for v in values], dtype=np.float64)
    x = round_float64(xs, fmt)  # one rounding (astype double-rounds bfloat16 with ml_dtypes < 0.7)
    args: tuple
    if prim.is_loss:
        if labels is None:
            raise UsageFailure(f"{prim.name} needs --labels")
        lab = _parse_list(labels)
        if prim.kind == "sparse_loss":
            if len(lab) != 1:
                raise UsageFailure(f"--labels takes one class index for {prim.name}, got {len(lab)}")
            y = np.array(lab[0])
            x = x[None, :]
            y = y[None]
        else:
            if len(lab) != len(x):
                raise UsageFailure(f"--labels has {len(lab)} values but there are {len(x)} inputs")
            y = np.array(lab, dtype=np.float64)
        args = (y, x)
    else:
        args = (x,)
    kw = {"from_logits": from_logits} if prim.is_loss else {}
    try:
        ref = reference(prim.name, *args, fmt=fmt, **kw)
        outs = {}
        with np.errstate(all="ignore"):
            import warnings

            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                for tier, fn in prim.tiers.items():
                    outs[tier] = np.asarray(fn(*args, **kw))
    except ValueError as e:
        raise UsageFailure(str(e)) from None
    flat = lambda a: np.asarray(a).reshape(-1)  # noqa: E731
    rows = {}
    for tier, y_out in outs.items():
        rows[tier] = (flat(y_out), flat(ref.ulp_error(y_out)), flat(ref.failures(y_out)))
    if as_json:
        obj = jsonable({
            "function": prim.name,
            "dtype": fmt.name,
            "inputs": [float(v) for v in x.reshape(-1)],
            **({"labels": [float(v) for v in flat(args[0])], "from_logits": from_logits} if prim.is_loss else {}),
            "reference": [float(v) for v in flat(ref.rounded)],
            "implementations": {
                t: {"values": [float(v) for v in vals], "ulp_error": [float(e) for e in errs],
                    "failures": [bool(b) for b in bad]}
                for t, (vals, errs, bad) in rows.items()
            },
        })
        typer.echo(json.dumps(obj, indent=2))
        return
    from rich.console import Console
    from rich.table import Table

    console = Console()
    shown_in = " ".join(_show(v, fmt.dtype) for v in x.reshape(-1))
    title = f"{prim.name}({shown_in}) in {fmt.name}"
    if prim.is_loss:
        title += f", labels {' '.join(_show(v, np.float64) for v in flat(args[0]))}, " + ("from logits" if from_logits else "from probabilities")
    t = Table(title=title)
    t.add_column("implementation")
    t.add_column("value")
    t.add_column("ulp error")
    t.add_column("")
    t.add_row("reference (mpmath, correctly rounded)", " ".join(_show(v, fmt.dtype) for v in flat(ref.rounded)), "", "")
    for tier, (vals, errs, bad) in rows.items():
        worst = float(np.nanmax(errs)) if errs.size and not np.all(np.isnan(errs)) else 0.0
        mark = "FAIL: non-finite where the exact value is finite" if bad.any() else ("ok" if worst < 1 else "")
        t.add_row(tier, " ".join(_show(v, fmt.dtype) for v in vals), " ".join(f"{e:.3g}" for e in errs), mark)
    console.print(t)
