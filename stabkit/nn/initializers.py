"""Weight initializers with Keras's names and distributions
(``keras.initializers``), for ``Dense`` and ``Conv2D``'s
``kernel_initializer=`` and ``bias_initializer=``.

``get`` takes what Keras's ``keras.initializers.get`` takes: a name
(``"he_normal"``, ``"glorot_uniform"``, the class names, the aliases
``"uniform"``, ``"normal"``, ``"zero"``, ``"one"``), an initializer object, a
``{"class_name", "config"}`` dictionary (what ``get_config`` of a layer holds)
or a callable ``f(shape, dtype=None)``. The values follow Keras's
distributions, not its random streams: an unseeded initializer draws from the
model's generator (``fit(seed=)``, ``build(seed=)``,
:func:`stabkit.nn.utils.set_random_seed`), a seeded one from its own seed, the
same values at every call, as Keras's.

Fans, as Keras computes them: a kernel ``(fan_in, fan_out)``; a convolution
kernel ``(kh, kw, in, out)`` has ``fan_in = kh kw in`` and ``fan_out = kh kw
out``; a vector of ``n`` has both ``n``.
"""

from __future__ import annotations

import math

import numpy as np

from .errors import NNError

__all__ = ["Initializer", "Zeros", "Ones", "Constant", "RandomUniform", "RandomNormal", "TruncatedNormal",
           "VarianceScaling", "GlorotUniform", "GlorotNormal", "HeUniform", "HeNormal", "LecunUniform",
           "LecunNormal", "Orthogonal", "Identity", "get", "serialize"]  # fmt: skip

#: Keras's scaling of a normal cut at two standard deviations: the standard
#: deviation of N(0, 1) truncated to [-2, 2] (VarianceScaling divides by it)
_TRUNC_STD = 0.87962566103423978


def fans(shape: tuple[int, ...]) -> tuple[float, float]:
    """``(fan_in, fan_out)`` of a weight of ``shape`` (module docstring)."""
    if len(shape) == 0:
        return 1.0, 1.0
    if len(shape) == 1:
        return float(shape[0]), float(shape[0])
    field = math.prod(shape[:-2])
    return float(shape[-2] * field), float(shape[-1] * field)


def _truncated(rng: np.random.Generator, mean: float, stddev: float, shape) -> np.ndarray:
    """N(mean, stddev^2) with every draw beyond two standard deviations drawn
    again (Keras's truncated normal)."""
    z = rng.standard_normal(shape)
    bad = np.abs(z) > 2.0
    while bad.any():
        z[bad] = rng.standard_normal(int(bad.sum()))
        bad = np.abs(z) > 2.0
    return mean + stddev * z


class Initializer:
    """``init(shape, rng=None)``: a float64 array of ``shape``. ``rng`` is
    the model's generator; a seeded initializer uses its own seed instead."""

    seed: int | None = None

    def __call__(self, shape, rng: np.random.Generator | None = None, dtype=None) -> np.ndarray:
        shape = tuple(int(d) for d in shape)
        if self.seed is not None or rng is None:
            rng = np.random.default_rng(self.seed)
        return np.asarray(self.draw(shape, rng), dtype=np.float64)

    def draw(self, shape: tuple[int, ...], rng: np.random.Generator) -> np.ndarray:
        raise NotImplementedError

    def get_config(self) -> dict:
        return {}

    @classmethod
    def from_config(cls, config: dict):
        # Keras 3's configs of the variance-scaling family add these (None by default)
        for key in ("input_axes", "output_axes"):
            if config.get(key, 0) is None:
                del config[key]
        return cls(**config)

    def __repr__(self) -> str:
        args = ", ".join(f"{k}={v!r}" for k, v in self.get_config().items())
        return f"{type(self).__name__}({args})"


class Zeros(Initializer):
    def draw(self, shape, rng):
        return np.zeros(shape)


class Ones(Initializer):
    def draw(self, shape, rng):
        return np.ones(shape)


class Constant(Initializer):
    """Every entry ``value`` (a number, or an array that broadcasts to the shape)."""

    def __init__(self, value=0.0):
        v = np.asarray(value)
        if v.dtype.kind not in "biuf":
            raise NNError(f"Constant(value=...) takes a number, got {value!r}")
        self.value = value

    def draw(self, shape, rng):
        try:
            return np.broadcast_to(np.asarray(self.value, np.float64), shape).copy()
        except ValueError:
            raise NNError(f"Constant's value of shape {np.shape(self.value)} does not fit a weight of shape {shape}")

    def get_config(self):
        v = self.value
        return {"value": v.tolist() if isinstance(v, np.ndarray) else v}


def _number(name: str, value) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float, np.integer, np.floating)) or not np.isfinite(value):
        raise NNError(f"{name} must be a finite number, got {value!r}")
    return float(value)


def _seed(seed):
    if seed is not None and (isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or seed < 0):
        raise NNError(f"an initializer's seed must be None or a non-negative integer, got {seed!r}")
    return None if seed is None else int(seed)


