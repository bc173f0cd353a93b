"""Every float32 input of the compiled sigmoid, log_sigmoid and softplus
against the NumPy path, bit for bit (the proof behind the ufuncs'
correctness claim; the test suite checks every float16 and bfloat16 input
and a sample of float32).

    python benchmarks/exhaustive_elementwise.py [--chunk-bits 24] [--functions sigmoid,softplus]

The 2**32 bit patterns (NaNs with every payload, both zeros, subnormals,
infinities) go through in chunks of 2**chunk_bits; each chunk is compared
as raw bits, NaNs included. Prints progress per 1/16 of the range and, at
the end, the number of differing inputs per function with the first few
(input bits, NumPy path bits, native bits). Exit status 1 if any differ, 2
if the extension is not built.
"""

from __future__ import annotations

import argparse
import os
import sys
import time

import numpy as np

# the NumPy path is the oracle: the accurate tier must not call the ufuncs
os.environ["STABKIT_NATIVE"] = "0"

from stabkit import accurate  # noqa: E402
from stabkit._native import elementwise  # noqa: E402


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--chunk-bits", type=int, default=24, help="log2 of the inputs compared per chunk (default 24)")
    ap.add_argument("--functions", default=",".join(elementwise.FUNCTIONS),
                    help="comma-separated functions to check (default: all three)")
    args = ap.parse_args()
    names = [n for n in args.functions.split(",") if n]
    unknown = [n for n in names if n not in elementwise.FUNCTIONS]
    if unknown or not 16 <= args.chunk_bits <= 28:
        print(f"error: unknown function {unknown[0]!r}" if unknown else "error: --chunk-bits must be in 16..28",
              file=sys.stderr)
        return 2
    ext = elementwise.extension()
    if ext is None:
        print(f"error: {elementwise.why_not('sigmoid', 'float32')}; run setup.py build_ext --inplace", file=sys.stderr)
        return 2
    n = 1 << args.chunk_bits
    bad = {name: [] for name in names}
    count = dict.fromkeys(names, 0)
    t0 = time.perf_counter()
    for c in range((1 << 32) // n):
        bits = np.arange(c * n, (c + 1) * n, dtype=np.uint64).astype(np.uint32)
        x = bits.view(np.float32)
        for name in names:
            ref = getattr(accurate, name)(x).view(np.uint32)
            got = getattr(ext, name)(x).view(np.uint32)
            diff = np.flatnonzero(ref != got)
            count[name] += diff.size
            bad[name] += [(int(bits[i]), int(ref[i]), int(got[i])) for i in diff[: 10 - len(bad[name])]]
        if (c + 1) % max(1, ((1 << 32) // n) // 16) == 0:
            print(f"{(c + 1) * n / 2**32:6.1%} of the float32 inputs, {time.perf_counter() - t0:7.1f} s, "
                  f"differing so far: {count}", flush=True)
    for name in names:
        print(f"{name}: {count[name]} of 2**32 float32 inputs differ"
              + "".join(f"\n  x={b:#010x} numpy={r:#010x} native={g:#010x}" for b, r, g in bad[name]))
    print(f"numpy {np.__version__}, {time.perf_counter() - t0:.0f} s")
    return 1 if any(count.values()) else 0


if __name__ == "__main__":
    sys.exit(main())
