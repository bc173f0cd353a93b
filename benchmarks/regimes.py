"""The accurate tier against PyTorch (one thread) on the inputs of real use,
not only on ``benchmarks/functions.py``'s normal logits.

    python benchmarks/regimes.py [--repeat 9] [--dtypes float32,float64]
                                 [--only softmax,...] [--regimes zeros,masked,...]

``functions.py`` times one input per case: logits of standard deviation 10
(elementwise) or 5 (rows). A kernel's fast path can hide a slow one that
other inputs take: before 2026-12-05, logits at 0 (an untrained network)
made the binary cross-entropy 20x slower than PyTorch, a tenth of the
entries masked to -inf made the float64 log-softmax 3x slower than on the
same rows unmasked. Each regime here is one such input, every function on
the shapes of ``functions.py``:

- ``typical``: ``functions.py``'s input (standard deviation 10, rows 5);
- ``zeros``: every logit 0, as a zero-initialised head gives;
- ``small``: standard deviation 1e-3 (a network's first steps);
- ``confident``: standard deviation 30 (a trained classifier's far winners);
- ``spread``: standard deviation 300 (entries far below the maximum);
- ``masked``: rows with a tenth of their entries at -inf and one kept finite
  (padding, attention masks); elementwise functions skip it;
- ``offset``: standard deviation 5 around 1e4 (unnormalised scores);
- ``logprobs``: rows of log-probabilities (the log-softmax of ``typical``
  rows, rounded to the format), as a model's log-likelihoods or a mixture's
  weights are kept; their logsumexp is about 0 (1e-17 in float64) and
  cancels. Elementwise functions skip it.

The cells are millions of elements (rows, for the losses) per second,
medians over interleaved rounds (``functions.py``'s ``run_case``), and the
ratio is PyTorch's time over the accurate tier's, the median of the
per-round ratios (> 1: stabkit is faster). Wall-clock medians on a shared
machine, never assertions.
"""

from __future__ import annotations

import argparse
import sys
import time
import warnings
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))  # functions.py, peers.py and vs_torch.py

import stabkit  # noqa: E402
from functions import Notes, implementations, run_case  # noqa: E402
from peers import FUNCTIONS  # noqa: E402
from vs_torch import check_choices, print_notes, torch_peers  # noqa: E402
from stabkit.floats import get_format  # noqa: E402

REGIMES = ("typical", "zeros", "small", "confident", "spread", "masked", "offset", "logprobs")
ELEMENTWISE = ("sigmoid", "log_sigmoid", "softplus", "binary_crossentropy")
DTYPES = ("float16", "bfloat16", "float32", "float64")


def logits(regime: str, rng, shape: tuple[int, ...], rows: bool) -> np.ndarray | None:
    """Float64 logits of one regime (None: the regime has no elementwise form)."""
    z = rng.standard_normal(shape)
    if regime == "typical":
        return z * (5.0 if rows else 10.0)
    if regime == "zeros":
        return np.zeros(shape)
    if regime == "small":
        return z * 1e-3
    if regime == "confident":
        return z * 30.0
    if regime == "spread":
        return z * 300.0
    if regime == "offset":
        return z * 5.0 + 1e4
    if not rows:
        return None
    if regime == "logprobs":
        return np.asarray(stabkit.log_softmax(z * 5.0, axis=-1))
    x = z * 5.0
    x[rng.random(shape) < 0.1] = -np.inf
    x[:, 0] = z[:, 0]  # every row keeps a finite entry
    return x


def cases(dtypes: list[str], regimes: list[str], n: int = 1_000_000):
    """(function, dtype, regime, args, units, keywords) of every case."""
    rng = np.random.default_rng(0)
    for name in dtypes:
        dt = get_format(name).dtype
        for regime in regimes:
            x = logits(regime, rng, (n,), False)
            if x is not None:
                x = x.astype(dt)
                y = rng.integers(0, 2, n).astype(dt)
                for fn in ELEMENTWISE:
                    args = (y, x) if fn == "binary_crossentropy" else (x,)
                    kw = {"from_logits": True} if fn == "binary_crossentropy" else {}
                    yield fn, name, regime, args, n, kw
            for shape in ((10_000, 10), (1_000, 1_000)):
                z = logits(regime, rng, shape, True).astype(dt)
                for fn in ("softmax", "log_softmax", "logsumexp"):
                    yield fn, name, regime, (z,), z.size, {"axis": -1}
                lab = rng.integers(0, shape[1], shape[0])
                yield "sparse_categorical_crossentropy", name, regime, (lab, z), shape[0], {"from_logits": True}
                soft = rng.dirichlet(np.ones(shape[1]), size=shape[0]).astype(dt)
                yield "categorical_crossentropy", name, regime, (soft, z), shape[0], {"from_logits": True}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeat", type=int, default=9, help="timing rounds; the median is reported (default 9)")
    ap.add_argument("--dtypes", default="float32,float64",
                    help=f"comma-separated formats, of {','.join(DTYPES)} (default float32,float64)")
    ap.add_argument("--only", default="", help="comma-separated stabkit function names (default every function)")
    ap.add_argument("--regimes", default=",".join(REGIMES),
                    help=f"comma-separated input regimes, of {','.join(REGIMES)} (default all)")
    opts = ap.parse_args(argv)
    dtypes = [d for d in opts.dtypes.split(",") if d]
    regimes = [r for r in opts.regimes.split(",") if r]
    only = {f for f in opts.only.split(",") if f}
    check_choices(ap, ("--dtypes", dtypes, DTYPES), ("--regimes", regimes, REGIMES), ("--only", only, FUNCTIONS))
    if opts.repeat < 1:
        ap.error("--repeat: must be at least 1")
    peers = torch_peers(opts.repeat)
    if peers is None:
        return 1
    print("| function | dtype | shape | regime | accurate | torch | accurate/torch |")
    print("|---|---|---|---|---|---|---|")
    warnings.simplefilter("ignore")
    todo = [c for c in cases(dtypes, regimes) if not only or c[0] in only]
    notes, order, start = Notes(), np.random.default_rng(1), time.perf_counter()
    for i, (fn, dtype, regime, args, units, kw) in enumerate(todo, 1):
        shape = "x".join(map(str, args[-1].shape))
        print(f"[{i}/{len(todo)}] {fn} {dtype} {shape} {regime}, {time.perf_counter() - start:.0f} s so far",
              file=sys.stderr, flush=True)
        label = f"{fn} {dtype} {shape} {regime}"
        with np.errstate(all="ignore"):
            calls, na = implementations(fn, dtype, args, kw, peers, notes, label, ("accurate",))
            times = run_case(calls, opts.repeat, order)
        rate = {k: units / np.median(v) / 1e6 for k, v in times.items()}
        cells = [f"{rate[k]:.3g}" if k in rate else na.get(k, "") for k in ("accurate", "torch")]
        ratio = (f"{np.median(np.divide(times['torch'], times['accurate'])):.2f}"
                 if "torch" in times and "accurate" in times else na.get("torch", na.get("accurate", "")))
        print(f"| {fn} | {dtype} | {shape} | {regime} | {cells[0]} | {cells[1]} | {ratio} |", flush=True)
    print_notes(notes)
    return 0


if __name__ == "__main__":
    sys.exit(main())
