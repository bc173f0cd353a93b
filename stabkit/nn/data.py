"""Data sets: MNIST from IDX files, scikit-learn's 8x8 digits, a seeded split.

:func:`load_mnist` is Keras's ``mnist.load_data()``: the full 60,000/10,000
split as uint8 arrays, downloaded on first use into a cache
(:mod:`stabkit.nn.download`). :func:`read_mnist` and :func:`load_digits`
return what the trainer uses: float32 images of shape ``(n, pixels)`` scaled
to ``[0, 1]`` and int64 class indices. Every problem with a file (missing,
truncated, wrong magic number, inconsistent counts, labels out of range) is a
:class:`~stabkit.nn.errors.DataError` naming the file and the problem.
"""

from __future__ import annotations

import math
import os
import sys
import zlib
from pathlib import Path

import numpy as np

from . import download
from .errors import DataError

__all__ = [
    "DataError",
    "load_mnist",
    "read_mnist",
    "mnist_env_dir",
    "load_digits",
    "train_test_split",
    "read_idx",
    "has_split",
    "check_test_split",
    "MNIST_FILES",
]

#: (images, labels) file stems of each MNIST split, as LeCun distributes them.
MNIST_FILES = {
    "test": ("t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"),
    "train": ("train-images-idx3-ubyte", "train-labels-idx1-ubyte"),
}
_IDX_MAGIC = {0x00000803: 3, 0x00000801: 1}  # unsigned-byte images, labels


def mnist_env_dir() -> Path | None:
    """``$STABKIT_MNIST_DIR`` (a folder of MNIST IDX files the user names;
    it replaces the download cache), or ``None`` when unset."""
    env = os.environ.get("STABKIT_MNIST_DIR")
    return Path(env).expanduser() if env else None


def _read_bytes(path: Path) -> bytes:
    try:
        with open(path, "rb") as f:
            return f.read()
    except OSError as e:
        raise DataError(f"{path}: cannot read ({e.strerror})") from None


class _Gunzip:
    """gzip data decompressed on demand, never more than asked for (a small
    file that inflates to gigabytes is read only as far as its header says)."""

    def __init__(self, path: Path, raw: bytes):
        self.path, self._d, self._tail = path, zlib.decompressobj(wbits=31), raw

    def read(self, n: int) -> bytes:
        try:
            out = self._d.decompress(self._tail, n)
        except zlib.error as e:
            raise DataError(f"{self.path}: corrupt gzip data ({e})") from None
        self._tail = self._d.unconsumed_tail
        return out

    def complete(self) -> bool:
        """Whether the gzip stream (checksum included) ended; reads nothing more."""
        if not self._d.eof and not self._tail:
            try:
                self._d.decompress(b"", 1)
            except zlib.error as e:
                raise DataError(f"{self.path}: corrupt gzip data ({e})") from None
        return self._d.eof


def read_idx(path) -> np.ndarray:
    """One IDX file of unsigned bytes (gzipped or not), validated: magic
    number 0x0801 (labels) or 0x0803 (images), positive dimensions, and a
    payload of exactly the size the header promises. A header declaring more
    data than the file holds is rejected before anything of that size is
    allocated or decompressed."""
    path = Path(path)
    raw = _read_bytes(path)
    gz = _Gunzip(path, raw) if raw[:2] == b"\x1f\x8b" else None
    head = gz.read(16) if gz else raw[:16]
    if gz and len(head) < 16 and not gz.complete():
        # a gzip stream cut short before 16 bytes of content: a gzip problem, not a short IDX header
        raise DataError(f"{path}: corrupt gzip data: not a valid gzip stream (it ends after {len(head)} bytes of content)")
    if len(head) < 4:
        raise DataError(f"{path}: truncated: {len(head)} bytes, too short for an IDX header")
    magic = int.from_bytes(head[:4], "big")
    if magic not in _IDX_MAGIC:
        raise DataError(f"{path}: bad magic number 0x{magic:08x}; expected 0x00000801 (labels) or 0x00000803 (images)")
    ndim = _IDX_MAGIC[magic]
    header = 4 + 4 * ndim
    if len(head) < header:
        raise DataError(f"{path}: truncated header ({len(head)} bytes, need {header})")
    dims = [int.from_bytes(head[4 + 4 * i : 8 + 4 * i], "big") for i in range(ndim)]
    if any(d == 0 for d in dims):
        raise DataError(f"{path}: header declares an empty dimension {tuple(dims)}")
    need = header + math.prod(dims)  # Python ints: no overflow for 3 x 2**32
    if gz:
        # one byte more reveals trailing data; never more than the stream holds
        more = min(need + 1, sys.maxsize) - len(head)
        body = head + gz.read(more) if more > 0 else head  # (max_length 0 would mean "all")
        if len(body) <= need and not gz.complete():
            raise DataError(f"{path}: corrupt gzip data (truncated: the stream ends after {len(body)} bytes, "
                            f"the header {tuple(dims)} needs {need})")
        size = len(body)
    else:
        body, size = raw, len(raw)
    if size != need:
        what = "truncated" if size < need else "has trailing bytes"
        got = f"{size} bytes" if size < need or not gz else "more bytes"
        raise DataError(f"{path}: {what}: {got}, the header {tuple(dims)} needs {need}")
    return np.frombuffer(body, dtype=np.uint8, offset=header).reshape(dims)


def _find(folder: Path, stem: str) -> Path | None:
    for name in (stem + ".gz", stem, stem.replace("-idx", ".idx") + ".gz", stem.replace("-idx", ".idx")):
        if (folder / name).is_file():
            return folder / name
    return None


