"""stabkit: naive, stable and accurate softmax, sigmoid and cross-entropy,
measured in ulps against correctly rounded mpmath references.

The top-level functions are the accurate tier (:mod:`stabkit.accurate`);
:mod:`stabkit.naive` and :mod:`stabkit.stable` hold the same names.
"""

from .accurate import (
    binary_crossentropy,
    categorical_crossentropy,
    log_sigmoid,
    log_softmax,
    logsumexp,
    sigmoid,
    softmax,
    softplus,
    sparse_categorical_crossentropy,
)

__version__ = "0.1.0"

__all__ = [
    "sigmoid",
    "log_sigmoid",
    "softplus",
    "softmax",
    "log_softmax",
    "logsumexp",
    "binary_crossentropy",
    "sparse_categorical_crossentropy",
    "categorical_crossentropy",
    "__version__",
]
