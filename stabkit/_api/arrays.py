"""The caller's array types in and out: NumPy arrays and scalars, Python
numbers and lists, PyTorch CPU tensors and JAX CPU arrays.

Each public function converts its array arguments with :func:`to_numpy`,
computes in NumPy, and hands the result back through the :class:`Caller`
of its main argument, so a torch tensor comes back a torch tensor (of the
same dtype, bfloat16 included) and a JAX array a JAX array. Neither torch nor
JAX is imported unless the caller passed one of their arrays.

Conversions are zero-copy where the libraries allow it (``Tensor.numpy()``,
``torch.from_numpy``; JAX CPU arrays expose their buffer to NumPy). A
``requires_grad`` tensor is detached: stabkit computes values, not
gradients, and says so once per call site (:class:`DetachedGradWarning`).
Arrays on a GPU are refused with a message naming the way out, because every
stabkit tier is NumPy code.
"""

from __future__ import annotations

import functools
import sys
import warnings
from dataclasses import dataclass

import numpy as np

__all__ = ["Caller", "DetachedGradWarning", "to_numpy", "values_in", "cast_dtype"]


class DetachedGradWarning(UserWarning):
    """A ``requires_grad`` tensor was detached: stabkit's result carries no
    gradient (autograd does not see through NumPy)."""


def _origin(x) -> str:
    """``"torch"``, ``"jax"`` or ``""``, from the object's type alone (no import)."""
    mod = type(x).__module__ or ""
    if mod.startswith("torch") and hasattr(x, "detach"):
        return "torch"
    if mod.startswith(("jax", "jaxlib")) and hasattr(x, "devices"):
        return "jax"
    if mod.startswith("pandas") and type(x).__name__ in ("Series", "DataFrame"):
        return "pandas"
    # a subclass of torch.Tensor defined elsewhere (torch is imported, then)
    torch = sys.modules.get("torch")
    if torch is not None and isinstance(x, torch.Tensor):
        return "torch"
    return ""


@dataclass(frozen=True)
class Caller:
    """How to hand a NumPy result back in the caller's type.

    ``kind`` is ``"numpy"`` (arrays, lists, Python and NumPy scalars: a 0-d
    result is a NumPy scalar, as NumPy's and SciPy's ufuncs return),
    ``"torch"``, ``"jax"`` or ``"pandas"``: a Series or DataFrame ``like``
    gives a result of its shape back as one with its index (and name or
    columns), as NumPy's ufuncs (``scipy.special.expit``) give it back; a
    result of another shape (a reduction) stays NumPy's.
    """

    kind: str = "numpy"
    like: object = None

    def back(self, y):
        """``y`` (an ndarray, or a tuple of them) in the caller's type."""
        if isinstance(y, tuple):
            return tuple(self.back(v) for v in y)
        if self.kind == "numpy":
            # a 0-d result (a scalar's, or a whole-array reduction's) is a
            # NumPy scalar, as NumPy's reductions and SciPy's ufuncs return
            return y[()] if isinstance(y, np.ndarray) and y.ndim == 0 else y
        if self.kind == "torch":
            return _to_torch(np.asarray(y))
        if self.kind == "pandas":
            return _to_pandas(y, self.like)
        return _to_jax(np.asarray(y))


_NUMPY = Caller("numpy")
_FLOATS = (float, np.float64, np.float32)


def _to_torch(y: np.ndarray):
    import torch

    # not np.ascontiguousarray: it makes a 0-d result 1-d
    if not y.flags.c_contiguous:
        y = y.copy(order="C")
    if y.dtype.name == "bfloat16":
        # torch cannot read ml_dtypes' bfloat16: share the 16 bits and retype them
        return torch.from_numpy(y.view(np.int16)).view(torch.bfloat16)
    return torch.from_numpy(y)


def _to_pandas(y, like):
    if not (isinstance(y, np.ndarray) and y.shape == like.shape):
        return _NUMPY.back(y)
    if like.ndim == 1:
        return type(like)(y, index=like.index, name=like.name)
    return type(like)(y, index=like.index, columns=like.columns)


