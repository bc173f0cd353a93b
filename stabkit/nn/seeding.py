"""Where the trainer's random numbers come from.

Three things draw them: a model's initial weights (built by ``Input``,
``input_shape=``, :meth:`Sequential.build` or the first ``fit``), a
``Dropout`` layer's masks, and ``fit``'s shuffling. Each takes its own
seed where one is given (``build(shape, seed=0)``, ``Dropout(rate, seed=0)``,
``fit(..., seed=0)``). Without one, each draws from a fresh generator: the
operating system's entropy, or, after :func:`set_random_seed` (Keras's
``keras.utils.set_random_seed``), the next child of that seed's
``SeedSequence``, so that a script that seeds once at the top and builds
its models in the same order gets the same weights on every run, as in
Keras. (A ``Dropout`` takes its generator when it is made, as Keras's does:
one made before :func:`set_random_seed` keeps an unseeded one.) (The numbers differ from Keras's: only the reproducibility is the
same.) ``fit(seed=)`` on a model whose weights were drawn unseeded before
``fit`` (``Input(shape)`` builds a model when it is made), and neither
trained nor set since, fixes only the shuffling, and warns so.
"""

from __future__ import annotations

import operator
import random

import numpy as np

from .errors import NNError

__all__ = ["set_random_seed", "rng", "seeded"]

_ROOT: np.random.SeedSequence | None = None


def set_random_seed(seed: int) -> None:
    """Seed every draw that names no seed of its own (initial weights,
    ``Dropout`` masks, ``fit``'s shuffling), and Python's ``random`` and
    NumPy's legacy ``np.random`` too, as Keras's ``set_random_seed`` seeds
    Python, NumPy and its backend. NNError for anything but an int >= 0."""
    try:
        if isinstance(seed, (bool, np.bool_)):
            raise TypeError
        seed = operator.index(seed)
    except TypeError:
        raise NNError(f"set_random_seed takes an int, got {seed!r}") from None
    if seed < 0:
        raise NNError(f"set_random_seed takes an int >= 0, got {seed}")
    global _ROOT
    random.seed(seed)
    np.random.seed(seed % 2**32)  # the legacy generator takes 32 bits
    _ROOT = np.random.SeedSequence(seed)


def rng(seed: int | None = None) -> np.random.Generator:
    """A generator for one draw: ``seed``'s own where given (the same
    numbers as ``np.random.default_rng(seed)``), else the next child of
    :func:`set_random_seed`'s seed, else fresh entropy."""
    if seed is not None:
        return np.random.default_rng(seed)
    if _ROOT is not None:
        return np.random.default_rng(_ROOT.spawn(1)[0])
    return np.random.default_rng()


def seeded() -> bool:
    """Whether :func:`set_random_seed` has been called in this process."""
    return _ROOT is not None
