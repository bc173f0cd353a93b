"""``report.md`` from the report's JSON data (so the two always agree).

Order, after Herbie's reports: the summary first, then per function the
formula and the identity each implementation uses, the error figure, the
statistics per format, the worst inputs, the breakdown thresholds, and the
command that reproduces the run. Implementations that raised (a result's
``error``) are listed in an "Errors" section before the summary, and their
cells say **error** instead of a number; without errors the section is left
out.

:func:`document` builds the report as blocks (headings, paragraphs, figures,
tables, lists); :func:`markdown` writes them as Markdown and
:func:`stabkit.report.html.html` as a page, so the two hold the same cells.
A table cell's text (an ulp count, or what happened where no digit is right)
comes from :mod:`stabkit.report.cells`, a section's formula, identities and
regimes from the data's ``function_info`` (:mod:`stabkit.report.sections`).
"""

from __future__ import annotations

from .cells import g as _g, max_cell, pct as _pct, stat_cell

__all__ = ["markdown", "document", "STAT_HEADER", "stat_row", "summary_rows", "identity_rows", "worst_row"]

_INTRO = """\
Errors are measured against correctly rounded mpmath references (Ziv's
strategy: precision raised until the rounding is certain). **ulp error** is
`|y - exact| / ulp(exact)`: at most 0.5 means correctly rounded (the
certified rounding decides: ">0.5" is a result just past it, the other
neighbour of an exact value a hair past a midpoint), below 1 faithful.
**bits** is Herbie's `log2(1 + ordinal distance)` to the correctly rounded
value. A **failure** is a NaN or infinity where the exact value is finite (or
the wrong infinity); failures are counted separately and never averaged into
the ulp statistics (the shares correctly rounded and faithful are of the
outputs that did not fail). Where no significant digit of a result is right, the
tables say what happened: **flush to 0** (0 where the correctly rounded
value is not 0), **wrong sign**, or **too large** (by the factor shown); such
points stay in the ulp statistics and report.json keeps their ulp counts, but
a worst case past `2^p` ulps (`p` the format's precision: every bit wrong) is
shown only as what happened, and an average or percentile past it as
`> 2^p` (`> 1.68e+07` in float32, `> 9.01e+15` in float64): an ulp count
there measures how far apart the exponents are (8.5e37 in float32 for 1e-7
returned where the exact value is 1e-38). Losses are evaluated from
logits unless marked *from probabilities*. One-argument functions in 16-bit
formats are checked on every input; other cells are sampled (uniform over
float ordinals plus regime samples plus edge cases; rows of length 2 to 10^4
with controlled spread, offset, winner gap, ties and masked entries)."""


def _machine_line(data: dict) -> str:
    """"Machine: arch, processor." and a line break, or nothing for a report
    written before reports recorded it."""
    m = data.get("machine")
    return f"Machine: {m['arch']}, {m['processor']}.\n" if m else ""


def _thr(t) -> str:
    """A breakdown-threshold cell: "fail / over 1 ulp", "error" or "n/a"."""
    return "n/a" if t is None else t if isinstance(t, str) else " / ".join(_g(v) for v in t)


def _table(header: list[str], rows: list[list[str]]) -> list[str]:
    out = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    out += ["| " + " | ".join(str(c).replace("|", "\\|") for c in r) + " |" for r in rows]
    return out + [""]


def _input(d: dict) -> str:
    if "x" in d:
        return f"x = {d['x']!r}"
    if "y_pred" in d:
        return f"y = {d['y_true']!r}, pred = {d['y_pred']!r}"
    s = f"row ({d['row']})" if d.get("row") is not None else f"n = {d['row_length']}, max = {_g(d['max'])}"
    s += f", gap {_g(d['gap'])}"
    if "index" in d:
        s += f", entry {d['index']}"
    if "label" in d:
        s += f", label {d['label']}"
    return s


def _err(text: str) -> str:
    """An error message as code, so ``<class ...>`` is not read as HTML."""
    return "`" + text.replace("`", "'") + "`"


