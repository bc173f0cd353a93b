"""The error report: run the analysis over functions x formats x
implementations and write ``report.json``, ``report.md``, optional
``errors.csv`` and the figures, deterministically and atomically.

Same options and seed -> byte-identical ``report.json`` and ``report.md``:
nothing inside depends on the clock, the machine's paths or the order in
which work finishes (library versions and the processor are recorded, on
purpose: a peer's last bits can depend on either). Each file is
written into a temporary folder and moved into place at the end, so a run
that fails leaves no output folder, or the older report untouched.

``report.json`` has one entry per function x format x implementation in
``results``: ``available`` is false where the implementation has no such
function ("n/a"); ``error`` is present only where it raised (a third-party
library failing on that cell: ``"TypeError: message"``), and such an entry
has no statistics. Every other available entry has the statistics of
:class:`stabkit.analysis.Stats`.
"""

from __future__ import annotations

import json
import math
import os
import shlex
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

from stabkit._io import atomic_write, check_out_target, jsonable, staged_dir
from stabkit._machine import machine
from stabkit.analysis.stats import FunctionAnalysis, analyze_sample, references
from stabkit.reference import DEFAULT_OPTIONS, ReferenceOptions
from stabkit.floats import ARITH_FORMATS
from stabkit.registry import PRIMITIVES, get
from stabkit.analysis.sampling import make_sample
from stabkit.analysis.thirdparty import FRAMEWORKS, KNOWN_IMPLS, resolve

__all__ = ["ReportConfig", "REPORT_FILES", "is_report_file", "Report", "run", "write", "to_json", "DEFAULT_SAMPLES", "DEFAULT_FUNCTIONS",
           "SCHEMA_VERSION", "parse_function", "rows_for", "reference_points", "jsonable", "variant_name"]

SCHEMA_VERSION = 3  # 2: function_info per variant, what happened at the worst points, errors.csv inputs; 3: files
DEFAULT_SAMPLES = 20000
PROBS = ":probs"  # suffix of the from-probabilities variant of a loss
LOSSES = [n for n, p in PRIMITIVES.items() if p.is_loss]
DEFAULT_FUNCTIONS = tuple(PRIMITIVES) + tuple(n + PROBS for n in LOSSES)
DEFAULT_IMPLS = KNOWN_IMPLS


def parse_function(spec: str) -> tuple[str, bool]:
    """``name`` or ``loss:probs`` -> (name, from_logits); ValueError if unknown."""
    name, probs = (spec[: -len(PROBS)], True) if spec.endswith(PROBS) else (spec, False)
    prim = get(name)
    if probs and not prim.is_loss:
        raise ValueError(f"{name!r} is not a loss; only losses have a {PROBS} variant")
    return prim.name, not probs


