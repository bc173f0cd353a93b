"""model.save / load_model and save_weights: round trips, and every kind of
bad file as one DataError naming it, with nothing half-written."""

from __future__ import annotations

import io
import json
import os
import zipfile

import numpy as np
import pytest

import stabkit.nn as nn
from stabkit.nn import DataError, NNError

rng = np.random.default_rng(0)
X = rng.random((60, 10)).astype(np.float32)
y = rng.integers(0, 3, 60)


def _model(optimizer=None, dtype="float32"):
    model = nn.Sequential([nn.Input((10,)), nn.Dense(8, activation="tanh"), nn.Dropout(0.25, seed=3),
                           nn.Dense(3, activation="softmax", name="probs")], name="tiny")  # fmt: skip
    model.compile(optimizer=optimizer or nn.RMSprop(learning_rate=0.01, momentum=0.5),
                  loss=nn.SparseCategoricalCrossentropy(tier="stable"), metrics=["acc"], dtype=dtype)  # fmt: skip
    return model


@pytest.mark.parametrize("dtype", ["float32", "float64", "float16"])
def test_round_trip_keeps_layers_weights_compile_and_optimizer_state(tmp_path, dtype):
    model = _model(dtype=dtype)
    model.fit(X, y, epochs=2, batch_size=16, verbose=0, seed=0)
    path = tmp_path / "m.zip"
    model.save(path)
    back = nn.load_model(path)
    assert repr(back) == repr(model) and back.name == "tiny" and [l.name for l in back.layers] == ["dense", "dropout", "probs"]
    assert back.dtype == model.dtype and back.metrics == ["acc"] and repr(back.loss) == repr(model.loss)
    assert repr(back.optimizer) == repr(model.optimizer) and back.optimizer.iterations == 8
    for a, b in zip(back.get_weights(), model.get_weights()):
        np.testing.assert_array_equal(a, b)
    for k, v in model.optimizer.variables().items():
        np.testing.assert_array_equal(back.optimizer.variables()[k], v)
    np.testing.assert_array_equal(back.predict(X), model.predict(X))
    # training on from the file is training on from the model (the dropout masks too: same seed, fresh)
    model.layers[1]._rng = np.random.default_rng(9)
    back.layers[1]._rng = np.random.default_rng(9)
    model.fit(X, y, epochs=1, verbose=0, seed=5)
    back.fit(X, y, epochs=1, verbose=0, seed=5)
    for a, b in zip(back.get_weights(), model.get_weights()):
        np.testing.assert_array_equal(a, b)


def test_the_file_is_json_and_plain_arrays(tmp_path):
    model = _model()
    model.save(tmp_path / "m.keras")  # any name but .h5: the file says what it is inside
    with zipfile.ZipFile(tmp_path / "m.keras") as zf:
        assert sorted(zf.namelist()) == ["config.json", "metadata.json", "model.weights.npz"]
        config = json.loads(zf.read("config.json"))
        assert [l["class_name"] for l in config["config"]["layers"]] == ["Dense", "Dropout", "Dense"]
        assert config["config"]["layers"][1]["config"] == {"name": "dropout", "rate": 0.25, "seed": 3, "trainable": True}
        assert config["compile_config"]["optimizer"]["class_name"] == "RMSprop"
        with np.load(io.BytesIO(zf.read("model.weights.npz")), allow_pickle=False) as w:
            assert "dense/kernel" in w.files and "probs/bias" in w.files and w["dense/kernel"].shape == (10, 8)


def test_an_uncompiled_model_round_trips_uncompiled(tmp_path):
    model = nn.Sequential([nn.Dense(4, input_shape=(5,)), nn.Dense(2)])
    model.save(tmp_path / "u.zip")
    back = nn.load_model(tmp_path / "u.zip")
    assert back.loss is None and back.built
    np.testing.assert_array_equal(back(np.ones((1, 5))), model(np.ones((1, 5))))


