"""Keras's gradient clipping and weight decay on the trainer's flat vectors
(the options every Keras optimizer takes: ``clipnorm``, ``global_clipnorm``,
``clipvalue``, ``weight_decay``), applied by
:meth:`stabkit.nn.optimizers.Optimizer.apply` before its update, in Keras 3's
order: the gradients clipped, the weights decayed, then the update.
"""

from __future__ import annotations

import math

import numpy as np

__all__ = ["clipped", "decay"]


def clipped(out: np.ndarray, grads: np.ndarray, runs, slices, kind: str, value: float) -> np.ndarray:
    """The gradients of the trained weights (the spans ``runs`` of ``grads``;
    None: all) copied into ``out`` and clipped as Keras's ``_clip_gradients``
    clips them; ``slices`` are the weights' spans (each weight's norm is its
    own for ``clipnorm``). Returns ``out``; outside ``runs`` it is stale.

    - ``clipvalue``: each entry into ``[-value, value]``;
    - ``clipnorm``: each weight's ``g value / max(norm(g), value)``, its norm
      NaN where its squared sum is (a NaN entry), so the NaN spreads;
    - ``global_clipnorm``: every entry times ``value min(1 / N, 1 / value)``,
      N the joint norm, plus ``N - N``: NaN where N is not finite, as Keras.
    """
    cuts = [slice(None)] if runs is None else runs
    for sl in cuts:
        np.copyto(out[sl], grads[sl])
    if kind == "clipvalue":
        for sl in cuts:
            np.clip(out[sl], -value, value, out=out[sl])
        return out
    spans = slices if runs is None else [sl for sl in slices if any(r.start <= sl.start and sl.stop <= r.stop for r in runs)]
    squares = [float(np.dot(out[sl], out[sl])) for sl in spans]  # in float64 from each dot
    if kind == "clipnorm":
        for sl, s2 in zip(spans, squares):
            norm = math.sqrt(s2) if s2 > 0 else s2  # 0, or NaN
            out[sl] *= value
            out[sl] /= max(norm, value) if norm == norm else norm
        return out
    norm = math.sqrt(sum(squares))
    with np.errstate(divide="ignore", invalid="ignore"):
        scale = value * min(np.float64(1.0) / norm, 1.0 / value) + (norm - norm)
    for sl in cuts:
        out[sl] *= scale
    return out


def decay(params: np.ndarray, tmp: np.ndarray, runs, weight_decay: float, lr: float) -> None:
    """Keras 3's decoupled weight decay, ``p - p * weight_decay * lr`` (in
    that order, in the weights' format), on the spans ``runs`` of the flat
    weights (None: all), ``tmp`` scratch of their size."""
    for sl in [slice(None)] if runs is None else runs:
        p, t = params[sl], tmp[sl]
        np.multiply(p, weight_decay, out=t)
        t *= lr
        p -= t