def has_split(folder, split: str) -> bool:
    """Whether ``folder`` holds the images file of an MNIST ``split``."""
    return Path(folder).is_dir() and _find(Path(folder), MNIST_FILES[split][0]) is not None


def _read_split(folder: Path, split: str) -> tuple[np.ndarray, np.ndarray]:
    """The validated uint8 ``(images, labels)`` of one split in ``folder``."""
    if split not in MNIST_FILES:
        raise DataError(f"unknown MNIST split {split!r}; use 'test' or 'train'")
    if not folder.is_dir():
        raise DataError(f"{folder}: no such data folder")
    paths = [_find(folder, stem) for stem in MNIST_FILES[split]]
    for stem, p in zip(MNIST_FILES[split], paths):
        if p is None:
            raise DataError(f"{folder}: no {stem} or {stem}.gz")
    images, labels = read_idx(paths[0]), read_idx(paths[1])
    if images.ndim != 3 or labels.ndim != 1:
        raise DataError(f"{paths[0]} must hold images and {paths[1]} labels (the magic numbers are swapped)")
    if len(images) != len(labels):
        raise DataError(f"{paths[0]} has {len(images)} images but {paths[1]} has {len(labels)} labels")
    if images.shape[1:] != (28, 28):
        # the model and the figures take MNIST's 784 pixels; other images would fail later, naming no file
        raise DataError(f"{paths[0]}: {images.shape[1]}x{images.shape[2]} images; MNIST's are 28x28")
    if labels.max() > 9:
        raise DataError(f"{paths[1]}: label {int(labels.max())} is out of range 0..9")
    return images, labels


def read_mnist(folder, split: str = "test") -> tuple[np.ndarray, np.ndarray]:
    """MNIST images ``(n, 784)`` float32 in ``[0, 1]`` and int64 labels from
    the IDX files of ``split`` in ``folder``, as the trainer uses them.

    ``split`` is ``'test'`` (``t10k-*``, 10,000 images) or ``'train'``
    (``train-*``). Files may be gzipped. Nothing is downloaded.
    """
    images, labels = _read_split(Path(folder), split)
    X = images.reshape(len(images), -1).astype(np.float32) / np.float32(255)
    return X, labels.astype(np.int64)


def check_test_split(folder, n: int) -> None:
    """The 8,000/2,000 split of a t10k set used alone (no train-* files)
    needs its 10,000 images: a :class:`DataError` naming ``folder`` otherwise."""
    if n < 10000:
        raise DataError(f"{folder}: {n} test images; the 8,000/2,000 split needs 10,000")


def load_mnist(path=None, *, quiet: bool = False):
    """``(x_train, y_train), (x_test, y_test)`` as Keras's
    ``mnist.load_data()`` returns them: uint8 arrays of shape
    ``(60000, 28, 28)``, ``(60000,)``, ``(10000, 28, 28)``, ``(10000,)``.

    Read from the folder ``path``, else ``$STABKIT_MNIST_DIR``; such a folder
    must hold all four files and nothing is downloaded. Otherwise from the
    cache (:func:`stabkit.nn.download.cache_dir`, ``$STABKIT_DATA_DIR`` to
    move it), downloading the missing files first, verified, with a progress
    bar on stderr (none with ``quiet``). A failed download is a
    :class:`DataError` naming the URLs tried, the cache folder, ``--data-dir``
    and ``$STABKIT_MNIST_DIR``.
    """
    folder = Path(path).expanduser() if path is not None else mnist_env_dir()
    if folder is None:
        folder = download.fetch_mnist(quiet=quiet)
    elif folder.is_dir() and not has_split(folder, "train"):
        stem = MNIST_FILES["train"][0]
        raise DataError(f"{folder}: no {stem} or {stem}.gz; load_mnist needs the training set too "
                        "(read_mnist(folder, split='test') reads the test set alone)")
    splits = [_read_split(folder, split) for split in ("train", "test")]
    return tuple((np.array(x), np.array(y)) for x, y in splits)  # writable copies, as Keras returns


def load_digits() -> tuple[np.ndarray, np.ndarray]:
    """scikit-learn's bundled 8x8 digits (1,797 images, no download):
    ``(1797, 64)`` float32 in ``[0, 1]`` and int64 labels."""
    from sklearn.datasets import load_digits as _sk_digits

    d = _sk_digits()
    return (d.data / 16.0).astype(np.float32), d.target.astype(np.int64)


def train_test_split(x, y, test_size: float | int = 0.2, seed: int | None = 0, shuffle: bool = True):
    """``(x_train, x_test, y_train, y_test)``, in scikit-learn's order.

    ``test_size`` is a fraction in (0, 1) or a number of samples. With
    ``shuffle=False`` the last ``test_size`` samples are the test set (the
    MNIST 8,000 / 2,000 split); otherwise a permutation seeded by ``seed``.
    """
    x, y = np.asarray(x), np.asarray(y)
    n = len(x)
    if len(y) != n:
        raise DataError(f"x has {n} samples but y has {len(y)}")
    k = int(round(test_size * n)) if isinstance(test_size, float) else int(test_size)
    if not 0 < k < n:
        raise DataError(f"test_size {test_size!r} leaves no training or no test samples out of {n}")
    order = np.random.default_rng(seed).permutation(n) if shuffle else np.arange(n)
    train, test = order[: n - k], order[n - k :]
    return x[train], x[test], y[train], y[test]
