"""Worst ulp error of every tier against the mpmath references: a quick look
(short mode), and the table of benchmarks/ACCURACY.md and of the README's
"What the accurate tier guarantees" section (long mode).

    python benchmarks/accuracy.py [--seed 0]             # short: ~20 s
    python benchmarks/accuracy.py --long [--seed 0]      # long: minutes, writes ACCURACY.md

Short mode, the six functions without labels. One-argument functions: every
non-NaN float16 and bfloat16 input; float32 and float64: 6,000 inputs, half
uniform over bit patterns, half uniform over bit patterns in [-800, 800],
plus 150 dense in value (bands and both sides of each threshold). Row-wise
functions: 90 adversarial rows of 2, 10, 100 and 1,000 entries (the test
suite's ``adversarial_rows``: offsets up to +-1e4, winners up to 1e4 ahead,
ties, masked entries, log-probability rows, spreads up to the format's
range), plus a quarter of the adversarial families of
``tests.helpers.numerics.family_cases`` (a winner over many equal losers, cancelling
log-probability rows, logits at +-max).

Long mode, all nine functions (losses from logits): the same samples, plus
the families 8 times as dense (``family_cases(scale=8)``: 4,800 dense inputs
per one-argument function; winner rows of 2 to 1,000 entries, and 4 winner
rows of 10,000) for seeds ``seed`` and ``seed + 1``; binary cross-entropy on
the one-argument samples with labels 0, 1, soft and confident-and-right.

"fail" counts NaN or inf where the exact value is finite; those are left out
of the ulp figures. Progress goes to stderr every few seconds.
"""

from __future__ import annotations

import argparse
import datetime
import platform
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests.helpers.numerics import adversarial_rows, contract_bound, exhaustive, family_cases, ordinal_uniform, quiet  # noqa: E402

from stabkit.reference import reference  # noqa: E402
from stabkit.registry import TIERS, get  # noqa: E402
from stabkit.report.cells import ulp_text  # noqa: E402

ELEMENTWISE = ("sigmoid", "log_sigmoid", "softplus")
ROWWISE = ("softmax", "log_softmax", "logsumexp")
LOSSES = ("binary_crossentropy", "sparse_categorical_crossentropy", "categorical_crossentropy")
FORMATS = ("float16", "bfloat16", "float32", "float64")
OUT = ROOT / "benchmarks" / "ACCURACY.md"


class Progress:
    """A line on stderr at most every ``every`` seconds: the cell and the
    points (or rows) its references have settled so far."""

    def __init__(self, every: float = 5.0):
        self.every, self.start, self.last, self.cell, self.done = every, time.monotonic(), 0.0, "", 0

    def begin(self, cell: str) -> None:
        self.cell, self.done = cell, 0
        self.tick(0)

    def tick(self, k: int) -> None:
        self.done += k
        now = time.monotonic()
        if now - self.last >= self.every:
            self.last = now
            print(f"[{now - self.start:6.0f} s] {self.cell}: {self.done} references settled", file=sys.stderr, flush=True)


def _elementwise_samples(fn: str, fmt: str, seed: int):
    """[(family, args, kwargs)] of today's samples of a one-argument function."""
    if fmt in ("float16", "bfloat16"):
        return [("exhaustive", (exhaustive(fn, fmt)[0],), {})]
    x = np.concatenate([ordinal_uniform(fmt, 3000, seed), ordinal_uniform(fmt, 3000, seed + 1, -800.0, 800.0)])
    return [("ordinal", (x,), {})]


def _with_labels(cases, seed: int):
    """Binary cross-entropy calls from one-argument samples: labels cycling 0,
    1, uniform soft, and the confident-and-right label (1 for z > 0)."""
    rng = np.random.default_rng(seed)
    out = []
    for fam, (z,), _ in cases:
        z64 = z.astype(np.float64)
        y = np.stack([np.zeros_like(z64), np.ones_like(z64), rng.random(z64.shape), (z64 > 0).astype(float)])
        y = y[np.arange(z64.size) % 4, np.arange(z64.size)]
        out.append((fam, (y.astype(z.dtype), z), {"from_logits": True}))
    return out


def _row_samples(fn: str, fmt: str, seed: int):
    """[(family, args, kwargs)] of today's adversarial rows (one call per
    length; losses get the winner as label, or uniform soft targets)."""
    rows = adversarial_rows(fmt, seed, n_rows=90, lengths=(2, 10, 100, 1000))
    out = []
    for L in (2, 10, 100, 1000):
        x = np.stack([r for r in rows if r.size == L])
        kind = get(fn).kind
        if kind == "sparse_loss":
            x64 = np.where(np.isfinite(x.astype(np.float64)), x.astype(np.float64), -np.inf)
            out.append((f"adversarial/{L}", (np.argmax(x64, axis=1), x), {"from_logits": True}))
        elif kind == "categorical_loss":
            out.append((f"adversarial/{L}", (np.full(x.shape, 1.0 / L).astype(x.dtype), x), {"from_logits": True}))
        else:
            out.append((f"adversarial/{L}", (x,), {}))
    return out


