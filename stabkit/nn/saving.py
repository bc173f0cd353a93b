"""A model in one file, and its weights alone: JSON and NumPy arrays, no pickle.

``model.save(path)`` writes a zip archive laid out as Keras's ``.keras``
file, with the weights in NumPy's format instead of HDF5:

* ``config.json``: ``{"class_name": "Sequential", "config": {"name", "layers":
  [{"class_name", "config"}], "input_shape"}, "compile_config": {"optimizer",
  "loss", "metrics", "dtype"}}``, each layer's config being its ``get_config()``;
* ``metadata.json``: the format's name and version, the stabkit version;
* ``model.weights.npz``: the weights (``<layer>/<weight>``) and, for a compiled
  model, the optimizer's state (``optimizer/<name>``, ``optimizer/iterations``).

The archive is built in memory and written through a temporary file and a
rename, so a failed save leaves no half-written file. Keras cannot read it
(its loader wants HDF5 weights), and :func:`load_model` refuses Keras's own
files with a message that says so. Reading never unpickles: JSON is parsed
with the standard library, arrays with ``allow_pickle=False`` after their
headers are checked (:func:`stabkit._io.read_npz`). Every problem with a file
is one :class:`DataError` naming the file: not such an archive, a member
missing or malformed, a layer class stabkit does not have, weights whose
shapes do not match the layers the config describes.
"""

from __future__ import annotations

import io
import json
import os
import zipfile

import numpy as np

from stabkit._io import atomic_write, read_npz
from . import defaults, h5weights, shapes
from .errors import DataError, NNError

__all__ = ["save_model", "load_model", "save_weights", "load_weights", "checked_weights", "FORMAT", "Files"]

FORMAT = ("stabkit.nn.Sequential", 1)
#: the largest config.json / metadata.json read (a model of a few hundred layers is ~50 kB)
MAX_JSON_BYTES = 1 << 20
#: the largest array read back (refused before NumPy allocates it)
MAX_ARRAY_BYTES = 1 << 31
_HDF5 = (".h5", ".hdf5")


def _refuse_hdf5(path, what: str, weights_h5: bool = False) -> str:
    """``path`` as a string; NNError for an HDF5 name, except Keras 3's
    ``.weights.h5`` where ``weights_h5`` (written through h5py)."""
    path = os.fspath(path)
    if path.lower().endswith(_HDF5) and not (weights_h5 and h5weights.wanted(path)):
        also = f", or a {h5weights.SUFFIX} name (Keras 3's weights file)" if weights_h5 else ""
        raise NNError(f"{path}: {what} writes NumPy's .npz format, not HDF5; use a name that does not end "
                      f"in .h5{also}")
    return path


def checked_weights(model, weights) -> tuple[list[np.ndarray], tuple[int, ...] | None]:
    """``weights`` as arrays, checked against ``model``'s layers (count,
    shapes and a floating dtype, in the order of ``get_weights``), and the
    per-sample input shape they fit (the model's, or for an unbuilt model
    the first kernel's rows: see :func:`stabkit.nn.shapes.weights_input`);
    integer arrays are cast to float64, as Keras casts them; NNError naming
    the layer and the weight otherwise (bool, complex, strings)."""
    # integer arrays (the Coursera lab's np.array([[2]])) are cast, as Keras casts them
    weights = [np.asarray(w, np.float64) if np.asarray(w).dtype.kind in "iu" else np.asarray(w) for w in weights]
    names = [(layer, n) for layer in model.layers for n in layer.weight_names]
    if len(weights) != len(names):
        listed = ", ".join(f"{layer.name}/{n}" for layer, n in names)
        raise NNError(f"expected {len(names)} arrays ({listed}), got {len(weights)}")
    if not weights:
        return weights, model._in_shape
    in_shape = model._in_shape if model.built else shapes.weights_input(model.layers, weights)
    k = 0
    for layer, shape in zip(model.layers, shapes.output_shapes(model.layers, in_shape)):
        want = layer.param_shapes(shape)
        for n in layer.weight_names:
            w = weights[k]
            if w.shape != tuple(want[n]):
                raise NNError(f"layer {layer.name} needs a {n} of shape {tuple(want[n])}, got {w.shape}")
            if w.dtype.kind != "f":
                raise NNError(f"layer {layer.name}: weights must be numbers (floating point or integers), got "
                              f"{w.dtype} for its {n}")
            k += 1
    return weights, in_shape


def _npz_bytes(arrays: dict[str, np.ndarray]) -> bytes:
    buf = io.BytesIO()
    np.savez(buf, **arrays)
    return buf.getvalue()


