"""Epoch time and test accuracy of the lecture network, stabkit vs its peers.

Trains Dense(25, relu) -> Dense(15, relu) -> Dense(10) with Adam(1e-3,
epsilon 1e-7) and sparse cross-entropy from logits on the MNIST 8,000 / 2,000
split, for stabkit (its C step, and its NumPy step with STABKIT_NATIVE=0), a
plain hand-written NumPy loop (the floor for NumPy) and, where installed,
Keras 3 on JAX, PyTorch (pinned to one thread) and scikit-learn's
MLPClassifier, all in one run so the ratios share the machine's state. Seconds per epoch are the median of epochs 2..N (epoch 1
holds JIT compilation and warm-up); the spread (min..max of those epochs) is
printed too, because a shared machine is noisy.

    python benchmarks/trainer.py [--epochs 10] [--batch-sizes 32,256]
                                 [--data-dir DIR] [--json FILE]
                                 [--peers stabkit-numpy,numpy,keras,torch,sklearn]

``--model cnn`` times the small CNN instead (Conv2D 8 3x3 relu, MaxPooling2D,
Flatten, Dense 10; batch 32) against Keras 3 on JAX and PyTorch on one
thread, in interleaved rounds (see ``trainer_cnn.py``):

    python benchmarks/trainer.py --model cnn [--epochs 5] [--rounds 3] [--json FILE]
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

os.environ.setdefault("KERAS_BACKEND", "jax")

import numpy as np  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from stabkit._machine import processor  # noqa: E402
from stabkit.nn import Adam, Dense, Sequential, SparseCategoricalCrossentropy  # noqa: E402
from stabkit.nn.data import DataError, has_split, mnist_env_dir, read_mnist  # noqa: E402
from stabkit.nn.download import cache_dir  # noqa: E402


def mnist_folder(data_dir: Path | None) -> Path:
    """``--data-dir``, else ``$STABKIT_MNIST_DIR``, else the first of the
    download cache and ``../shared/data/mnist`` (a development checkout's
    copy) that holds the test set; nothing is downloaded."""
    if data_dir is not None or mnist_env_dir() is not None:
        return data_dir or mnist_env_dir()
    shared = Path(__file__).resolve().parents[2] / "shared" / "data" / "mnist"
    return next((d for d in (cache_dir(), shared) if has_split(d, "test")), cache_dir())

HIDDEN = (25, 15)


def stabkit_run(Xtr, ytr, Xte, yte, epochs, batch, seed, step="C"):
    """stabkit's fit; ``step='NumPy'`` forces the NumPy step (STABKIT_NATIVE=0)."""
    saved = os.environ.get("STABKIT_NATIVE")
    os.environ["STABKIT_NATIVE"] = "0" if step == "NumPy" else "1"
    try:
        model = Sequential([Dense(25, activation="relu"), Dense(15, activation="relu"), Dense(10)])
        model.compile(optimizer=Adam(learning_rate=1e-3), loss=SparseCategoricalCrossentropy(from_logits=True), metrics=["accuracy"])
        h = model.fit(Xtr, ytr, epochs=epochs, batch_size=batch, seed=seed, verbose=0)
    finally:
        if saved is None:
            del os.environ["STABKIT_NATIVE"]
        else:
            os.environ["STABKIT_NATIVE"] = saved
    if h.params["step"] != step:
        print(f"note: stabkit ran its {h.params['step']} step ({h.params.get('step_reason')})", file=sys.stderr)
    return h.epoch_seconds, model.evaluate(Xte, yte, batch_size=1024)[1]


def stabkit_numpy_run(Xtr, ytr, Xte, yte, epochs, batch, seed):
    return stabkit_run(Xtr, ytr, Xte, yte, epochs, batch, seed, step="NumPy")


