"""The lecture's code slide: its two Keras programs side by side, a softmax
output layer with ``SparseCategoricalCrossentropy()`` and a linear output
with ``from_logits=True``, and under each what it does, measured in this run
with stabkit's Keras-shaped trainer and loss tiers (nothing typed in).

Keras computes the loss of the first program from probabilities with its
clip (stabkit's ``stable`` tier) and the second from logits, max-shifted
(the ``stable`` tier too), so both are trained here with ``tier='stable'``.
"""

from __future__ import annotations

import numpy as np

from stabkit import stable
from stabkit.reference import reference
from stabkit.report.style import COLORS, subplots
from .base import Slide, slide
from .look import FIXED
from .training import NonFinite, lecture_model, train_until_nan

__all__ = ["keras_programs", "programs"]

_HEAD = ["model = Sequential([", "    Dense(25, activation=\"relu\"),", "    Dense(15, activation=\"relu\"),"]


def programs(epochs: int = 10) -> dict[str, tuple[str, list[str], set[int]]]:
    """(title, code lines, indices of the lines that differ) of each program,
    as on the lecture's slide, fitting for ``epochs``."""
    fit = f"model.fit(X, y, epochs={epochs})"
    return {
        "probs": ("softmax output layer", _HEAD + [
            "    Dense(10, activation=\"softmax\"),", "])", "model.compile(",
            "    loss=SparseCategoricalCrossentropy(),", "    optimizer=Adam(learning_rate=1e-3))", fit,
            "p = model(X)"], {3, 6, 9}),
        "logits": ("linear output + from_logits=True", _HEAD + [
            "    Dense(10, activation=\"linear\"),", "])", "model.compile(",
            "    loss=SparseCategoricalCrossentropy(", "        from_logits=True),",
            "    optimizer=Adam(learning_rate=1e-3))", fit, "p = tf.nn.softmax(model(X))"], {3, 6, 7, 10}),
    }


WRONG_GAP = 30.0  # logits (g, 0, 0, 0) with label 1: the exact loss is about g


def _fit_size(fig, lines: list[str], width_frac: float, most: float) -> float:
    """The largest monospace size (points, at most ``most``) at which the
    longest of ``lines`` fits ``width_frac`` of the figure's width (a
    DejaVu Sans Mono character is 0.602 em wide)."""
    longest = max(len(s) for s in lines)
    return min(most, fig.get_figwidth() * 72 * width_frac / (0.602 * longest))


def _measure(data, budget) -> dict[str, dict]:
    """Each program trained in float32 and in float16 from the same weights,
    and the loss it computes for one confidently wrong sample."""
    from stabkit.nn import SparseCategoricalCrossentropy

    n_in = data.x_train.shape[1]
    z = np.array([[WRONG_GAP, 0, 0, 0]], np.float32)
    y = np.array([1])
    exact = float(reference("sparse_categorical_crossentropy", y, z, fmt="float32", from_logits=True).rounded[0])
    out = {}
    for key, from_logits in (("probs", False), ("logits", True)):
        runs = {dt: train_until_nan(lambda dt=dt: lecture_model(from_logits, tier="stable", dtype=dt, n_inputs=n_in,
                                                                seed=budget.seed), data, budget)
                for dt in ("float32", "float16")}
        pred = z if from_logits else stable.softmax(z)  # the softmax layer's output (Keras's is max-shifted)
        loss = float(SparseCategoricalCrossentropy(from_logits=from_logits, tier="stable").values(y, pred)[0])
        out[key] = {"runs": runs, "wrong_loss": loss, "exact": exact}
    return out


def _lines(m: dict, budget) -> list[str]:
    """What was measured for one program, short lines for the slide."""
    lines = []
    for dt, r in m["runs"].items():
        acc = r.history["val_accuracy"][-1]
        if isinstance(r.stop, NonFinite):
            lines += [f"{dt}: NaN gradient (epoch {r.stop.epoch}, step {r.stop.step}),",
                      f"    test accuracy then {acc:.3f}"]
        else:
            lines.append(f"{dt}: test accuracy {acc:.3f} ({budget.epochs} epochs)")
    lines += [f"a wrong label, logits ({WRONG_GAP:g}, 0, 0, 0):", f"    loss {m['wrong_loss']:.4g} (exact {m['exact']:.4g})"]
    return lines


def _said(m: dict, budget) -> str:
    """What was measured for one program, as one caption clause."""
    parts = []
    for dt, r in m["runs"].items():
        acc = r.history["val_accuracy"][-1]
        parts.append(f"{dt} NaN gradient at epoch {r.stop.epoch}, step {r.stop.step}, test accuracy then {acc:.4f}"
                     if isinstance(r.stop, NonFinite) else f"{dt} test accuracy {acc:.4f}")
    parts.append(f"loss of a wrong label with logits ({WRONG_GAP:g}, 0, 0, 0) {m['wrong_loss']:.6g} (exact {m['exact']:.6g})")
    return "; ".join(parts)


@slide("07b-keras-programs", needs="mnist",
       reading=("The lecture's two Keras programs; the lines that differ are coloured. Under each, what it did "
                "when run with stabkit's Keras-shaped trainer from the same initial weights: the test accuracy in "
                "float32 and in float16 (and, where a NaN gradient stopped training, the step), and the loss it "
                "computes for one confidently wrong sample beside the exact loss. The lesson is in the "
                "differences between the two columns."))
def keras_programs(data, budget) -> Slide:
    """The two programs and their measured consequences."""
    measured = _measure(data, budget)
    progs = programs(budget.epochs)
    fig, ax = subplots(layout=None)
    ax.axis("off")
    color = {"probs": COLORS["naive"], "logits": COLORS["accurate"]}
    said = {k: _lines(measured[k], budget) for k in progs}
    size = _fit_size(fig, [s for _, lines, _ in progs.values() for s in lines], 0.44, 17)
    msize = _fit_size(fig, [s for v in said.values() for s in v], 0.45, 19)
    top = 0.84
    rows = max(len(p[1]) for p in progs.values())
    for i, (key, (title, lines, differ)) in enumerate(progs.items()):
        x0 = 0.03 + 0.5 * i
        fig.text(x0, top + 0.025, title, fontsize=20, color=color[key], weight="bold")
        step = size * 1.4 / 72 / fig.get_figheight()
        for j, text in enumerate(lines):
            fig.text(x0, top - 0.02 - j * step, text, family="monospace", fontsize=size, va="top", gid=FIXED,
                     color=color[key] if j in differ else "#333333", weight="bold" if j in differ else "normal")
        y = top - 0.02 - (rows + 0.7) * step
        fig.text(x0, y, "measured (stabkit, same start):", fontsize=msize, va="top", gid=FIXED, weight="bold")
        mstep = msize * 1.4 / 72 / fig.get_figheight()
        for j, text in enumerate(said[key]):
            fig.text(x0, y - (j + 1) * mstep, text, fontsize=msize, va="top", gid=FIXED, color="#000000")
    fig.suptitle("the lecture's two programs, and what each one does")
    cap = (f"{data.description}, Adam(1e-3), batch {budget.batch_size}, {budget.epochs} epochs, tier 'stable' (Keras's "
           "arithmetic), same initial weights. Softmax output + SparseCategoricalCrossentropy(): "
           + _said(measured["probs"], budget) + ". Linear output + from_logits=True: "
           + _said(measured["logits"], budget) + ".")
    return Slide(keras_programs.slide_name, fig, cap)
