"""The compiled rounding of float64 results to float16 and bfloat16
(stabkit/_native/_round.c) against the NumPy path, alone and end to end,
beside PyTorch on one thread.

    python benchmarks/native_round.py [--repeat 15]

Each round times every variant of a case once, in a shuffled (seeded)
order: stabkit with the kernel, stabkit with ``STABKIT_NATIVE=0``, and
torch (``torch.softmax``/``log_softmax``/``cross_entropy`` on CPU tensors of
the same format; n/a where torch is missing or raises). The table gives
median times; both stabkit results are checked to be bit-identical first.
Wall-clock medians on a shared machine, never assertions.
"""

from __future__ import annotations

import argparse
import os
import time

import ml_dtypes
import numpy as np

from stabkit import accurate
from stabkit.floats import round_float64

FORMATS = {"float16": np.float16, "bfloat16": ml_dtypes.bfloat16}


def _torch():
    try:
        import torch
    except ImportError:
        return None
    torch.set_num_threads(1)
    return torch


def _cases(torch):
    rng = np.random.default_rng(16)
    million = {"normal": rng.uniform(-3, 3, 10**6), "subnormal-heavy": rng.uniform(0, 1, 10**6) * 2.0**-16}
    for fmt in FORMATS:
        for name, x in million.items():
            yield f"round_float64 1e6 {name}", fmt, (lambda x=x, fmt=fmt: round_float64(x, fmt)), None
    for shape in ((1000, 1000), (10000, 10)):
        x64 = rng.standard_normal(shape) * 8
        y64 = rng.dirichlet(np.ones(shape[1]), shape[0])
        for fmt, dt in FORMATS.items():
            x, y = x64.astype(dt), y64.astype(dt)
            tx = ty = None
            if torch is not None:
                tdt = {"float16": torch.float16, "bfloat16": torch.bfloat16}[fmt]
                tx, ty = torch.from_numpy(x64).to(tdt), torch.from_numpy(y64).to(tdt)
            tag = f"{shape[0]}x{shape[1]}"
            yield (f"softmax {tag}", fmt, lambda x=x: accurate.softmax(x),
                   None if tx is None else (lambda tx=tx: torch.softmax(tx, -1)))
            yield (f"log_softmax {tag}", fmt, lambda x=x: accurate.log_softmax(x),
                   None if tx is None else (lambda tx=tx: torch.log_softmax(tx, -1)))
            yield (f"categorical CE (logits) {tag}", fmt,
                   lambda x=x, y=y: accurate.categorical_crossentropy(y, x, from_logits=True),
                   None if tx is None else (lambda tx=tx, ty=ty: torch.nn.functional.cross_entropy(
                       tx, ty, reduction="none")))


def _time(fn, env: str | None) -> float:
    if env is not None:
        os.environ["STABKIT_NATIVE"] = env
    t = time.perf_counter()
    fn()
    return time.perf_counter() - t


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeat", type=int, default=15, help="rounds per case (medians are quoted)")
    args = ap.parse_args()
    torch = _torch()
    rng = np.random.default_rng(0)
    print(f"{'case':38s} {'format':9s} {'native ms':>10s} {'NumPy ms':>10s} {'x':>6s} {'torch ms':>9s}")
    for name, fmt, fn, tfn in _cases(torch):
        fast = fn()
        os.environ["STABKIT_NATIVE"] = "0"
        slow = fn()
        os.environ.pop("STABKIT_NATIVE")
        assert np.array_equal(np.asarray(fast).view(np.uint16), np.asarray(slow).view(np.uint16)), name
        runs = [("1", fn), ("0", fn)] + ([(None, tfn)] if tfn is not None else [])
        try:
            if tfn is not None:
                tfn()
        except RuntimeError:  # a format torch has no CPU kernel for
            runs = runs[:2]
        times: dict[object, list[float]] = {r[0]: [] for r in runs}
        for _ in range(args.repeat):
            for i in rng.permutation(len(runs)):
                times[runs[i][0]].append(_time(runs[i][1], runs[i][0]))
        os.environ.pop("STABKIT_NATIVE", None)
        med = {k: float(np.median(v)) * 1e3 for k, v in times.items()}
        t = f"{med[None]:9.3f}" if None in med else f"{'n/a':>9s}"
        print(f"{name:38s} {fmt:9s} {med['1']:10.3f} {med['0']:10.3f} {med['0'] / med['1']:6.1f} {t}", flush=True)


if __name__ == "__main__":
    main()