def _writable(model, path: str, overwrite) -> None:
    """NNError, before anything is written, where ``overwrite`` is false and
    ``path`` exists (Keras asks on the console then), or where a
    Normalization layer of ``model`` has not been adapted (its statistics
    are NaN until then; a file would carry them)."""
    if not overwrite and os.path.exists(path):
        raise NNError(f"{path} exists and overwrite=False: nothing written (Keras would ask whether to overwrite "
                      "it); pass overwrite=True to replace it, or another name")  # fmt: skip
    from .normalization import Normalization  # normalization imports layers, which stays below this module

    for layer in model.layers:
        stats = (layer.mean, layer.variance) if isinstance(layer, Normalization) else ()
        if any(a is not None and np.isnan(a).any() for a in stats):
            raise NNError(f"layer {layer.name!r} (Normalization) has no mean and variance yet: call "
                          f"{layer.name}.adapt(x) with the training data before saving; nothing written")  # fmt: skip


def save_weights(model, path, overwrite=True) -> None:
    """``model``'s weights as an ``.npz`` (``000_kernel``, ``000_bias``, ...:
    the layer's index among the layers with weights), written atomically;
    NNError, nothing written, as :func:`_writable` says."""
    path = _refuse_hdf5(path, "save_weights", weights_h5=True)
    if not model.built:
        raise NNError("the model has no weights yet; call it or fit it first")
    _writable(model, path, overwrite)
    if h5weights.wanted(path):
        h5weights.save(model, path)
        return
    names = [f"{i:03d}_{n}" for i, layer in enumerate(_weighted(model)) for n in layer.weight_names]
    atomic_write(path, _npz_bytes(dict(zip(names, model.weights))))


def _weighted(model):
    return [layer for layer in model.layers if layer.weight_names]


def load_weights(model, path) -> None:
    """Read weights written by :func:`save_weights` into ``model`` (built
    from their shapes if it is not); DataError naming the file otherwise."""
    if h5weights.wanted(path):
        arrays = h5weights.load(model, path)
        try:
            model.set_weights(arrays)
        except NNError as e:
            raise DataError(f"{path}: {e}") from None
        return
    # a member whose header declares more than this model's weights (in
    # float64) is refused before NumPy allocates it
    limit = 8 * model.count_params() + 4096 if model.built else MAX_ARRAY_BYTES
    arrays = _read_arrays(path, path, limit, "a weights file written by save_weights")
    want = [f"{i:03d}_{n}" for i, layer in enumerate(_weighted(model)) for n in layer.weight_names]
    if sorted(arrays) != sorted(want):
        raise DataError(f"{path}: holds {sorted(arrays)}, but this model needs {sorted(want)}")
    try:
        model.set_weights([arrays[k] for k in want])
    except NNError as e:
        raise DataError(f"{path}: {e}") from None


def _read_arrays(source, path, limit: int, what: str) -> dict[str, np.ndarray]:
    """``read_npz`` with its errors as one DataError naming ``path``."""
    try:
        return read_npz(source, max_bytes=limit)
    except FileNotFoundError:
        raise DataError(f"{path}: no such file") from None
    except (OSError, ValueError, EOFError, zipfile.BadZipFile) as e:
        if isinstance(e, DataError):
            raise
        if "not an .npz archive" in str(e) and source is path:  # read_npz's message names the path already
            raise DataError(str(e)) from None
        raise DataError(f"{path}: not {what} ({e})") from None


def save_model(model, path, overwrite=True) -> None:
    """``model`` in one file (see the module docstring), written atomically;
    NNError, nothing written, as :func:`_writable` says."""
    from stabkit import __version__

    path = _refuse_hdf5(path, "save")
    if not model.built:
        raise NNError("the model has no weights yet; build it (Input(shape), call it or fit it) before saving")
    _writable(model, path, overwrite)
    layers = [{"class_name": type(layer).__name__, "config": layer.get_config()} for layer in model.layers]
    config = {"class_name": "Sequential", "config": {"name": model.name, "layers": layers,
                                                      "input_shape": list(model._in_shape)}}  # fmt: skip
    arrays = {f"{layer.name}/{n}": getattr(layer, n) for layer in model.layers for n in layer.weight_names}
    if model.loss is not None:
        opt, loss = model.optimizer, model.loss
        config["compile_config"] = {
            "optimizer": {"class_name": type(opt).__name__, "config": opt.get_config()},
            "loss": {"class_name": type(loss).__name__, "config": loss.get_config()},
            "metrics": [m.config for m in model._metrics],
            "dtype": model.dtype,
        }
        arrays.update({f"optimizer/{k}": v for k, v in opt.variables().items()})
        arrays["optimizer/iterations"] = np.array(opt.iterations, np.int64)
    metadata = {"format": FORMAT[0], "format_version": FORMAT[1], "stabkit_version": __version__}
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_STORED) as zf:
        zf.writestr("metadata.json", json.dumps(metadata, indent=1))
        zf.writestr("config.json", json.dumps(config, indent=1))
        zf.writestr("model.weights.npz", _npz_bytes(arrays))
    atomic_write(os.fspath(path), buf.getvalue())


