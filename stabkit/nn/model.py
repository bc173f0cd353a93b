"""``Sequential``: compile, fit, evaluate, predict, save and load weights.

The training loop keeps the step cheap: one flat parameter vector updated in
place by the optimizer, the gradient of the loss fused where the formula
allows, and the loss values *reported* from the function library once per
epoch on the outputs the network produced at every step (the same numbers a
per-step evaluation would give, and the same epoch mean Keras reports, at a
fraction of the cost of calling the accurate tier 250 times). A non-finite
gradient is caught at the step it appears, before the update; a non-finite
loss with a finite gradient (the naive tier's overflowing softmax) is caught
at the end of that epoch and named by its step.
"""

from __future__ import annotations

import math
import zipfile

import numpy as np

try:  # installed with scikit-learn, a dependency; optional all the same
    from threadpoolctl import threadpool_limits
except ImportError:  # pragma: no cover
    threadpool_limits = None

from . import diagnostics
from . import losses as losses_mod
from . import optimizers as optimizers_mod
from . import shapes
from .errors import DataError, NNError
from .history import History
from .layers import Layer
from .training import fit_loop

__all__ = ["Sequential", "History", "PRECISIONS"]

#: below this many multiply-adds in a step's largest matmul, fit runs BLAS on
#: one thread. Measured on 2 cores with the lecture network: two threads were
#: 20% faster at batch 256 on an idle machine, but 3x to 7x slower (batch 32
#: and 256) while another process kept a core busy, as OpenBLAS threads spin.
SINGLE_THREAD_MACS = 8_000_000

#: compile(dtype=...) -> (compute dtype, master dtype)
PRECISIONS = {
    "float32": (np.float32, np.float32),
    "float64": (np.float64, np.float64),
    "float16": (np.float16, np.float32),  # mixed precision: never pure float16 weights
    "mixed_float16": (np.float16, np.float32),
}


