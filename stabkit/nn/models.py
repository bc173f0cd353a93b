"""Keras's ``keras.models``: ``Sequential`` and ``load_model`` under the
path a Keras user imports them from (``from stabkit.nn.models import
Sequential, load_model``); they live in :mod:`stabkit.nn.model` and
:mod:`stabkit.nn.saving`."""

from __future__ import annotations

from .model import Sequential
from .saving import load_model

__all__ = ["Sequential", "load_model"]
