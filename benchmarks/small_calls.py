"""Time per call of every public function on small inputs, beside SciPy.

    python benchmarks/small_calls.py [--repeat 7]

A single row or a small batch is what a student or an engineer passes call
after call, as SciPy and JAX users do; there the fixed cost of a call (the
conventions, the option checks, the NumPy calls of each tier) is the whole
time. Shapes: a scalar, (10,), (4, 10) and (32, 10) float64; the losses from
logits (binary with 0/1 targets, sparse with labels, categorical with one-hot
rows). Each cell is the minimum over ``--repeat`` rounds of the mean time of
a call in microseconds (the minimum: on a shared machine the load only ever
adds); SciPy's softmax, log_softmax, logsumexp and expit are timed in the
same process.
"""

from __future__ import annotations

import argparse
import sys
import timeit

import numpy as np
import scipy.special as sp

from stabkit import accurate, naive, stable

SHAPES = {"scalar": (), "(10,)": (10,), "(4,10)": (4, 10), "(32,10)": (32, 10)}
NAMES = ("sigmoid", "log_sigmoid", "softplus", "softmax", "log_softmax", "logsumexp",
         "binary_crossentropy", "sparse_categorical_crossentropy", "categorical_crossentropy")


def _calls(mod, shape, rng):
    """name -> a call of ``mod``'s function on inputs of ``shape``."""
    x = rng.normal(size=shape) * 3 if shape else np.float64(0.3)
    y01 = (rng.random(shape) < 0.5).astype(np.float64)
    out = {n: (lambda f=getattr(mod, n): f(x)) for n in NAMES[:6]}
    out["binary_crossentropy"] = lambda: mod.binary_crossentropy(y01, x, from_logits=True)
    if shape:
        labels = rng.integers(0, shape[-1], shape[:-1])
        onehot = np.eye(shape[-1])[labels]
        out["sparse_categorical_crossentropy"] = lambda: mod.sparse_categorical_crossentropy(labels, x, from_logits=True)
        out["categorical_crossentropy"] = lambda: mod.categorical_crossentropy(onehot, x, from_logits=True)
    return out, x


def _us(call, repeat: int) -> float:
    timer = timeit.Timer(call)
    number, _ = timer.autorange()  # about 0.2 s a round
    return min(timer.repeat(repeat=repeat, number=number)) / number * 1e6


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeat", type=int, default=7, help="timing rounds; the minimum is reported")
    args = ap.parse_args()
    if args.repeat < 1:
        ap.error("--repeat: must be at least 1")
    rng = np.random.default_rng(0)
    cells: dict[str, dict[str, float]] = {}
    for k, (label, shape) in enumerate(SHAPES.items(), 1):
        # about 1.6 s a cell, 31 cells a shape: say where the run is
        print(f"[shape {k}/{len(SHAPES)}: {label}]", file=sys.stderr, flush=True)
        for mod in (naive, stable, accurate):
            calls, x = _calls(mod, shape, rng)
            for name, call in calls.items():
                cells.setdefault(f"{mod.__name__.split('.')[-1]}.{name}", {})[label] = _us(call, args.repeat)
        for name, call in (("softmax", lambda: sp.softmax(x, axis=-1)), ("log_softmax", lambda: sp.log_softmax(x, axis=-1)),
                           ("logsumexp", lambda: sp.logsumexp(x)), ("expit", lambda: sp.expit(x))):
            cells.setdefault(f"scipy.{name}", {})[label] = _us(call, args.repeat)
    print("| function (us per call) | " + " | ".join(SHAPES) + " |")
    print("|---|" + "---|" * len(SHAPES))
    for name, row in cells.items():
        print(f"| {name} | " + " | ".join(f"{row[s]:.1f}" if s in row else "" for s in SHAPES) + " |")


if __name__ == "__main__":
    main()
