"""The ``stabkit`` command line: parses, calls the library, prints.

Every failure a user can cause ends in exactly one line on stderr
(``error: ...``) and a non-zero exit code: 2 for usage errors, 1 for
failures. Tracebacks are shown only with ``STABKIT_DEBUG=1``.
"""

from __future__ import annotations

import json
import math
import os
import sys
from typing import Annotated, Optional

import numpy as np
import typer
from typer.core import TyperGroup
from typer.exceptions import Abort, TyperException

from stabkit import registry
from .common import plain_table, rich_table
from stabkit.floats import ARITH_FORMATS, FORMATS, get_format, round_float64

__all__ = ["app", "fail", "UsageFailure"]


class UsageFailure(TyperException):
    """A bad argument: one line on stderr, exit code 2."""

    exit_code = 2


def _with_value(e: TyperException) -> str:
    """The error's message, with the rejected value when typer's pydantic
    check left it out ("Input should be a valid integer" names no value)."""
    msg = e.format_message()
    errors = getattr(e.__cause__, "errors", None)
    try:
        first = errors()[0] if callable(errors) else None
    except Exception:  # noqa: BLE001 - a message, never a second error
        first = None
    if first and "input" in first:
        msg = f"{msg.rstrip('.')}; got {str(first['input'])!r}"
    return " ".join(msg.split())


class _OneLineGroup(TyperGroup):
    """Click group that reports every error as one line instead of a usage box."""

    def main(self, args=None, prog_name=None, complete_var=None, standalone_mode=True, **extra):
        try:
            rv = super().main(args=args, prog_name=prog_name, complete_var=complete_var, standalone_mode=False, **extra)
        except TyperException as e:  # usage errors, bad parameters, UsageFailure
            # (empty for `stabkit` alone: typer has printed the help already)
            typer.echo(f"error: {_with_value(e) or 'Missing command.'}", err=True)
            sys.exit(e.exit_code)
        except (Abort, KeyboardInterrupt):
            typer.echo("error: interrupted", err=True)
            sys.exit(130)
        except Exception as e:  # the last line of defence: no traceback for users
            if os.environ.get("STABKIT_DEBUG"):
                raise
            first = (str(e).strip().splitlines() or [""])[0]  # one line, whatever the exception's message holds
            typer.echo(f"error: internal error: {type(e).__name__}: {first} (STABKIT_DEBUG=1 shows the traceback)", err=True)
            sys.exit(1)
        code = rv if isinstance(rv, int) else 0
        if code == 130:  # typer turns Ctrl-C into Exit(130) before we see it
            typer.echo("error: interrupted", err=True)
        if standalone_mode:
            sys.exit(code)
        return rv


app = typer.Typer(
    cls=_OneLineGroup,
    help="Naive, stable and accurate softmax, sigmoid and cross-entropy, measured in ulps against mpmath.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)


def _version(value: bool) -> None:
    if value:
        from stabkit import __version__

        typer.echo(f"stabkit {__version__}")
        raise typer.Exit()


@app.callback()
def _main(
    version: Annotated[
        bool, typer.Option("--version", callback=_version, is_eager=True, help="Print the version and exit.")
    ] = False,
) -> None:
    pass


def fail(message: str, code: int = 1) -> None:
    """Print one error line and exit (2 = usage error, 1 = failure)."""
    if code == 2:
        raise UsageFailure(message)
    typer.echo(f"error: {message}", err=True)
    raise typer.Exit(code)


# ------------------------------------------------------------------ list


def _native_step() -> tuple[str, str]:
    """The trainer's step: ``("C", "")`` or ``("NumPy", why)``."""
    from stabkit.nn import native_status

    step, why = native_status()
    return step, why


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
    step, why = _native_step()
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
        fail(f"{text!r} is not a number", 2)
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


def _json_num(v):
    f = float(v)
    if math.isnan(f):
        return "nan"
    if math.isinf(f):
        return "inf" if f > 0 else "-inf"
    return f


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
                fail(f"option {name} needs a value", 2)
            opts[name[2:]] = v
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
    dtype: Annotated[str, typer.Option(help="Format the inputs are rounded to and the tiers compute in: float16, bfloat16, float32, float64.")] = "float64",
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
        fail("no input values given", 2)
    try:
        prim = registry.get(function)
    except ValueError as e:
        fail(str(e), 2)
    if dtype not in ARITH_FORMATS:
        fail(f"unknown format {dtype!r}; use one of {', '.join(ARITH_FORMATS)}", 2)
    fmt = get_format(dtype)
    xs = np.array([_parse_number(v) for v in values], dtype=np.float64)
    x = round_float64(xs, fmt)  # one rounding (astype double-rounds bfloat16 with ml_dtypes < 0.7)
    args: tuple
    if prim.is_loss:
        if labels is None:
            fail(f"{prim.name} needs --labels", 2)
        lab = _parse_list(labels)
        if prim.kind == "sparse_loss":
            if len(lab) != 1:
                fail(f"--labels takes one class index for {prim.name}, got {len(lab)}", 2)
            y = np.array(lab[0])
            x = x[None, :]
            y = y[None]
        else:
            if len(lab) != len(x):
                fail(f"--labels has {len(lab)} values but there are {len(x)} inputs", 2)
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
        fail(str(e), 2)
    flat = lambda a: np.asarray(a).reshape(-1)  # noqa: E731
    rows = {}
    for tier, y_out in outs.items():
        rows[tier] = (flat(y_out), flat(ref.ulp_error(y_out)), flat(ref.failures(y_out)))
    if as_json:
        obj = {
            "function": prim.name,
            "dtype": fmt.name,
            "inputs": [_json_num(v) for v in x.reshape(-1)],
            **({"labels": [_json_num(v) for v in flat(args[0])], "from_logits": from_logits} if prim.is_loss else {}),
            "reference": [_json_num(v) for v in flat(ref.rounded)],
            "implementations": {
                t: {"values": [_json_num(v) for v in vals], "ulp_error": [_json_num(e) for e in errs],
                    "failures": [bool(b) for b in bad]}
                for t, (vals, errs, bad) in rows.items()
            },
        }
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

from . import report as cli_report  # noqa: E402
cli_report.register(app)

from . import train as cli_train  # noqa: E402
cli_train.register(app)

from . import slides as cli_slides  # noqa: E402
cli_slides.register(app)