def _rewrite(src, dst, change):
    """Copy the archive ``src`` to ``dst`` with ``change(name, bytes)`` applied to each member."""
    with zipfile.ZipFile(src) as zin, zipfile.ZipFile(dst, "w") as zout:
        for name in zin.namelist():
            data = change(name, zin.read(name))
            if data is not None:
                zout.writestr(name, data)


def _config_edit(edit):
    def change(name, data):
        if name != "config.json":
            return data
        config = json.loads(data)
        edit(config)
        return json.dumps(config)

    return change


def _weights_edit(edit):
    def change(name, data):
        if name != "model.weights.npz":
            return data
        with np.load(io.BytesIO(data), allow_pickle=False) as w:
            arrays = {k: w[k] for k in w.files}
        edit(arrays)
        buf = io.BytesIO()
        np.savez(buf, **arrays)
        return buf.getvalue()

    return change


def _set_layer_class(config, name):
    config["config"]["layers"][1]["class_name"] = name


BAD = {
    "not a zip": (lambda p, good: p.write_bytes(b"plain text, not an archive"), "not a model file written by stabkit"),
    "truncated": (lambda p, good: p.write_bytes(good.read_bytes()[:300]), "not a model file written by stabkit"),
    "no config": (lambda p, good: _rewrite(good, p, lambda n, d: None if n == "config.json" else d), "no config.json"),
    "config not JSON": (lambda p, good: _rewrite(good, p, lambda n, d: b"{oops" if n == "config.json" else d), "config.json is not JSON"),
    "unknown layer": (lambda p, good: _rewrite(good, p, _config_edit(lambda c: _set_layer_class(c, "Conv3D"))), "unknown layer class 'Conv3D'"),
    "a loss posing as a layer": (lambda p, good: _rewrite(good, p, _config_edit(lambda c: _set_layer_class(c, "Adam"))), "unknown layer class 'Adam'"),
    "bad layer config": (lambda p, good: _rewrite(good, p, _config_edit(lambda c: c["config"]["layers"][0]["config"].update(units=-3))), "positive integer number of units"),
    "kernel shape": (lambda p, good: _rewrite(good, p, _weights_edit(lambda w: w.update({"dense/kernel": np.zeros((10, 7), np.float32)}))), r"layer dense needs a kernel of shape \(10, 8\), got \(10, 7\)"),
    "config units vs weights": (lambda p, good: _rewrite(good, p, _config_edit(lambda c: c["config"]["layers"][0]["config"].update(units=9))), "needs a kernel of shape"),
    "missing weight": (lambda p, good: _rewrite(good, p, _weights_edit(lambda w: w.pop("probs/bias"))), "do not match the layers"),
    "object array": (lambda p, good: _rewrite(good, p, _weights_edit(lambda w: w.update({"probs/bias": np.array([None, 1], dtype=object)}))), "not a model file"),
    "optimizer state": (lambda p, good: _rewrite(good, p, _weights_edit(lambda w: w.pop("optimizer/momentum"))), "optimizer state holds"),
    "other format": (lambda p, good: _rewrite(good, p, lambda n, d: b'{"format": "x", "format_version": 1}' if n == "metadata.json" else d), "format 'x'"),
}


@pytest.mark.parametrize("case", list(BAD))
def test_bad_files_are_one_data_error_naming_the_file(tmp_path, case):
    good = tmp_path / "good.zip"
    _model().save(good)
    bad = tmp_path / f"bad-{case.replace(' ', '_')}.zip"
    make, message = BAD[case]
    make(bad, good)
    with pytest.raises(DataError, match=message) as info:
        nn.load_model(bad)
    assert str(bad) in str(info.value) and "\n" not in str(info.value)


