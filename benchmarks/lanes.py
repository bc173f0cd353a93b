"""The accurate tier's float32 rows against PyTorch's float32 and float64
kernels (one thread), on the same values.

    python benchmarks/lanes.py [--repeat 15] [--quick]

The accurate tier computes float32 through float64 (the NumPy path's bits,
and the margin its correct rounding needs); PyTorch's float32 kernels
compute in float32, twice the lanes of a vector. Each float32 case of
``functions.py`` is timed four ways in interleaved rounds (``run_case``):
the accurate tier on the float32 values and on their float64 copies, and
PyTorch on both. The cells: the accurate tier's float32 time (median,
microseconds), and each PyTorch median over the accurate tier's (> 1:
stabkit is faster). Wall-clock medians on a shared machine, never
assertions.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))  # functions.py, peers.py and vs_torch.py

from functions import Notes, cases, implementations, run_case  # noqa: E402
from vs_torch import print_notes, torch_peers  # noqa: E402


def _widened(args: tuple) -> tuple:
    """The case's arguments with every float32 array as float64 (exact);
    labels and other arrays as they are."""
    return tuple(a.astype(np.float64) if isinstance(a, np.ndarray) and a.dtype == np.float32 else a for a in args)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeat", type=int, default=15, help="timing rounds; the median is reported (default 15)")
    ap.add_argument("--quick", action="store_true", help="functions.py's smaller cases (a fifth of the entries)")
    opts = ap.parse_args(argv)
    if opts.repeat < 1:
        ap.error("--repeat must be a positive integer")
    peers = torch_peers(opts.repeat, "; cells: us, and PyTorch's time over the accurate tier's")
    if peers is None:
        return 1
    notes, order = Notes(), np.random.default_rng(1)
    print("| function | shape | accurate f32 (us) | torch f32 / accurate f32 "
          "| torch f64 / accurate f32 | torch f64 / accurate f64 |")
    print("|---|---|---|---|---|---|")
    for fn, _, args, _, kw in cases(opts.quick, ["float32"]):
        shape = "x".join(map(str, args[-1].shape))
        label = f"{fn} {shape}"
        calls = {}
        for name, a in (("32", args), ("64", _widened(args))):
            got, na = implementations(fn, "float" + name, a, kw, peers, notes, label, tiers=("accurate",))
            if na or len(got) < 2:
                break
            calls.update({f"{k}{name}": v for k, v in got.items()})
        if len(calls) < 4:
            print(f"| {fn} | {shape} | n/a | | | |")
            continue
        t = {k: float(np.median(v)) for k, v in run_case(calls, opts.repeat, order).items()}
        acc32, acc64 = t["accurate32"], t["accurate64"]
        print(f"| {fn} | {shape} | {acc32 * 1e6:.0f} | {t['torch32'] / acc32:.2f} "
              f"| {t['torch64'] / acc32:.2f} | {t['torch64'] / acc64:.2f} |", flush=True)
    print_notes(notes)
    return 0


if __name__ == "__main__":
    sys.exit(main())