def cases_for(fn: str, fmt: str, seed: int, long: bool):
    """Every call of one cell (function x format) in the chosen mode."""
    kind = get(fn).kind
    if kind in ("elementwise", "binary_loss"):
        base = _elementwise_samples("sigmoid" if kind == "binary_loss" else fn, fmt, seed)
        base = _with_labels(base, seed) if kind == "binary_loss" else base
    else:
        base = _row_samples(fn, fmt, seed)
    if not long:
        return base + family_cases(fn, fmt, seed, scale=0.25)
    return base + family_cases(fn, fmt, seed, scale=8, long_rows=4) + family_cases(fn, fmt, seed + 1, scale=8)


def measure(fn: str, fmt: str, cases, progress: Progress) -> dict:
    """Worst ulp error and failures per tier over ``cases``, the points
    counted, and the accurate tier's points past the contract."""
    es = {t: [] for t in TIERS}
    fs = {t: [] for t in TIERS}
    unsettled = 0
    for family, args, kwargs in cases:
        if family == "exhaustive" and get(fn).kind == "elementwise":
            ref = exhaustive(fn, fmt)[1]
            progress.tick(ref.hi.size)
        else:
            ref = reference(fn, *args, progress=progress.tick, **kwargs)
        unsettled += int(np.sum(ref.unsettled))
        for tier in TIERS:
            y = quiet(get(fn).tier(tier), *args, **kwargs)
            es[tier].append(np.atleast_1d(ref.ulp_error(y)).ravel())
            fs[tier].append(np.atleast_1d(ref.failures(y)).ravel())
    out = {"points": int(sum(e.size for e in es["accurate"])), "unsettled": unsettled}
    for tier in TIERS:
        e, f = np.concatenate(es[tier]), np.concatenate(fs[tier])
        ok = ~np.isnan(e) & ~f
        out[tier] = (float(np.max(e[ok])) if ok.any() else float("nan"), int(f.sum()))
    e, f = np.concatenate(es["accurate"]), np.concatenate(fs["accurate"])
    bound = contract_bound(fn, fmt)
    past = (e > bound) if fmt == "float64" else (e >= bound)
    out["violations"] = int(np.sum(past & ~np.isnan(e) & ~f)) + int(f.sum())
    return out


def _cell(worst: float, fails: int) -> str:
    s = "-" if np.isnan(worst) else ulp_text(worst)
    return s + (f" ({fails} fail)" if fails else "")


def _versions() -> str:
    import mpmath

    try:
        rev = subprocess.run(["git", "-C", str(ROOT), "rev-parse", "--short", "HEAD"], capture_output=True, text=True).stdout.strip()
    except OSError:
        rev = "?"
    return f"Python {platform.python_version()}, NumPy {np.__version__}, mpmath {mpmath.__version__}, stabkit at commit {rev or '?'} (plus uncommitted changes, if any)"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seed", type=int, default=0, help="seed of the samples and rows")
    ap.add_argument("--long", action="store_true", help="dense sweep of every function; writes benchmarks/ACCURACY.md")
    ap.add_argument("--out", type=Path, default=OUT, help="Markdown file of the long mode")
    args = ap.parse_args()
    fns = ELEMENTWISE + ROWWISE + (LOSSES if args.long else ())
    head = "| function | format | points | naive | stable | accurate | accurate past the contract |"
    lines = [head, "|---|---|---|---|---|---|---|"]
    print(head + "\n" + lines[1], flush=True)
    progress, t0 = Progress(), time.monotonic()
    for fn in fns:
        for fmt in FORMATS:
            progress.begin(f"{fn} {fmt}")
            r = measure(fn, fmt, cases_for(fn, fmt, args.seed, args.long), progress)
            bound = contract_bound(fn, fmt)
            limit = f"<= {bound:g}" if fmt == "float64" else f"< {bound:g}"
            past = f"{r['violations']} (contract {limit} ulp)" + (f", {r['unsettled']} unsettled" if r["unsettled"] else "")
            line = f"| {fn} | {fmt} | {r['points']} | " + " | ".join(_cell(*r[t]) for t in TIERS) + f" | {past} |"
            lines.append(line)
            print(line, flush=True)
    took = time.monotonic() - t0
    print(f"took {took:.0f} s", file=sys.stderr)
    if args.long:
        text = [
            "# Accuracy, long sweep",
            "",
            "Worst ulp error against correctly rounded mpmath references, per function",
            "and format, for the three tiers; \"fail\" counts NaN or inf where the exact",
            "value is finite (left out of the ulp figures); the last column counts the",
            "accurate tier's points past its contract (failures included). \"points\"",
            "is the number of outputs checked per tier. Samples: see the docstring of",
            "`benchmarks/accuracy.py` (today's samples plus the adversarial families of",
            "issue 13: dense regimes, a winner over many equal losers, cancelling",
            "log-probability rows, logits at +-max with soft labels).",
            "",
            "```bash",
            f"python benchmarks/accuracy.py --long --seed {args.seed}",
            "```",
            "",
            f"Seed {args.seed}; run {datetime.date.today().isoformat()} in {took / 60:.1f} min; {_versions()}.",
            "",
            *lines,
            "",
        ]
        args.out.write_text("\n".join(text))
        print(f"wrote {args.out}", file=sys.stderr)


if __name__ == "__main__":
    main()
