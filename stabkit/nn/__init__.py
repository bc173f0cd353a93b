"""A small reference trainer with Keras's shape, whose losses come from stabkit.

The slide's Keras code runs with its imports changed::

    from stabkit.nn import Sequential
    from stabkit.nn.layers import Dense
    from stabkit.nn.losses import SparseCategoricalCrossentropy
    from stabkit.nn.optimizers import Adam
"""

from ._native import NativeStepWarning
from ._native import status as native_status  # ("C", "") or ("NumPy", why): which step fit can run
from .activations import Activation, Linear, ReLU, Sigmoid, Softmax
from .data import load_digits, load_mnist, train_test_split
from .errors import DataError, NNError, NonFiniteError
from .layers import Dense, Layer
from .losses import (
    BinaryCrossentropy,
    CategoricalCrossentropy,
    Loss,
    SparseCategoricalCrossentropy,
)
from .model import History, Sequential
from .optimizers import SGD, Adam, Optimizer

__all__ = [
    "Sequential",
    "History",
    "Layer",
    "Dense",
    "Activation",
    "Linear",
    "ReLU",
    "Sigmoid",
    "Softmax",
    "Loss",
    "SparseCategoricalCrossentropy",
    "CategoricalCrossentropy",
    "BinaryCrossentropy",
    "Optimizer",
    "SGD",
    "Adam",
    "NNError",
    "DataError",
    "NonFiniteError",
    "NativeStepWarning",
    "native_status",
    "load_mnist",
    "load_digits",
    "train_test_split",
]