def _pandas_in(x, name: str) -> np.ndarray:
    import pandas as pd

    dtypes = [x.dtype] if x.ndim == 1 else list(x.dtypes)
    # numbers only (strings are refused as NumPy's are, not parsed); pandas'
    # nullable columns (Int64, Float64, boolean with <NA>): NA is NaN here
    def numbers(d) -> bool:
        d = d.categories.dtype if isinstance(d, pd.CategoricalDtype) else d  # categories of numbers too
        return pd.api.types.is_numeric_dtype(d) or pd.api.types.is_bool_dtype(d)

    if not all(numbers(d) for d in dtypes):
        raise TypeError(f"{name} ({type(x).__name__}) holds values that are not numbers")
    a = np.asarray(x)
    return x.to_numpy(dtype=np.float64, na_value=np.nan) if a.dtype == object else a


def _to_jax(y: np.ndarray):
    import jax
    import jax.numpy as jnp

    if y.dtype == np.float64 and jax.dtypes.canonicalize_dtype(np.float64) != np.float64:
        # dtype=float64 asked of a JAX array without x64: JAX keeps float32
        # and warns of an explicit request; so does stabkit
        warnings.warn("the result is float64, which JAX holds as float32 unless jax_enable_x64 is set: "
                      "it is rounded to float32", UserWarning, stacklevel=_caller_level())
    return jnp.asarray(y)


def _unsupported(name: str, dtype) -> ValueError | TypeError:
    from stabkit.floats import ARITH_FORMATS

    try:
        kind = np.dtype(dtype).kind
    except TypeError:  # torch's float8 and the like: not complex
        kind = ""
    if kind == "c" or getattr(dtype, "is_complex", False):
        return TypeError(f"{name} is complex ({dtype}); stabkit's functions take real input only")

    # long double: dtype= casts only after this check (it names the formats
    # the computation runs in), so say how to narrow it first
    how = f" (convert first: {name}.astype(np.float64))" if kind == "f" else ""
    return ValueError(f"{name} has unsupported dtype {dtype}; use one of {', '.join(ARITH_FORMATS)}{how}")


def _caller_level() -> int:
    """The ``stacklevel`` that points a warning at the first frame outside
    stabkit (the user's call), however deep the wrapper that raised it."""
    frame, level = sys._getframe(1), 1
    while frame is not None and (frame.f_globals.get("__name__") or "").startswith("stabkit"):
        frame, level = frame.f_back, level + 1
    return level


def _torch_in(t, name: str) -> np.ndarray:
    if t.device.type == "meta":
        raise TypeError(f"{name} is a torch tensor on the meta device, which holds no values; "
                        "stabkit computes values: pass a tensor that has them")
    if t.device.type != "cpu":
        raise TypeError(
            f"{name} is a torch tensor on {t.device}; stabkit computes on the CPU in NumPy: "
            f"pass {name}.cpu(), or use torch's own function on the GPU")
    if t.requires_grad:
        warnings.warn(f"{name} requires grad; stabkit returns values without a gradient (the tensor is detached)",
                      DetachedGradWarning, stacklevel=_caller_level())
        t = t.detach()
    import torch

    if t.is_nested:
        raise TypeError(f"{name} is a nested torch tensor; pass its tensors one by one, or a padded one")
    if t.layout != torch.strided:
        raise TypeError(f"{name} is a {t.layout} torch tensor; pass {name}.to_dense()")
    try:
        t = t.resolve_conj().resolve_neg()
        if t.dtype == torch.bfloat16:
            import ml_dtypes

            # the same 16 bits, read as ml_dtypes' bfloat16 (no copy, no rounding)
            return t.view(torch.int16).numpy().view(ml_dtypes.bfloat16)
        return t.numpy()
    except TypeError:  # float8, int4, ...: dtypes NumPy has no name for
        raise _unsupported(name, t.dtype) from None
    except RuntimeError as e:  # no storage of its own: torch.func's wrappers, FakeTensor, subclasses
        why = str(e).splitlines()[0] if str(e) else type(e).__name__
        raise TypeError(f"{name} is a torch tensor NumPy cannot read ({why}): inside torch.func.vmap or grad, "
                        "a FakeTensor or a tensor subclass; stabkit computes in NumPy: call it on a plain CPU "
                        "tensor, outside the transformation") from None


