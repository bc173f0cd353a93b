"""Keras 3's ``.weights.h5`` files for ``save_weights`` and
``load_weights``, through h5py where it is installed (Keras 3 depends on
it; stabkit needs it for these files only).

The layout is Keras 3's for a Sequential model: ``layers/<name>/vars/<i>``
holds the i-th weight of the layer called ``<name>`` (Dense and Conv2D: 0 the
kernel, 1 the bias), each ``vars`` group carrying its owner's name as the
attribute ``name``; a layer without weights has an empty ``vars``, and the
model's own empty ``vars`` sits at the top. No optimizer state is written
(Keras then leaves its optimizer as it is; stabkit's ``model.save`` keeps
it). Reading matches the file's layers to the model's by name, as Keras
does, so a file written by Keras loads into the stabkit model of the same
layers (their automatic names follow Keras's in a fresh session) and the
other way round. Any problem reading is one DataError naming the file;
nothing is half-written (the file is built in memory, then written
atomically).
"""

from __future__ import annotations

import io
import os

import numpy as np

from stabkit._io import atomic_write
from .errors import DataError, NNError

#: the suffix Keras 3 requires of ``save_weights`` names
SUFFIX = ".weights.h5"


def wanted(path) -> bool:
    """Whether ``path`` names a Keras 3 weights file."""
    return os.fspath(path).lower().endswith(SUFFIX)


def _h5py(path):
    try:
        import h5py
    except ImportError:
        raise NNError(f"{path}: a {SUFFIX} file needs h5py (pip install h5py), which Keras installs; "
                      "or use an .npz name") from None
    return h5py


def save(model, path) -> None:
    """``model``'s weights as a Keras 3 ``.weights.h5`` file."""
    path = os.fspath(path)
    h5py = _h5py(path)
    buf = io.BytesIO()
    with h5py.File(buf, "w") as f:
        top = f.create_group("layers")
        for layer in model.layers:
            group = top.create_group(layer.name).create_group("vars")
            group.attrs["name"] = layer.name
            for i, name in enumerate(layer.weight_names):
                group.create_dataset(str(i), data=getattr(layer, name))
        f.create_group("vars").attrs["name"] = model.name
    atomic_write(path, buf.getvalue())


def load(model, path) -> list[np.ndarray]:
    """The weights of ``model``'s layers read from a ``.weights.h5`` file,
    in ``get_weights`` order (the caller sets them). DataError naming the
    file for a missing file, one that is not HDF5, or one whose layers do
    not match the model's (names, counts)."""
    path = os.fspath(path)
    h5py = _h5py(path)
    try:
        with h5py.File(path, "r") as f:
            layers = f.get("layers")
            if not isinstance(layers, h5py.Group):
                raise DataError(f"{path}: no 'layers' group; not a Keras weights file")
            weighted = [layer for layer in model.layers if layer.weight_names]
            stored = sorted(name for name in layers if len(layers[name].get("vars", ())) > 0)
            if sorted(layer.name for layer in weighted) != stored:
                raise DataError(f"{path}: holds weights of the layers {stored}, but this model's layers with "
                                f"weights are {[layer.name for layer in weighted]} (matched by name, as Keras does)")
            out = []
            for layer in weighted:
                group = layers[layer.name]["vars"]
                if set(group) != {str(i) for i in range(len(layer.weight_names))}:
                    raise DataError(f"{path}: layer {layer.name} holds {len(group)} arrays, "
                                    f"this model's has {len(layer.weight_names)}")
                out.extend(np.asarray(group[str(i)]) for i in range(len(layer.weight_names)))
            return out
    except FileNotFoundError:
        raise DataError(f"{path}: no such file") from None
    except (AttributeError, KeyError, TypeError) as e:  # a dataset where a group belongs, and the like
        raise DataError(f"{path}: a malformed Keras weights file ({type(e).__name__}: {e})") from None
    except OSError as e:  # h5py's "file signature not found" and the like
        raise DataError(f"{path}: not an HDF5 weights file ({e})") from None
