"""Epoch time of a small CNN: stabkit vs Keras 3 (JAX) and PyTorch (one thread).

Conv2D(8, 3x3, relu) -> MaxPooling2D(2) -> Flatten -> Dense(10), sparse
cross-entropy from logits, batch 32, on the MNIST 8,000 / 2,000 split as
(n, 28, 28, 1) images (NCHW for PyTorch, converted once before the clock
starts), trained with the recipe that reaches 0.97 in 5 epochs: Adam
(epsilon 1e-7) whose rate falls from 1.5e-2 to 0 along a half cosine over
all the updates of the run (Keras's ``CosineDecay``; in PyTorch the same
rate set before each step). The runs are interleaved: each round trains a
fresh model per framework, in an order that rotates from round to round, so
that a busy spell of a shared machine falls on all of them. Seconds per epoch
are the median of epochs 2..N over all rounds (epoch 1 holds JIT compilation
and warm-up); each ratio is the median of the per-round ratios of those
medians, with its range.

    python benchmarks/trainer.py --model cnn [--epochs 5] [--rounds 3] [--json FILE]
"""

from __future__ import annotations

import math
import os
import time

import numpy as np

from stabkit.nn import Adam, Conv2D, CosineDecay, Dense, Flatten, MaxPooling2D, Sequential, SparseCategoricalCrossentropy

FILTERS = 8
#: the peak of the cosine decay (the rate of the first update)
PEAK_RATE = 1.5e-2