def numpy_loop_run(Xtr, ytr, Xte, yte, epochs, batch, seed):
    """The floor for NumPy: a hand-written loop for this one network, biases
    folded into the matmuls (a ones column), everything preallocated, Keras's
    Adam on one flat vector. No diagnostics, no tier losses."""
    from threadpoolctl import threadpool_limits

    rng = np.random.default_rng(seed)
    n, d = Xtr.shape
    Xa = np.ones((n, d + 1), np.float32)
    Xa[:, :d] = Xtr
    shapes = [(d + 1, 25), (26, 15), (16, 10)]
    size = sum(a * b for a, b in shapes)
    P, G, m, v, tmp = (np.zeros(size, np.float32) for _ in range(5))
    W, dW, off = [], [], 0
    for a, b in shapes:
        W.append(P[off : off + a * b].reshape(a, b))
        dW.append(G[off : off + a * b].reshape(a, b))
        W[-1][:-1] = rng.uniform(-1, 1, (a - 1, b)) * np.sqrt(6 / (a - 1 + b))
        off += a * b
    times, t = [], 0
    with threadpool_limits(1, user_api="blas"):
        for _ in range(epochs):
            t0 = time.perf_counter()
            order = rng.permutation(n)
            for s in range(0, n, batch):
                idx = order[s : s + batch]
                x, y, k = Xa[idx], ytr[idx], len(idx)
                h1, h2 = np.ones((k, 26), np.float32), np.ones((k, 16), np.float32)
                a1, a2 = h1[:, :25], h2[:, :15]
                np.matmul(x, W[0], out=a1)
                np.maximum(a1, 0, out=a1)
                np.matmul(h1, W[1], out=a2)
                np.maximum(a2, 0, out=a2)
                g = h2 @ W[2]
                g -= g.max(axis=1, keepdims=True)
                np.exp(g, out=g)
                g /= g.sum(axis=1, keepdims=True)
                g[np.arange(k), y] -= 1
                g *= 1 / k
                np.matmul(h2.T, g, out=dW[2])
                g = g @ W[2][:-1].T
                g *= a2 > 0
                np.matmul(h1.T, g, out=dW[1])
                g = g @ W[1][:-1].T
                g *= a1 > 0
                np.matmul(x.T, g, out=dW[0])
                t += 1
                alpha = 1e-3 * np.sqrt(1 - 0.999**t) / (1 - 0.9**t)
                np.subtract(G, m, out=tmp)
                tmp *= 0.1
                m += tmp
                np.multiply(G, G, out=tmp)
                tmp -= v
                tmp *= 0.001
                v += tmp
                np.sqrt(v, out=tmp)
                tmp += 1e-7
                np.divide(m, tmp, out=tmp)
                tmp *= alpha
                P -= tmp
            times.append(time.perf_counter() - t0)
    h = np.maximum(np.c_[Xte, np.ones(len(Xte), np.float32)] @ W[0], 0)
    h = np.maximum(np.c_[h, np.ones(len(h), np.float32)] @ W[1], 0)
    logits = np.c_[h, np.ones(len(h), np.float32)] @ W[2]
    return times, float(np.mean(logits.argmax(1) == yte))


def keras_run(Xtr, ytr, Xte, yte, epochs, batch, seed):
    import keras

    keras.utils.set_random_seed(seed)
    model = keras.Sequential(
        [keras.Input((Xtr.shape[1],)), keras.layers.Dense(25, activation="relu"), keras.layers.Dense(15, activation="relu"), keras.layers.Dense(10)]
    )
    from trainer_cnn import keras_fit_timed  # beside this file

    return keras_fit_timed(keras, model, Xtr, ytr, Xte, yte, epochs, batch)


def torch_run(Xtr, ytr, Xte, yte, epochs, batch, seed):
    import torch

    torch.set_num_threads(1)
    torch.manual_seed(seed)
    net = torch.nn.Sequential(
        torch.nn.Linear(Xtr.shape[1], 25), torch.nn.ReLU(), torch.nn.Linear(25, 15), torch.nn.ReLU(), torch.nn.Linear(15, 10)
    )
    from trainer_cnn import torch_fit_timed  # beside this file

    X, y = torch.from_numpy(Xtr), torch.from_numpy(ytr)
    times = torch_fit_timed(torch, net, X, y, epochs, batch)
    with torch.no_grad():
        acc = float((net(torch.from_numpy(Xte)).argmax(1).numpy() == yte).mean())
    return times, acc


def sklearn_run(Xtr, ytr, Xte, yte, epochs, batch, seed):
    from sklearn.neural_network import MLPClassifier

    clf = MLPClassifier(hidden_layer_sizes=HIDDEN, solver="adam", alpha=0.0, batch_size=batch, learning_rate_init=1e-3, epsilon=1e-7, random_state=seed)
    times = []
    for _ in range(epochs):
        t0 = time.perf_counter()
        clf.partial_fit(Xtr, ytr, classes=np.arange(10))  # one epoch
        times.append(time.perf_counter() - t0)
    return times, float(clf.score(Xte, yte))


