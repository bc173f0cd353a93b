"""``stabkit analyze | report | plot | audit``: the error-analysis commands.

:data:`app` holds them (merged into ``stabkit``'s). Each command only parses, calls
:mod:`stabkit.analysis` / :mod:`stabkit.report` / :mod:`stabkit.report.plots` and
prints. A bad argument ends in one line on stderr (``error: ...``) with exit
code 2, a failure with exit code 1; nothing is written before the arguments
are checked, and files are written atomically. Progress goes to stderr (a
bar on a terminal, a line every few seconds elsewhere), never with
``--quiet``; rich honours ``NO_COLOR``.
"""

from __future__ import annotations

import functools
import json
import os
import warnings
from enum import Enum
from typing import Annotated, Optional

import numpy as np
import typer

from .common import Device, Failure, check_nonempty_path, check_out_folder, invalid, none_can_run, print_whole, files_of, note_kept_files, slash
from .functions import Format
from .options import (
    CacheOpt,
    DeviceOpt,
    QuietOpt,
    SchedulerOpt,
    AnalyzeSchedulerOpt,
    AnalyzeWorkersOpt,
    SeedOpt,
    WorkersOpt,
    check_formats,
    check_function,
    check_functions,
    check_list,
    check_samples,
    reference_options,
)
from .progress import progress
from stabkit._io import jsonable
from stabkit.floats import ARITH_FORMATS
from stabkit.registry import PRIMITIVES
from stabkit.analysis.thirdparty import FRAMEWORKS, KNOWN_IMPLS

__all__ = ["app", "PlotKind"]

app = typer.Typer()


class PlotKind(str, Enum):
    """The figures of ``stabkit plot`` (:data:`stabkit.report.plots.KINDS`)."""

    error = "error"
    values = "values"
    cdf = "cdf"


def _resolve(names, device):
    """The implementations (and skip reasons); a library that cannot run on
    ``--device`` is a bad value of that option, checked before any work."""
    from stabkit.analysis.thirdparty import DeviceUnavailable, resolve

    try:
        return resolve(names, device)
    except DeviceUnavailable as e:
        raise invalid("--device", str(e)) from None
    except ValueError as e:
        raise Failure(str(e)) from None


def _resolve_some(names, device, always=()):
    """:func:`_resolve`, and a failure when none of ``names`` (besides those in
    ``always``, which are run beside the others) can run here."""
    impl_objs, skipped = _resolve(names, device)
    asked = [n for n in names if n not in always]
    if asked and not [i for i in impl_objs if i.name in asked]:
        raise Failure(none_can_run(skipped))
    return impl_objs, skipped


def _progress(quiet: bool, label: str):
    """(advance, set_total) callbacks: a rich bar on stderr's terminal, a
    plain line every few seconds when stderr is not one, no-ops when quiet."""
    return progress(quiet, label)


def _ref_total(samples) -> int:
    from stabkit.report.build import reference_points

    return sum(reference_points(g) for s in samples for g in s.groups)


def _status(quiet: bool, text: str) -> None:
    if not quiet:
        typer.echo(text, err=True)


def _warn_errors(analyses) -> None:
    """One ``warning:`` line on stderr per third-party cell that raised (also
    with --quiet: the report is missing something)."""
    from stabkit.report.build import variant_name

    for a in analyses:
        for impl, err in a.errors.items():
            typer.echo(f"warning: {impl} {variant_name(a)} {a.fmt}: {err}", err=True)


def _write_report(cfg, out: str, quiet: bool, csv_errors: bool, figure_formats: list[str], options) -> None:
    """Run the report and write it: nothing is created in --out before the
    whole report is ready (a failed or interrupted run leaves it as it was)."""
    from stabkit.report.build import owned_files, run, write

    check_out_folder("--out", out)
    before, owned = files_of(out), owned_files(out)
    _resolve_some(cfg.impls, cfg.device, always=("accurate",) if cfg.command == "audit" else ())
    with _progress(quiet, "references") as (advance, set_total):
        rep = run(cfg, progress=advance, set_total=set_total, options=options)
    for s in rep.skipped:
        _status(quiet, s)
    _warn_errors(rep.analyses)
    try:
        paths = write(rep, out, csv_errors=csv_errors, figure_formats=tuple(figure_formats))
    except OSError as e:
        raise Failure(f"could not write the report into {out!r}: {e}") from None
    names = ["report.md", "report.html", "report.json"] + (["errors.csv"] if csv_errors else []) + ["figures/"]
    _status(quiet, f"wrote {len(paths)} files into {slash(out)} ({', '.join(names)})")
    note_kept_files(out, before, paths, owned)


