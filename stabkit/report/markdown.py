"""``report.md`` from the report's JSON data (so the two always agree).

Order, after Herbie's reports: the summary first, then per function the
formula and the identity each implementation uses, the error figure, the
statistics per format, the worst inputs, the breakdown thresholds, and the
command that reproduces the run. Implementations that raised (a result's
``error``) are listed in an "Errors" section before the summary, and their
cells say **error** instead of a number; without errors the section is left
out, so older reports render byte for byte as before.
"""

from __future__ import annotations

__all__ = ["markdown"]

_INTRO = """\
Errors are measured against correctly rounded mpmath references (Ziv's
strategy: precision raised until the rounding is certain). **ulp error** is
`|y - exact| / ulp(exact)`: 0.5 means correctly rounded, below 1 faithful.
**bits** is Herbie's `log2(1 + ordinal distance)` to the correctly rounded
value. A **failure** is a NaN or infinity where the exact value is finite (or
the wrong infinity); failures are counted separately and never averaged into
the ulp statistics. A **spurious zero** is a 0 where the correctly rounded
value is not 0 (it stays in the ulp statistics). Losses are evaluated from
logits unless marked *from probabilities*. One-argument functions in 16-bit
formats are checked on every input; other cells are sampled (uniform over
float ordinals plus regime samples plus edge cases; rows of length 2 to 10^4
with controlled spread, offset, winner gap, ties and masked entries)."""


def _g(v) -> str:
    if v is None:
        return "—"
    if isinstance(v, str):
        return v
    if v == 0:
        return "0"
    return f"{v:.3g}"


def _pct(v) -> str:
    return "—" if v is None else f"{v:.1f}%"


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


def _errors(res: list[dict]) -> list[str]:
    """The section listing implementations that raised (none: no section)."""
    bad = [r for r in res if "error" in r]
    if not bad:
        return []
    L = ["## Errors", "", "These implementations raised an exception instead of returning a result; their cells say "
         "**error** and have no statistics (the run went on without them).", ""]
    L += [f"- {r['impl']}, {_label(r['function'])}, {r['format']}: {_err(r['error'])}" for r in bad]
    return L + [""]


def _label(fn: str) -> str:
    return fn.replace(":probs", " (from probabilities)")


def markdown(data: dict, figures: bool = True) -> str:
    """The Markdown report for the JSON data ``data``."""
    res = data["results"]
    fmts = data["formats"]
    impls = [i["name"] for i in data["implementations"]]
    by = {(r["function"], r["format"], r["impl"]): r for r in res}
    L = ["# stabkit error report", "", f"Reproduce: `{data['command']}`", "", _INTRO, ""]
    L += ["Versions: " + ", ".join(f"{k} {v}" for k, v in data["versions"].items()) + "."]
    L += [f"Seed {data['seed']}, `--samples {data['samples']}`.", ""]
    for s in data["skipped"]:
        L += [f"- {s}"]
    if data["skipped"]:
        L += [""]
    L += _errors(res)

    L += ["## Summary", "", "Worst ulp error per format (over every sampled input); **failures** = NaN/inf results "
          "where the exact value is finite, summed over the formats.", ""]
    if figures:
        L += ["![worst ulp error, function x implementation](figures/summary.png)", ""]
    rows = []
    for fn in data["functions"]:
        for impl in impls:
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
                cells.append(_g(r["max_ulp"]))
            if all(c == "n/a" for c in cells):
                continue
            rows.append([_label(fn), impl] + cells + [f"**{fails}**" if fails else "0"])
    L += _table(["function", "implementation"] + fmts + ["failures"], rows)

    for fn in data["functions"]:
        base = fn.split(":")[0]
        info = data["function_info"][base]
        L += [f"## {_label(fn)}", "", f"Formula: `{info['formula']}`" + (" from probabilities p." if fn.endswith(":probs") else ""), ""]
        ident = [[t, f"`{v}`"] for t, v in info["identities"].items()]
        ident += [[k, f"`{v}`"] for k, v in info["calls"].items() if v]
        L += _table(["implementation", "identity / call"], ident)
        if info["regimes"]:
            L += ["Regimes: " + "; ".join(f"*{r['name']}*: {r['description']}" for r in info["regimes"]) + ".", ""]
        if figures:
            L += [f"![{fn} error against input](figures/error_{fn.replace(':probs', '-probs')}.png)", ""]
        worst_rows, thr_rows = [], {}
        for f in fmts:
            cell = [by.get((fn, f, i)) for i in impls]
            cell = [(i, r) for i, r in zip(impls, cell) if r is not None and r["available"]]
            if not cell:
                continue
            r0 = next((r for _, r in cell if "error" not in r), None)
            how = "all inputs" if cell[0][1]["exhaustive"] else "sampled"
            L += [f"### {_label(fn)}, {f}" + (f" ({r0['n']:,} outputs, {how})" if r0 else ""), ""]
            rows = []
            for i, r in cell:
                if "error" in r:
                    rows.append([i, "**error**"] + ["—"] * 8 + [_err(r["error"])])
                    thr_rows.setdefault(i, {})[f] = "error"
                    continue
                rows.append([i, _g(r["max_ulp"]), _g(r["p99_ulp"]), _g(r["median_ulp"]), _g(r["mean_ulp"]), _g(r["max_bits"]),
                             _pct(r["pct_correctly_rounded"]), _pct(r["pct_faithful"]),
                             f"**{r['failures']}**" if r["failures"] else "0", str(r["spurious_zeros"]), r["note"]])
                if r["worst"]:
                    w = r["worst"][0]
                    worst_rows.append([f, i, _input(w["input"]), _g(w["value"]), _g(w["reference"]),
                                       "NaN/inf" if w["failure"] else _g(w["ulp"])])
                thr_rows.setdefault(i, {})[f] = (r["first_failure"], r["first_over_1ulp"])
            L += _table(["implementation", "max ulp", "p99", "median", "mean", "max bits", "correctly rounded",
                         "faithful", "failures", "spurious zeros", "note"], rows)
        L += ["### Worst inputs", "", "The worst input of each implementation per format (failures first); "
              "the JSON has the top 5.", ""]
        L += _table(["format", "implementation", "input", "value", "reference", "ulp error"], worst_rows)
        coord = next((r["coordinate"] for r in res if r["function"] == fn), "x")
        L += ["### Breakdown thresholds", "",
              f"The sampled {coord} nearest to 0 where each implementation first fails (NaN/inf) / first exceeds 1 ulp"
              + (" (winner's output in single-winner rows at offset 0)" if coord == "logit gap" else "") + "; — = never.", ""]
        L += _table(["implementation"] + fmts,
                    [[i] + [_thr(t.get(f)) for f in fmts] for i, t in thr_rows.items()])
        L += [f"Reproduce: `{data['command']}`", ""]
    return "\n".join(L).rstrip() + "\n"