PEERS = {"stabkit-numpy": ("stabkit, NumPy step", stabkit_numpy_run, "numpy"), "numpy": ("plain NumPy loop", numpy_loop_run, "numpy"), "keras": ("Keras 3 (JAX)", keras_run, "keras"), "torch": ("PyTorch (1 thread)", torch_run, "torch"), "sklearn": ("MLPClassifier", sklearn_run, "sklearn")}


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--epochs", type=int, default=10)
    ap.add_argument("--batch-sizes", default="32,256")
    ap.add_argument("--data-dir", type=Path, default=None)
    ap.add_argument("--peers", default="stabkit-numpy,numpy,keras,torch,sklearn")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--json", type=Path, default=None, help="also write the results here")
    ap.add_argument("--model", choices=("mlp", "cnn"), default="mlp", help="the lecture network (mlp) or the small CNN")
    ap.add_argument("--rounds", type=int, default=3, help="cnn: interleaved rounds per framework")
    args = ap.parse_args(argv)
    if args.model == "cnn":
        return cnn_main(args)
    if args.epochs < 2:
        ap.error("--epochs must be at least 2 (epoch 1 is excluded from the timing)")
    try:
        X, y = read_mnist(mnist_folder(args.data_dir), split="test")
    except DataError as e:
        print(f"skipped: MNIST not available ({e})", file=sys.stderr)
        return 0
    Xtr, ytr, Xte, yte = X[:8000], y[:8000], X[8000:], y[8000:]

    runners = [("stabkit", stabkit_run)]
    for name in [p for p in args.peers.split(",") if p]:
        label, fn, module = PEERS[name]
        try:
            __import__(module)
        except ImportError:
            print(f"skipped {label}: {module} is not installed", file=sys.stderr)
            continue
        runners.append((label, fn))

    print(f"# {processor()}, {os.cpu_count()} cores, numpy {np.__version__}; "
          f"MNIST 8000/2000, {args.epochs} epochs; s/epoch = median of epochs 2..{args.epochs} (min..max)")
    results = []
    for batch in [int(b) for b in args.batch_sizes.split(",")]:
        rows = []
        for label, fn in runners:
            times, acc = fn(Xtr, ytr, Xte, yte, args.epochs, batch, args.seed)
            t = np.array(times[1:])
            rows.append(dict(framework=label, batch_size=batch, seconds_per_epoch=float(np.median(t)), min=float(t.min()), max=float(t.max()), test_accuracy=acc))
        base = rows[0]["seconds_per_epoch"]
        print(f"\nbatch {batch}")
        print(f"{'framework':<20} {'s/epoch':>9} {'(min..max)':>18} {'stabkit/x':>10} {'test acc':>9}")
        for r in rows:
            r["stabkit_over_this"] = base / r["seconds_per_epoch"]
            print(f"{r['framework']:<20} {r['seconds_per_epoch']:>9.4f} {r['min']:>8.4f}..{r['max']:<8.4f} {r['stabkit_over_this']:>10.2f} {r['test_accuracy']:>9.4f}")
        results += rows
    if args.json:
        args.json.write_text(json.dumps(results, indent=2) + "\n")
    return 0


def cnn_main(args):
    """The CNN's interleaved rounds (``--epochs`` per round, default 5, the
    recipe's, when left at 10; peers from ``--peers`` among keras and torch)."""
    import trainer_cnn

    epochs = 5 if args.epochs == 10 else args.epochs
    if epochs < 2 or args.rounds < 1:
        print("error: --epochs must be at least 2 and --rounds at least 1", file=sys.stderr)
        return 2
    try:
        X, y = read_mnist(mnist_folder(args.data_dir), split="test")
    except DataError as e:
        print(f"skipped: MNIST not available ({e})", file=sys.stderr)
        return 0
    X = X.reshape(-1, 28, 28, 1)
    peers = []
    for name in [p for p in args.peers.split(",") if p in ("keras", "torch")]:
        try:
            __import__(name)
        except ImportError:
            print(f"skipped {name}: it is not installed", file=sys.stderr)
            continue
        peers.append(name)
    print(f"# {processor()}, {os.cpu_count()} cores, numpy {np.__version__}; MNIST 8000/2000")
    rows = trainer_cnn.run(X[:8000], y[:8000], X[8000:], y[8000:], peers, epochs, args.rounds, seed=args.seed,
                           log=lambda line: print(line, file=sys.stderr, flush=True))  # fmt: skip
    trainer_cnn.print_rows(rows, epochs, args.rounds)
    if args.json:
        args.json.write_text(json.dumps(rows, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