def _errors(res: list[dict]) -> list[tuple]:
    """The section listing implementations that raised (none: no section)."""
    bad = [r for r in res if "error" in r]
    if not bad:
        return []
    return [("h", 2, "Errors"),
            ("p", "These implementations raised an exception instead of returning a result; their cells say "
             "**error** and have no statistics (the run went on without them)."),
            ("ul", [f"{r['impl']}, {_label(r['function'])}, {r['format']}: {_err(r['error'])}" for r in bad])]


def _label(fn: str) -> str:
    return fn.replace(":probs", " (from probabilities)")


STAT_HEADER = ["implementation", "max ulp", "p99", "median", "mean", "max bits", "correctly rounded", "faithful",
               "failures", "flush to 0", "wrong sign", "too large", "note"]


def stat_row(impl: str, r: dict, fmt: str) -> list[str]:
    """One implementation's statistics in one format, as table cells."""
    if "error" in r:
        return [impl, "**error**"] + ["\u2014"] * (len(STAT_HEADER) - 3) + [_err(r["error"])]
    return [impl, max_cell(r["max_ulp"], r.get("max_point"), fmt), stat_cell(r["p99_ulp"], fmt),
            stat_cell(r["median_ulp"], fmt), stat_cell(r["mean_ulp"], fmt), _g(r["max_bits"]),
            _pct(r["pct_correctly_rounded"]), _pct(r["pct_faithful"]), f"**{r['failures']}**" if r["failures"] else "0",
            str(r["spurious_zeros"]), str(r.get("wrong_sign", 0)), str(r.get("too_large", 0)), r["note"]]


def worst_row(fmt: str, impl: str, w: dict) -> list[str]:
    """A worst input: where, what came out, what should have, how wrong."""
    return [fmt, impl, _input(w["input"]), _g(w["value"]), _g(w["reference"]),
            "NaN/inf" if w["failure"] else max_cell(w["ulp"], w, fmt)]


def summary_rows(data: dict) -> tuple[list[str], list[list[str]]]:
    """The summary table: worst ulp error per format and failures."""
    fmts, by = data["formats"], _by(data)
    rows = []
    for fn in data["functions"]:
        for impl in _impls(data):
            cells, fails = [], 0
            for f in fmts:
                r = by.get((fn, f, impl))
                if r is None or not r["available"]:
                    cells.append("n/a")
                    continue
                if "error" in r:
                    cells.append("**error**: " + r["error"].split(":")[0])
                    continue
                fails += r["failures"]
                cells.append(max_cell(r["max_ulp"], r.get("max_point"), f))
            if all(c == "n/a" for c in cells):
                continue
            rows.append([_label(fn), impl] + cells + [f"**{fails}**" if fails else "0"])
    return ["function", "implementation"] + fmts + ["failures"], rows


def identity_rows(info: dict) -> list[list[str]]:
    """The identity (stabkit's tiers) or call (libraries) of each
    implementation measured on the variant."""
    return [[t, f"`{v}`"] for t, v in info["identities"].items()] + [[k, f"`{v}`"] for k, v in info["calls"].items()]


def _by(data: dict) -> dict:
    return {(r["function"], r["format"], r["impl"]): r for r in data["results"]}


def _impls(data: dict) -> list[str]:
    return [i["name"] for i in data["implementations"]]