class Sequential:
    """A stack of layers, Keras's ``Sequential``.

    >>> model = Sequential([Dense(25, activation="relu"), Dense(15, activation="relu"),
    ...                     Dense(10, activation="linear")])
    >>> model.compile(optimizer=Adam(learning_rate=1e-3),
    ...               loss=SparseCategoricalCrossentropy(from_logits=True))
    >>> model.fit(X, y, epochs=10)            # doctest: +SKIP
    >>> logits = model(X)                     # doctest: +SKIP
    """

    def __init__(self, layers=None, name: str = "sequential"):
        self.name = name
        self.layers: list[Layer] = []
        self.loss = self.optimizer = None
        self.metrics: list[str] = []
        self._compute, self._master, self._policy = np.dtype(np.float32), np.dtype(np.float32), "float32"
        self._P = None  # the flat master weights, once built
        self._in_shape = None  # the per-sample input shape, once built
        self._mixed = False
        for layer in layers or []:
            self.add(layer)

    # ------------------------------------------------------------ structure

    def add(self, layer: Layer) -> None:
        if not isinstance(layer, Layer):
            raise NNError(f"Sequential takes stabkit.nn layers, got {layer!r}")
        if self.built:
            raise NNError("cannot add a layer to a built model")
        if layer.name is None:
            k = sum(type(l) is type(layer) for l in self.layers)
            layer.name = type(layer).__name__.lower() + (f"_{k}" if k else "")
        self.layers.append(layer)

    @property
    def built(self) -> bool:
        return self._P is not None

    @property
    def dtype(self) -> str:
        return self._policy

    def __repr__(self):
        return f"Sequential([{', '.join(map(repr, self.layers))}])"

    def build(self, input_dim, seed: int | None = None) -> None:
        """Create Glorot-uniform weights for inputs of size ``input_dim``, or
        of per-sample shape ``input_dim`` (a tuple, e.g. ``(28, 28, 1)`` for
        a Conv2D; Keras's leading ``None`` may be given)."""
        if not self.layers:
            raise NNError("the model has no layers")
        weights = shapes.initial_weights(self.layers, shape := shapes.sample_shape(input_dim), np.random.default_rng(seed))
        self._in_shape = shape
        self._pack(weights)

    def _pack(self, weights: list[np.ndarray]) -> None:
        """Copy ``weights`` into fresh flat buffers and bind every layer to views."""
        slots, offset, shapes = {}, 0, iter([w.shape for w in weights])
        for layer in self.layers:
            for part in layer.parts:
                shape = next(shapes)
                size = math.prod(shape)
                slots[f"{layer.name}/{part}"] = (slice(offset, offset + size), shape)
                offset += size
        self._mixed = self._compute != self._master
        self._P = np.empty(offset, self._master)
        self._G = np.zeros(offset, self._master)
        self._Pc = np.empty(offset, np.float32) if self._mixed else None
        self._P16 = np.empty(offset, np.float16) if self._mixed else None
        self._slots = slots

        def views(flat):
            return [flat[sl].reshape(shape) for sl, shape in slots.values()]

        for v, w in zip(views(self._P), weights):
            v[...] = w
        P, G = views(self._P), views(self._G)
        C = views(self._Pc) if self._mixed else [None] * len(P)
        k = 0
        for layer in self.layers:
            n = len(layer.parts)
            layer.bind(*(dict(zip(layer.parts, v[k : k + n])) for v in (P, G, C)), self._mixed)
            k += n
        if self._in_shape is None:  # set_weights on a flat model before build
            self._in_shape = (self.layers[0].input_dim,)
        self._sync()
        if self.optimizer is not None:
            self.optimizer.build(slots, offset, self._master)

    def _sync(self) -> None:
        """Refresh the float16-rounded matmul copy of the master weights."""
        if self._mixed:
            with np.errstate(over="ignore"):  # a weight past 65504 becomes inf: the next step reports it
                np.copyto(self._P16, self._P)
            np.copyto(self._Pc, self._P16)

    def count_params(self) -> int:
        return 0 if not self.built else int(self._P.size)

    def summary(self, print_fn=print) -> None:
        """Print the layers, their output shapes and parameter counts."""
        rows = [("Layer (type)", "Output Shape", "Param #")]
        outs = shapes.output_shapes(self.layers, self._in_shape) if self.built else [(getattr(l, "units", "?"),) for l in self.layers]
        for layer, shape in zip(self.layers, outs):
            n = "?" if not self.built else f"{sum(getattr(layer, p).size for p in layer.parts):,}"
            rows.append((f"{layer.name} ({type(layer).__name__})", f"(None, {', '.join(map(str, shape))})", n))
        w = [max(len(r[i]) for r in rows) + 3 for i in range(3)]
        line = "-" * sum(w)
        out = [f'Model: "{self.name}"', line]
        out += ["".join(c.ljust(w[i]) for i, c in enumerate(r)).rstrip() for r in rows[:1]] + [line]
        out += ["".join(c.ljust(w[i]) for i, c in enumerate(r)).rstrip() for r in rows[1:]]
        total = f"{self.count_params():,}" if self.built else "? (unbuilt: call the model or fit first)"
        out += [line, f"Total params: {total}", f"dtype: {self._policy}"]
        print_fn("\n".join(out))

    # ------------------------------------------------------------ compile

    def compile(self, optimizer="adam", loss=None, metrics=None, dtype: str = "float32") -> None:
        """Choose the optimizer, the loss, the metrics (``['accuracy']`` or
        none) and the format: ``'float32'`` (default), ``'float64'`` or
        ``'float16'`` / ``'mixed_float16'`` (float16 forward and backward,
        float32 master weights, gradients and matmul accumulation)."""
        if loss is None:
            raise NNError("compile needs a loss, e.g. SparseCategoricalCrossentropy(from_logits=True)")
        if dtype not in PRECISIONS:
            raise NNError(f"unknown dtype {dtype!r}; use one of {', '.join(PRECISIONS)}")
        metrics = list(metrics or [])
        for m in metrics:
            if m not in ("accuracy", "acc"):
                raise NNError(f"unknown metric {m!r}; only 'accuracy' is supported")
        self.loss = losses_mod.get(loss)
        self.optimizer = optimizers_mod.get(optimizer)
        self.metrics = ["accuracy"] if metrics else []
        compute, master = (np.dtype(d) for d in PRECISIONS[dtype])
        self._policy = "mixed_float16" if dtype == "float16" else dtype
        changed = (compute, master) != (self._compute, self._master)
        self._compute, self._master = compute, master
        if self.built and changed:
            self._pack(self.get_weights())  # new buffers in the new format; also resets the optimizer
        elif self.built:
            self.optimizer.build(self._slots, self._P.size, self._master)

    # ------------------------------------------------------------ forward

    def _input(self, x) -> np.ndarray:
        x = np.asarray(x)
        if x.ndim == 1:
            x = x[None, :]
        flat = not self.layers or self.layers[0].flat_input
        if x.ndim > 2 and flat:  # images into a Dense layer: flatten, as a Flatten layer would
            x = x.reshape(len(x), -1)
        if x.dtype.kind not in "biuf":
            raise NNError(f"inputs must be numbers, got dtype {x.dtype}")
        if not self.built:
            self.build(x.shape[1:])
        shapes.check_input(x.shape[1:], self._in_shape, flat)
        return x.astype(self._compute, copy=False)

    def _forward(self, x, training=False, rows=None):
        if rows is not None:  # x holds the input columns `rows` (see _columns)
            x = self.layers[0].forward(x, training, rows)
        for layer in self.layers[rows is not None :]:
            x = layer.forward(x, training)
        return x

    def __call__(self, x) -> np.ndarray:
        """The last layer's outputs (logits when it is linear), in the compute dtype."""
        return self._forward(self._input(x))

    def predict(self, x, batch_size: int = 32, verbose: int = 0) -> np.ndarray:
        """``model(x)`` in batches of ``batch_size``."""
        x = self._input(x)
        _positive_int(batch_size, "batch_size")
        outs = [self._forward(x[i : i + batch_size]) for i in range(0, len(x), batch_size)]
        return np.concatenate(outs) if outs else np.empty((0, self.layers[-1].units), self._compute)

    def evaluate(self, x, y, batch_size: int = 32, verbose: int = 0, return_dict: bool = False):
        """Mean loss (from the loss's tier) and accuracy: ``[loss, accuracy]``
        with metrics, the loss alone without, or a dict with ``return_dict``."""
        self._need_compiled()
        out = self.predict(x, batch_size=batch_size)
        y = self.loss.prepare(y, out.shape[1])
        if len(y) != len(out):
            raise NNError(f"x has {len(out)} samples but y has {len(y)}")
        logs = {"loss": float(np.mean(self.loss.values(y, out), dtype=np.float64))}
        if self.metrics:
            logs["accuracy"] = float(np.mean(diagnostics.correct(self.loss, y, out)))
        if return_dict:
            return logs
        return [logs["loss"], logs["accuracy"]] if self.metrics else logs["loss"]

    def _need_compiled(self):
        if self.loss is None:
            raise NNError("the model is not compiled; call compile(optimizer=..., loss=...) first")

    # ------------------------------------------------------------ training

    def _backprop(self, xb, yb, rows=None) -> np.ndarray:
        """Forward and backward on one batch; the gradient lands in the flat
        gradient buffer. Returns the outputs. (Callers silence NumPy's
        warnings: non-finite values are detected, not warned about.)"""
        out = self._forward(xb, training=True, rows=rows)
        dLdout = self.loss.gradient(yb, out)
        for i in range(len(self.layers) - 1, -1, -1):
            dLdout = self.layers[i].backward(dLdout, need_input_grad=i > 0)
        return out

    def gradients(self, x, y) -> list[np.ndarray]:
        """``dL/dw`` of the mean loss over ``(x, y)`` as one batch, in the
        order of :meth:`get_weights` (nothing is updated)."""
        self._need_compiled()
        X = self._input(x)
        Y = self.loss.prepare(y, self.layers[-1].units)
        if len(Y) != len(X):
            raise NNError(f"x has {len(X)} samples but y has {len(Y)}")
        with np.errstate(all="ignore"):
            self._backprop(X, Y)
        return [self._G[sl].reshape(shape).copy() for sl, shape in self._slots.values()]

    def fit(
        self,
        x,
        y,
        epochs: int = 1,
        batch_size: int = 32,
        validation_data=None,
        validation_split: float = 0.0,
        shuffle: bool = True,
        verbose: int = 1,
        seed: int | None = None,
        on_nonfinite: str = "raise",
        on_step=None,
    ) -> History:
        """Train with mini-batch gradient descent; return a :class:`History`.

        ``seed`` fixes the initial weights (when the model is built here) and
        the shuffling. ``validation_split`` holds out the *last* fraction of
        the data before shuffling, as Keras does. ``verbose``: 0 silent, 1 a
        progress bar per epoch, 2 one line per epoch. ``on_nonfinite``:
        ``'raise'`` stops with :class:`NonFiniteError` (the weights are left
        as they were before the failing update); ``'continue'`` applies every
        update and counts the events in ``history['nonfinite_steps']``.
        ``on_step(epoch, step)`` (1-based), if given, is called after every
        update, e.g. to read ``model.optimizer.state`` or the weights.
        """
        self._need_compiled()
        _positive_int(epochs, "epochs")
        _positive_int(batch_size, "batch_size")
        if on_nonfinite not in ("raise", "continue"):
            raise NNError(f"on_nonfinite must be 'raise' or 'continue', got {on_nonfinite!r}")
        if on_step is not None and not callable(on_step):
            raise NNError(f"on_step must be callable, got {on_step!r}")
        if not 0 <= validation_split < 1:
            raise NNError(f"validation_split must be in [0, 1), got {validation_split!r}")
        x = np.asarray(x)
        if not self.built and x.ndim >= 2:
            self.build((math.prod(x.shape[1:]),) if self.layers[0].flat_input else x.shape[1:], seed)
        X = self._input(x)
        Y = self.loss.prepare(y, self.layers[-1].units)
        if len(Y) != len(X):
            raise NNError(f"x has {len(X)} samples but y has {len(Y)}")
        if validation_split and validation_data is None:
            cut = len(X) - int(len(X) * validation_split)
            validation_data, X, Y = (X[cut:], Y[cut:]), X[:cut], Y[:cut]
        if len(X) == 0:
            raise NNError("no training samples")

        macs = batch_size * max(l.macs() for l in self.layers)
        if threadpool_limits is not None and macs < SINGLE_THREAD_MACS:
            with threadpool_limits(limits=1, user_api="blas"):
                return fit_loop(self, X, Y, epochs, batch_size, validation_data, shuffle, verbose, seed, on_nonfinite, on_step)
        return fit_loop(self, X, Y, epochs, batch_size, validation_data, shuffle, verbose, seed, on_nonfinite, on_step)

    # ------------------------------------------------------------ weights

    def get_weights(self) -> list[np.ndarray]:
        """Copies of the master weights: ``[kernel_0, bias_0, kernel_1, ...]``."""
        if not self.built:
            return []
        return [getattr(layer, p).copy() for layer in self.layers for p in layer.parts]

    def set_weights(self, weights) -> None:
        weights = [np.asarray(w) for w in weights]
        if any(layer.parts != ("kernel", "bias") or not layer.flat_input for layer in self.layers):
            return shapes.set_weights_by_shape(self, weights)
        if len(weights) != 2 * len(self.layers):
            raise NNError(f"expected {2 * len(self.layers)} arrays (kernel and bias per layer), got {len(weights)}")
        for i, layer in enumerate(self.layers):
            k, b = weights[2 * i], weights[2 * i + 1]
            if k.ndim != 2 or k.shape[1] != layer.units or b.shape != (layer.units,):
                raise NNError(
                    f"layer {layer.name} needs a (n, {layer.units}) kernel and a ({layer.units},) bias, "
                    f"got {k.shape} and {b.shape}"
                )
            if i and k.shape[0] != self.layers[i - 1].units:
                raise NNError(f"layer {layer.name} needs a kernel with {self.layers[i - 1].units} rows, got {k.shape[0]}")
            if k.dtype.kind != "f" or b.dtype.kind != "f":
                raise NNError(f"layer {layer.name}: weights must be floating point")
        if self.built and weights[0].shape[0] != self.layers[0].input_dim:
            raise NNError(f"the model expects {self.layers[0].input_dim} inputs, the kernel has {weights[0].shape[0]} rows")
        if self.built:
            for dst, src in zip((a for l in self.layers for a in (l.kernel, l.bias)), weights):
                dst[...] = src
            self._sync()
        else:
            self._pack(weights)

    def save_weights(self, path) -> None:
        """Write the weights to an ``.npz`` file (plain arrays, no pickle)."""
        if not self.built:
            raise NNError("the model has no weights yet; call it or fit it first")
        arrays = {}
        for i, layer in enumerate(self.layers):
            for part in layer.parts:
                arrays[f"{i:03d}_{part}"] = getattr(layer, part)
        with open(path, "wb") as f:
            np.savez(f, **arrays)

    def load_weights(self, path) -> None:
        """Read weights written by :meth:`save_weights` (``allow_pickle=False``)."""
        from stabkit._io import read_npz

        # a member whose header declares more than this model's weights (in
        # float64) is refused before NumPy allocates it
        limit = 8 * self.count_params() + 4096 if self.built else 1 << 31
        try:
            arrays = read_npz(path, max_bytes=limit)
        except FileNotFoundError:
            raise DataError(f"{path}: no such file") from None
        except (OSError, ValueError, EOFError, zipfile.BadZipFile) as e:
            if isinstance(e, DataError):
                raise
            if "not an .npz archive" in str(e):  # read_npz's message names the path already
                raise DataError(str(e)) from None
            raise DataError(f"{path}: not a weights file written by save_weights ({e})") from None
        want = [f"{i:03d}_{part}" for i, layer in enumerate(self.layers) for part in layer.parts]
        if sorted(arrays) != sorted(want):
            raise DataError(f"{path}: holds {sorted(arrays)}, but this model needs {sorted(want)}")
        try:
            self.set_weights([arrays[k] for k in want])
        except NNError as e:
            raise DataError(f"{path}: {e}") from None


def _positive_int(value, name):
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
        raise NNError(f"{name} must be a positive integer, got {value!r}")
