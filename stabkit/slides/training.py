"""The lecture's training figures: the data, naive vs from-logits training in
float32 and float16, Adam vs SGD, and Adam's per-parameter step sizes.

Every run trains the lecture's network (Dense 25 relu, 15 relu, 10) with
:mod:`stabkit.nn` from the same seeded initial weights, at batch 32; the
numbers in the captions and annotations come from these runs.
"""

from __future__ import annotations

import itertools
import re
from dataclasses import dataclass

import numpy as np

from stabkit.report.style import COLORS, subplots
from .base import NEUTRAL, Slide, bottom_legend, slide

__all__ = ["NonFinite", "Run", "adam_step_sizes", "adam_vs_sgd", "digits_grid", "float16_training", "lecture_model",
           "train_until_nan"]


def lecture_model(from_logits: bool = True, optimizer=None, tier: str = "accurate", dtype: str = "float32",
                  n_inputs: int = 784, seed: int = 0):
    """The slide's network, compiled and built from ``seed`` (so every
    variant starts from the same weights)."""
    from stabkit.nn import Adam, Dense, Sequential, SparseCategoricalCrossentropy

    model = Sequential([Dense(25, activation="relu"), Dense(15, activation="relu"),
                        Dense(10, activation="linear" if from_logits else "softmax")])
    model.compile(optimizer=optimizer or Adam(learning_rate=1e-3),
                  loss=SparseCategoricalCrossentropy(from_logits=from_logits, tier=tier), metrics=["accuracy"], dtype=dtype)
    model.build(n_inputs, seed=seed)
    return model


def _fit(model, data, budget, **kw):
    return model.fit(data.x_train, data.y_train, epochs=budget.epochs, batch_size=budget.batch_size,
                     validation_data=(data.x_test, data.y_test), seed=budget.seed, verbose=0, **kw)


def _loss_ticks(ax, values) -> None:
    """Plain tick labels (0.1, 0.2, 0.5, 1, 2) on a log loss axis."""
    v = np.asarray([x for x in values if np.isfinite(x)])
    ticks = [t for t in (0.02, 0.05, 0.1, 0.2, 0.5, 1, 2, 5) if v.min() / 1.3 <= t <= v.max() * 1.3]
    ax.set_yticks(ticks, [f"{t:g}" for t in ticks])
    ax.minorticks_off()