_FIG_FORMATS = ("png", "svg", "pdf")


def _quiet_numpy(fn):
    """Run a command with NumPy's RuntimeWarnings off: overflow inside the
    naive formulas and in axis limits near 1e308 is expected, not news."""

    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        with warnings.catch_warnings(), np.errstate(all="ignore"):
            warnings.simplefilter("ignore", RuntimeWarning)
            return fn(*args, **kwargs)

    return wrapper


@app.command()
@_quiet_numpy
def analyze(
    ctx: typer.Context,
    function: Annotated[str, typer.Argument(help=f"One of: {', '.join(PRIMITIVES)}. A loss from probabilities: the name, then :probs, as in binary_crossentropy:probs.")],
    dtype: Annotated[Format, typer.Option(case_sensitive=False, help="Format the function runs in and the errors are measured in.")] = Format.float32,
    samples: Annotated[int, typer.Option(help="Random samples: points for one-argument functions and binary cross-entropy, rows (samples/10, at least 1) for the row-wise functions, each row giving one output per element. A fixed set of special inputs (zeros, extremes, overflow and underflow edges) is always added, so more outputs are measured than sampled: `analyze sigmoid --samples 1` (float32) measures 857.")] = 20000,
    exhaustive: Annotated[bool, typer.Option("--exhaustive", help="Every value of a 16-bit format, or all 2**32 float32 inputs in resumable chunks (one-argument functions).")] = False,
    impls: Annotated[str, typer.Option(help=f"Comma-separated implementations: {', '.join(KNOWN_IMPLS)} (float32 --exhaustive: the tiers, scipy, numpy and torch unless named).")] = ",".join(KNOWN_IMPLS),
    seed: SeedOpt = 0,
    device: DeviceOpt = Device.cpu,
    as_json: Annotated[bool, typer.Option("--json", help="Print a JSON list, one object per implementation.")] = False,
    workers: AnalyzeWorkersOpt = 1,
    cache: CacheOpt = True,
    scheduler: AnalyzeSchedulerOpt = None,
    resume: Annotated[Optional[bool], typer.Option("--resume/--restart", help="float32 --exhaustive only: reuse the chunks a previous run finished (the default), or start over.", show_default=False)] = None,
    quiet: QuietOpt = False,
) -> None:
    """Error statistics of one function in one format, per implementation."""
    options = reference_options(ctx, workers, cache, scheduler)
    from stabkit.analysis.stats import analyze_sample, references
    from stabkit.report.build import parse_function, rows_for
    from stabkit.analysis.sampling import make_sample

    name = check_function("FUNCTION", function)
    name, from_logits = parse_function(name)
    dtype = dtype.value
    impl_names = check_list("--impls", impls, KNOWN_IMPLS, "implementation")
    check_samples(samples, len(impl_names))
    device = device.value
    kind = PRIMITIVES[name].kind
    if exhaustive and (kind != "elementwise" or dtype not in ("float16", "bfloat16", "float32")):
        raise invalid("--exhaustive", f"only for one-argument functions in float16, bfloat16 or float32, not {name} in {dtype}")
    if exhaustive:
        for opt in ("samples", "seed"):  # every input is measured: nothing is sampled
            # by name: Typer may carry its own copy of click's ParameterSource
            if getattr(ctx.get_parameter_source(opt), "name", "DEFAULT") != "DEFAULT":
                raise invalid(f"--{opt}", "has no effect with --exhaustive, which measures every input")
    if resume is not None and not (exhaustive and dtype == "float32"):
        raise invalid("--resume" if resume else "--restart", "only with --exhaustive in float32 (the resumable sweep)")
    resume = True if resume is None else resume
    if exhaustive and dtype == "float32":
        from stabkit.analysis.sweep import DEFAULT_IMPLS

        names = DEFAULT_IMPLS if impls == ",".join(KNOWN_IMPLS) else tuple(impl_names)
        _resolve_some(names, device)  # a library missing on --device stops here, before the sweep
        # the sweep's default is a process per CPU; a --workers given (1 too) is kept
        given = getattr(ctx.get_parameter_source("workers"), "name", "DEFAULT") != "DEFAULT"
        return _sweep_table(name, names, device, workers if given else None, resume, quiet, as_json,
                            options.executor)
    impl_objs, skipped = _resolve_some(impl_names, device)
    n = samples if kind in ("elementwise", "binary_loss") else rows_for(samples)
    # one-argument functions: sampled unless --exhaustive
    ex = True if exhaustive else (False if kind == "elementwise" else None)
    with _progress(quiet or as_json, "references") as (advance, set_total):
        s = make_sample(name, dtype, n, seed, from_logits=from_logits, exhaustive=ex)
        set_total(_ref_total([s]))
        a = analyze_sample(s, impl_objs, references(s, advance, options))
    _warn_errors([a])
    stats = [st for st in a.stats.values() if st is not None]
    how = "all inputs" if a.sample.exhaustive else f"seed {seed}"
    _stats_table(stats, skipped, f"{function} in {dtype}: {a.sample.size:,} outputs ({how})", quiet, as_json,
                 errors=[{"function": function, "format": a.fmt, "impl": i, "error": e} for i, e in a.errors.items()],
                 fmt=dtype)

