"""The accurate tier's row-wise functions with and without the native row
kernel (stabkit/_native/_rows.c), beside SciPy.

    python benchmarks/native_rows.py [--repeat 41] [--quick] [--dtype float32]

Each round times the three in a shuffled order (seeded): stabkit with the
kernel, stabkit with ``STABKIT_NATIVE=0`` (the NumPy passes), and SciPy's
equivalent; the table gives the median times and the medians of the
per-round ratios (SciPy's time over stabkit's: > 1 means stabkit is faster).
SciPy's columns read n/a where it raises on the format (bfloat16).
Both stabkit columns are checked to be bit-identical first. Timings are
wall-clock medians on a shared machine, never assertions.
"""

from __future__ import annotations

import argparse
import os
import time
import warnings

import numpy as np
import scipy.special as sp

import stabkit
from stabkit._native import rows as native
from stabkit.floats import get_format


def _cases(quick: bool, dtype: str):
    rng = np.random.default_rng(0)
    for shape in ((1000, 1000), (10_000, 10), (100, 10_000)):
        if quick:
            shape = (max(1, shape[0] // 5), shape[1])
        dt = get_format(dtype).dtype
        z = (rng.standard_normal(shape) * 5).astype(dt)
        lab = rng.integers(0, shape[1], shape[0])
        soft = rng.dirichlet(np.ones(shape[1]), size=shape[0]).astype(dt)
        yield "softmax", z, (lambda z=z: stabkit.softmax(z, axis=-1)), (lambda z=z: sp.softmax(z, axis=-1))
        yield "log_softmax", z, (lambda z=z: stabkit.log_softmax(z, axis=-1)), (lambda z=z: sp.log_softmax(z, axis=-1))
        yield "logsumexp", z, (lambda z=z: stabkit.logsumexp(z, axis=-1)), (lambda z=z: sp.logsumexp(z, axis=-1))
        yield (
            "sparse CE",
            z,
            lambda z=z, lab=lab: stabkit.sparse_categorical_crossentropy(lab, z, from_logits=True),
            lambda z=z, lab=lab: -np.take_along_axis(sp.log_softmax(z, axis=-1), lab[:, None], axis=-1)[:, 0],
        )
        yield (
            "categorical CE",
            z,
            lambda z=z, y=soft: stabkit.categorical_crossentropy(y, z, from_logits=True),
            lambda z=z, y=soft: -np.sum(y * sp.log_softmax(z, axis=-1), axis=-1),
        )


def _run(path: str, f):
    if path == "numpy":
        os.environ["STABKIT_NATIVE"] = "0"
    try:
        t0 = time.perf_counter()
        out = f()
        return time.perf_counter() - t0, out
    finally:
        os.environ.pop("STABKIT_NATIVE", None)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeat", type=int, default=41, help="timing rounds; medians are reported")
    ap.add_argument("--quick", action="store_true", help="smaller arrays (a smoke run)")
    ap.add_argument("--dtype", default="float64", choices=["float64", "float32", "float16", "bfloat16"],
                    help="the logits' format")
    opts = ap.parse_args()
    os.environ.pop("STABKIT_NATIVE", None)
    print(f"# native row kernel: {native.status()}; numpy {np.__version__}; median of {opts.repeat} rounds; {opts.dtype}")
    print("| function | shape | native ms | NumPy path ms | SciPy ms | native/NumPy path speed-up | SciPy/native | SciPy/NumPy path |")
    print("|---|---|---|---|---|---|---|---|")
    warnings.simplefilter("ignore")
    order = np.random.default_rng(1)
    for name, z, ours, scipy_fn in _cases(opts.quick, opts.dtype):
        a, b = _run("native", ours)[1], _run("numpy", ours)[1]
        if not np.array_equal(np.asarray(a).view(np.uint8), np.asarray(b).view(np.uint8)):
            raise SystemExit(f"{name} {z.shape}: the two paths differ")
        fns = {"native": ours, "numpy": ours, "scipy": scipy_fn}
        try:
            scipy_fn()
        except (TypeError, ValueError):  # SciPy 1.17 on bfloat16
            del fns["scipy"]
        t: dict[str, list[float]] = {k: [] for k in fns}
        for _ in range(opts.repeat):
            for k in order.permutation(list(fns)):
                t[k].append(_run(k, fns[k])[0])
        med = {k: f"{1e3 * float(np.median(v)):.2f}" for k, v in t.items()}
        pairs = {"speedup": ("numpy", "native"), "sn": ("scipy", "native"), "sp": ("scipy", "numpy")}
        ratio = {k: f"{float(np.median(np.divide(t[num], t[den]))):.2f}" if num in t else "n/a"
                 for k, (num, den) in pairs.items()}
        shape = "x".join(map(str, z.shape))
        print(f"| {name} | {shape} | {med['native']} | {med['numpy']} | {med.get('scipy', 'n/a')} | "
              f"{ratio['speedup']}x | {ratio['sn']} | {ratio['sp']} |", flush=True)


if __name__ == "__main__":
    main()