def rows_for(n: int) -> int:
    """Rows sampled for a row-wise function when ``--samples`` is ``n``."""
    return max(1, n // 10)


@dataclass
class ReportConfig:
    functions: tuple = DEFAULT_FUNCTIONS
    dtypes: tuple = ARITH_FORMATS
    impls: tuple = DEFAULT_IMPLS
    samples: int = DEFAULT_SAMPLES
    seed: int = 0
    device: str = "cpu"
    command: str = "report"  # the CLI verb that reproduces the run
    csv: bool = False  # errors.csv written too (report --csv)
    figure_formats: tuple = ("png",)

    def command_line(self, out: str | None = None) -> str:
        """The exact command that reproduces this run, for a POSIX shell
        (options at their defaults left out; ``--out`` only when relative,
        quoted where it needs it; Keras's
        ``KERAS_BACKEND`` in front where Keras is measured)."""
        audit = self.command == "audit"
        fns = tuple(PRIMITIVES) if audit else DEFAULT_FUNCTIONS
        parts = [f"stabkit {self.command}"]
        if audit:
            parts.append("--frameworks " + ",".join(i for i in self.impls if i in FRAMEWORKS))
        if tuple(self.functions) != fns:
            parts.append("--functions " + ",".join(self.functions))
        if tuple(self.dtypes) != ARITH_FORMATS:
            parts.append("--dtypes " + ",".join(self.dtypes))
        if not audit and tuple(self.impls) != DEFAULT_IMPLS:
            parts.append("--impls " + ",".join(self.impls))
        if self.samples != DEFAULT_SAMPLES:
            parts.append(f"--samples {self.samples}")
        if self.seed != 0:
            parts.append(f"--seed {self.seed}")
        if self.device != "cpu":
            parts.append(f"--device {self.device}")
        if self.csv:
            parts.append("--csv")
        if tuple(self.figure_formats) != ("png",):
            parts.append("--figure-format " + ",".join(self.figure_formats))
        if out and not os.path.isabs(out):
            # quoted for a POSIX shell: a folder name with spaces must stay one argument
            parts.append(f"--out {shlex.quote(out)}")
        # Keras picks its backend from the environment: the run's is part of the command
        backend = os.environ.get("KERAS_BACKEND") if "keras" in self.impls else None
        return (f"KERAS_BACKEND={backend} " if backend else "") + " ".join(parts)


@dataclass
class Report:
    config: ReportConfig
    analyses: list[FunctionAnalysis]
    impls: list
    skipped: list[str]
    versions: dict = field(default_factory=dict)
    machine: dict = field(default_factory=dict)


def _versions(impls) -> dict:
    import mpmath
    import scipy

    from stabkit import __version__

    v = {"stabkit": __version__, "numpy": np.__version__, "scipy": scipy.__version__, "mpmath": mpmath.__version__}
    # the third-party peers measured ("keras 3.15.1 (jax backend)": its number)
    for i in impls:
        if i.name not in v and i.name not in ("naive", "stable", "accurate") and len(i.version.split()) > 1:
            v[i.name] = i.version.split()[1]
    return v


def run(config: ReportConfig, progress: Callable[[int], None] | None = None,
        set_total: Callable[[int], None] | None = None, options: ReferenceOptions = DEFAULT_OPTIONS) -> Report:
    """Sample, compute references (with ``options``) and evaluate every implementation."""
    impls, skipped = resolve(config.impls, config.device)
    samples = []
    for spec in config.functions:
        name, from_logits = parse_function(spec)
        for fmt in config.dtypes:
            n = config.samples if get(name).kind in ("elementwise", "binary_loss") else rows_for(config.samples)
            samples.append(make_sample(name, fmt, n, config.seed, from_logits=from_logits))
    if set_total is not None:
        set_total(sum(sum(reference_points(g) for g in s.groups) for s in samples))
    analyses = [analyze_sample(s, impls, references(s, progress, options)) for s in samples]
    return Report(config, analyses, impls, skipped, _versions(impls), machine())


def reference_points(g) -> int:
    """Number of reference calls (points or rows) of a group: what progress counts."""
    x = g.args[-1]
    return int(x.shape[0]) if x.ndim == 2 else int(x.size)


# ------------------------------------------------------------ JSON


def variant_name(a: FunctionAnalysis) -> str:
    return a.function + ("" if a.sample.from_logits or not get(a.function).is_loss else PROBS)


def function_info(rep: Report) -> dict:
    """Per variant (``name`` or ``loss:probs``): its formula, kind, regimes,
    and the identity or call of each implementation measured on it (one with
    results or an error there), nothing about the others."""
    from .sections import call, section

    measured: dict = {}
    for a in rep.analyses:
        for impl, st in a.stats.items():
            if st is not None or impl in a.errors:
                measured.setdefault(variant_name(a), set()).add(impl)
    funcs = {}
    for spec in rep.config.functions:
        sec = section(spec)
        names = [i.name for i in rep.impls if i.name in measured.get(spec, ())]
        sec["identities"] = {t: v for t, v in sec["identities"].items() if t in names}
        sec["calls"] = {i: c for i in names if (c := call(i, spec))}
        funcs[spec] = dict(sec)
    return funcs


def to_json(rep: Report, out: str | None = None) -> dict:
    cfg = rep.config
    funcs = function_info(rep)
    results = []
    for a in rep.analyses:
        for impl, st in a.stats.items():
            d = {"function": variant_name(a), "format": a.fmt, "impl": impl,
                 "available": st is not None or impl in a.errors,
                 "exhaustive": a.sample.exhaustive, "coordinate": a.sample.coord_name}
            if impl in a.errors:
                d["error"] = a.errors[impl]
            if st is not None:
                d.update({k: v for k, v in st.as_dict().items() if k not in d and k not in ("impl", "format")})
            results.append(d)
    return jsonable({
        "schema_version": SCHEMA_VERSION,
        "command": cfg.command_line(out),
        "seed": cfg.seed,
        "samples": cfg.samples,
        "functions": list(cfg.functions),
        "formats": list(cfg.dtypes),
        "implementations": [{"name": i.name, "version": i.version} for i in rep.impls],
        "skipped": rep.skipped,
        "versions": rep.versions,
        "machine": rep.machine,
        "function_info": funcs,
        "results": results,
    })


# ------------------------------------------------------------ writing


def errors_csv(rep: Report) -> str:
    """Every output with its exact inputs (:mod:`stabkit.report.errors_csv`)."""
    from .errors_csv import errors_csv as text

    return text(rep, variant_name)


def figure_name(function: str) -> str:
    return "error_" + function.replace(PROBS, "-probs")


#: what a report folder holds; a new report replaces all of them (an older
#: run's figures or errors.csv are not left beside it)
REPORT_FILES = ("report.md", "report.html", "report.json", "errors.csv", "figures/")


def is_report_file(rel: str) -> bool:
    """Whether ``rel`` (a path inside a report folder, ``/``-separated) is one
    of a report's files: report.md/.html/.json, errors.csv, or a figure of
    the names a report gives them (``error_<function>`` and ``summary``,
    .png, .svg or .pdf) directly in figures/. Other files are the user's
    (``figures/mine.png`` too)."""
    if rel in REPORT_FILES:
        return True
    head, _, name = rel.partition("/")
    stem, dot, ext = name.rpartition(".")
    return (head == "figures" and "/" not in name and dot == "." and ext.lower() in ("png", "svg", "pdf")
            and (stem == "summary" or stem.startswith("error_")))


def owned_files(out: str) -> Callable[[str], bool] | None:
    """Which files of ``out`` an earlier report wrote, as a predicate on
    their ``/``-separated relative paths: those its report.json lists under
    "files"; for a report.json from before that list, the names a report
    gives (:func:`is_report_file`). None where ``out`` holds no report: its
    files are the user's, whatever their names."""
    path = os.path.join(out, "report.json")
    if not os.path.isfile(path):
        return None
    try:
        with open(path, encoding="utf-8") as fh:
            listed = json.load(fh).get("files")
    except (OSError, ValueError, AttributeError):
        listed = None
    if isinstance(listed, list) and all(isinstance(f, str) for f in listed):
        mine = frozenset(listed)
        return lambda rel: rel in mine and is_report_file(rel)
    return is_report_file


def write(rep: Report, out: str, *, csv_errors: bool = False, figure_formats=("png",), figures: bool = True,
          progress: Callable[[str], None] | None = None) -> list[str]:
    """Write the report files into ``out``; returns the paths written.

    Everything is written into a temporary folder first and moved into
    ``out`` at the end (:func:`stabkit._io.staged_dir`): a write that fails
    or is interrupted leaves no ``out`` where there was none and leaves an
    older report in ``out`` untouched. Where ``out`` holds a report, the old
    report's files that this run does not write are removed
    (:func:`owned_files`); other files are kept."""
    from . import plots
    from .html import html
    from .markdown import markdown

    check_out_target(out)
    data = to_json(rep, out)
    # an older report's own files go (those its report.json lists); any
    # other file is the user's and stays, errors.csv too
    with staged_dir(out, owned=owned_files(out)) as tmp:
        written = []
        if figures:
            fdir = os.path.join(tmp, "figures")
            os.makedirs(fdir, exist_ok=True)
            by_fn = {}
            for a in rep.analyses:
                by_fn.setdefault(variant_name(a), []).append(a)
            for name, group in by_fn.items():
                fig = plots.error_figure(group, subject=name)
                written += plots.save(fig, os.path.join(fdir, figure_name(name)), figure_formats)
                if progress:
                    progress(name)
            rows, impls, worst, fails, errs = summary_matrix(rep)
            written += plots.save(plots.heatmap_figure(rows, impls, worst, fails, errors=errs,
                                                       texts=summary_texts(rep, rows, impls)),
                                  os.path.join(fdir, "summary"), figure_formats)
        # the files this report writes, so that a later one replaces these and no others
        data["files"] = sorted([os.path.relpath(p, tmp).replace(os.sep, "/") for p in written]
                               + ["report.html", "report.json", "report.md"] + (["errors.csv"] if csv_errors else []))
        atomic_write(os.path.join(tmp, "report.json"), json.dumps(data, indent=1, sort_keys=False) + "\n")
        atomic_write(os.path.join(tmp, "report.md"), markdown(data, figures=figures))
        # the figures as written, embedded in the page
        embedded = {os.path.relpath(p, tmp).replace(os.sep, "/"): open(p, "rb").read() for p in written}
        atomic_write(os.path.join(tmp, "report.html"), html(data, embedded))
        written += [os.path.join(tmp, n) for n in ("report.json", "report.md", "report.html")]
        if csv_errors:
            atomic_write(os.path.join(tmp, "errors.csv"), errors_csv(rep))
            written.append(os.path.join(tmp, "errors.csv"))
    return [os.path.join(out, os.path.relpath(p, tmp)) for p in written]


def summary_matrix(rep: Report):
    """(functions, impls, worst ulp over formats, failures, errors) for the
    heatmap; ``errors`` is True where the implementation raised in a format."""
    rows = list(dict.fromkeys(variant_name(a) for a in rep.analyses))
    impls = [i.name for i in rep.impls]
    worst = np.full((len(rows), len(impls)), np.nan)
    fails = np.zeros((len(rows), len(impls)), int)
    errs = np.zeros((len(rows), len(impls)), bool)
    for a in rep.analyses:
        i = rows.index(variant_name(a))
        for j, name in enumerate(impls):
            errs[i, j] |= name in a.errors
            st = a.stats.get(name)
            if st is None:
                continue
            w = st.max_ulp if not math.isnan(st.max_ulp) else 0.0
            worst[i, j] = w if np.isnan(worst[i, j]) else max(worst[i, j], w)
            fails[i, j] += st.failures
    return rows, impls, worst, fails, errs


def summary_texts(rep: Report, rows: list[str], impls: list[str]) -> np.ndarray:
    """The heatmap's first line per cell: the worst ulp over the formats as
    :func:`stabkit.report.cells.compact_max` writes it (what happened where no
    digit is right); "" where there is none."""
    from .cells import compact_max

    texts = np.full((len(rows), len(impls)), "", dtype=object)
    best = np.full(texts.shape, -1.0)
    for a in rep.analyses:
        i = rows.index(variant_name(a))
        for j, name in enumerate(impls):
            st = a.stats.get(name)
            if st is None or math.isnan(st.max_ulp) or st.max_ulp <= best[i, j]:
                continue
            best[i, j] = st.max_ulp
            texts[i, j] = compact_max(st.max_ulp, st.max_point, a.fmt)
    return texts