class RandomUniform(Initializer):
    """U(minval, maxval); Keras's defaults -0.05 and 0.05."""

    def __init__(self, minval=-0.05, maxval=0.05, seed=None):
        self.minval, self.maxval = _number("minval", minval), _number("maxval", maxval)
        self.seed = _seed(seed)

    def draw(self, shape, rng):
        return rng.uniform(self.minval, self.maxval, size=shape)

    def get_config(self):
        return {"minval": self.minval, "maxval": self.maxval, "seed": self.seed}


class RandomNormal(Initializer):
    """N(mean, stddev^2); Keras's defaults 0 and 0.05."""

    truncated = False

    def __init__(self, mean=0.0, stddev=0.05, seed=None):
        self.mean, self.stddev = _number("mean", mean), _number("stddev", stddev)
        if self.stddev < 0:
            raise NNError(f"stddev must be >= 0, got {stddev!r}")
        self.seed = _seed(seed)

    def draw(self, shape, rng):
        if self.truncated:
            return _truncated(rng, self.mean, self.stddev, shape)
        return rng.normal(self.mean, self.stddev, size=shape)

    def get_config(self):
        return {"mean": self.mean, "stddev": self.stddev, "seed": self.seed}


class TruncatedNormal(RandomNormal):
    """N(mean, stddev^2) cut at two standard deviations (drawn again beyond)."""

    truncated = True


class VarianceScaling(Initializer):
    """Variance ``scale / n``, n the fan of ``mode`` (``"fan_in"``,
    ``"fan_out"``, ``"fan_avg"``; at least 1): ``"truncated_normal"``
    (standard deviation sqrt(scale / n) / 0.8796..., cut at two),
    ``"untruncated_normal"`` or ``"uniform"`` (U(-l, l), l = sqrt(3 scale / n))."""

    _modes = ("fan_in", "fan_out", "fan_avg")
    _dists = ("truncated_normal", "untruncated_normal", "uniform")

    def __init__(self, scale=1.0, mode="fan_in", distribution="truncated_normal", seed=None):
        self.scale = _number("scale", scale)
        if self.scale <= 0:
            raise NNError(f"VarianceScaling's scale must be positive, got {scale!r}")
        if mode not in self._modes:
            raise NNError(f"VarianceScaling's mode must be one of {', '.join(self._modes)}, got {mode!r}")
        distribution = "truncated_normal" if distribution == "normal" else distribution  # Keras's old name
        if distribution not in self._dists:
            raise NNError(f"VarianceScaling's distribution must be one of {', '.join(self._dists)}, "
                          f"got {distribution!r}")  # fmt: skip
        self.mode, self.distribution, self.seed = mode, distribution, _seed(seed)

    def draw(self, shape, rng):
        fan_in, fan_out = fans(shape)
        n = {"fan_in": fan_in, "fan_out": fan_out, "fan_avg": (fan_in + fan_out) / 2.0}[self.mode]
        n = max(1.0, n)
        var = self.scale / n
        if self.distribution == "uniform":
            # l = sqrt((3 scale) / n), one rounding before the root: for Glorot's scale 1 and
            # fan_avg, 3 / ((in + out) / 2) is the rational 6 / (in + out) (the halving is exact),
            # so the same double as the formula stabkit's layers used before initializers
            limit = math.sqrt(3.0 * self.scale / n)
            return rng.uniform(-limit, limit, size=shape)
        if self.distribution == "untruncated_normal":
            return rng.normal(0.0, math.sqrt(var), size=shape)
        return _truncated(rng, 0.0, math.sqrt(var) / _TRUNC_STD, shape)

    def get_config(self):
        return {"scale": self.scale, "mode": self.mode, "distribution": self.distribution, "seed": self.seed}


def _scaled(name: str, scale: float, mode: str, distribution: str, doc: str) -> type:
    """A VarianceScaling with fixed settings and only ``seed`` (Keras's named ones)."""

    def __init__(self, seed=None):
        VarianceScaling.__init__(self, scale, mode, distribution, seed)

    def get_config(self):
        return {"seed": self.seed}

    return type(name, (VarianceScaling,), {"__init__": __init__, "get_config": get_config, "__doc__": doc,
                                           "__module__": __name__})  # fmt: skip


GlorotUniform = _scaled("GlorotUniform", 1.0, "fan_avg", "uniform",
                        "U(-l, l), l = sqrt(6 / (fan_in + fan_out)): Keras's default kernel.")
GlorotNormal = _scaled("GlorotNormal", 1.0, "fan_avg", "truncated_normal", "VarianceScaling(1, 'fan_avg').")
HeUniform = _scaled("HeUniform", 2.0, "fan_in", "uniform", "U(-l, l), l = sqrt(6 / fan_in).")
HeNormal = _scaled("HeNormal", 2.0, "fan_in", "truncated_normal", "VarianceScaling(2, 'fan_in').")
LecunUniform = _scaled("LecunUniform", 1.0, "fan_in", "uniform", "U(-l, l), l = sqrt(3 / fan_in).")
LecunNormal = _scaled("LecunNormal", 1.0, "fan_in", "truncated_normal", "VarianceScaling(1, 'fan_in').")


