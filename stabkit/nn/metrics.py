"""Metrics by Keras's names, computed per sample on the model's outputs.

``compile(metrics=[...])`` takes the names below; each becomes a log key of
the same name (``'acc'`` stays ``'acc'``, as in Keras). ``'accuracy'`` /
``'acc'`` resolve by the loss, as Keras resolves them: sparse labels ->
``sparse_categorical_accuracy``, one-hot -> ``categorical_accuracy``, binary
-> ``binary_accuracy``. Metrics are not weighted by ``sample_weight`` or
``class_weight`` (Keras weights only ``weighted_metrics``).

One difference, kept on purpose: Keras's ``binary_accuracy`` thresholds
``y_pred`` at 0.5 whatever the loss, so with ``from_logits=True`` it compares
logits with 0.5. Here ``'accuracy'`` with a binary loss from logits
thresholds the logits at 0 (the same decision as the probability at 0.5);
the explicit name ``'binary_accuracy'`` behaves as Keras's.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from .errors import NNError
from .losses import BinaryCrossentropy, CategoricalCrossentropy, Loss, SparseCategoricalCrossentropy

__all__ = ["Metric", "get", "direction", "NAMES"]

#: ``k`` of the top-k metrics (Keras's default)
TOP_K = 5


def _sparse(y, out):
    return np.argmax(out, axis=1) == y


def _categorical(y, out):
    return np.argmax(out, axis=1) == np.argmax(y, axis=1)


def _binary(y, out, cut=0.5):
    # Keras: mean over the outputs of (y_pred > threshold) == y_true
    return np.mean((out > cut) == (y > 0.5), axis=1)


def _top_k(t, out):
    # the true class is in the top k when fewer than k scores exceed its own
    # (ties count for the true class, as Keras's in_top_k does)
    score = out[np.arange(len(t)), t][:, None]
    return np.sum(out > score, axis=1) < TOP_K


#: Keras's name -> (per-sample function of (labels as the loss prepared them, outputs),
#: the kind of labels it needs: 'sparse', 'dense' (one-hot) or 'binary')
NAMES: dict[str, tuple[Callable, str]] = {
    "sparse_categorical_accuracy": (_sparse, "sparse"),
    "categorical_accuracy": (_categorical, "dense"),
    "binary_accuracy": (_binary, "binary"),
    "sparse_top_k_categorical_accuracy": (_top_k, "sparse"),
    "top_k_categorical_accuracy": (lambda y, out: _top_k(np.argmax(y, axis=1), out), "dense"),
}

_KINDS = {SparseCategoricalCrossentropy: "sparse", CategoricalCrossentropy: "dense", BinaryCrossentropy: "binary"}


class Metric:
    """One compiled metric: ``name`` (the log key) and ``values(y, out)``,
    the per-sample values whose mean is reported."""

    def __init__(self, name: str, fn: Callable):
        self.name, self._fn = name, fn

    def __repr__(self) -> str:
        return f"Metric({self.name!r})"

    def values(self, y: np.ndarray, out: np.ndarray) -> np.ndarray:
        return np.asarray(self._fn(y, out), dtype=np.float64)

    def __call__(self, y, out) -> float:
        return float(np.mean(self.values(y, out)))


def get(name, loss: Loss) -> Metric:
    """The metric ``name`` for a model compiled with ``loss``; NNError for a
    name it does not know or one whose labels the loss does not take."""
    if not isinstance(name, str):
        raise NNError(f"metrics must be names such as 'accuracy', got {name!r}")
    kind = next(k for cls, k in _KINDS.items() if isinstance(loss, cls))
    if name in ("accuracy", "acc"):
        if kind == "binary":
            cut = 0.0 if loss.from_logits else 0.5  # the logit 0 is the probability 0.5
            return Metric(name, lambda y, out: _binary(y, out, cut))
        return Metric(name, _sparse if kind == "sparse" else _categorical)
    if name not in NAMES:
        raise NNError(f"unknown metric {name!r}; use one of accuracy, acc, {', '.join(NAMES)}")
    fn, needs = NAMES[name]
    if needs != kind:
        raise NNError(f"metric {name!r} needs {needs} labels, but the loss {type(loss).__name__} takes {kind} ones")
    return Metric(name, fn)


def direction(key: str) -> str | None:
    """``'min'`` for a loss log key (``loss``, ``val_loss``), ``'max'`` for an
    accuracy, None if unknown: what EarlyStopping's ``mode='auto'`` uses."""
    base = key.removeprefix("val_")
    if base == "loss":
        return "min"
    if base in ("accuracy", "acc") or base in NAMES:
        return "max"
    return None