def _section(data: dict, fn: str, figures: bool) -> list[tuple]:
    fmts, by, impls = data["formats"], _by(data), _impls(data)
    info = data["function_info"][fn]
    B = [("h", 2, _label(fn)), ("p", f"Formula: `{info['formula']}`"),
         ("table", ["implementation", "identity / call"], identity_rows(info))]
    if info["regimes"]:
        B += [("p", "Regimes:"), ("ul", [f"*{r['name']}*: {r['description']}." for r in info["regimes"]])]
    if figures:
        B.append(("img", f"{fn} error against input", f"figures/error_{fn.replace(':probs', '-probs')}.png"))
    worst_rows, thr_rows = [], {}
    for f in fmts:
        cell = [(i, by.get((fn, f, i))) for i in impls]
        cell = [(i, r) for i, r in cell if r is not None and r["available"]]
        if not cell:
            continue
        r0 = next((r for _, r in cell if "error" not in r), None)
        how = "all inputs" if cell[0][1]["exhaustive"] else "sampled"
        B.append(("h", 3, f"{_label(fn)}, {f}" + (f" ({r0['n']:,} outputs, {how})" if r0 else "")))
        for i, r in cell:
            thr_rows.setdefault(i, {})[f] = "error" if "error" in r else (r["first_failure"], r["first_over_1ulp"])
            if r.get("worst"):
                worst_rows.append(worst_row(f, i, r["worst"][0]))
        B.append(("table", STAT_HEADER, [stat_row(i, r, f) for i, r in cell]))
    B += [("h", 3, "Worst inputs"),
          ("p", "The worst input of each implementation per format (failures first); the JSON has the top 5."),
          ("table", ["format", "implementation", "input", "value", "reference", "ulp error"], worst_rows)]
    coord = next((r["coordinate"] for r in data["results"] if r["function"] == fn), "x")
    B += [("h", 3, "Breakdown thresholds"),
          ("p", f"The sampled {coord} nearest to 0 where each implementation first fails (NaN/inf) / first exceeds "
           "1 ulp" + (" (winner's output in single-winner rows at offset 0)" if coord == "logit gap" else "")
           + "; \u2014 = never."),
          ("table", ["implementation"] + fmts, [[i] + [_thr(t.get(f)) for f in fmts] for i, t in thr_rows.items()]),
          ("p", f"Reproduce: `{data['command']}`")]
    return B


def document(data: dict, figures: bool = True) -> list[tuple]:
    """The report as blocks, rendered by :func:`markdown` and
    :func:`stabkit.report.html.html`: ``("h", level, text)``, ``("p", text)``
    (Markdown's inline code, bold and italics), ``("img", alt, src)``,
    ``("table", header, rows)`` and ``("ul", items)``."""
    B = [("h", 1, "stabkit error report"), ("p", f"Reproduce: `{data['command']}`"), ("p", _INTRO),
         ("p", "Versions: " + ", ".join(f"{k} {v}" for k, v in data["versions"].items()) + ".\n"
          + _machine_line(data) + f"Seed {data['seed']}, `--samples {data['samples']}`.")]
    if data["skipped"]:
        B.append(("ul", list(data["skipped"])))
    B += _errors(data["results"])
    B += [("h", 2, "Summary"),
          ("p", "Worst ulp error per format (over every sampled input); **failures** = NaN/inf results where the "
           "exact value is finite, summed over the formats.")]
    if figures:
        B.append(("img", "worst ulp error, function x implementation", "figures/summary.png"))
    B.append(("table", *summary_rows(data)))
    for fn in data["functions"]:
        B += _section(data, fn, figures)
    return B


def _written(src: str, files) -> str:
    """The figure ``src`` (``figures/x.png``) in a format the run wrote:
    ``--figure-format svg`` writes no PNG, so the link goes to the SVG (else
    the PDF). Without the list of files (older JSON), ``src`` as it is."""
    if not files or src in files:
        return src
    stem = src.rsplit(".", 1)[0]
    return next((f"{stem}.{ext}" for ext in ("svg", "pdf") if f"{stem}.{ext}" in files), src)


def markdown(data: dict, figures: bool = True) -> str:
    """The Markdown report for the JSON data ``data``."""
    L = []
    for b in document(data, figures):
        if b[0] == "h":
            L += ["#" * b[1] + " " + b[2]]
        elif b[0] == "p":
            L += [b[1]]
        elif b[0] == "img":
            L += [f"![{b[1]}]({_written(b[2], data.get('files'))})"]
        elif b[0] == "table":
            L += _table(b[1], b[2])[:-1]
        else:
            L += [f"- {item}" for item in b[1]]
        L.append("")
    return "\n".join(L).rstrip() + "\n"
