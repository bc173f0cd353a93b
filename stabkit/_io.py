"""Atomic file writes for the report writers: a temporary file in the target
folder, then a rename, so an interrupted run leaves no half-written file."""

from __future__ import annotations

import math
import os
import tempfile
import zipfile
import zlib

import numpy as np

__all__ = ["atomic_write", "check_out_dir", "read_npz"]


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def atomic_write(path: str, data: str | bytes) -> None:
    """Write ``data`` to ``path`` through a temporary file and a rename."""
    fd, tmp = tempfile.mkstemp(prefix=".tmp-", dir=os.path.dirname(path) or ".")
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data.encode() if isinstance(data, str) else data)
        os.chmod(tmp, 0o666 & ~_umask())  # mkstemp makes 0600 files
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


def check_out_dir(out: str) -> None:
    """Create ``out`` (and parents) and check it is a writable folder;
    OSError with a one-line message otherwise."""
    if os.path.exists(out) and not os.path.isdir(out):
        raise OSError(f"{out!r} exists and is not a folder")
    try:
        os.makedirs(out, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=".tmp-", dir=out)
        os.close(fd)
        os.unlink(tmp)
    except OSError as e:
        raise OSError(f"cannot write into {out!r}: {e.strerror or e}") from None


def read_npz(path, max_bytes: int) -> dict[str, np.ndarray]:
    """Every array of an ``.npz`` file, without pickle. Each member's header
    is read first: one that declares more bytes than ``max_bytes`` or than the
    member holds, or object arrays, is a ValueError before anything of that
    size is allocated (NumPy would allocate the declared shape, then read)."""
    try:
        return _read_npz(path, max_bytes)
    except (zipfile.BadZipFile, NotImplementedError, RuntimeError, EOFError, zlib.error, UnicodeDecodeError) as e:
        # zipfile's answers to a damaged file include NotImplementedError
        # ("zip file version 10.9", "strong encryption") and RuntimeError
        raise ValueError(f"{path}: not an .npz archive ({type(e).__name__}: {e})") from None


def _read_npz(path, max_bytes: int) -> dict[str, np.ndarray]:
    fmt = np.lib.format
    out = {}
    with zipfile.ZipFile(path) as zf:
        for info in zf.infolist():
            if not info.filename.endswith(".npy"):
                raise ValueError(f"{info.filename!r} is not an array")
            with zf.open(info) as fh:
                version = fmt.read_magic(fh)
                read_header = fmt.read_array_header_1_0 if version == (1, 0) else fmt.read_array_header_2_0
                shape, _, dtype = read_header(fh)
            if dtype.hasobject:
                raise ValueError(f"{info.filename!r} holds Python objects")
            nbytes = math.prod(shape) * dtype.itemsize
            if nbytes > min(max_bytes, info.file_size):
                raise ValueError(f"{info.filename!r} declares {nbytes} bytes but holds {info.file_size}")
            with zf.open(info) as fh:
                out[info.filename[:-4]] = fmt.read_array(fh, allow_pickle=False)
    return out