def test_a_keras_file_is_named_as_such(tmp_path):
    path = tmp_path / "k.keras"
    with zipfile.ZipFile(path, "w") as zf:
        for name in ("metadata.json", "config.json", "model.weights.h5"):
            zf.writestr(name, "{}")
    with pytest.raises(DataError, match="a Keras .keras file"):
        nn.load_model(path)
    with pytest.raises(DataError, match="no such file"):
        nn.load_model(tmp_path / "absent.zip")


def test_save_is_atomic(tmp_path, monkeypatch):
    """A save that fails half-way leaves the old file as it was and no temporary file."""
    path = tmp_path / "m.zip"
    model = _model()
    model.save(path)
    before = path.read_bytes()
    model.fit(X, y, verbose=0)

    def explode(*a, **k):
        raise OSError("disk full")

    monkeypatch.setattr(np.lib.format, "write_array", explode)
    with pytest.raises(OSError, match="disk full"):
        model.save(path)
    with pytest.raises(OSError, match="disk full"):
        model.save_weights(tmp_path / "w.npz")
    assert path.read_bytes() == before and sorted(os.listdir(tmp_path)) == ["m.zip"]


def test_h5_names_are_refused_before_anything_is_written(tmp_path):
    """Other than Keras 3's .weights.h5 for the weights (below)."""
    model = _model()
    for name in ("w.h5", "M.HDF5"):
        with pytest.raises(NNError, match=r"writes NumPy's .npz format, not HDF5.*or a \.weights\.h5 name"):
            model.save_weights(tmp_path / name)
    for name in ("w.h5", "w.weights.h5", "M.HDF5"):
        with pytest.raises(NNError, match=r"not HDF5"):
            model.save(tmp_path / name)
    assert os.listdir(tmp_path) == []


def test_save_weights_round_trip_with_dropout(tmp_path):
    model = _model()
    model.save_weights(tmp_path / "w.npz")
    with np.load(tmp_path / "w.npz", allow_pickle=False) as w:
        assert sorted(w.files) == ["000_bias", "000_kernel", "001_bias", "001_kernel"]
    other = nn.Sequential([nn.Dense(8, activation="tanh"), nn.Dropout(0.5), nn.Dense(3)])
    other.load_weights(tmp_path / "w.npz")
    for a, b in zip(other.get_weights(), model.get_weights()):
        np.testing.assert_array_equal(a, b)


def test_unbuilt_models_and_layers_without_config_cannot_be_saved(tmp_path):
    with pytest.raises(NNError, match="no weights yet"):
        nn.Sequential([nn.Dense(2)]).save(tmp_path / "x.zip")

    class Custom(nn.Layer):
        pass

    model = nn.Sequential([nn.Input((3,)), nn.Dense(2), Custom()])
    with pytest.raises(NNError, match="Custom does not say how to rebuild it"):
        model.save(tmp_path / "x.zip")
    assert os.listdir(tmp_path) == []


def test_a_missing_folder_or_an_hdf5_checkpoint_is_named_before_anything_is_written(tmp_path):
    """save into a folder that does not exist named a temporary file the user
    never gave ('.../nodir/.tmp-6dcmaplk'); a ModelCheckpoint to a .h5 name
    was accepted and failed only after the first epoch had trained."""
    model = _model()
    for call in (model.save, model.save_weights):
        target = tmp_path / "nodir" / "m.keras"
        with pytest.raises(FileNotFoundError) as e:
            call(target)
        assert e.value.filename == str(target) and "nodir" in str(e.value) and ".tmp" not in str(e.value)
    assert not (tmp_path / "nodir").exists()
    for name, weights_only in (("best.weights.h5", False), ("best.h5", True), ("ckpt-{epoch}.HDF5", False)):
        with pytest.raises(NNError, match=r"ModelCheckpoint writes NumPy's \.npz format, not HDF5"):
            nn.callbacks.ModelCheckpoint(str(tmp_path / name), save_weights_only=weights_only)


# ------------------------------------------------------------ Keras 3's .weights.h5