def _steps(data, budget) -> int:
    return -(-len(data.x_train) // budget.batch_size)


# ------------------------------------------------------------ data


@slide("01-mnist-digits", needs="any",
       reading=("Handwritten digits with their labels: the input is a grid of pixel intensities (784 numbers for "
                "MNIST), the output one of 10 classes, a multiclass problem."))
def digits_grid(data, budget) -> Slide:
    """The first 24 training images with their labels."""
    rows, cols = 3, 8
    side = data.image_side
    fig, axes = subplots(rows, cols)
    for k, ax in enumerate(axes.ravel()):
        ax.imshow(data.x_train[k].reshape(side, side), cmap="gray_r", vmin=0, vmax=1, interpolation="nearest")
        ax.set_title(f"y = {int(data.y_train[k])}", fontsize=20)
        ax.set_xticks([])
        ax.set_yticks([])
        for s in ax.spines.values():
            s.set_visible(False)
    counts = np.bincount(data.y_train, minlength=10)
    fig.suptitle(f"{'MNIST' if data.is_mnist else 'digits'}: {side}\u00d7{side} images, 10 classes "
                 f"({len(data.x_train):,} train, {len(data.x_test):,} test)")
    cap = (f"The first {rows * cols} training images of {data.description} ({side}x{side} pixels, labels 0-9); "
           f"each class has {counts.min()}-{counts.max()} of the {len(data.x_train):,} training images.")
    # the file says which digits it shows: MNIST's, or the 8x8 set that replaced them
    return Slide(digits_grid.slide_name if data.is_mnist else digits_grid.other_name, fig, cap)


digits_grid.other_name = "01-sklearn-digits"  # its file stem when drawn from scikit-learn's 8x8 digits


# ------------------------------------------------------------ naive vs logits


_PY = re.compile(r"p_y = ([0-9.e+-]+)")


@dataclass
class NonFinite:
    """Where a fit's gradient first became NaN/inf (from its NonFiniteError)."""

    epoch: int
    step: int
    p_y: float | None  # the smallest probability of a true class, when the message names it
    message: str


@dataclass
class Run:
    """A fit's per-epoch history and where it broke (None: it did not)."""

    history: dict
    stop: NonFinite | None


def train_until_nan(make, data, budget) -> Run:
    """Fit the model ``make()`` builds with ``on_nonfinite='raise'``; if its
    gradient turns NaN/inf, fit a second one (``make`` builds it from the
    same seed, so from the same weights and a fresh optimizer) with
    'continue', to see what happens after."""
    from stabkit.nn import NonFiniteError

    try:
        return Run(_fit(make(), data, budget).history, None)
    except NonFiniteError as e:
        m = _PY.search(str(e))
        stop = NonFinite(e.epoch, e.step, float(m.group(1)) if m else None, str(e))
    return Run(_fit(make(), data, budget, on_nonfinite="continue").history, stop)


def _run_naive_vs_logits(data, budget, dtype):
    """(logits history, probabilities history, collapse info or None): the
    lecture network trained from logits and through its softmax layer with
    -log p (the naive tier), from the same weights."""
    n_in = data.x_train.shape[1]
    logits = _fit(lecture_model(True, dtype=dtype, n_inputs=n_in, seed=budget.seed), data, budget)
    probs = train_until_nan(lambda: lecture_model(False, tier="naive", dtype=dtype, n_inputs=n_in, seed=budget.seed),
                            data, budget)
    s = probs.stop
    collapse = None if s is None else {"epoch": s.epoch, "step": s.step, "p_y": s.p_y, "message": s.message}
    return logits.history, probs.history, collapse


@slide("07-training-float16", needs="mnist",
       reading=("Training loss and test accuracy per epoch, one network from one set of initial weights, four "
                "ways. Runs that coincide are drawn as one line and named together in the legend. In float16 with"
                " a softmax output layer and -log p, 1/p overflows: the gradient turns NaN at the dotted line and"
                " the network ends up predicting one class."))
def float16_training(data, budget) -> Slide:
    """Training from identical weights, softmax output + -log p (naive) vs
    from logits, float32 and float16 mixed precision."""
    runs = {dt: _run_naive_vs_logits(data, budget, dt) for dt in ("float32", "float16")}
    steps = _steps(data, budget)
    fig, (ax_l, ax_a) = subplots(1, 2)
    ep = np.arange(1, budget.epochs + 1)
    curves = [(f"{dt}, {what}", h, tier, "-" if dt == "float32" else "--")
              for dt, (hl, hp, _) in runs.items()
              for h, tier, what in ((hl, "accurate", "from logits"), (hp, "naive", "softmax + \u2212log p"))]
    groups = _coinciding(curves)
    for group in groups:
        lab, h, tier, ls = group[0]
        color = COLORS[tier] if len({c[2] for c in group}) == 1 else NEUTRAL[0]
        if len(group) > 1:  # one line for runs a lecture hall could not tell apart, named together
            lab = f"{len(group)} runs coincide: " + "; ".join(c[0] for c in group)
            ls = "-"
        kw = {"color": color, "ls": ls, "lw": 4, "marker": "o" if ls == "-" else "s", "ms": 9, "mec": "white",
              "label": lab}
        ax_l.plot(ep, h["loss"], **kw)
        ax_a.plot(ep, h["val_accuracy"], **kw)
    note = []
    for dt, (_, hp, collapse) in runs.items():
        if collapse is None:
            continue
        x = collapse["epoch"] - 1 + collapse["step"] / steps
        for ax in (ax_l, ax_a):
            ax.axvline(x, color=COLORS["naive"], lw=2, ls=":")
        py = f", p_y = {collapse['p_y']:.1e}" if collapse["p_y"] is not None else ""
        ax_a.annotate(f"{dt} naive: NaN gradient\nepoch {collapse['epoch']}, step {collapse['step']}{py}",
                      (x, 0.3), xytext=(10, 0), textcoords="offset points", color=COLORS["naive"], fontsize=16, va="center")
        if not np.isfinite(hp["loss"]).all():  # its line stops: say why where it stops
            ax_l.annotate(f"{dt} naive: the loss\nis NaN from here on", (x, 0.97), xycoords=ax_l.get_xaxis_transform(),
                          xytext=(10, 0), textcoords="offset points", color=COLORS["naive"], fontsize=16, va="top")
        note.append(f"{dt} naive run: gradient NaN at epoch {collapse['epoch']}, step {collapse['step']} of {steps}{py} "
                    f"(1/p overflows float16 past 65504), test accuracy then {hp['val_accuracy'][-1]:.4f}")
    ax_l.set_yscale("log")
    _loss_ticks(ax_l, [v for hl, hp, _ in runs.values() for h in (hl, hp) for v in h["loss"]])
    ax_l.set(xlabel="epoch", ylabel="training loss (mean per epoch)")
    ax_a.set(xlabel="epoch", ylabel="test accuracy")
    ax_a.set_ylim(0, 1)
    for ax in (ax_l, ax_a):
        ax.set_xticks(ep)
        ax.set_xlim(0.6, budget.epochs + 0.4)
    bottom_legend(fig, *ax_l.get_legend_handles_labels(), ncol=1, frameon=False, fontsize=16)
    fig.suptitle("same network, same start: softmax + \u2212log p vs from logits")
    acc = {(dt, k): h["val_accuracy"][-1] for dt, (hl, hp, _) in runs.items() for k, h in (("logits", hl), ("probs", hp))}
    cap = (f"{data.description}, Adam(1e-3), batch {budget.batch_size}, {budget.epochs} epochs, seed {budget.seed}: final test "
           f"accuracy from logits {acc[('float32', 'logits')]:.4f} (float32) / {acc[('float16', 'logits')]:.4f} (float16), "
           f"softmax + -log p {acc[('float32', 'probs')]:.4f} / {acc[('float16', 'probs')]:.4f}; "
           + ("; ".join(note) if note else "no run produced a NaN here (the float16 collapse needs p_y < 1/65504)") + "."
           + "".join(f" Drawn as one line (loss within 3%, accuracy within 0.01 at every epoch): {'; '.join(c[0] for c in g)}."
                     for g in groups if len(g) > 1).replace("\u2212", "-"))
    return Slide(float16_training.slide_name, fig, cap)


def _coinciding(curves, loss_rel: float = 0.03, acc_abs: float = 0.01) -> list[list]:
    """``curves`` (label, history, tier, style) grouped so that the curves of
    one group agree at every epoch: training loss within ``loss_rel``
    (relative) and test accuracy within ``acc_abs``, NaN only beside NaN.
    At these tolerances two lines 3.5 points wide overlap on the slide."""

    def close(a, b):
        la, lb = np.asarray(a["loss"], float), np.asarray(b["loss"], float)
        aa, ab = np.asarray(a["val_accuracy"], float), np.asarray(b["val_accuracy"], float)
        with np.errstate(invalid="ignore"):
            same_l = np.where(np.isnan(la) | np.isnan(lb), np.isnan(la) & np.isnan(lb), np.abs(la - lb) <= loss_rel * np.abs(lb))
            same_a = np.where(np.isnan(aa) | np.isnan(ab), np.isnan(aa) & np.isnan(ab), np.abs(aa - ab) <= acc_abs)
        return bool(same_l.all() and same_a.all())

    groups: list[list] = []
    for c in curves:
        home = next((g for g in groups if all(close(c[1], o[1]) for o in g)), None)
        if home is None:
            groups.append([c])
        else:
            home.append(c)
    return groups


# ------------------------------------------------------------ Adam vs SGD


@slide("09-adam-vs-sgd", needs="mnist",
       reading=("Training loss (left) and test accuracy (right) per epoch for one network from one set of initial"
                " weights: Adam with its default step against plain SGD at Keras's default learning rate 0.01 and"
                " at a tuned 0.1."))
def adam_vs_sgd(data, budget) -> Slide:
    """Training loss and test accuracy of Adam and plain SGD, per epoch."""
    from stabkit.nn import SGD, Adam

    n_in = data.x_train.shape[1]
    opts = {"Adam(\u03b1 = 0.001)": (lambda: Adam(learning_rate=1e-3), NEUTRAL[0]),
            "SGD(\u03b1 = 0.01)": (lambda: SGD(learning_rate=0.01), NEUTRAL[2]),
            "SGD(\u03b1 = 0.1)": (lambda: SGD(learning_rate=0.1), NEUTRAL[3])}
    runs = {name: _fit(lecture_model(True, optimizer=make(), n_inputs=n_in, seed=budget.seed), data, budget).history
            for name, (make, _) in opts.items()}
    fig, (ax_e, ax_a) = subplots(1, 2)
    ep = np.arange(1, budget.epochs + 1)
    for name, h in runs.items():
        kw = {"color": opts[name][1], "lw": 3.5, "marker": "o", "ms": 9, "mec": "white", "label": name}
        ax_e.plot(ep, h["loss"], **kw)
        ax_a.plot(ep, h["val_accuracy"], **kw)
    ax_e.set_yscale("log")
    _loss_ticks(ax_e, [v for h in runs.values() for v in h["loss"]])
    ax_e.set(xlabel="epoch", ylabel="training loss")
    ax_a.set(xlabel="epoch", ylabel="test accuracy")
    accs = [v for h in runs.values() for v in h["val_accuracy"]]
    ax_a.set_ylim(max(0.0, min(accs) - 0.03), 1.0)
    for ax in (ax_e, ax_a):
        ax.set_xticks(ep)
        ax.set_xlim(0.6, budget.epochs + 0.4)
    bottom_legend(fig, *ax_e.get_legend_handles_labels(), ncol=3, frameon=False)
    adam = runs["Adam(\u03b1 = 0.001)"]
    fig.suptitle("Adam vs plain gradient descent (same network, same start)")
    parts = []
    for name, h in runs.items():
        if name.startswith("SGD"):
            reach = [e for e, v in zip(ep, h["loss"]) if v <= adam["loss"][0]]
            parts.append(f"{name.replace(chr(945), 'alpha')} {h['loss'][-1]:.3f} (test accuracy "
                         f"{h['val_accuracy'][-1]:.4f}; reaches Adam's epoch-1 loss "
                         + (f"in epoch {reach[0]})" if reach else "in no epoch)"))
    cap = (f"{data.description}, batch {budget.batch_size}, {budget.epochs} epochs: final training loss Adam(alpha = 0.001) "
           f"{adam['loss'][-1]:.3f} (test accuracy {adam['val_accuracy'][-1]:.4f}, epoch 1: {adam['loss'][0]:.3f}), "
           + ", ".join(parts) + ".")
    return Slide(adam_vs_sgd.slide_name, fig, cap)


# ------------------------------------------------------------ Adam's step sizes


@slide("10-adam-step-sizes", needs="any",
       reading=("Left: how far two weights have moved from their start, step by step: one that went one way "
                "through epoch 1, one that swung back and forth there (what they do later is the figure's, not "
                "chosen). Right: each weight's step in units of alpha, Adam's per-parameter "
                "step size, with the spread over all weights of the two upper layers (grey) and their median "
                "(dashed)."))
def adam_step_sizes(data, budget) -> Slide:
    """Adam's effective step |dw| / alpha per parameter, during training."""
    n_in = data.x_train.shape[1]
    model = lecture_model(True, n_inputs=n_in, seed=budget.seed)
    opt = model.optimizer
    tracked = [(layer.name, layer) for layer in model.layers[1:]]  # the 25x15 and 15x10 kernels
    trace_w, trace_v = [], []

    def record(epoch, step):
        trace_w.append(np.concatenate([lay.kernel.ravel() for _, lay in tracked]))
        trace_v.append(np.concatenate([opt.state[f"{n}/kernel"]["v"].ravel() for n, _ in tracked]))

    w0 = np.concatenate([lay.kernel.ravel() for _, lay in tracked])
    _fit(model, data, budget, on_step=record)
    W = np.vstack([w0[None, :], np.array(trace_w)]).astype(np.float64)
    V = np.array(trace_v, np.float64)
    alpha = opt.learning_rate
    step = np.abs(np.diff(W, axis=0)) / alpha  # effective step of each parameter, in units of alpha
    T, per_epoch = step.shape[0], _steps(data, budget)
    # over the first epoch: one way (net displacement = path length) vs back and forth
    net = np.abs(W[per_epoch] - W[0]) / alpha
    consistency = net / np.maximum(step[:per_epoch].sum(axis=0), 1e-30)
    rms = np.sqrt(V[:per_epoch].mean(axis=0))
    active = rms >= np.median(rms)  # weights that get real gradients
    steady = int(np.flatnonzero(active)[np.argmax(consistency[active])])
    zigzag = int(np.flatnonzero(active)[np.argmin(consistency[active])])
    # the mean step in 40 log-spaced bins of steps: smooth on a log axis
    edges = np.unique(np.round(np.logspace(0, np.log10(T), 41)).astype(int))
    ts = np.sqrt(edges[:-1] * np.maximum(edges[1:] - 1, edges[:-1]))
    binned = np.array([step[a - 1: b - 1].mean(axis=0) if b > a else step[a - 1] for a, b in itertools.pairwise(edges)])
    fig, (ax_w, ax_s) = subplots(1, 2)
    # chosen on epoch 1 alone, and said so: on a small data set epoch 1 is a few dozen steps,
    # and a weight steady there may turn later (a label "keeps moving one way" then contradicted its line)
    labels = {steady: "one way in epoch 1", zigzag: "back and forth in epoch 1"}
    colors = {steady: NEUTRAL[0], zigzag: NEUTRAL[2]}
    for i in (steady, zigzag):
        ax_w.plot(np.arange(T + 1), (W[:, i] - W[0, i]), color=colors[i], lw=2.5, label=labels[i])
        ax_s.plot(ts, binned[:, i], color=colors[i], lw=3.5, marker="o", ms=7, mec="white", label=labels[i])
    lo, med, hi = (np.percentile(binned, q, axis=1) for q in (10, 50, 90))
    ax_s.fill_between(ts, lo, hi, color="#999999", alpha=0.3, lw=0, label=f"all {step.shape[1]} weights, 10-90%")
    ax_s.plot(ts, med, color="#555555", lw=2, ls="--", label="median weight")
    ax_s.axhline(1.0, color="#333333", lw=1, ls=":")
    ax_s.set_yscale("log")
    bottom = max(1e-4, min(float(lo.min()), float(binned[:, [steady, zigzag]].min())) / 1.5)
    ax_s.set_ylim(bottom, 2)
    ticks = [t for t in (1e-4, 1e-3, 0.01, 0.02, 0.05, 0.1, 0.2, 0.5, 1.0) if t >= bottom]
    ax_s.set_yticks(ticks, [f"{t:g}" for t in ticks])
    ax_s.set(xlabel="step", ylabel="mean |\u0394w| / \u03b1")
    ax_w.set(xlabel="step", ylabel="w \u2212 w$_0$")
    ax_w.axhline(0, color="#999999", lw=1)
    for ax in (ax_w, ax_s):
        ax.set_xscale("log")
        ax.set_xlim(1, T)
        ax.axvline(per_epoch, color="#999999", lw=1, ls=":")
    ax_s.minorticks_off()
    ax_w.text(per_epoch * 1.08, 0.02, "end of\nepoch 1", transform=ax_w.get_xaxis_transform(), fontsize=15, color="#555555")
    bottom_legend(fig, *ax_s.get_legend_handles_labels(), ncol=4, frameon=False, fontsize=16)
    fig.suptitle("Adam: one step size per parameter (\u03b1 = 0.001)")

    def first_last(i):
        return step[:per_epoch, i].mean(), step[-per_epoch:, i].mean()

    s1, sN = first_last(steady)
    z1, zN = first_last(zigzag)
    med1, medN = float(np.median(step[:per_epoch])), float(np.median(step[-per_epoch:]))
    name = lambda i: "dense_1" if i < tracked[0][1].kernel.size else "dense_2"
    cap = (f"Adam(0.001) on {data.description}, {budget.epochs} epochs: per-step |dw|/alpha of the {step.shape[1]} weights of the "
           f"25x15 and 15x10 layers; a {name(steady)} weight that kept moving one way in epoch 1 (net/path {consistency[steady]:.2f}) "
           f"stepped {s1:.2f} alpha in epoch 1 and {sN:.2f} in epoch {budget.epochs}, an oscillating {name(zigzag)} weight "
           f"(net/path {consistency[zigzag]:.2f}) {z1:.2f} and {zN:.2f}; the median weight {med1:.2f} and {medN:.2f}.")
    return Slide(adam_step_sizes.slide_name, fig, cap)