def _sweep_table(name, names, device, workers, resume, quiet, as_json, executor=None) -> None:
    """float32 --exhaustive: the streamed sweep of :mod:`stabkit.analysis.sweep`
    (``workers`` processes; None: one per CPU)."""
    from stabkit.analysis.sweep import sweep

    with _progress(quiet or as_json, "sweep") as (advance, set_total):
        res = sweep(name, "float32", names, device=device, workers=workers,
                    resume=resume, progress=advance, set_total=set_total,
                    executor=executor)
    stats = [st for st in res.stats.values() if st is not None]
    reused = f", {res.reused} of {res.chunks} chunks reused" if res.reused else ""
    _status(quiet or as_json, f"swept {res.n:,} inputs in {res.seconds:.0f} s{reused}; "
                              f"{res.settled_dd_or_mpmath:,} references needed double-double or mpmath")
    _stats_table(stats, res.skipped, f"{name} in float32: {res.n:,} outputs (all inputs)", quiet, as_json)

def _stats_table(stats, skipped, title, quiet, as_json, errors=(), fmt: str = "float32") -> None:
    """The table (or JSON list) of ``stats``; ``errors`` are the entries
    of implementations that raised: {function, format, impl, error}."""
    if as_json:
        typer.echo(json.dumps(jsonable([st.as_dict() for st in stats] + list(errors)), indent=1))
        return
    for r in skipped:
        _status(quiet, r)
    from rich.table import Table

    t = Table(title=f"{title}; ulp error vs correctly rounded mpmath")
    from stabkit.report.cells import max_cell, pct, stat_cell

    cols = ("impl", "max ulp", "p99", "median", "mean", "max bits", "<=0.5 ulp", "<1 ulp", "failures", "flush to 0",
            "wrong sign", "too large", "first fail", "first >1 ulp")
    g = lambda v: "—" if v is None else f"{v:.3g}"  # noqa: E731
    rows = []
    for st in stats:
        # past 2**p ulps (a subnormal ulp, an exact 0) the count says less than what happened
        rows.append([st.impl, max_cell(st.max_ulp, st.max_point, fmt), stat_cell(st.p99_ulp, fmt),
                     stat_cell(st.median_ulp, fmt), stat_cell(st.mean_ulp, fmt), g(st.max_bits),
                     pct(st.pct_correctly_rounded), pct(st.pct_faithful), str(st.failures),
                     str(st.spurious_zeros), str(st.wrong_sign), str(st.too_large), g(st.first_failure),
                     g(st.first_over_1ulp)])
    for e in errors:
        rows.append([e["impl"], "error: " + e["error"].split(":")[0], *["—"] * (len(cols) - 2)])
    for i, col in enumerate(cols):
        # every cell whole (a narrow terminal wraps the lines instead: print_whole)
        t.add_column(col, justify="right" if col != "impl" else "left", no_wrap=col != "max ulp",
                     min_width=max([len(r[i]) for r in rows] + [1]) if col != "max ulp" else 14)
    for r in rows:
        t.add_row(*r)
    print_whole(t, 220)