def updates(n, epochs, batch):
    """The number of optimizer updates in ``epochs`` epochs: the decay's length."""
    return epochs * -(-n // batch)


def stabkit_cnn(Xtr, ytr, Xte, yte, epochs, batch, seed):
    model = Sequential([Conv2D(FILTERS, 3, activation="relu"), MaxPooling2D(), Flatten(), Dense(10)])
    schedule = CosineDecay(PEAK_RATE, updates(len(Xtr), epochs, batch))
    model.compile(optimizer=Adam(learning_rate=schedule), loss=SparseCategoricalCrossentropy(from_logits=True), metrics=["accuracy"])
    h = model.fit(Xtr, ytr, epochs=epochs, batch_size=batch, seed=seed, verbose=0)
    return h.epoch_seconds, model.evaluate(Xte, yte, batch_size=1024)[1]


def keras_cnn(Xtr, ytr, Xte, yte, epochs, batch, seed):
    import keras

    keras.utils.set_random_seed(seed)
    L = keras.layers
    model = keras.Sequential([keras.Input(Xtr.shape[1:]), L.Conv2D(FILTERS, 3, activation="relu"), L.MaxPooling2D(), L.Flatten(), L.Dense(10)])
    schedule = keras.optimizers.schedules.CosineDecay(PEAK_RATE, updates(len(Xtr), epochs, batch))
    return keras_fit_timed(keras, model, Xtr, ytr, Xte, yte, epochs, batch, learning_rate=schedule)


def keras_fit_timed(keras, model, Xtr, ytr, Xte, yte, epochs, batch, learning_rate=1e-3):
    """Compile ``model`` as the lecture does (Adam, 1e-3 unless given a rate
    or a schedule; sparse CE from logits), fit it timing each epoch, and
    return (epoch times, test accuracy)."""
    model.compile(optimizer=keras.optimizers.Adam(learning_rate=learning_rate), loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    times = []

    class Timer(keras.callbacks.Callback):
        def on_epoch_begin(self, epoch, logs=None):
            self.t0 = time.perf_counter()

        def on_epoch_end(self, epoch, logs=None):
            times.append(time.perf_counter() - self.t0)

    model.fit(Xtr, ytr, epochs=epochs, batch_size=batch, verbose=0, callbacks=[Timer()])
    logits = np.asarray(model.predict(Xte, batch_size=1024, verbose=0))
    return times, float(np.mean(logits.argmax(1) == yte))


def torch_fit_timed(torch, net, X, y, epochs, batch, rate=None):
    """Train ``net`` as the lecture does (Adam with Keras's epsilon,
    cross-entropy from logits, shuffled batches); the epoch times. ``rate(k)``
    is the learning rate of update k (0-based), 1e-3 when None."""
    opt = torch.optim.Adam(net.parameters(), lr=1e-3, eps=1e-7)
    lossf = torch.nn.CrossEntropyLoss()
    times, k = [], 0
    for _ in range(epochs):
        t0 = time.perf_counter()
        perm = torch.randperm(len(X))
        for s in range(0, len(X), batch):
            idx = perm[s : s + batch]
            if rate is not None:
                opt.param_groups[0]["lr"] = rate(k)
                k += 1
            opt.zero_grad(set_to_none=True)
            loss = lossf(net(X[idx]), y[idx])
            loss.backward()
            opt.step()
        times.append(time.perf_counter() - t0)
    return times


def torch_cnn(Xtr, ytr, Xte, yte, epochs, batch, seed):
    import torch

    torch.set_num_threads(1)
    torch.manual_seed(seed)
    nn = torch.nn
    net = nn.Sequential(nn.Conv2d(Xtr.shape[3], FILTERS, 3), nn.ReLU(), nn.MaxPool2d(2), nn.Flatten(), nn.LazyLinear(10))
    X, y = torch.from_numpy(np.ascontiguousarray(Xtr.transpose(0, 3, 1, 2))), torch.from_numpy(ytr)
    net(X[:1])  # materialise the lazy layer
    total = updates(len(X), epochs, batch)
    # Keras's CosineDecay (alpha 0): PEAK_RATE * (1 + cos(pi * k / total)) / 2
    times = torch_fit_timed(torch, net, X, y, epochs, batch, rate=lambda k: PEAK_RATE * 0.5 * (1 + math.cos(math.pi * min(k, total) / total)))
    with torch.no_grad():
        logits = net(torch.from_numpy(np.ascontiguousarray(Xte.transpose(0, 3, 1, 2))))
    return times, float((logits.argmax(1).numpy() == yte).mean())


RUNNERS = {"stabkit": ("stabkit (NumPy step)", stabkit_cnn, "numpy"), "keras": ("Keras 3 (JAX)", keras_cnn, "keras"), "torch": ("PyTorch (1 thread)", torch_cnn, "torch")}


def run(Xtr, ytr, Xte, yte, peers, epochs=5, rounds=3, batch=32, seed=0, log=print):
    """Interleaved rounds; one row per framework: median s/epoch, min..max,
    the ratio stabkit / framework (median and range over rounds), accuracy."""
    os.environ.setdefault("KERAS_BACKEND", "jax")
    names = ["stabkit"] + [p for p in peers if p != "stabkit"]
    per = {n: [] for n in names}  # per round: the epochs 2..N
    acc = {n: [] for n in names}
    for r in range(rounds):
        for n in names[r % len(names) :] + names[: r % len(names)]:
            times, a = RUNNERS[n][1](Xtr, ytr, Xte, yte, epochs, batch, seed + r)
            per[n].append(np.array(times[1:]))
            acc[n].append(a)
            log(f"  round {r + 1}/{rounds} {RUNNERS[n][0]}: {np.median(times[1:]):.3f} s/epoch, test accuracy {a:.4f}")
    rows = []
    for n in names:
        t = np.concatenate(per[n])
        ratios = [np.median(s) / np.median(p) for s, p in zip(per["stabkit"], per[n])]
        rows.append(dict(framework=RUNNERS[n][0], model="cnn", batch_size=batch, seconds_per_epoch=float(np.median(t)),
                         min=float(t.min()), max=float(t.max()), stabkit_over_this=float(np.median(ratios)),
                         ratio_min=float(min(ratios)), ratio_max=float(max(ratios)), test_accuracy=float(np.median(acc[n]))))  # fmt: skip
    return rows


def print_rows(rows, epochs, rounds):
    print(f"\nCNN, batch {rows[0]['batch_size']}, {rounds} interleaved rounds of {epochs} epochs "
          f"(s/epoch: median of epochs 2..{epochs} of every round)")  # fmt: skip
    print(f"{'framework':<22} {'s/epoch':>8} {'(min..max)':>16} {'stabkit/x':>10} {'(rounds)':>13} {'test acc':>9}")
    for r in rows:
        print(f"{r['framework']:<22} {r['seconds_per_epoch']:>8.3f} {r['min']:>7.3f}..{r['max']:<7.3f} "
              f"{r['stabkit_over_this']:>10.2f} {r['ratio_min']:>6.2f}..{r['ratio_max']:<5.2f} {r['test_accuracy']:>9.4f}")  # fmt: skip