def test_weights_h5_round_trip_and_layout(tmp_path):
    """Keras 3 requires save_weights names ending in .weights.h5; they were
    refused. The file has Keras's layout (layers/<key>/vars/<i>, the key
    the class and its position among that class's layers, not the name)."""
    h5py = pytest.importorskip("h5py")
    model = _model()
    model.fit(X, y, epochs=1, batch_size=16, verbose=0)
    model.save_weights(tmp_path / "w.weights.h5")
    with h5py.File(tmp_path / "w.weights.h5", "r") as f:
        assert sorted(f["layers"]) == ["dense", "dense_1", "dropout"]
        assert len(f["layers/dropout/vars"]) == 0 and f["layers/dense_1/vars"].attrs["name"] == "probs"
        np.testing.assert_array_equal(f["layers/dense/vars/0"], model.layers[0].kernel)
        np.testing.assert_array_equal(f["layers/dense_1/vars/1"], model.layers[2].bias)
        assert f["vars"].attrs["name"] == "tiny"
    other = nn.Sequential([nn.Dense(8, activation="tanh"), nn.Dropout(0.5), nn.Dense(3, name="probs")])
    other.load_weights(tmp_path / "w.weights.h5")  # builds it from the shapes
    for a, b in zip(other.get_weights(), model.get_weights()):
        np.testing.assert_array_equal(a, b)


def test_weights_h5_between_keras_and_stabkit(tmp_path):
    """Weights saved by stabkit load into the Keras model of the same layers,
    and the other way round: the same predictions."""
    pytest.importorskip("h5py")
    os.environ.setdefault("KERAS_BACKEND", "jax")
    keras = pytest.importorskip("keras")
    mine = nn.Sequential([nn.Input((10,)), nn.Dense(8, activation="tanh"), nn.Dense(3)])
    mine.compile(optimizer="adam", loss=nn.SparseCategoricalCrossentropy(from_logits=True))
    mine.fit(X, y, epochs=2, verbose=0)
    mine.save_weights(tmp_path / "mine.weights.h5")
    keras.backend.clear_session()
    theirs = keras.Sequential([keras.Input((10,)), keras.layers.Dense(8, activation="tanh"), keras.layers.Dense(3)])
    theirs.load_weights(tmp_path / "mine.weights.h5")
    np.testing.assert_allclose(theirs.predict(X, verbose=0), mine.predict(X), rtol=1e-5, atol=1e-6)
    theirs.layers[0].kernel.assign(theirs.layers[0].kernel * 0.5)
    theirs.save_weights(tmp_path / "theirs.weights.h5")
    back = nn.Sequential([nn.Input((10,)), nn.Dense(8, activation="tanh"), nn.Dense(3)])
    back.load_weights(tmp_path / "theirs.weights.h5")
    np.testing.assert_allclose(back.predict(X), theirs.predict(X, verbose=0), rtol=1e-5, atol=1e-6)


