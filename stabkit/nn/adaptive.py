"""Keras's other optimizers, Adagrad, Adadelta, Adamax, Nadam and Lion, on the
trainer's flat vectors (:class:`stabkit.nn.optimizers.Optimizer`: the same
``learning_rate`` schedules, clipping, weight decay and saving as Adam's),
with Keras 3's defaults and update rules, written out in each docstring.
``t`` is the 1-based number of the update (``iterations`` after it). Each is
compared with Keras's own over several steps (tests/nn/test_nn_adaptive.py).
"""

from __future__ import annotations

import math

import numpy as np

from .errors import NNError
from .optbase import Optimizer

__all__ = ["Adagrad", "Adadelta", "Adamax", "Nadam", "Lion"]


def _unit(name: str, value, closed: bool = False) -> float:
    """A coefficient in [0, 1) (or [0, 1] with ``closed``)."""
    ok = not isinstance(value, bool) and isinstance(value, (int, float)) and (0 <= value <= 1 if closed else 0 <= value < 1)
    if not ok:
        raise NNError(f"{name} must be in [0, 1{']' if closed else ')'}, got {value!r}")
    return float(value)


def _positive(name: str, value) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not (value > 0 and math.isfinite(value)):
        raise NNError(f"{name} must be a positive number, got {value!r}")
    return float(value)


class Adagrad(Optimizer):
    """``a += g**2``, ``p -= lr g / sqrt(a + epsilon)``; ``a`` starts at
    ``initial_accumulator_value`` (0.1)."""

    def __init__(self, learning_rate=0.001, initial_accumulator_value=0.1, epsilon=1e-7, *, name=None, **options):
        super().__init__(learning_rate, name, options)
        self.initial_accumulator_value = float(initial_accumulator_value)
        if not self.initial_accumulator_value >= 0:
            raise NNError(f"initial_accumulator_value must be >= 0, got {initial_accumulator_value!r}")
        self.epsilon = _positive("epsilon", epsilon)

    def _allocate(self, size, dtype):
        return {"accumulator": np.full(size, self.initial_accumulator_value, dtype)}

    def _update(self, part, lr):
        a, g, tmp = part["accumulator"], part["grads"], part["tmp"]
        np.multiply(g, g, out=tmp)
        a += tmp
        np.add(a, self.epsilon, out=tmp)
        np.sqrt(tmp, out=tmp)
        np.divide(g, tmp, out=tmp)
        tmp *= lr
        part["params"] -= tmp

    def get_config(self):
        return {"learning_rate": self._lr_config(), "initial_accumulator_value": self.initial_accumulator_value,
                "epsilon": self.epsilon, **self._options_config()}  # fmt: skip


class Adadelta(Optimizer):
    """``a = rho a + (1 - rho) g**2``, ``d = -sqrt(b + epsilon) g / sqrt(a +
    epsilon)``, ``b = rho b + (1 - rho) d**2``, ``p += lr d``
    (Keras's defaults: lr 0.001, rho 0.95)."""

    def __init__(self, learning_rate=0.001, rho=0.95, epsilon=1e-7, *, name=None, **options):
        super().__init__(learning_rate, name, options)
        self.rho, self.epsilon = _unit("rho", rho), _positive("epsilon", epsilon)

    def _allocate(self, size, dtype):
        self._scratch["work"] = np.empty(size, dtype)
        return {"accumulated_grad": np.zeros(size, dtype), "accumulated_delta_var": np.zeros(size, dtype)}

    def _update(self, part, lr):
        a, b, g, d, w = part["accumulated_grad"], part["accumulated_delta_var"], part["grads"], part["tmp"], part["work"]
        rho = self.rho
        a *= rho
        np.multiply(g, g, out=d)
        d *= 1 - rho
        a += d
        np.add(b, self.epsilon, out=d)
        np.sqrt(d, out=d)
        d *= g
        np.add(a, self.epsilon, out=w)
        np.sqrt(w, out=w)
        d /= w
        np.negative(d, out=d)  # the step before lr
        b *= rho
        np.multiply(d, d, out=w)
        w *= 1 - rho
        b += w
        d *= lr
        part["params"] += d

    def get_config(self):
        return {"learning_rate": self._lr_config(), "rho": self.rho, "epsilon": self.epsilon, **self._options_config()}


class Adamax(Optimizer):
    """``m += (g - m)(1 - beta_1)``, ``u = max(beta_2 u, |g|)``,
    ``p -= lr m / ((1 - beta_1**t)(u + epsilon))``."""

    def __init__(self, learning_rate=0.001, beta_1=0.9, beta_2=0.999, epsilon=1e-7, *, name=None, **options):
        super().__init__(learning_rate, name, options)
        self.beta_1, self.beta_2 = _unit("beta_1", beta_1), _unit("beta_2", beta_2)
        self.epsilon = _positive("epsilon", epsilon)

    def _allocate(self, size, dtype):
        return {"m": np.zeros(size, dtype), "u": np.zeros(size, dtype)}

    def _update(self, part, lr):
        m, u, g, tmp = part["m"], part["u"], part["grads"], part["tmp"]
        np.subtract(g, m, out=tmp)
        tmp *= 1 - self.beta_1
        m += tmp
        u *= self.beta_2
        np.maximum(u, np.abs(g, out=tmp), out=u)
        np.add(u, self.epsilon, out=tmp)
        tmp *= 1 - self.beta_1**self.iterations
        np.divide(m, tmp, out=tmp)
        tmp *= lr
        part["params"] -= tmp

    def get_config(self):
        return {"learning_rate": self._lr_config(), "beta_1": self.beta_1, "beta_2": self.beta_2,
                "epsilon": self.epsilon, **self._options_config()}  # fmt: skip


