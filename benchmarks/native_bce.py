"""The compiled binary cross-entropy from probabilities beside the NumPy
path and PyTorch.

    python benchmarks/native_bce.py [--rounds 21] [--n 1000000]

``stabkit.accurate.binary_crossentropy(y, p)`` (the default
``from_logits=False``, no options, ``reduction="none"``) on ``n`` float32 and
float64 probabilities (uniform in (0, 1)) with 0/1 targets and with soft
ones (uniform in (0, 1)): with its
compiled loop (``native``), with ``STABKIT_NATIVE=0`` (``numpy path``), and
``torch.nn.functional.binary_cross_entropy(p, y, reduction="none")`` on one
thread (PyTorch computes in the input's format and clamps its logs at -100:
not the same loss, the peer users would call). Every round times each
implementation once, in an order shuffled every round (seeded); the table
gives the median time and the medians of the per-round ratios other /
native (> 1: native is faster). Wall-clock medians on a shared machine:
read ratios, not absolute times.
"""

from __future__ import annotations

import argparse
import os
import platform
import time

import numpy as np

from stabkit import accurate
from stabkit._native import elementwise

try:  # optional peer
    import torch
    import torch.nn.functional as F

    torch.set_num_threads(1)
except ImportError:  # pragma: no cover - depends on the machine
    torch = None


def _numpy_path(y, p):
    os.environ["STABKIT_NATIVE"] = "0"
    try:
        return accurate.binary_crossentropy(y, p)
    finally:
        del os.environ["STABKIT_NATIVE"]


def implementations(y: np.ndarray, p: np.ndarray) -> dict:
    out = {"native": lambda: accurate.binary_crossentropy(y, p), "numpy path": lambda: _numpy_path(y, p)}
    if torch is not None:
        ty, tp = torch.from_numpy(y), torch.from_numpy(p)
        out["torch (1 thread)"] = lambda: F.binary_cross_entropy(tp, ty, reduction="none")
    return out


def bench(dtype, n: int, rounds: int, soft: bool, seed: int = 0) -> dict:
    rng = np.random.default_rng(seed)
    p = rng.random(n).astype(dtype)
    y = (rng.random(n) if soft else rng.random(n) < 0.5).astype(dtype)
    impls = implementations(y, p)
    for f in impls.values():  # warm up (binds and checks the loops once)
        f()
    times = {k: [] for k in impls}
    order = list(impls)
    for _ in range(rounds):
        rng.shuffle(order)
        for k in order:
            t = time.perf_counter()
            impls[k]()
            times[k].append(time.perf_counter() - t)
    nat = np.array(times["native"])
    return {k: (float(np.median(v)), float(np.median(np.array(v) / nat))) for k, v in times.items()}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rounds", type=int, default=21, help="interleaved rounds (median over them)")
    ap.add_argument("--n", type=int, default=1_000_000, help="elements per call")
    args = ap.parse_args()
    why = elementwise.why_not("binary_crossentropy", "float64", logits=False)
    print(f"# {platform.processor() or platform.machine()}, NumPy {np.__version__}, "
          f"torch {torch.__version__ if torch else '-'}, load {os.getloadavg()[0]:.1f}, "
          f"kernel: {why or 'native'}")
    print("| format | targets | implementation | median | native faster by (median of ratios) |")
    print("| --- | --- | --- | --- | --- |")
    for dtype in (np.float32, np.float64):
        for soft in (False, True):
            for k, (t, r) in bench(dtype, args.n, args.rounds, soft).items():
                kind = "soft" if soft else "0/1"
                print(f"| {np.dtype(dtype).name} | {kind} | {k} | {t * 1e3:.2f} ms | {r:.2f}x |", flush=True)


if __name__ == "__main__":
    main()