def test_weights_h5_keys_are_class_and_position_whatever_the_names(tmp_path):
    """Keras 3 keys a layer by its class and position (dense, dense_1, ...),
    not its name. stabkit keyed by name: [Dense(4, name='L1'), Dense(2,
    name='L2')] could not exchange files with Keras either way, and
    [Dense(3), Dense(3, name='dense')] loaded Keras's file with its two
    kernels swapped, silently. Files that older stabkit wrote by name still
    load."""
    h5py = pytest.importorskip("h5py")
    os.environ.setdefault("KERAS_BACKEND", "jax")
    keras = pytest.importorskip("keras")
    x = rng.normal(size=(5, 3)).astype(np.float32)
    # (Keras's names, stabkit's): stabkit's second pair names its layers dense_1, dense
    for kn, sn in ((("L1", "L2"),) * 2, ((None, "dense_x"), (None, "dense")), (("dense_1", "dense_2"),) * 2):
        keras.backend.clear_session()
        theirs = keras.Sequential([keras.Input((3,)), keras.layers.Dense(3, name=kn[0]),
                                   keras.layers.Dense(2, name=kn[1])])  # fmt: skip
        theirs.save_weights(tmp_path / "theirs.weights.h5")
        mine = nn.Sequential([nn.Input((3,)), nn.Dense(3, name=sn[0]), nn.Dense(2, name=sn[1])])
        mine.load_weights(tmp_path / "theirs.weights.h5")
        np.testing.assert_allclose(mine.predict(x), theirs.predict(x, verbose=0), rtol=1e-5, atol=1e-6)
        mine.layers[1].set_weights([w * 2 for w in mine.layers[1].get_weights()])
        mine.save_weights(tmp_path / "mine.weights.h5")
        theirs.load_weights(tmp_path / "mine.weights.h5")
        np.testing.assert_allclose(theirs.predict(x, verbose=0), mine.predict(x), rtol=1e-5, atol=1e-6)
    # a file keyed by name, as older stabkit wrote it
    with h5py.File(tmp_path / "old.weights.h5", "w") as f:
        for layer in mine.layers:
            group = f.create_group(f"layers/{layer.name}/vars")
            for i, w in enumerate(layer.get_weights()):
                group.create_dataset(str(i), data=w)
    again = nn.Sequential([nn.Input((3,)), nn.Dense(3, name="dense_1"), nn.Dense(2, name="dense_2")])
    again.load_weights(tmp_path / "old.weights.h5")
    np.testing.assert_array_equal(again.predict(x), mine.predict(x))


def test_weights_h5_errors_are_one_data_error(tmp_path, monkeypatch):
    pytest.importorskip("h5py")
    model = _model()
    model.save_weights(tmp_path / "w.weights.h5")
    deeper = nn.Sequential([nn.Input((10,)), nn.Dense(8, activation="tanh"), nn.Dense(8), nn.Dense(3, name="out")])
    with pytest.raises(DataError, match=r"w\.weights\.h5: holds weights under the keys \['dense', 'dense_1'\], but "
                       r"this model's layers with weights are keyed \['dense', 'dense_1', 'dense_2'\] \(Keras 3 keys"):  # fmt: skip
        deeper.load_weights(tmp_path / "w.weights.h5")
    (tmp_path / "junk.weights.h5").write_bytes(b"not hdf5 at all")
    with pytest.raises(DataError, match=r"junk\.weights\.h5: not an HDF5 weights file"):
        model.load_weights(tmp_path / "junk.weights.h5")
    with pytest.raises(DataError, match=r"nothere\.weights\.h5: no such file"):
        model.load_weights(tmp_path / "nothere.weights.h5")
    wider = nn.Sequential([nn.Input((10,)), nn.Dense(9, activation="tanh"), nn.Dropout(0.1), nn.Dense(3, name="probs")])
    with pytest.raises(DataError, match=r"w\.weights\.h5: .*shape"):
        wider.load_weights(tmp_path / "w.weights.h5")
    monkeypatch.setitem(__import__("sys").modules, "h5py", None)
    with pytest.raises(NNError, match=r"needs h5py \(pip install h5py\)"):
        model.save_weights(tmp_path / "v.weights.h5")
    assert not (tmp_path / "v.weights.h5").exists()


def test_a_weights_only_checkpoint_may_be_weights_h5(tmp_path):
    pytest.importorskip("h5py")
    model = _model()
    ckpt = nn.callbacks.ModelCheckpoint(str(tmp_path / "w-{epoch}.weights.h5"), save_weights_only=True, monitor="loss")
    model.fit(X, y, epochs=2, verbose=0, callbacks=[ckpt])
    assert sorted(os.listdir(tmp_path)) == ["w-1.weights.h5", "w-2.weights.h5"]
    back = _model()
    back.load_weights(tmp_path / "w-2.weights.h5")
    for a, b in zip(back.get_weights(), model.get_weights()):
        np.testing.assert_array_equal(a, b)