def _jax_in(a, name: str) -> np.ndarray:
    import jax

    if isinstance(a, jax.core.Tracer):
        raise TypeError(
            f"{name} is a traced JAX value (inside jit, grad or vmap); stabkit computes in NumPy: "
            "call it outside the transformation, or through jax.pure_callback")
    platforms = {d.platform for d in a.devices()}
    if platforms != {"cpu"}:
        raise TypeError(
            f"{name} is a JAX array on {', '.join(sorted(platforms))}; stabkit computes on the CPU in NumPy: "
            f"pass jax.device_get({name}), or use jax.nn's own function on the accelerator")
    return np.asarray(a)


def to_numpy(x, name: str = "x") -> tuple[np.ndarray, Caller]:
    """``x`` as a NumPy array, and how to give a result back in ``x``'s type.

    Accepts NumPy arrays and scalars, Python numbers and (nested) lists and
    tuples, PyTorch CPU tensors, JAX CPU arrays and pandas Series and
    DataFrames. The dtype is checked later
    (:func:`stabkit._accurate.inputs.as_input`); here only the container is
    converted.
    """
    if type(x) is np.ndarray:  # the common calls, without the checks below
        return x, _NUMPY
    if type(x) in _FLOATS:
        return np.asarray(x), _NUMPY
    origin = _origin(x)
    if origin == "torch":
        return _torch_in(x, name), Caller("torch")
    if origin == "jax":
        return _jax_in(x, name), Caller("jax")
    if origin == "pandas":
        return _pandas_in(x, name), Caller("pandas", x)
    if isinstance(x, np.ma.MaskedArray):
        # its data under the mask is arbitrary, and no tier reads a mask: say
        # how to pass the mask instead of computing with hidden values
        way = f"{name}.data with where=~np.ma.getmaskarray({name}) (softmax, log_softmax, logsumexp) or " \
            if name in ("x", "a") else ""
        raise TypeError(f"{name} is a masked array; pass {way}{name}.filled(value)")
    if isinstance(x, np.ndarray):
        # np.matrix and other subclasses: a plain ndarray view (a matrix stays
        # 2-d under reshape: its whole-array row would be (1, n), not (n,))
        return np.asarray(x), Caller("numpy")
    if isinstance(x, int) and not isinstance(x, bool) and not -(2**63) <= x < 2**63:
        return _big_ints(np.asarray(x, dtype=object)), Caller("numpy")
    if isinstance(x, (np.generic, int, float, bool, complex)):
        return np.asarray(x), Caller("numpy")
    if isinstance(x, (list, tuple)):
        return _from_sequence(x, name), Caller("numpy")
    if isinstance(x, str) or x is None:
        raise TypeError(f"{name} must be an array or a number, got {type(x).__name__}")
    a = np.asarray(x)  # anything with __array__ or the buffer protocol
    if a.dtype == object:
        raise TypeError(f"{name} of type {type(x).__name__} is not a numeric array")
    return a, Caller("numpy")


def _big_ints(a: np.ndarray) -> np.ndarray | None:
    """An object array of Python ints (some beyond int64) and other real
    numbers as float64, each int rounded once to nearest (CPython's int ->
    float), +-inf beyond float64's range; None if anything in it is not such
    a number."""
    flat = a.ravel()
    if not all(isinstance(v, (int, float, np.integer, np.floating)) and not isinstance(v, bool) for v in flat):
        return None
    out = np.empty(flat.shape, np.float64)
    for i, v in enumerate(flat):
        try:
            out[i] = float(v)
        except OverflowError:  # |v| > max float64: rounds to infinity
            out[i] = np.inf if v > 0 else -np.inf
    return out.reshape(a.shape)


