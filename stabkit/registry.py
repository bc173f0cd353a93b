"""One record per primitive, so that later code iterates instead of listing.

Each :class:`Primitive` names its arguments, its kind of shape, its three
tiers, its reference oracle (by name, in :mod:`stabkit.reference`), the
identities each tier uses, its domain and its named regimes (where the naive or
stable tier is known to break).
"""

from __future__ import annotations

import dis
import functools
import importlib
import sys
from collections.abc import Callable
from dataclasses import dataclass, field

__all__ = ["Regime", "Primitive", "PRIMITIVES", "TIERS", "get", "names", "module"]

TIERS = ("naive", "stable", "accurate")


def module(tier: str):
    """The module of one tier (``stabkit.naive``, ...), imported when a
    function of it is first needed (the records themselves are static:
    ``stabkit list`` needs no tier)."""
    if tier not in TIERS:
        raise ValueError(f"unknown tier {tier!r}; known: {', '.join(TIERS)}")
    return importlib.import_module(f"{__package__}.{tier}")


@dataclass(frozen=True)
class Regime:
    """A named input region: for one-argument functions an interval of x; for
    row-wise ones a logit gap (winner minus runner-up) interval."""

    name: str
    description: str
    lo: float
    hi: float


@dataclass(frozen=True)
class Primitive:
    name: str
    kind: str  # elementwise | rowwise | rowwise_scalar | binary_loss | sparse_loss | categorical_loss
    args: tuple[str, ...]
    formula: str
    identities: dict[str, str]
    domain: str
    regimes: tuple[Regime, ...] = field(default=())

    @property
    def arity(self) -> int:
        return len(self.args)

    @property
    def is_loss(self) -> bool:
        return self.kind.endswith("loss")

    @property
    def tiers(self) -> dict[str, Callable]:
        return {t: self.tier(t) for t in TIERS}

    def tier(self, name: str) -> Callable:
        """The tier's function, called the way the analysis calls it: a
        row-wise reduction (logsumexp, whose public default is SciPy's
        ``axis=None``) reduces each row, ``axis=-1``."""
        f = getattr(module(name), self.name)
        return functools.partial(f, axis=-1) if self.kind == "rowwise_scalar" else f

    @property
    def reference(self) -> str:
        """Name of the oracle in :data:`stabkit.reference.ORACLES`."""
        return self.name

    def __repr__(self) -> str:
        return f"Primitive({self.name}({', '.join(self.args)}), {self.kind})"


_SIG_REGIMES = (
    Regime("naive overflow", "exp(-x) overflows float64: naive returns 0 for a representable result", -745.2, -709.79),
    Regime("subnormal result", "sigmoid(x) below float64's smallest normal", -745.2, -708.4),
    Regime("tiny |x|", "|x| < 2**-30: sigmoid ~ 1/2 + x/4", -(2.0**-30), 2.0**-30),
    Regime("large positive", "x > 36.7: sigmoid rounds to 1 in float64", 36.7, 1e308),
)
_SP_REGIMES = (
    Regime("past PyTorch's threshold", "x > 20: the stable tier returns x, dropping log1p(exp(-x))", 20.0, 40.0),
    Regime("naive overflow", "exp(x) overflows float64", 709.79, 1e308),
    Regime("tiny result", "x < -37: softplus ~ exp(x); naive log(1 + exp(x)) rounds to 0", -745.0, -37.0),
)
_LS_REGIMES = (  # softplus's intervals mirrored (log_sigmoid(x) = -softplus(-x)), with their own meaning
    Regime("large negative", "x in [-40, -20]: log_sigmoid ~ x - exp(x); every tier keeps the digits (a control)", -40.0, -20.0),
    Regime("naive overflow", "x < -709.78: exp(-x) overflows float64; naive log(1/(1+exp(-x))) returns -inf", -1e308, -709.79),
    Regime("tiny result", "x > 37: log_sigmoid ~ -exp(-x); naive rounds sigmoid(x) to 1 and returns 0", 37.0, 745.0),
)
_GAP_REGIMES = (
    Regime("moderate gap", "winner ahead by 10..36: stable log-softmax of the winner loses digits", 10.0, 36.0),
    Regime("large gap", "winner ahead by > 36 (float64): stable returns 0 for the winner's log-probability", 36.0, 700.0),
    Regime("naive overflow", "logits above 709.78: naive exp overflows", 709.79, 1e4),
)