class Nadam(Optimizer):
    """Adam with Nesterov momentum, Keras's schedule of it: ``u_t = beta_1 (1
    - 0.96**t / 2)``, ``P_t = u_1 ... u_t``; ``m``, ``v`` as Adam's;
    ``m_hat = u_(t+1) m / (1 - P_t u_(t+1)) + (1 - u_t) g / (1 - P_t)``,
    ``v_hat = v / (1 - beta_2**t)``, ``p -= lr m_hat / (sqrt(v_hat) + epsilon)``."""

    def __init__(self, learning_rate=0.001, beta_1=0.9, beta_2=0.999, epsilon=1e-7, *, name=None, **options):
        super().__init__(learning_rate, name, options)
        self.beta_1, self.beta_2 = _unit("beta_1", beta_1), _unit("beta_2", beta_2)
        self.epsilon = _positive("epsilon", epsilon)
        self._u = np.ones(1)  # the product P_t, an array so that load_model and copies write into it

    def build(self, slots, size, dtype):
        super().build(slots, size, dtype)
        self._u = np.ones(1)

    def _allocate(self, size, dtype):
        self._scratch["work"] = np.empty(size, dtype)
        return {"m": np.zeros(size, dtype), "v": np.zeros(size, dtype)}

    def apply(self, params, grads, runs=None):
        # the product of the momentum schedule, once per update (Keras keeps it in a variable)
        t = self.iterations + 1
        self._u[0] *= self.beta_1 * (1.0 - 0.5 * 0.96**t)
        super().apply(params, grads, runs)

    def _update(self, part, lr):
        t, b1, b2 = self.iterations, self.beta_1, self.beta_2
        u_t, u_next = b1 * (1.0 - 0.5 * 0.96**t), b1 * (1.0 - 0.5 * 0.96 ** (t + 1))
        prod = float(self._u[0])
        prod_next = prod * u_next
        m, v, g, tmp, w = part["m"], part["v"], part["grads"], part["tmp"], part["work"]
        np.subtract(g, m, out=tmp)
        tmp *= 1 - b1
        m += tmp
        np.multiply(g, g, out=tmp)
        tmp -= v
        tmp *= 1 - b2
        v += tmp
        np.multiply(m, u_next / (1 - prod_next), out=tmp)
        np.multiply(g, (1 - u_t) / (1 - prod), out=w)
        tmp += w  # m_hat
        np.divide(v, 1 - b2**t, out=w)
        np.sqrt(w, out=w)
        w += self.epsilon
        tmp /= w
        tmp *= lr
        part["params"] -= tmp

    def variables(self):
        # the schedule's product beside the flat moments (model.save stores it)
        out = super().variables()
        if out:
            out["u_product"] = self._u
        return out

    def get_config(self):
        return {"learning_rate": self._lr_config(), "beta_1": self.beta_1, "beta_2": self.beta_2,
                "epsilon": self.epsilon, **self._options_config()}  # fmt: skip


class Lion(Optimizer):
    """``p -= lr sign(beta_1 m + (1 - beta_1) g)``, then ``m = beta_2 m +
    (1 - beta_2) g`` (Keras's defaults: lr 0.001, beta_1 0.9, beta_2 0.99)."""

    def __init__(self, learning_rate=0.001, beta_1=0.9, beta_2=0.99, *, name=None, **options):
        super().__init__(learning_rate, name, options)
        if isinstance(beta_1, bool) or not isinstance(beta_1, (int, float)) or not 0 < beta_1 <= 1:
            raise NNError(f"beta_1 must be in (0, 1], got {beta_1!r}")
        self.beta_1, self.beta_2 = float(beta_1), _unit("beta_2", beta_2, closed=True)

    def _allocate(self, size, dtype):
        return {"m": np.zeros(size, dtype)}

    def _update(self, part, lr):
        m, g, tmp = part["m"], part["grads"], part["tmp"]
        np.multiply(m, self.beta_1, out=tmp)
        tmp += g * (1.0 - self.beta_1)
        np.sign(tmp, out=tmp)
        tmp *= lr
        part["params"] -= tmp
        m *= self.beta_2
        m += g * (1.0 - self.beta_2)

    def get_config(self):
        return {"learning_rate": self._lr_config(), "beta_1": self.beta_1, "beta_2": self.beta_2,
                **self._options_config()}  # fmt: skip
