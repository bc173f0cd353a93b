"""Keras 3's ``.weights.h5`` files for ``save_weights`` and
``load_weights``, through h5py where it is installed (Keras 3 depends on
it; stabkit needs it for these files only).

The layout is Keras 3's for a Sequential model: ``layers/<key>/vars/<i>``
holds the i-th weight of a layer (Dense and Conv2D: 0 the kernel, 1 the
bias), each ``vars`` group carrying its layer's name as the attribute
``name``; a layer without weights has an empty ``vars``, and the model's own
empty ``vars`` sits at the top. The key is not the layer's name: Keras 3
keys each layer by its class in snake case and its position among the
layers of that class (``dense``, ``dense_1``, ``conv2d``, ...), whatever the
layers are called, and reads the same way. So does stabkit, which once
keyed by name: a model with a layer named ``'L1'`` (the course labs' style)
could not exchange files with Keras, and ``[Dense(3), Dense(3,
name='dense')]`` loaded Keras's file with its two kernels swapped. Files
that older stabkit wrote by name still load where their keys are this
model's layer names. No optimizer state is written (Keras then leaves its
optimizer as it is; stabkit's ``model.save`` keeps it). Any problem
reading is one DataError naming the file; nothing is half-written (the
file is built in memory, then written atomically).
"""

from __future__ import annotations

import io
import os

import numpy as np

from stabkit._io import atomic_write
from .errors import DataError, NNError
from .layers import keras_name

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
        for key, layer in zip(keys(model), model.layers):
            group = top.create_group(key).create_group("vars")
            group.attrs["name"] = layer.name
            for i, name in enumerate(layer.weight_names):
                group.create_dataset(str(i), data=getattr(layer, name))
        f.create_group("vars").attrs["name"] = model.name
    atomic_write(path, buf.getvalue())


def keys(model) -> list[str]:
    """Keras 3's key of each of ``model.layers`` in a weights file: the
    class in snake case, then ``_k`` for the k-th earlier layer of that
    class (Keras's ``_get_unique_name``), whatever the layers' names."""
    used: dict[str, int] = {}
    out = []
    for layer in model.layers:
        base = keras_name(type(layer))
        used[base] = used.get(base, -1) + 1
        out.append(f"{base}_{used[base]}" if used[base] else base)
    return out


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
            weighted = [(key, layer) for key, layer in zip(keys(model), model.layers) if layer.weight_names]
            stored = sorted(name for name in layers if len(layers[name].get("vars", ())) > 0)
            if sorted(key for key, _ in weighted) != stored:
                # a file older stabkit keyed by layer name
                if sorted(layer.name for _, layer in weighted) == stored:
                    weighted = [(layer.name, layer) for _, layer in weighted]
                else:
                    raise DataError(f"{path}: holds weights under the keys {stored}, but this model's layers with "
                                    f"weights are keyed {[key for key, _ in weighted]} (Keras 3 keys each layer by "
                                    "its class and its position among the layers of that class, not by its name)")
            out = []
            for key, layer in weighted:
                group = layers[key]["vars"]
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