PRIMITIVES: dict[str, Primitive] = {
    p.name: p
    for p in [
        Primitive(
            "sigmoid", "elementwise", ("x",), "1 / (1 + exp(-x))",
            {"naive": "1/(1+exp(-x))", "stable": "x>=0: 1/(1+e), x<0: e/(1+e), e=exp(-|x|)",
             "accurate": "same branches, branch-free, in float64 then one rounding"},
            "all x", _SIG_REGIMES),
        Primitive(
            "log_sigmoid", "elementwise", ("x",), "-log(1 + exp(-x))",
            {"naive": "log(1/(1+exp(-x)))", "stable": "min(x,0) - log1p(exp(-|x|))",
             "accurate": "-(max(-x,0) + log1p(exp(-|x|))) in float64"},
            "all x", _LS_REGIMES),
        Primitive(
            "softplus", "elementwise", ("x",), "log(1 + exp(x))",
            {"naive": "log(1+exp(x))", "stable": "x if x > 20 else log1p(exp(x)) (PyTorch)",
             "accurate": "max(x,0) + log1p(exp(-|x|)) in float64"},
            "all x", _SP_REGIMES),
        Primitive(
            "softmax", "rowwise", ("x",), "exp(x_i) / sum_j exp(x_j)",
            {"naive": "exp(x)/sum(exp(x))", "stable": "exp(x-m)/sum(exp(x-m))",
             "accurate": "exp(d_i)(1+r_i)/(1+s), s without the max term, TwoSum residuals"},
            "rows of any length", _GAP_REGIMES),
        Primitive(
            "log_softmax", "rowwise", ("x",), "x_i - log sum_j exp(x_j)",
            {"naive": "log(softmax(x))", "stable": "(x-m) - log(sum(exp(x-m)))",
             "accurate": "(d_i - log1p(s)) + r_i"},
            "rows of any length", _GAP_REGIMES),
        Primitive(
            "logsumexp", "rowwise_scalar", ("x",), "log sum_j exp(x_j)",
            {"naive": "log(sum(exp(x)))", "stable": "m + log(sum(exp(x-m)))",
             "accurate": "m + log1p(s) (Blanchard-Higham-Higham); mpmath where it cancels"},
            "rows of any length", _GAP_REGIMES),
        Primitive(
            "binary_crossentropy", "binary_loss", ("y_true", "y_pred"),
            "-(y log p + (1-y) log(1-p)), p = sigmoid(z) from logits",
            {"naive": "the formula on sigmoid(z)", "stable": "max(z,0) - z*y + log1p(exp(-|z|)); probabilities clipped to [1e-7, 1-1e-7]",
             "accurate": "y*softplus(-z) + (1-y)*softplus(z); -(y log p + (1-y) log1p(-p))"},
            "y in [0, 1]; p in [0, 1]",
            (Regime("confident and right", "(z = -40, y = 0): exact 4.2e-18", -745.0, -20.0),)),
        Primitive(
            "sparse_categorical_crossentropy", "sparse_loss", ("y_true", "y_pred"),
            "-log softmax(z)[y]",
            {"naive": "-log(softmax(z)[y])", "stable": "logsumexp(z) - z_y; probabilities rescaled and clipped (Keras)",
             "accurate": "log1p(s) - (z_y - m), TwoSum residual; probabilities renormalised exactly"},
            "integer labels in [0, n)", _GAP_REGIMES),
        Primitive(
            "categorical_crossentropy", "categorical_loss", ("y_true", "y_pred"),
            "-sum_i y_i log softmax(z)_i",
            {"naive": "-sum(y*log(softmax(z)))", "stable": "-sum(y*log_softmax(z)); probabilities rescaled and clipped (Keras)",
             "accurate": "-sum(y*accurate log_softmax), compensated sum, 0*log0 = 0; probabilities renormalised exactly"},
            "labels >= 0 (one-hot or soft)", _GAP_REGIMES),
    ]
}


