"""Shared helpers for the trainer tests: where MNIST lives, the lecture model."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from stabkit.nn import Dense, Sequential

REPO = Path(__file__).resolve().parents[2]


def mnist_dir() -> Path:
    """``$STABKIT_MNIST_DIR``, else ``../shared/data/mnist`` beside the repository."""
    env = os.environ.get("STABKIT_MNIST_DIR")
    return Path(env) if env else (REPO / ".." / "shared" / "data" / "mnist").resolve()


def mnist_split():
    """The first 8,000 MNIST test images for training, the last 2,000 for testing."""
    from stabkit.nn.data import load_mnist

    folder = mnist_dir()
    if not (folder / "t10k-images-idx3-ubyte.gz").exists():
        pytest.skip(f"the MNIST test set is not at {folder} (set STABKIT_MNIST_DIR to its folder)")
    X, y = load_mnist(folder)
    return X[:8000], y[:8000], X[8000:], y[8000:]


def lecture_model(last="linear") -> Sequential:
    """Dense(25, relu) -> Dense(15, relu) -> Dense(10, ``last``), as on the slide."""
    return Sequential([Dense(25, activation="relu"), Dense(15, activation="relu"), Dense(10, activation=last)])
