"""Test accuracy of the lecture network on the full MNIST, stabkit vs Keras.

Trains Dense(25, relu) -> Dense(15, relu) -> Dense(10) with Adam(1e-3) and
sparse cross-entropy from logits on the 60,000 training images and tests on
the 10,000 test images, once per seed:

- stabkit through its command line, ``stabkit train --dataset mnist
  --json`` (a subprocess, so the numbers are what a user of the CLI gets);
- Keras 3 on JAX, the same network, with the lecture's preprocessing
  (``x.reshape(n, 784).astype("float32") / 255``) and
  ``keras.utils.set_random_seed(seed)``.

Both use the same epochs and batch size (default: the CLI's, 10 and 32).
Prints per-seed and mean test accuracy and the difference in points; the
goal is a mean within 0.5 points of Keras's. Not run in CI (about a minute
per seed and framework on 2 cores).

    python benchmarks/mnist60k.py [--data-dir DIR] [--seeds 0,1,2]
                                  [--epochs 10] [--batch-size 32] [--json FILE]

Without ``--data-dir`` (or ``$STABKIT_MNIST_DIR``) both read the download
cache, which ``stabkit train`` fills on first use.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

os.environ.setdefault("KERAS_BACKEND", "jax")

import numpy as np  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from stabkit.nn.data import DataError, load_mnist  # noqa: E402

GOAL_POINTS = 0.5


def stabkit_cli(data_dir: Path | None, epochs: int, batch: int, seed: int) -> dict:
    """One ``stabkit train --dataset mnist --json`` run of this checkout;
    its summary's logits run (test accuracy, step, seconds per epoch)."""
    cmd = [sys.executable, "-m", "stabkit", "train", "--dataset", "mnist", "--epochs", str(epochs),
           "--batch-size", str(batch), "--seed", str(seed), "--json"]
    if data_dir is not None:
        cmd += ["--data-dir", str(data_dir)]
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")])))
    done = subprocess.run(cmd, capture_output=True, text=True, env=env, check=False)
    if done.returncode != 0:
        raise SystemExit(f"stabkit train failed (exit {done.returncode}): {done.stderr.strip()}")
    summary = json.loads(done.stdout)
    if summary["n_train"] != 60000 or summary["n_test"] != 10000:
        raise SystemExit(f"stabkit train used {summary['dataset']} ({summary['n_train']}/{summary['n_test']}), "
                         "not the full 60,000/10,000 split: the folder lacks the train-* files")
    return summary["runs"]["logits"]


def keras_fit(xtr, ytr, xte, yte, epochs: int, batch: int, seed: int) -> tuple[float, float]:
    """(test accuracy, seconds) of the lecture network in Keras."""
    import keras

    keras.utils.set_random_seed(seed)
    L = keras.layers
    model = keras.Sequential([keras.Input((784,)), L.Dense(25, activation="relu"), L.Dense(15, activation="relu"), L.Dense(10)])
    model.compile(optimizer=keras.optimizers.Adam(learning_rate=1e-3),
                  loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True), metrics=["accuracy"])
    t0 = time.perf_counter()
    model.fit(xtr, ytr, epochs=epochs, batch_size=batch, verbose=0)
    seconds = time.perf_counter() - t0
    return float(model.evaluate(xte, yte, batch_size=1024, verbose=0)[1]), seconds


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--data-dir", type=Path, default=None, help="folder with the four MNIST .gz files")
    ap.add_argument("--seeds", default="0,1,2", help="comma-separated seeds")
    ap.add_argument("--epochs", type=int, default=10)
    ap.add_argument("--batch-size", type=int, default=32)
    ap.add_argument("--json", type=Path, default=None, help="also write the results here")
    args = ap.parse_args(argv)
    try:
        seeds = [int(s) for s in args.seeds.split(",") if s.strip()]
    except ValueError:
        ap.error(f"--seeds {args.seeds!r} is not a comma-separated list of integers")
    if not seeds or args.epochs < 1 or args.batch_size < 1:
        ap.error("need at least one seed, and positive --epochs and --batch-size")
    try:
        (xtr, ytr), (xte, yte) = load_mnist(args.data_dir)
    except DataError as e:
        print(f"skipped: the full MNIST is not available ({e})", file=sys.stderr)
        return 0
    # the lecture's (and Keras's examples') preprocessing
    xtr = xtr.reshape(len(xtr), 784).astype("float32") / 255
    xte = xte.reshape(len(xte), 784).astype("float32") / 255

    import keras

    print(f"# MNIST 60,000 train / 10,000 test; {args.epochs} epochs, batch {args.batch_size}, Adam(1e-3); "
          f"numpy {np.__version__}, keras {keras.__version__} ({keras.backend.backend()})")
    print(f"{'seed':>4}  {'stabkit':>8}  {'Keras':>8}  {'diff (pts)':>10}  {'stabkit s':>9}  {'Keras s':>8}  step")
    rows = []
    for seed in seeds:
        run = stabkit_cli(args.data_dir, args.epochs, args.batch_size, seed)
        k_acc, k_sec = keras_fit(xtr, ytr, xte, yte, args.epochs, args.batch_size, seed)
        row = dict(seed=seed, stabkit=run["test_accuracy"], keras=k_acc, stabkit_seconds=sum(run["epoch_seconds"]),
                   keras_seconds=k_sec, step=run["step"])
        rows.append(row)
        print(f"{seed:>4}  {row['stabkit']:>8.4f}  {k_acc:>8.4f}  {100 * (row['stabkit'] - k_acc):>+10.2f}  "
              f"{row['stabkit_seconds']:>9.1f}  {k_sec:>8.1f}  {row['step']}", flush=True)
    s_mean, k_mean = np.mean([r["stabkit"] for r in rows]), np.mean([r["keras"] for r in rows])
    diff = 100 * (s_mean - k_mean)
    print(f"mean  {s_mean:>8.4f}  {k_mean:>8.4f}  {diff:>+10.2f}")
    met = abs(diff) <= GOAL_POINTS
    print(f"goal (|mean difference| <= {GOAL_POINTS} points): {'met' if met else 'NOT met'}")
    if args.json:
        args.json.write_text(json.dumps(dict(epochs=args.epochs, batch_size=args.batch_size, rows=rows,
                                             stabkit_mean=float(s_mean), keras_mean=float(k_mean),
                                             difference_points=float(diff), goal_met=bool(met)), indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