#: names other libraries give these functions: (stabkit's name, how to call
#: it where the call differs, whose name it is, a note); the AttributeError
#: of ``stabkit.expit`` and the command line's unknown-function error say so
OTHER_NAMES = {
    "expit": ("sigmoid", "", "SciPy's expit", ""),
    "log_expit": ("log_sigmoid", "", "SciPy's log_expit", ""),
    "logsigmoid": ("log_sigmoid", "", "PyTorch's logsigmoid", ""),
    "reduce_logsumexp": ("logsumexp", "", "TensorFlow's reduce_logsumexp",
                         "; axis=None reduces the whole array there too, and keepdims= is taken"),
    "cross_entropy": ("sparse_categorical_crossentropy", "(labels, logits, from_logits=True)",
                      "PyTorch's cross_entropy", "; its arguments come the other way round"),
    "binary_cross_entropy_with_logits": ("binary_crossentropy", "(labels, logits, from_logits=True)",
                                         "PyTorch's binary_cross_entropy_with_logits",
                                         "; its arguments come the other way round"),
    "softmax_cross_entropy_with_logits": ("categorical_crossentropy", "(labels, logits, from_logits=True)",
                                          "TensorFlow's softmax_cross_entropy_with_logits", ""),
    "sparse_softmax_cross_entropy_with_logits": ("sparse_categorical_crossentropy",
                                                 "(labels, logits, from_logits=True)",
                                                 "TensorFlow's sparse_softmax_cross_entropy_with_logits", ""),
    "sigmoid_cross_entropy_with_logits": ("binary_crossentropy", "(labels, logits, from_logits=True)",
                                          "TensorFlow's sigmoid_cross_entropy_with_logits", ""),
    "binary_cross_entropy": ("binary_crossentropy", "(labels, probabilities)", "PyTorch's binary_cross_entropy",
                             "; its arguments come the other way round"),
    "nll_loss": ("sparse_categorical_crossentropy", "(labels, logits, from_logits=True)", "PyTorch's nll_loss",
                 ", given the logits rather than log_softmax's output"),
    "sigmoid_binary_cross_entropy": ("binary_crossentropy", "(labels, logits, from_logits=True)",
                                     "optax's sigmoid_binary_cross_entropy", "; its arguments come the other way round"),
    "softmax_cross_entropy": ("categorical_crossentropy", "(labels, logits, from_logits=True)",
                              "optax's softmax_cross_entropy", "; its arguments come the other way round"),
    "softmax_cross_entropy_with_integer_labels": ("sparse_categorical_crossentropy",
                                                  "(labels, logits, from_logits=True)",
                                                  "optax's softmax_cross_entropy_with_integer_labels",
                                                  "; its arguments come the other way round"),
}


def _from_import(frame) -> bool:
    """Whether ``frame`` is running a ``from module import name`` lookup (its
    current instruction IMPORT_FROM), which turns a module ``__getattr__``'s
    AttributeError into a bare ImportError without its message."""
    try:
        at = frame.f_lasti
        return any(ins.offset == at and ins.opname == "IMPORT_FROM" for ins in dis.get_instructions(frame.f_code))
    except Exception:  # noqa: BLE001 - an interpreter without these frames: the plain error
        return False


def missing_attribute(module: str, name: str, frame=None) -> AttributeError | ImportError:
    """The error of ``module.name``; where ``name`` is another library's name
    of a function here (``expit``), it says which one. Looked up by a
    ``from module import name`` in ``frame`` (the caller of the module's
    ``__getattr__``), an ImportError with that hint: Python replaces an
    AttributeError there by its own message, and any other error passes
    through (``hasattr`` and ``getattr`` with a default still get the
    AttributeError)."""
    if name not in OTHER_NAMES:
        return AttributeError(f"module {module!r} has no attribute {name!r}")
    ours, call, whose, note = OTHER_NAMES[name]
    hint = f"use {module}.{ours}{call} ({whose}{note})"
    if frame is not None and _from_import(frame):
        return ImportError(f"cannot import name {name!r} from {module!r}; {hint}", name=module)
    return AttributeError(f"module {module!r} has no attribute {name!r}; {hint}")


def attribute_hints(module: str):
    """A module-level ``__getattr__`` for the tier ``module``: every lookup
    that reaches it fails, with :func:`missing_attribute`'s message."""

    def __getattr__(name: str):
        raise missing_attribute(module, name, sys._getframe(1))

    return __getattr__


def names() -> list[str]:
    return list(PRIMITIVES)


def get(name: str) -> Primitive:
    """The primitive called ``name`` (ValueError listing the known ones)."""
    # the command line's spelling with dashes (log-softmax) is the same name
    key = name.strip().lower().replace("-", "_") if isinstance(name, str) else name
    if key in PRIMITIVES:
        return PRIMITIVES[key]
    hint = f" ({OTHER_NAMES[key][2]} is {OTHER_NAMES[key][0]} here)" if key in OTHER_NAMES else ""
    raise ValueError(f"unknown function {name!r}{hint}; known: {', '.join(PRIMITIVES)}")