def load_model(filepath, custom_objects=None, compile=True, safe_mode=True):
    """The model saved by ``model.save(path)``: its layers, weights, and
    (when it was compiled) its loss, optimizer with its state, metrics and
    dtype. One :class:`DataError` naming ``filepath`` for any problem.

    Keras's arguments: ``compile=False`` gives the model uncompiled (no loss,
    optimizer or metrics; the weights, in the format it was compiled for,
    kept); ``safe_mode`` True or False changes nothing (the files hold JSON
    and arrays, never code); ``custom_objects`` None or empty only (NNError:
    the files hold only stabkit's own classes)."""
    defaults.check("load_model", custom_objects=custom_objects)
    for flag, name in ((compile, "compile"), (safe_mode, "safe_mode")):
        if not isinstance(flag, (bool, np.bool_)):
            raise NNError(f"load_model({name}=...) takes True or False, got {flag!r}")
    path = os.fspath(filepath)
    try:
        with zipfile.ZipFile(path) as zf:
            members = set(zf.namelist())
            if "model.weights.h5" in members:
                raise DataError(f"{path}: a Keras .keras file (HDF5 weights); stabkit reads only files its model.save wrote")
            missing = {"metadata.json", "config.json", "model.weights.npz"} - members
            if missing:
                raise DataError(f"{path}: not a model file written by stabkit's model.save (no {', '.join(sorted(missing))})")
            metadata, config = (_json(zf, name, path) for name in ("metadata.json", "config.json"))
            weights = zf.read("model.weights.npz")
    except FileNotFoundError:
        raise DataError(f"{path}: no such file") from None
    except (zipfile.BadZipFile, OSError, EOFError, NotImplementedError, RuntimeError, ValueError) as e:
        if isinstance(e, DataError):
            raise
        raise DataError(f"{path}: not a model file written by stabkit's model.save ({type(e).__name__}: {e})") from None
    if (metadata.get("format"), metadata.get("format_version")) != FORMAT:
        raise DataError(f"{path}: format {metadata.get('format')!r} version {metadata.get('format_version')!r}; "
                        f"this stabkit reads {FORMAT[0]!r} version {FORMAT[1]}")  # fmt: skip
    arrays = _read_arrays(io.BytesIO(weights), path, MAX_ARRAY_BYTES, "a model file (its model.weights.npz)")
    try:
        return _rebuild(config, arrays, bool(compile))
    except (NNError, KeyError, TypeError, ValueError, AttributeError) as e:
        if isinstance(e, DataError):
            raise DataError(f"{path}: {e}") from None
        reason = f"missing {e}" if isinstance(e, KeyError) else str(e)
        raise DataError(f"{path}: a malformed model file ({reason})") from None