class Orthogonal(Initializer):
    """``gain`` times an orthogonal matrix (the Q of a normal matrix's QR,
    its signs fixed by R's diagonal); a weight of more axes is taken as
    (product of all but the last, last)."""

    def __init__(self, gain=1.0, seed=None):
        self.gain, self.seed = _number("gain", gain), _seed(seed)

    def draw(self, shape, rng):
        if len(shape) < 2:
            raise NNError(f"Orthogonal needs a weight of two or more axes, got shape {shape}")
        rows, cols = math.prod(shape[:-1]), shape[-1]
        a = rng.standard_normal((max(rows, cols), min(rows, cols)))
        q, r = np.linalg.qr(a)
        q = q * np.sign(np.diag(r))
        if rows < cols:
            q = q.T
        return self.gain * q.reshape(shape)

    def get_config(self):
        return {"gain": self.gain, "seed": self.seed}


class Identity(Initializer):
    """``gain`` times the identity (a 2-D weight only, as in Keras)."""

    def __init__(self, gain=1.0):
        self.gain = _number("gain", gain)

    def draw(self, shape, rng):
        if len(shape) != 2:
            raise NNError(f"Identity needs a 2-D weight, got shape {shape}")
        return self.gain * np.eye(*shape)

    def get_config(self):
        return {"gain": self.gain}


_CLASSES = {c.__name__: c for c in (Zeros, Ones, Constant, RandomUniform, RandomNormal, TruncatedNormal,
                                     VarianceScaling, GlorotUniform, GlorotNormal, HeUniform, HeNormal,
                                     LecunUniform, LecunNormal, Orthogonal, Identity)}  # fmt: skip
_NAMES = {"zeros": Zeros, "zero": Zeros, "ones": Ones, "one": Ones, "constant": Constant,
          "random_uniform": RandomUniform, "uniform": RandomUniform, "random_normal": RandomNormal,
          "normal": RandomNormal, "truncated_normal": TruncatedNormal, "variance_scaling": VarianceScaling,
          "glorot_uniform": GlorotUniform, "glorot_normal": GlorotNormal, "he_uniform": HeUniform,
          "he_normal": HeNormal, "lecun_uniform": LecunUniform, "lecun_normal": LecunNormal,
          "orthogonal": Orthogonal, "identity": Identity}  # fmt: skip


class _Callable(Initializer):
    """A user's ``f(shape, dtype=None)``, checked for the shape it returns."""

    def __init__(self, fn):
        self.fn = fn

    def __call__(self, shape, rng=None, dtype=None):
        shape = tuple(int(d) for d in shape)
        out = np.asarray(self.fn(shape, dtype="float64"))
        if out.shape != shape or out.dtype.kind not in "iuf":
            raise NNError(f"the initializer {self.fn!r} returned {out.dtype} of shape {out.shape} for a weight "
                          f"of shape {shape}")  # fmt: skip
        return out.astype(np.float64)

    def __repr__(self) -> str:
        return f"{self.fn!r}"


def get(identifier, what: str = "initializer") -> Initializer:
    """The initializer ``identifier`` names (module docstring); NNError
    listing the names for anything else."""
    if isinstance(identifier, Initializer):
        return identifier
    if isinstance(identifier, str):
        cls = _NAMES.get(identifier) or _CLASSES.get(identifier)
        if cls is None:
            raise NNError(f"unknown {what} {identifier!r}; stabkit knows {', '.join(sorted(_NAMES))} "
                          "(and their class names, e.g. 'HeNormal')")  # fmt: skip
        return cls()
    if isinstance(identifier, dict) and "class_name" in identifier:
        cls = _CLASSES.get(identifier["class_name"]) or _NAMES.get(identifier["class_name"])
        if cls is None:
            raise NNError(f"unknown {what} class {identifier['class_name']!r}")
        try:
            return cls.from_config(dict(identifier.get("config") or {}))
        except TypeError as e:
            raise NNError(f"{what} {identifier['class_name']}: {e}") from None
    if callable(identifier) and not isinstance(identifier, type):
        return _Callable(identifier)
    if isinstance(identifier, type) and issubclass(identifier, Initializer):
        return identifier()
    raise NNError(f"{what} must be a name such as 'he_normal', an initializer or a callable, got {identifier!r}")


def serialize(init: Initializer):
    """What a layer's ``get_config`` stores: the name for the defaults of a
    named class, else ``{"class_name", "config"}``; a callable cannot be saved."""
    if isinstance(init, _Callable):
        raise NNError(f"a layer built with the callable initializer {init!r} cannot be saved; use a named one")
    cls = type(init)
    if init.get_config() == cls().get_config():
        return next(name for name, c in _NAMES.items() if c is cls)  # the first: "zeros", not "zero"
    return {"class_name": cls.__name__, "config": init.get_config()}