def _from_sequence(x, name: str) -> np.ndarray:
    """A list (of lists) of numbers as an array; ragged lists or lists of
    tensors get a clear error instead of an object array. Python ints beyond
    int64 become float64, as the contract makes every integer."""
    try:
        a = np.asarray(x)
    except ValueError:
        raise ValueError(f"{name} is a ragged list (rows of different lengths); pass a rectangular array") from None
    except OverflowError:  # ints beyond int64 next to numpy ints: convert each on its own
        a = np.array(x, dtype=object)
    if a.dtype == object:
        f = _big_ints(a)
        if f is None:
            raise TypeError(f"{name} is a list of non-numbers; pass a numeric array")
        return f
    return a


def values_in(x, name: str) -> tuple[np.ndarray, Caller]:
    """:func:`to_numpy` for the values a function computes on (``x``, ``a``):
    integers, booleans or one of the arithmetic formats (either byte order),
    ValueError naming ``name`` otherwise, before ``dtype=`` could cast
    strings or drop imaginary parts."""
    a, caller = to_numpy(x, name)
    if a.dtype.kind in "biu":
        if caller.kind == "jax":
            import jax

            # JAX integers become the float jax.nn makes them: float64 for
            # 64-bit integers where x64 is on, float32 for the rest (bool,
            # int8 .. int32, and every integer without x64): one rounding of
            # the input, not float64 results rounded again on the way back
            wide = a.dtype.itemsize == 8
            a = a.astype(jax.dtypes.canonicalize_dtype(np.float64) if wide else np.float32)
        elif caller.kind == "torch":
            import torch

            # torch's integer and bool tensors become its default float
            # (float32 unless torch.set_default_dtype says otherwise), as
            # torch.sigmoid and torch.logsumexp make them
            a = cast_dtype(a, torch.get_default_dtype())
    elif a.dtype not in _NUMPY_FLOATS and a.dtype not in _value_dtypes():  # set lookups: dtype.name costs microseconds
        raise _unsupported(name, a.dtype)
    return a, caller


#: NumPy's own float formats, both byte orders: checked first, so that
#: their callers never import ml_dtypes (half a second) for bfloat16's dtype
_NUMPY_FLOATS = frozenset(np.dtype(t).newbyteorder(o) for t in ("f2", "f4", "f8") for o in "<>")


@functools.cache
def _value_dtypes() -> frozenset:
    """The arithmetic formats' dtypes, in both byte orders."""
    from stabkit.floats import ARITH_FORMATS, get_format

    native = [get_format(f).dtype for f in ARITH_FORMATS]
    return frozenset(native + [d.newbyteorder("S") for d in native])


def cast_dtype(a: np.ndarray, dtype, name: str = "dtype") -> np.ndarray:
    """``a`` cast to ``dtype`` before the computation (PyTorch's ``dtype=``):
    a stabkit format name (``"bfloat16"``), a NumPy dtype, or a torch/JAX
    dtype. Narrowing casts round once (to nearest even)."""
    if dtype is None:
        return a
    from stabkit.floats import ARITH_FORMATS, get_format, round_float64

    key = dtype
    mod = type(dtype).__module__ or ""
    if mod.startswith("torch"):
        key = str(dtype).removeprefix("torch.")
    elif not (isinstance(dtype, str) and dtype in ARITH_FORMATS):
        # NumPy's spellings too: "f4", "half", ">f8" (the result is native), float
        try:
            key = np.dtype(dtype).name
        except (TypeError, ValueError):
            key = str(dtype)
    if key not in ARITH_FORMATS:
        raise ValueError(f"{name}={dtype!r} is not supported; use one of {', '.join(ARITH_FORMATS)}")
    fmt = get_format(key)
    if a.dtype == fmt.dtype:
        return a
    if fmt.name == "bfloat16":
        # a plain astype rounds float64 -> bfloat16 twice on ml_dtypes < 0.7
        return round_float64(np.asarray(a, dtype=np.float64), fmt)
    return a.astype(fmt.dtype)
