"""``Sequential``: compile, fit, evaluate, predict; weights in and out.

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
import sys
import time
import weakref

import numpy as np

try:  # installed with scikit-learn, a dependency; optional all the same
    from threadpoolctl import threadpool_limits
except ImportError:  # pragma: no cover
    threadpool_limits = None

from . import losses as losses_mod
from . import metrics as metrics_mod
from . import optimizers as optimizers_mod
from . import defaults, kerasargs, regularizers, saving, seeding, shapes
from .errors import NNError
from .history import History, final_line
from .layers import Layer, _shape
from .copying import CopyModel
from .checks import batch_size as _batch_size, check_samples, checked_data, one_input, unbuilt_on_error, verbosity
from .onbatch import OnBatch
from .structure import Structure
from .training import fit_loop, prepare_fit

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


class Sequential(OnBatch, Structure, saving.Files, CopyModel):
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
        self.history: History | None = None  # the last fit's, as Keras sets it
        self.metrics: list[str] = []  # the names given to compile
        self._metrics: list[metrics_mod.Metric] = []
        self.stop_training = False  # a callback sets it to end fit (Keras)
        self._compute, self._master, self._policy = np.dtype(np.float32), np.dtype(np.float32), "float32"
        self._P = None  # the flat master weights, once built
        self._unseeded = False  # built from fresh entropy and neither fitted nor set since
        self._input_shape = None  # from Input(shape) or input_shape=: the model is built at once
        self._in_shape = None  # the per-sample input shape, once built
        self._mixed = False
        self._penalty = 0.0  # the regularizers' penalty at the last NumPy step's weights
        self._warned_logits = False  # LogitsWarning: once per compile
        layers = list(layers or [])
        self._uids = {}  # Keras's name counter, kept per model (see Structure._auto_name)
        self._reserved = {layer.name for layer in layers if isinstance(layer, Layer) and layer.name}
        for layer in layers:
            self.add(layer)
        self._reserved = set()

    # ------------------------------------------------------------ structure

    @property
    def built(self) -> bool:
        return self._P is not None

    @property
    def dtype(self) -> str:
        return self._policy

    def __repr__(self):
        return f"Sequential([{', '.join(map(repr, self.layers))}])"

    def build(self, input_shape, seed: int | None = None) -> None:
        """Create Glorot-uniform weights for samples of ``input_shape``: the
        number of input features, or Keras's shape tuple with its batch axis
        (``(None, 400)``, ``(32, 400)``, ``(None, 28, 28, 1)`` for a Conv2D),
        or the per-sample shape alone when it is shorter than Keras's
        (``(400,)``, ``(28, 28, 1)`` for a Conv2D). Images in front of a
        Dense layer are flattened (see :mod:`stabkit.nn.shapes`):
        ``(None, 28, 28)``.
        ``seed`` fixes the weights; without it they come from
        :func:`stabkit.nn.utils.set_random_seed`'s seed, or fresh entropy."""
        if not self.layers:
            raise NNError("the model has no layers")
        if isinstance(input_shape, (tuple, list)) and len(input_shape) > 1:
            # Keras's shapes lead with the batch axis, None or a number: one of
            # the rank Keras gives the first layer, (batch, features) before a
            # Dense layer or (batch, h, w, c) before a Conv2D, is read as Keras
            # reads it (build((32, 400)) once made 12800 input features); a
            # shorter one is the per-sample shape
            keras_rank = {True: 2, False: 4}.get(shapes.flat_first(self.layers))
            if input_shape[0] is None or len(input_shape) == keras_rank:
                input_shape = input_shape[1:]
        self._build(input_shape, seed)

    def _build(self, input_shape, seed: int | None = None) -> None:
        """:meth:`build` for the per-sample shape, never read as Keras's
        ``(batch, ...)``: what ``fit``, a call, ``Input(shape)`` and
        ``input_shape=`` know (``(28, 28)`` images are 784 features, not a
        batch of 28)."""
        shape = _shape(input_shape, "input_shape")
        weights = shapes.initial_weights(self.layers, shape, seeding.rng(seed), self)
        self._in_shape = shape
        self._pack(weights)
        # weights from fresh entropy: fit(seed=) can no longer fix them (it warns)
        self._unseeded = seed is None and not seeding.seeded()

    def _shapes(self) -> list[tuple[int, ...]]:
        """The per-sample shape the first layer sees, then each layer's
        output shape (the model is built)."""
        return shapes.output_shapes(self.layers, self._in_shape)

    def _pack(self, weights: list[np.ndarray]) -> None:
        """Copy ``weights`` into fresh flat buffers and bind every layer to views."""
        slots, offset, k = {}, 0, 0
        for layer in self.layers:
            for part in layer.weight_names:
                shape = weights[k].shape
                size = math.prod(shape)
                slots[f"{layer.name}/{part}"] = (slice(offset, offset + size), shape)
                offset += size
                k += 1
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
        P, G = iter(views(self._P)), iter(views(self._G))
        C = iter(views(self._Pc) if self._mixed else [None] * len(weights))
        for layer in self.layers:
            names = layer.weight_names
            if names:
                p, g, c = ({n: next(it) for n in names} for it in (P, G, C))
                layer.bind(p, g, c, self._mixed)
                layer._views = {n: (p[n], c[n]) for n in names}  # for layer.set_weights
                layer._owner = weakref.ref(self)  # a model it goes into next keeps these weights
                layer._weights_set = False
        self._sync()
        if self.optimizer is not None:
            self.optimizer.build(slots, offset, self._master)

    def _sync(self) -> None:
        """Refresh the float16-rounded matmul copy of the master weights."""
        if self._mixed:
            with np.errstate(over="ignore"):  # a weight past 65504 becomes inf: the next step reports it
                np.copyto(self._P16, self._P)
            np.copyto(self._Pc, self._P16)

    # ------------------------------------------------------------ compile

    def compile(self, optimizer="rmsprop", loss=None, loss_weights=None, metrics=None, weighted_metrics=None,
                run_eagerly=False, steps_per_execution=1, jit_compile="auto", auto_scale_loss=True, *,
                dtype: str = "float32") -> None:  # fmt: skip
        """Choose the optimizer (an instance or a name; ``'rmsprop'`` by
        default, as in Keras), the loss (an
        instance, a class or a Keras name: :func:`stabkit.nn.losses.get`),
        the metrics (Keras's names or classes, see :mod:`stabkit.nn.metrics`:
        ``'accuracy'``, ``SparseCategoricalAccuracy()``, ...) and the format: ``'float32'`` (default), ``'float64'`` or
        ``'float16'`` / ``'mixed_float16'`` (float16 forward and backward,
        float32 master weights, gradients and matmul accumulation; no loss
        scaling). Keras's other arguments, in its order, are checked by
        :func:`stabkit.nn.kerasargs.compile_hints` (their defaults, and the
        values that change nothing here)."""
        kerasargs.compile_hints(loss_weights, weighted_metrics, run_eagerly, steps_per_execution, jit_compile,
                                auto_scale_loss)
        if loss is None:
            raise NNError("compile needs a loss, e.g. SparseCategoricalCrossentropy(from_logits=True)")
        if dtype not in PRECISIONS:
            raise NNError(f"unknown dtype {dtype!r}; use one of {', '.join(PRECISIONS)}")
        if isinstance(metrics, str):
            raise NNError(f"metrics must be a list of names, e.g. [{metrics!r}]")
        loss = losses_mod.get(loss)
        compiled = [metrics_mod.get(m, loss) for m in metrics or []]
        names = [m.name for m in compiled]
        if len(set(names)) != len(names):
            raise NNError(f"metrics {names} name one metric twice")
        previous = self.optimizer
        self.loss, self.optimizer = loss, optimizers_mod.get(optimizer)  # checked before anything is set
        self.metrics, self._metrics = names, compiled
        self._warned_logits = False
        compute, master = (np.dtype(d) for d in PRECISIONS[dtype])
        self._policy = "mixed_float16" if dtype == "float16" else dtype
        changed = (compute, master) != (self._compute, self._master)
        self._compute, self._master = compute, master
        if self.built and changed:
            self._pack(self.get_weights())  # new buffers in the new format; also resets the optimizer
        elif self.built and not (self.optimizer is previous and self.optimizer._size == self._P.size):
            # a new optimizer starts fresh; the model's own one, passed again
            # (compile after freezing layers), keeps its moments and
            # iterations, as Keras keeps an optimizer's variables
            self.optimizer.build(self._slots, self._P.size, self._master)

    # ------------------------------------------------------------ forward

    def _input(self, x, name: str = "x") -> np.ndarray:
        x = np.asarray(one_input(x))  # Keras takes a one-input list
        check_samples(x, name)
        flat = shapes.flat_first(self.layers) is not False
        if x.ndim > 2 and flat:  # images into a Dense layer: flatten, as a Flatten layer would
            x = x.reshape(len(x), -1)
        if x.dtype.kind not in "biuf":
            raise NNError(f"inputs must be numbers, got dtype {x.dtype}")
        if not self.built:
            self._build(x.shape[1:])
        shapes.check_input(x.shape[1:], self._in_shape, flat)
        return x.astype(self._compute, copy=False)

    def _forward(self, x, training=False, rows=None):
        if rows is not None:  # x holds the input columns `rows` (see _columns)
            x = self.layers[0].forward(x, training, rows)
        for layer in self.layers[rows is not None :]:
            x = layer.forward(x, training)
        return x

    def __call__(self, x, training: bool = False) -> np.ndarray:
        """The last layer's outputs (logits when it is linear), in the compute
        dtype; ``training=True`` runs the layers as in training (dropout on)."""
        return self._forward(self._input(x), training=bool(training))

    def predict(self, x, batch_size: int | None = None, verbose=0, steps=None, callbacks=None) -> np.ndarray:
        """``model(x)`` in batches of ``batch_size`` (None: 32, as Keras).
        ``verbose``: 0 (the default here; Keras's is ``'auto'``) prints
        nothing, 1 or ``'auto'`` Keras 3's final progress line (``16/16
        ━━━━ 0s 2ms/step``), 2 its plain form (``16/16 - 0s - 2ms/step``).
        Keras's ``steps`` None and ``callbacks`` None or empty only (NNError)."""
        defaults.check("predict", steps=steps, callbacks=callbacks)
        batch_size, verbose, t0 = _batch_size(batch_size), verbosity(verbose), time.perf_counter()
        with unbuilt_on_error(self):
            x = self._input(x)
        outs = [self._forward(x[i : i + batch_size]) for i in range(0, len(x), batch_size)]
        if verbose in (1, 2):  # Keras prints nothing for 3 and above
            sys.stdout.write(final_line(len(outs), time.perf_counter() - t0, {}, verbose, sys.stdout))
        return np.concatenate(outs) if outs else np.empty((0, *self._shapes()[-1]), self._compute)

    @property
    def metrics_names(self) -> list[str]:
        """The names of :meth:`evaluate`'s values in its order: ``"loss"``
        then the compiled metrics (empty before compile)."""
        return [] if self.loss is None else ["loss", *(m.name for m in self._metrics)]

    def evaluate(self, x, y=None, batch_size: int | None = None, verbose=0, sample_weight=None, steps=None,
                 callbacks=None, return_dict: bool = False):  # fmt: skip
        """The mean loss (from the loss's tier; weighted by ``sample_weight``
        as Keras weights it: ``sum(w * loss) / n``) and the metrics, as Keras
        returns them: the loss alone without metrics, else ``[loss, *metrics]``
        in compile's order, or a dict with ``return_dict``. ``batch_size``
        None means 32, as in Keras. ``verbose`` as in :meth:`predict`, the
        line ending in the loss and metrics (``- accuracy: 0.9500 - loss:
        0.1234``). NNError, before anything is computed, for a NaN or
        infinite value in ``x`` or ``y``, and as :meth:`predict` for ``steps``, ``callbacks``."""
        defaults.check("evaluate", steps=steps, callbacks=callbacks)
        self._need_compiled()
        batch_size, verbose, t0 = _batch_size(batch_size), verbosity(verbose), time.perf_counter()
        with unbuilt_on_error(self):
            X, y, w = checked_data(self, x, y, sample_weight)
        logs = self._evaluate(X, y, w, batch_size, return_dict=True)
        if verbose in (1, 2):  # Keras prints nothing for 3 and above
            sys.stdout.write(final_line(-(-len(X) // batch_size), time.perf_counter() - t0, logs, verbose, sys.stdout))
        return logs if return_dict else list(logs.values()) if self._metrics else logs["loss"]

    def _evaluate(self, X, y, w, batch_size: int, return_dict: bool):
        """``evaluate`` on checked, converted data (see ``checked_data``)."""
        out = self.predict(X, batch_size=batch_size)
        values = self.loss.values(y, out)
        # the weights' penalties (regularizers) join the loss, unweighted, as in Keras
        loss = float(np.mean(values if w is None else values * w, dtype=np.float64)) + regularizers.penalty(self.layers)
        logs = {"loss": loss}
        logs.update({m.name: m(y, out) for m in self._metrics})
        if return_dict:
            return logs
        return list(logs.values()) if self._metrics else logs["loss"]

    def _need_compiled(self):
        if self.loss is None:
            raise NNError("the model is not compiled; call compile(optimizer=..., loss=...) first")
        shapes.check_logits(self.layers)
        shapes.check_loss_output(self.loss, self.layers[-1])
        shapes.check_softmax(self.layers)
        if not self._warned_logits:  # the caller of fit, evaluate, ...
            self._warned_logits = shapes.warn_not_logits(self.loss, self.layers[-1], stacklevel=3)

    # ------------------------------------------------------------ training

    def _backprop(self, xb, yb, rows=None, wb=None) -> np.ndarray:
        """Forward and backward on one batch; the gradient lands in the flat
        gradient buffer. Returns the outputs. ``wb``: the rows' sample
        weights. (Callers silence NumPy's warnings: non-finite values are
        detected, not warned about.)"""
        out = self._forward(xb, training=True, rows=rows)
        dLdout = self.loss.gradient(yb, out)
        if wb is not None:
            # Keras's weighted mean, sum(w_i * loss_i) / n: row i's gradient times w_i
            dLdout *= wb.astype(dLdout.dtype)[:, None]
        for i in range(len(self.layers) - 1, -1, -1):
            dLdout = self.layers[i].backward(dLdout, need_input_grad=i > 0)
        # Keras's regularizers: the trained weights' penalties join the loss, their gradients the gradient
        self._penalty = regularizers.penalty(self.layers, gradients=True)
        return out

    def gradients(self, x, y) -> list[np.ndarray]:
        """``dL/dw`` of the mean loss over ``(x, y)`` as one batch, in the
        order of :meth:`get_weights` (nothing is updated)."""
        self._need_compiled()
        with unbuilt_on_error(self):
            X, Y, _ = checked_data(self, x, y, None)
        with np.errstate(all="ignore"):
            self._backprop(X, Y)
        return [self._G[sl].reshape(shape).copy() for sl, shape in self._slots.values()]

    def fit(self, x, y=None, batch_size: int | None = None, epochs: int = 1, verbose: int = 1, callbacks=None,
            validation_split: float = 0.0, validation_data=None, shuffle: bool = True, class_weight=None,
            sample_weight=None, initial_epoch: int = 0, steps_per_epoch=None, validation_steps=None,
            validation_batch_size=None, validation_freq=1, *, seed: int | None = None, on_nonfinite: str = "raise",
            on_step=None) -> History:  # fmt: skip
        """Train with mini-batch gradient descent; return a :class:`History`.

        Keras's arguments, in Keras's order (``fit(x, y, batch_size, epochs,
        ...)``; stabkit's own, from ``seed`` on, by name only), and rules (see :func:`stabkit.nn.training.prepare_fit`:
        ``validation_split`` takes the *last* fraction before shuffling;
        ``class_weight`` or ``sample_weight`` weight the loss as ``sum(w *
        loss) / n``; ``initial_epoch`` is 0-based; ``validation_freq=k``
        validates after every k-th epoch; ``steps_per_epoch`` and
        ``validation_steps`` must be None, see
        :func:`stabkit.nn.kerasargs.fit_extras`). ``seed`` fixes the initial
        weights (when the model is built here; else it warns, see
        :mod:`stabkit.nn.seeding`) and the shuffling. ``verbose``:
        0 silent, 1 Keras 3's progress bar per epoch, 2 Keras 3's lines per epoch
        (``Epoch 1/2`` when there are several, then ``16/16 - 0s - 3ms/step
        - loss: ...``), 3 or more the ``Epoch`` lines alone; ``'auto'`` is 1.
        ``on_nonfinite``: ``'raise'`` stops with :class:`NonFiniteError`
        (the weights are left as they were before the failing update);
        ``'continue'`` applies every update and counts the events in
        ``history['nonfinite_steps']``. ``on_step(epoch, step)`` (1-based), if
        given, is called after every update. ``batch_size`` None means 32,
        as in Keras.

        Every argument and the data are checked before the first update
        (NNError naming the argument: a 1-D ``x``, a NaN or infinite value
        in ``x``, ``y`` or ``validation_data``, ...); a model that was not
        built stays unbuilt when the fit is refused.
        """
        self._need_compiled()
        batch_size = _batch_size(batch_size)
        with unbuilt_on_error(self):
            X, Y, W, opts = prepare_fit(
                self, x, y, epochs=epochs, batch_size=batch_size, verbose=verbose, callbacks=callbacks,
                validation_split=validation_split, validation_data=validation_data, shuffle=shuffle,
                class_weight=class_weight, sample_weight=sample_weight, initial_epoch=initial_epoch, seed=seed,
                on_nonfinite=on_nonfinite, on_step=on_step,
                extras=kerasargs.fit_extras(steps_per_epoch, validation_steps, validation_batch_size, validation_freq),
            )  # fmt: skip
        self._unseeded = False  # from here on the weights are the fit's
        macs = batch_size * max((layer.macs() for layer in self.layers), default=0)
        if threadpool_limits is not None and macs < SINGLE_THREAD_MACS:
            with threadpool_limits(limits=1, user_api="blas"):
                self.history = fit_loop(self, X, Y, W, opts)
        else:
            self.history = fit_loop(self, X, Y, W, opts)
        return self.history  # model.history, as Keras keeps the last fit's
