"""The compiled binary cross-entropy from probabilities beside the NumPy
path and PyTorch.

    python benchmarks/native_bce.py [--rounds 21] [--n 1000000] [--narrow] [--logits]

``stabkit.accurate.binary_crossentropy(y, p)`` (the default
``from_logits=False``, no options, ``reduction="none"``) on ``n`` float32 and
float64 (``--narrow``: float16 and bfloat16) probabilities (uniform in (0, 1)) with 0/1
targets and with soft ones (uniform in (0, 1)); ``--logits``: from logits
(normal, sd 4) against ``F.binary_cross_entropy_with_logits``. With its
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
import time

import ml_dtypes
import numpy as np

from stabkit import accurate
from stabkit._machine import processor
from stabkit._native import elementwise

try:  # optional peer
    import torch
    import torch.nn.functional as F

    torch.set_num_threads(1)
except ImportError:  # pragma: no cover - depends on the machine
    torch = None


def _numpy_path(y, p, logits):
    os.environ["STABKIT_NATIVE"] = "0"
    try:
        return accurate.binary_crossentropy(y, p, from_logits=logits)
    finally:
        del os.environ["STABKIT_NATIVE"]


def implementations(y: np.ndarray, p: np.ndarray, logits: bool) -> dict:
    out = {"native": lambda: accurate.binary_crossentropy(y, p, from_logits=logits),
           "numpy path": lambda: _numpy_path(y, p, logits)}
    if torch is not None:
        if p.dtype == ml_dtypes.bfloat16:  # torch reads no ml_dtypes array: the same values, converted
            ty, tp = (torch.from_numpy(a.astype(np.float32)).to(torch.bfloat16) for a in (y, p))
        else:
            ty, tp = torch.from_numpy(y), torch.from_numpy(p)
        peer = F.binary_cross_entropy_with_logits if logits else F.binary_cross_entropy
        out["torch (1 thread)"] = lambda: peer(tp, ty, reduction="none")
    return out


def bench(dtype, n: int, rounds: int, soft: bool, logits: bool = False, seed: int = 0) -> dict:
    rng = np.random.default_rng(seed)
    p = (rng.standard_normal(n) * 4 if logits else rng.random(n)).astype(dtype)
    y = (rng.random(n) if soft else rng.random(n) < 0.5).astype(dtype)
    impls = implementations(y, p, logits)
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
    ap.add_argument("--narrow", action="store_true", help="float16 and bfloat16 inputs instead of float32 and float64")
    ap.add_argument("--logits", action="store_true", help="from logits instead of from probabilities")
    args = ap.parse_args()
    dtypes = (np.float16, ml_dtypes.bfloat16) if args.narrow else (np.float32, np.float64)
    why = elementwise.why_not("binary_crossentropy", np.dtype(dtypes[0]).name, logits=args.logits)
    print(f"# {processor()}, NumPy {np.__version__}, "
          f"torch {torch.__version__ if torch else '-'}, load {os.getloadavg()[0]:.1f}, "
          f"kernel: {why or 'native'}")
    print("| format | targets | implementation | median | native faster by (median of ratios) |")
    print("| --- | --- | --- | --- | --- |")
    for dtype in dtypes:
        for soft in (False, True):
            for k, (t, r) in bench(dtype, args.n, args.rounds, soft, args.logits).items():
                kind = "soft" if soft else "0/1"
                print(f"| {np.dtype(dtype).name} | {kind} | {k} | {t * 1e3:.2f} ms | {r:.2f}x |", flush=True)


if __name__ == "__main__":
    main()
