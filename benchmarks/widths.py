"""The accurate tier's row-wise functions against PyTorch (one thread) over
row widths, the same number of entries at every width.

    python benchmarks/widths.py [--repeat 7] [--dtypes float32,float64]
                                [--widths 16,17,21,32,100,1000] [--entries 500000]
                                [--only softmax,log_softmax,logsumexp]

``functions.py`` and ``regimes.py`` time rows of 10 and of 1000 columns.
Between them lie the widths of many real heads (a segmentation model's 19
or 21 classes, CIFAR-100's 100), which the kernels reach by another road:
rows of 16 or fewer take the narrow kernel (column by column across a
block's rows), wider ones the wide-row kernel (row by row). The cells are
nanoseconds per entry (medians over interleaved rounds, ``functions.py``'s
``run_case``) and PyTorch's time over the accurate tier's, the median of
the per-round ratios (> 1: stabkit is faster). Logits of standard
deviation 5, ``--entries`` of them per case (rows of the width). Wall-clock
medians on a shared machine, never assertions.
"""

from __future__ import annotations

import argparse
import sys
import time
import warnings
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))  # functions.py, peers.py and vs_torch.py

from functions import Notes, implementations, run_case  # noqa: E402
from vs_torch import check_choices, print_notes, torch_peers  # noqa: E402
from stabkit.floats import get_format  # noqa: E402

ROWWISE = ("softmax", "log_softmax", "logsumexp")
DTYPES = ("float16", "bfloat16", "float32", "float64")


def _ints(text: str, what: str, ap: argparse.ArgumentParser) -> list[int]:
    try:
        got = [int(t) for t in text.split(",") if t]
    except ValueError:
        ap.error(f"{what}: not a comma-separated list of integers: {text!r}")
    if not got or min(got) < 1:
        ap.error(f"{what}: every value must be a positive integer")
    return got


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeat", type=int, default=7, help="timing rounds; the median is reported (default 7)")
    ap.add_argument("--dtypes", default="float32,float64",
                    help=f"comma-separated formats, of {','.join(DTYPES)} (default float32,float64)")
    ap.add_argument("--widths", default="16,17,21,32,64,100,128,200,1000",
                    help="comma-separated row widths (default 16,17,21,32,64,100,128,200,1000)")
    ap.add_argument("--entries", default="500000", help="entries per case, rounded down to whole rows (default 500000)")
    ap.add_argument("--only", default=",".join(ROWWISE),
                    help=f"comma-separated functions, of {','.join(ROWWISE)} (default all three)")
    opts = ap.parse_args(argv)
    dtypes = [d for d in opts.dtypes.split(",") if d]
    only = [f for f in opts.only.split(",") if f]
    check_choices(ap, ("--dtypes", dtypes, DTYPES), ("--only", only, ROWWISE), empty_ok=False)
    widths = _ints(opts.widths, "--widths", ap)
    (entries,) = _ints(opts.entries, "--entries", ap)
    if opts.repeat < 1:
        ap.error("--repeat: must be at least 1")
    peers = torch_peers(opts.repeat, "; ns per entry (PyTorch's time over the accurate tier's)")
    if peers is None:
        return 1
    print("| dtype | width | " + " | ".join(only) + " |")
    print("|---|---|" + "---|" * len(only))
    warnings.simplefilter("ignore")
    notes, order, rng, start = Notes(), np.random.default_rng(1), np.random.default_rng(0), time.perf_counter()
    for name in dtypes:
        dt = get_format(name).dtype
        for n in widths:
            z = (rng.standard_normal((max(1, entries // n), n)) * 5.0).astype(dt)
            print(f"[{name} {n}] {time.perf_counter() - start:.0f} s so far", file=sys.stderr, flush=True)
            cells = []
            for fn in only:
                label = f"{fn} {name} width {n}"
                with np.errstate(all="ignore"):
                    calls, na = implementations(fn, name, (z,), {"axis": -1}, peers, notes, label, ("accurate",))
                    times = run_case(calls, opts.repeat, order)
                if "accurate" not in times:
                    cells.append(na.get("accurate", ""))
                    continue
                ns = np.median(times["accurate"]) / z.size * 1e9
                ratio = (f"{np.median(np.divide(times['torch'], times['accurate'])):.2f}x" if "torch" in times
                         else na.get("torch", "no torch"))
                cells.append(f"{ns:.2f} ({ratio})")
            print(f"| {name} | {n} | " + " | ".join(cells) + " |", flush=True)
    print_notes(notes)
    return 0


if __name__ == "__main__":
    sys.exit(main())
