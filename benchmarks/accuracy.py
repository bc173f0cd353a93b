"""Worst ulp error of every tier against the mpmath references: the table in
the README's "What the accurate tier guarantees" section.

    python benchmarks/accuracy.py [--seed 0]

One-argument functions: every non-NaN float16 and bfloat16 input; float32
and float64: 6,000 inputs, half uniform over bit patterns, half uniform over
bit patterns in [-800, 800]. Row-wise functions: 90 adversarial rows of 2,
10, 100 and 1,000 entries (the test suite's ``adversarial_rows``: offsets up
to +-1e4, winners up to 1e4 ahead, ties, masked entries, log-probability
rows, spreads up to the format's range). "fail" counts NaN or inf where the
exact value is finite; those are left out of the ulp figures.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests"))

from _support import adversarial_rows, errors, exhaustive, ordinal_uniform  # noqa: E402

ELEMENTWISE = ("sigmoid", "log_sigmoid", "softplus")
ROWWISE = ("softmax", "log_softmax", "logsumexp")
FORMATS = ("float16", "bfloat16", "float32", "float64")
TIERS = ("naive", "stable", "accurate")


def _cell(e: np.ndarray, fails: np.ndarray) -> str:
    e = e[~np.isnan(e) & ~fails]
    worst = f"{np.max(e):.3g}" if e.size else "-"
    return worst + (f" ({int(fails.sum())} fail)" if fails.any() else "")


def _elementwise(fn: str, fmt: str, seed: int):
    if fmt in ("float16", "bfloat16"):
        x, ref = exhaustive(fn, fmt)
        return [x], [ref]
    x = np.concatenate([ordinal_uniform(fmt, 3000, seed), ordinal_uniform(fmt, 3000, seed + 1, -800.0, 800.0)])
    return [x], [None]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seed", type=int, default=0, help="seed of the samples and rows")
    seed = ap.parse_args().seed
    print("| function | format | points | naive | stable | accurate |")
    print("|---|---|---|---|---|---|")
    for fn in ELEMENTWISE + ROWWISE:
        for fmt in FORMATS:
            if fn in ELEMENTWISE:
                inputs, refs = _elementwise(fn, fmt, seed)
            else:
                inputs = adversarial_rows(fmt, seed, n_rows=90, lengths=(2, 10, 100, 1000))
                refs = [None] * len(inputs)
            cells, points = [], 0
            for tier in TIERS:
                es, fs = [], []
                for x, ref in zip(inputs, refs):
                    e, f, _, _ = errors(fn, tier, x, ref=ref)
                    es.append(np.atleast_1d(e))
                    fs.append(np.atleast_1d(f))
                cells.append(_cell(np.concatenate(es), np.concatenate(fs)))
                points = sum(e.size for e in es)
            print(f"| {fn} | {fmt} | {points} | " + " | ".join(cells) + " |", flush=True)


if __name__ == "__main__":
    main()