@app.command()
@_quiet_numpy
def report(
    ctx: typer.Context,
    functions: Annotated[Optional[str], typer.Option(help="Comma-separated functions (a loss from probabilities: the name, then :probs, as in binary_crossentropy:probs); default: the report's standard set.", show_default=False)] = None,
    dtypes: Annotated[str, typer.Option(help=f"Comma-separated formats: {', '.join(ARITH_FORMATS)}.")] = ",".join(ARITH_FORMATS),
    impls: Annotated[str, typer.Option(help=f"Comma-separated implementations: {', '.join(KNOWN_IMPLS)} (missing libraries are skipped).")] = ",".join(KNOWN_IMPLS),
    samples: Annotated[int, typer.Option(help="Samples per function and format (rows: samples/10); 16-bit one-argument functions are exhaustive.")] = 20000,
    seed: SeedOpt = 0,
    out: Annotated[str, typer.Option(help="Output folder (created if missing). A new report replaces an earlier one in it as a whole (the files its report.json lists: report.md, report.html, report.json, errors.csv, figures/error_*.png and summary.png); other files there are kept untouched and named on stderr (or, where the report writes a file of the same name, replaced and named).")] = "reports/latest",
    csv: Annotated[bool, typer.Option("--csv", help="Also write errors.csv: every point's inputs, result and error.")] = False,
    figure_format: Annotated[str, typer.Option(help="Comma-separated figure formats: png, svg, pdf.")] = "png",
    device: DeviceOpt = Device.cpu,
    workers: WorkersOpt = 1,
    cache: CacheOpt = True,
    scheduler: SchedulerOpt = None,
    quiet: QuietOpt = False,
) -> None:
    """Write the error report (report.md, report.json, figures) into --out."""
    options = reference_options(ctx, workers, cache, scheduler)
    from stabkit.report.build import DEFAULT_FUNCTIONS, ReportConfig

    fns = check_functions("--functions", functions) if functions is not None else list(DEFAULT_FUNCTIONS)
    fmts = check_formats("--dtypes", dtypes)
    names = check_list("--impls", impls, KNOWN_IMPLS, "implementation")
    figs = check_list("--figure-format", figure_format, _FIG_FORMATS, "figure format")
    check_samples(samples, len(names))
    device = device.value
    cfg = ReportConfig(tuple(fns), tuple(fmts), tuple(names), samples, seed, device, "report", csv, tuple(figs))
    _write_report(cfg, out, quiet, csv, figs, options)