def _json(zf: zipfile.ZipFile, name: str, path) -> dict:
    if zf.getinfo(name).file_size > MAX_JSON_BYTES:
        raise DataError(f"{path}: {name} is larger than {MAX_JSON_BYTES} bytes")
    try:
        value = json.loads(zf.read(name).decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as e:
        raise DataError(f"{path}: {name} is not JSON ({e})") from None
    if not isinstance(value, dict):
        raise DataError(f"{path}: {name} is not a JSON object")
    return value


def _class(name, base, kind: str):
    """The public class ``name`` of stabkit.nn if it is a ``base``, else DataError."""
    import stabkit.nn as nn
    from stabkit.nn import layers

    # a layer's class by keras.layers' names first (nn.Sigmoid is an activation function, not a layer)
    space = layers if kind == "layer" and isinstance(name, str) and name in layers.__all__ else nn
    cls = getattr(space, name, None) if isinstance(name, str) and name in space.__all__ else None
    if not (isinstance(cls, type) and issubclass(cls, base)):
        raise DataError(f"unknown {kind} class {name!r}")
    return cls


def _rebuild(config: dict, arrays: dict[str, np.ndarray], compile: bool = True):
    from .layers import Layer
    from .losses import Loss
    from .model import PRECISIONS, Sequential
    from .optimizers import Optimizer

    if config["class_name"] != "Sequential":
        raise DataError(f"unknown model class {config['class_name']!r}")
    cfg = config["config"]
    layers = [_class(spec["class_name"], Layer, "layer")(**spec["config"]) for spec in cfg["layers"]]
    model = Sequential(layers, name=cfg["name"])
    compiled = config.get("compile_config")
    if compiled is not None and not compile:  # uncompiled, its weights in the format they were saved in
        compute, master = (np.dtype(d) for d in PRECISIONS[compiled["dtype"]])
        model._compute, model._master, model._policy = compute, master, compiled["dtype"]
        compiled = None
    if compiled is not None:
        opt = _class(compiled["optimizer"]["class_name"], Optimizer, "optimizer")(**compiled["optimizer"]["config"])
        loss = _class(compiled["loss"]["class_name"], Loss, "loss")(**compiled["loss"]["config"])
        model.compile(optimizer=opt, loss=loss, metrics=compiled["metrics"], dtype=compiled["dtype"])
    names = [f"{layer.name}/{n}" for layer in model.layers for n in layer.weight_names]
    extra = set(arrays) - set(names) - {k for k in arrays if k.startswith("optimizer/")}
    if extra or not set(names) <= set(arrays):
        raise DataError(f"the weights {sorted(arrays)} do not match the layers' {names}")
    model._build(tuple(cfg["input_shape"]))
    try:
        model.set_weights([arrays[n] for n in names])
    except NNError as e:
        raise DataError(f"the saved weights do not fit the saved layers: {e}") from None
    if compiled is not None:
        _restore_optimizer(model.optimizer, arrays)
    return model


def _restore_optimizer(opt, arrays: dict[str, np.ndarray]) -> None:
    state = opt.variables()
    saved = {k.removeprefix("optimizer/"): v for k, v in arrays.items() if k.startswith("optimizer/")}
    saved_iterations = saved.pop("iterations", None)
    if set(saved) != set(state):
        raise DataError(f"the optimizer state holds {sorted(saved)}, but {type(opt).__name__} keeps {sorted(state)}")
    for name, flat in state.items():
        if saved[name].shape != flat.shape:
            raise DataError(f"optimizer/{name} has shape {saved[name].shape}, the weights need {flat.shape}")
        flat[...] = saved[name]
    if saved_iterations is not None:
        opt.iterations = int(saved_iterations)


class Files:
    """Mixed into ``Sequential``: Keras's ``save``, ``save_weights`` and
    ``load_weights``, by this module's functions (the names inside the
    methods are the module's: a class body is no scope for them)."""

    def save(self, filepath, overwrite=True, zipped=None) -> None:
        """The model in one file: its configuration as JSON, its compile
        settings, weights and optimizer state (see :mod:`stabkit.nn.saving`;
        ``stabkit.nn.load_model`` reads it back). Written atomically.
        ``overwrite=False`` and an existing file: NNError, nothing written
        (Keras asks); ``zipped`` None or True (one zip archive) only."""
        defaults.check("save", zipped=zipped)
        save_model(self, filepath, overwrite)

    def save_weights(self, filepath, overwrite=True, max_shard_size=None) -> None:
        """Write the weights to an ``.npz`` file (plain arrays, no pickle), or
        to Keras 3's ``.weights.h5`` layout where the name ends so (needs
        h5py; :mod:`stabkit.nn.h5weights`), atomically; another ``.h5`` name
        is refused. ``overwrite`` as in :meth:`save`; ``max_shard_size``
        None only (one file)."""
        defaults.check("save_weights", max_shard_size=max_shard_size)
        save_weights(self, filepath, overwrite)

    def load_weights(self, filepath, skip_mismatch=False) -> None:
        """Read weights written by :meth:`save_weights` (``allow_pickle=False``),
        or a ``.weights.h5`` file of Keras 3 (layers matched by Keras's keys);
        ``skip_mismatch`` False only (every weight must fit its layer)."""
        defaults.check("load_weights", skip_mismatch=skip_mismatch)
        load_weights(self, filepath)

    def get_config(self) -> dict:
        """Keras's architecture dictionary: ``name``, ``layers`` (each
        ``{"class_name", "config"}``, the layer's ``get_config()``) and, once
        built, ``build_input_shape`` (``[None, *features]``). No weights and
        no compile settings: :meth:`from_config` makes a fresh model of the
        same layers, as ``keras.Sequential.from_config`` does."""
        config = {"name": self.name,
                  "layers": [{"class_name": type(layer).__name__, "config": layer.get_config()} for layer in self.layers]}
        if self.built:
            config["build_input_shape"] = [None, *self._in_shape]
        return config

    @classmethod
    def from_config(cls, config: dict):
        """A new, uncompiled model from :meth:`get_config`'s dictionary (new
        weights, drawn as ``build`` draws them). NNError for a layer class
        that stabkit.nn does not have."""
        from .layers import Layer

        try:
            layers = [_class(spec["class_name"], Layer, "layer")(**spec["config"]) for spec in config["layers"]]
        except (KeyError, TypeError) as e:
            raise NNError(f"not a Sequential config ({type(e).__name__}: {e})") from None
        model = cls(layers, name=config.get("name"))
        if config.get("build_input_shape") is not None:
            model.build(tuple(config["build_input_shape"]))
        return model
