"""MNIST IDX loading and validation, digits, the seeded split."""

from __future__ import annotations

import gzip
import hashlib

import numpy as np
import pytest
from helpers.nn import mnist_dir

from stabkit.nn.data import (
    DataError,
    load_digits,
    load_mnist,
    read_idx,
    read_mnist,
    train_test_split,
)


def _idx(magic, dims, payload):
    head = magic.to_bytes(4, "big") + b"".join(d.to_bytes(4, "big") for d in dims)
    return head + bytes(payload)


def _write_pair(folder, n=3, labels=(0, 1, 9), gz=True, images_payload=None, split="t10k"):
    img = _idx(0x803, (n, 28, 28), images_payload if images_payload is not None else [7] * (n * 784))
    lab = _idx(0x801, (len(labels),), labels)
    for stem, raw in ((f"{split}-images-idx3-ubyte", img), (f"{split}-labels-idx1-ubyte", lab)):
        if gz:
            (folder / f"{stem}.gz").write_bytes(gzip.compress(raw))
        else:
            (folder / stem).write_bytes(raw)


def test_real_mnist_test_set():
    folder = mnist_dir()
    if not (folder / "t10k-labels-idx1-ubyte.gz").exists():
        pytest.skip(f"the MNIST test set is not at {folder} (set STABKIT_MNIST_DIR)")
    X, y = read_mnist(folder)
    assert X.shape == (10000, 784) and X.dtype == np.float32 and y.dtype == np.int64
    assert X.min() == 0 and X.max() == 1
    assert np.bincount(y).tolist() == [980, 1135, 1032, 1010, 982, 892, 958, 1028, 974, 1009]
    raw = gzip.decompress((folder / "t10k-labels-idx1-ubyte.gz").read_bytes())  # canonical MD5 (README)
    assert hashlib.md5(raw).hexdigest() == "27ae3e4e09519cfbb04c329615203637"


@pytest.mark.parametrize("gz", [True, False])
def test_small_idx_pair_gzipped_or_not(tmp_path, gz):
    _write_pair(tmp_path, gz=gz)
    X, y = read_mnist(tmp_path)
    assert X.shape == (3, 784) and y.tolist() == [0, 1, 9]
    np.testing.assert_allclose(X, 7 / 255, rtol=1e-6)


@pytest.mark.parametrize(
    "kwargs,message",
    [
        (dict(images_payload=[0] * 100), "t10k-images-idx3-ubyte.gz: truncated: 116 bytes, the header (3, 28, 28) needs 2368"),
        (dict(labels=(0, 1)), "has 3 images but"),
        (dict(labels=(0, 1, 10)), "label 10 is out of range 0..9"),
    ],
)
def test_inconsistent_files_are_named(tmp_path, kwargs, message):
    _write_pair(tmp_path, **kwargs)
    with pytest.raises(DataError, match=message.replace("(", r"\(").replace(")", r"\)")):
        read_mnist(tmp_path)


def test_bad_magic_and_corrupt_gzip(tmp_path):
    bad = tmp_path / "bad"
    bad.write_bytes(b"\x00\x00\x08\x04" + b"\x00" * 20)
    with pytest.raises(DataError, match=r"bad: bad magic number 0x00000804"):
        read_idx(bad)
    gz = tmp_path / "x.gz"
    gz.write_bytes(gzip.compress(b"\x00\x00\x08\x01\x00\x00\x00\x05abcde")[:-6])
    with pytest.raises(DataError, match=r"x.gz: corrupt gzip data"):
        read_idx(gz)
    short = tmp_path / "short"
    short.write_bytes(b"\x00\x00")
    with pytest.raises(DataError, match="too short for an IDX header"):
        read_idx(short)


def test_missing_folder_and_files(tmp_path):
    with pytest.raises(DataError, match="no such data folder"):
        read_mnist(tmp_path / "absent")
    with pytest.raises(DataError, match="no t10k-images-idx3-ubyte or t10k-images-idx3-ubyte.gz"):
        read_mnist(tmp_path)
    with pytest.raises(DataError, match="unknown MNIST split 'val'"):
        read_mnist(tmp_path, split="val")


def test_read_mnist_has_no_default_folder():
    """A user's install has no development checkout beside it: no built-in path."""
    with pytest.raises(TypeError):
        read_mnist()


def test_load_mnist_is_keras_shaped(tmp_path):
    _write_pair(tmp_path, n=4, labels=(3, 1, 4, 1), split="train")
    _write_pair(tmp_path, n=2, labels=(5, 9), gz=False)
    (x_train, y_train), (x_test, y_test) = load_mnist(tmp_path)
    assert x_train.shape == (4, 28, 28) and y_train.tolist() == [3, 1, 4, 1]
    assert x_test.shape == (2, 28, 28) and y_test.tolist() == [5, 9]
    assert {a.dtype for a in (x_train, y_train, x_test, y_test)} == {np.dtype(np.uint8)}
    assert int(x_train.max()) == 7 and x_train.flags.writeable  # raw pixels, a writable copy as in Keras


def test_env_var_names_the_folder_load_mnist_reads(tmp_path, monkeypatch):
    _write_pair(tmp_path, split="train")
    _write_pair(tmp_path)
    monkeypatch.setenv("STABKIT_MNIST_DIR", str(tmp_path))
    (x_train, _), (x_test, _) = load_mnist()
    assert x_train.shape == x_test.shape == (3, 28, 28)


def test_digits_and_split():
    X, y = load_digits()
    assert X.shape == (1797, 64) and X.max() == 1 and set(y.tolist()) == set(range(10))
    a = train_test_split(X, y, test_size=0.2, seed=3)
    b = train_test_split(X, y, test_size=0.2, seed=3)
    assert all(np.array_equal(u, v) for u, v in zip(a, b, strict=True))
    assert len(a[1]) == 359 and len(a[0]) == 1438
    _, Xte, _, _ = train_test_split(X, y, test_size=2, shuffle=False)
    assert np.array_equal(Xte, X[-2:])
    with pytest.raises(DataError, match="leaves no training"):
        train_test_split(X, y, test_size=1.0)
