"""The one exception family of :mod:`stabkit.nn`, caught only at the CLI edge,
and its one user warning."""

from __future__ import annotations

__all__ = ["NNError", "DataError", "NonFiniteError", "LogitsWarning"]


class NNError(ValueError):
    """A problem the user can fix: a bad argument, file or configuration."""


class DataError(NNError):
    """A data file or folder that is missing, corrupt or inconsistent."""


class NonFiniteError(NNError):
    """Training produced a NaN or infinite loss or gradient.

    ``epoch`` and ``step`` are 1-based; ``history`` holds the epochs that
    finished before the failure.
    """

    def __init__(self, message: str, *, epoch: int, step: int, history=None):
        super().__init__(message)
        self.epoch = epoch
        self.step = step
        self.history = history


class LogitsWarning(UserWarning):
    """A loss with ``from_logits=True`` reads outputs that a softmax or sigmoid
    produced, which are not logits (Keras warns the same on TensorFlow)."""
