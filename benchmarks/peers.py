"""The third-party equivalents of stabkit's functions, as their users call
them, for ``benchmarks/functions.py``: SciPy and NumPy, PyTorch on one thread
and JAX on the CPU (jit-compiled). PyTorch and JAX are optional; each peer
converts a case's NumPy inputs once (outside the timed calls) and returns a
callable that does the whole work, JAX's waiting for its result.
"""

from __future__ import annotations

import os
from collections.abc import Callable

import numpy as np
import scipy
import scipy.special as sp

#: The function names of stabkit that the peers are asked for.
FUNCTIONS = (
    "sigmoid", "log_sigmoid", "softplus", "binary_crossentropy", "softmax", "log_softmax",
    "logsumexp", "sparse_categorical_crossentropy", "categorical_crossentropy",
)


def _scipy_sparse_ce(y, z):
    return -np.take_along_axis(sp.log_softmax(z, axis=-1), y[:, None], axis=-1)[:, 0]


def _scipy_cce(y, z):
    # soft labels: the cross-entropy users write from log_softmax
    return -np.sum(y * sp.log_softmax(z, axis=-1), axis=-1)


def _scipy_bce(y, z):
    # SciPy has no BCE: users write it from log_expit
    return -(y * sp.log_expit(z) + (1 - y) * sp.log_expit(-z))


class Peer:
    """One library: its functions by stabkit's names, how inputs reach it,
    and the dtype name of what it returns."""

    name = ""
    version = ""

    def table(self) -> dict[str, Callable]:
        raise NotImplementedError

    def convert(self, args: tuple) -> tuple:
        return args

    def bind(self, fn: str, args: tuple) -> Callable[[], object] | None:
        """A no-argument call of this peer's ``fn`` on ``args`` (already
        converted), or None when the peer has no such function."""
        f = self.table().get(fn)
        if f is None:
            return None
        conv = self.convert(args)
        return lambda: f(*conv)

    def dtype_name(self, result) -> str:
        return np.dtype(result.dtype).name


class SciPy(Peer):
    name, version = "scipy", scipy.__version__

    def table(self):
        return {
            "sigmoid": sp.expit, "log_sigmoid": sp.log_expit,
            "softmax": lambda z: sp.softmax(z, axis=-1),
            "log_softmax": lambda z: sp.log_softmax(z, axis=-1),
            "logsumexp": lambda z: sp.logsumexp(z, axis=-1),
            "binary_crossentropy": _scipy_bce,
            "sparse_categorical_crossentropy": _scipy_sparse_ce,
            "categorical_crossentropy": _scipy_cce,
        }


class NumPy(Peer):
    """Only where NumPy is what users reach for: SciPy has no softplus, and
    ``logaddexp.reduce`` is the other logsumexp users write."""

    name, version = "numpy", np.__version__

    def table(self):
        return {
            "softplus": lambda x: np.logaddexp(0, x),
            "logsumexp": lambda z: np.logaddexp.reduce(z, axis=-1),
        }


class Torch(Peer):
    """PyTorch's fused CPU kernels on one thread (two threads stall at random
    on small shared machines); inputs shared with NumPy by ``from_numpy``."""

    name = "torch"

    def __init__(self):
        import torch
        import torch.nn.functional as F

        torch.set_num_threads(1)
        try:  # only allowed before PyTorch's first parallel work
            torch.set_num_interop_threads(1)
        except RuntimeError:  # pragma: no cover - depends on what ran before
            pass
        self.torch, self.F, self.version = torch, F, torch.__version__

    def table(self):
        torch, F = self.torch, self.F
        return {
            "sigmoid": torch.sigmoid, "log_sigmoid": F.logsigmoid, "softplus": F.softplus,
            "softmax": lambda z: torch.softmax(z, dim=-1),
            "log_softmax": lambda z: torch.log_softmax(z, dim=-1),
            "logsumexp": lambda z: torch.logsumexp(z, dim=-1),
            "binary_crossentropy": lambda y, z: F.binary_cross_entropy_with_logits(z, y, reduction="none"),
            # integer labels and probability rows: the same function
            "sparse_categorical_crossentropy": lambda y, z: F.cross_entropy(z, y, reduction="none"),
            "categorical_crossentropy": lambda y, z: F.cross_entropy(z, y, reduction="none"),
        }

    def convert(self, args):
        out = []
        for a in args:
            a = np.ascontiguousarray(a)
            if a.dtype.name == "bfloat16":  # ml_dtypes' bfloat16: same bits as torch's
                out.append(self.torch.from_numpy(a.view(np.int16)).view(self.torch.bfloat16))
            else:
                out.append(self.torch.from_numpy(a))
        return tuple(out)

    def dtype_name(self, result):
        return str(result.dtype).removeprefix("torch.")


class Jax(Peer):
    """``jax.nn`` on the CPU, jit-compiled per shape and dtype (compiled in
    the warm-up call), inputs already device arrays, and every call waits for
    its result (``block_until_ready``). float64 needs ``jax_enable_x64``,
    switched on here."""

    name = "jax"

    def __init__(self, threads: int):
        if threads > 0 and "XLA_FLAGS" not in os.environ:
            # must precede the import of jax; an XLA_FLAGS already set is kept
            os.environ["XLA_FLAGS"] = (
                f"--xla_cpu_multi_thread_eigen={'true' if threads > 1 else 'false'} "
                f"intra_op_parallelism_threads={threads}")
        import jax
        import jax.numpy as jnp

        jax.config.update("jax_enable_x64", True)
        self.jax, self.jnp, self.version = jax, jnp, jax.__version__
        self.flags = os.environ.get("XLA_FLAGS", "XLA's default threads")
        self._jitted = {k: jax.jit(f) for k, f in self._functions().items()}

    def _functions(self):
        nn, jnp = self.jax.nn, self.jnp

        def bce(y, z):
            # -(y log sigmoid(z) + (1 - y) log sigmoid(-z)), as JAX users write it
            return -(y * nn.log_sigmoid(z) + (1 - y) * nn.log_sigmoid(-z))

        def sparse_ce(y, z):
            return -jnp.take_along_axis(nn.log_softmax(z, axis=-1), y[:, None], axis=-1)[:, 0]

        def cce(y, z):
            return -jnp.sum(y * nn.log_softmax(z, axis=-1), axis=-1)

        return {
            "sigmoid": nn.sigmoid, "log_sigmoid": nn.log_sigmoid, "softplus": nn.softplus,
            "softmax": lambda z: nn.softmax(z, axis=-1),
            "log_softmax": lambda z: nn.log_softmax(z, axis=-1),
            "logsumexp": lambda z: nn.logsumexp(z, axis=-1),
            "binary_crossentropy": bce,
            "sparse_categorical_crossentropy": sparse_ce,
            "categorical_crossentropy": cce,
        }

    def table(self):
        return {k: (lambda f: lambda *a: f(*a).block_until_ready())(f) for k, f in self._jitted.items()}

    def convert(self, args):
        return tuple(self.jax.device_put(a) for a in args)


def load(names: list[str], jax_threads: int) -> tuple[list[Peer], list[str]]:
    """The peers asked for that can be imported, and one line per peer left
    out (not installed) saying so."""
    peers, lines = [], []
    for name in names:
        try:
            if name == "scipy":
                peers.append(SciPy())
            elif name == "numpy":
                peers.append(NumPy())
            elif name == "torch":
                peers.append(Torch())
            elif name == "jax":
                peers.append(Jax(jax_threads))
        except ImportError as e:  # pragma: no cover - depends on the machine
            lines.append(f"# {name}: not installed ({e}); its column is left out")
    return peers, lines
