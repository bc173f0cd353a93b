"""Atomic file writes for the report writers: a temporary file in the target
folder, then a rename, so an interrupted run leaves no half-written file."""

from __future__ import annotations

import os
import tempfile

__all__ = ["atomic_write", "check_out_dir"]


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