@app.command()
@_quiet_numpy
def plot(
    ctx: typer.Context,
    function: Annotated[str, typer.Argument(help=f"One of: {', '.join(PRIMITIVES)}. A loss from probabilities: the name, then :probs, as in binary_crossentropy:probs (its figure is titled '... (from probabilities)').")],
    dtype: Annotated[str, typer.Option(help="Format, comma-separated formats, or 'all' for one panel per format.")] = "all",
    kind: Annotated[PlotKind, typer.Option(help="error (ulp error against input), values, or cdf.")] = PlotKind.error,
    impls: Annotated[str, typer.Option(help=f"Comma-separated implementations: {', '.join(KNOWN_IMPLS)}.")] = "naive,stable,accurate",
    samples: Annotated[int, typer.Option(help="Samples per format (rows: samples/10).")] = 20000,
    seed: SeedOpt = 0,
    out: Annotated[Optional[str], typer.Option(help="Output file (.png, .svg or .pdf; missing folders are created); default KIND_FUNCTION.png (error_binary_crossentropy-probs.png for error of binary_crossentropy:probs).")] = None,
    device: DeviceOpt = Device.cpu,
    workers: WorkersOpt = 1,
    cache: CacheOpt = True,
    scheduler: SchedulerOpt = None,
    quiet: QuietOpt = False,
) -> None:
    """Make one slide-style figure of one function."""
    options = reference_options(ctx, workers, cache, scheduler)
    from stabkit.report import plots
    from stabkit.analysis.stats import analyze_sample, references
    from stabkit.report.build import parse_function, rows_for
    from stabkit.analysis.sampling import make_sample

    spec = check_function("FUNCTION", function)
    name, from_logits = parse_function(spec)
    fmts = list(ARITH_FORMATS) if dtype.strip().lower() == "all" else check_formats("--dtype", dtype)
    kind = kind.value
    names = check_list("--impls", impls, KNOWN_IMPLS, "implementation")
    check_samples(samples, len(names))
    device = device.value
    check_nonempty_path("--out", out)
    out = out or f"{kind}_{spec.replace(':probs', '-probs')}.png"
    ext = os.path.splitext(out)[1]
    if ext.lstrip(".").lower() not in _FIG_FORMATS:
        bare = os.path.basename(out).lower() in [f".{f}" for f in _FIG_FORMATS]  # '.png': no name, no extension
        raise invalid("--out", f"{out!r} has no file name before its extension" if bare else f"{out!r} must end in .png, .svg or .pdf")
    folder = os.path.dirname(out) or "."
    check_out_folder("--out", folder)
    if os.path.isdir(out):
        raise invalid("--out", f"{out!r} is a folder; name the figure's file")
    impl_objs, skipped = _resolve_some(names, device)
    n = samples if PRIMITIVES[name].kind in ("elementwise", "binary_loss") else rows_for(samples)
    analyses = []
    with _progress(quiet, "references") as (advance, set_total):
        ss = [make_sample(name, f, n, seed, from_logits=from_logits) for f in fmts]
        set_total(_ref_total(ss))
        analyses = [analyze_sample(s, impl_objs, references(s, advance, options)) for s in ss]
    _warn_errors(analyses)
    fig = {"error": plots.error_figure, "values": plots.values_figure, "cdf": plots.cdf_figure}[kind](analyses)
    try:
        os.makedirs(folder, exist_ok=True)  # created only now, when there is a figure to put in it
        from stabkit._io import atomic_write
        from stabkit.report.style import render

        path = out  # the name as given (.PNG stays .PNG), the format from its extension
        atomic_write(path, render(fig, ext.lstrip(".").lower()))
    except OSError as e:
        raise Failure(f"could not write {out!r}: {e}") from None
    for r in skipped:
        _status(quiet, r)
    _status(quiet, f"wrote {path}")

@app.command()
@_quiet_numpy
def audit(
    ctx: typer.Context,
    frameworks: Annotated[str, typer.Option(help=f"Comma-separated libraries to audit: {', '.join(FRAMEWORKS)}.")] = ",".join(FRAMEWORKS),
    functions: Annotated[Optional[str], typer.Option(help="Comma-separated functions (default: all, losses from logits).", show_default=False)] = None,
    dtypes: Annotated[str, typer.Option(help=f"Comma-separated formats: {', '.join(ARITH_FORMATS)}.")] = ",".join(ARITH_FORMATS),
    samples: Annotated[int, typer.Option(help="Samples per function and format (rows: samples/10).")] = 20000,
    seed: SeedOpt = 0,
    device: DeviceOpt = Device.cpu,
    out: Annotated[str, typer.Option(help="Output folder (created if missing). A new audit replaces an earlier report in it as a whole (the files its report.json lists); other files there are kept untouched and named on stderr.")] = "reports/audit",
    workers: WorkersOpt = 1,
    cache: CacheOpt = True,
    scheduler: SchedulerOpt = None,
    quiet: QuietOpt = False,
) -> None:
    """The report restricted to third-party libraries, beside stabkit's accurate tier."""
    options = reference_options(ctx, workers, cache, scheduler)
    from stabkit.report.build import ReportConfig

    libs = check_list("--frameworks", frameworks, FRAMEWORKS, "framework")
    fns = check_functions("--functions", functions) if functions is not None else list(PRIMITIVES)
    fmts = check_formats("--dtypes", dtypes)
    check_samples(samples, len(libs) + 1)
    device = device.value
    cfg = ReportConfig(tuple(fns), tuple(fmts), ("accurate", *libs), samples, seed, device, "audit")
    _write_report(cfg, out, quiet, False, ["png"], options)
