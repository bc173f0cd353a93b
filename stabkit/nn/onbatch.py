"""Keras's one-batch methods of ``Sequential``: ``predict_on_batch``,
``test_on_batch``, ``train_on_batch``, with the checks of ``predict``,
``evaluate`` and ``fit`` (see :mod:`stabkit.nn.checks`)."""

from __future__ import annotations

import numpy as np

from .checks import checked_data, one_input, unbuilt_on_error
from .errors import NNError

__all__ = ["OnBatch"]


class OnBatch:
    """The ``*_on_batch`` methods, mixed into ``Sequential``."""

    def predict_on_batch(self, x) -> np.ndarray:
        """``model(x)`` on ``x`` as one batch (Keras's ``predict_on_batch``)."""
        with unbuilt_on_error(self):
            X = self._input(x)
        return self._forward(X)

    def test_on_batch(self, x, y, sample_weight=None, return_dict: bool = False):
        """``evaluate`` on ``(x, y)`` as one batch (Keras's ``test_on_batch``):
        the loss, ``[loss, *metrics]``, or a dict with ``return_dict``."""
        self._need_compiled()
        with unbuilt_on_error(self):
            X, Y, W = checked_data(self, x, y, sample_weight)
        return self._evaluate(X, Y, W, max(len(X), 1), return_dict)

    def train_on_batch(self, x, y, sample_weight=None, class_weight=None, return_dict: bool = False):
        """One update on ``(x, y)`` as one batch (Keras's ``train_on_batch``):
        the loss and metrics of the outputs the step computed (before its
        update), as Keras returns them: the loss, ``[loss, *metrics]``, or a
        dict with ``return_dict``. The checks of :meth:`fit` apply; a
        non-finite gradient raises :class:`NonFiniteError` before the update."""
        x = one_input(x)
        x = np.asarray(x)
        if x.ndim >= 1 and len(x) == 0:
            raise NNError("train_on_batch needs at least one sample in x")
        h = self.fit(x, y, epochs=1, batch_size=max(len(x) if x.ndim else 1, 1), verbose=0, shuffle=False,
                     sample_weight=sample_weight, class_weight=class_weight)  # fmt: skip
        logs = {k: h.history[k][-1] for k in ["loss", *self.metrics]}
        if return_dict:
            return logs
        return list(logs.values()) if self._metrics else logs["loss"]
