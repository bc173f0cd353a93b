"""Atomic file writes for the report writers: a temporary file in the target
folder, then a rename, so an interrupted run leaves no half-written file;
:func:`staged_dir`, which does the same for a whole output folder; and
:func:`jsonable`, the one JSON encoding of NaN and infinities."""

from __future__ import annotations

import errno
import math
import os
import shutil
import signal
import tempfile
import threading
import zipfile
import zlib
from collections.abc import Callable, Iterator
from contextlib import contextmanager

import numpy as np

from . import _interrupt

__all__ = ["jsonable", "atomic_write", "check_out_dir", "check_out_target", "staged_dir", "read_npz"]


def jsonable(v):
    """The one JSON encoding of non-finite numbers, shared by ``report.json``,
    ``eval --json``, ``analyze --json`` and ``train --json``: NaN -> ``null``,
    +-inf -> ``"inf"`` / ``"-inf"`` (strings ``float()`` reads back),
    recursively through dicts, lists and tuples; finite floats unchanged."""
    if isinstance(v, float):
        return None if math.isnan(v) else ("inf" if v > 0 else "-inf") if math.isinf(v) else v
    if isinstance(v, dict):
        return {k: jsonable(x) for k, x in v.items()}
    if isinstance(v, (list, tuple)):
        return [jsonable(x) for x in v]
    return v


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def open_up(path: str | os.PathLike) -> None:
    """Give a file made by :func:`tempfile.mkstemp` (mode 0600) the mode a
    plain ``open(path, "w")`` would have (0666 less the umask), so a file
    renamed into place is readable by whoever could read it otherwise."""
    os.chmod(path, 0o666 & ~_umask())


def atomic_write(path: str, data: str | bytes) -> None:
    """Write ``data`` to ``path`` through a temporary file and a rename;
    nothing is written once the CLI has seen Ctrl-C (:mod:`stabkit._interrupt`)."""
    _interrupt.check()
    folder = os.path.dirname(path) or "."
    if not os.path.isdir(folder):  # else mkstemp's error would name its temporary file
        raise FileNotFoundError(errno.ENOENT, f"no folder {folder!r} to write into", path)
    fd, tmp = tempfile.mkstemp(prefix=".tmp-", dir=folder)
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data.encode() if isinstance(data, str) else data)
        open_up(tmp)
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


def _existing_ancestor(path: str) -> str:
    """The nearest folder above ``path`` (or ``path`` itself) that exists."""
    p = os.path.abspath(path)
    while not os.path.exists(p):
        p = os.path.dirname(p)
    return p


def missing_top(path: str) -> str | None:
    """The outermost folder of ``path`` that does not exist yet, the one whose
    removal undoes creating ``path`` (None if ``path`` exists)."""
    p = os.path.abspath(path)
    base = _existing_ancestor(p)
    return None if base == p else os.path.join(base, os.path.relpath(p, base).split(os.sep)[0])


def check_out_target(out: str) -> None:
    """Check that ``out`` is, or can be created as, a writable folder, creating
    nothing; OSError with a one-line message otherwise."""
    if os.path.exists(out) and not os.path.isdir(out):
        raise OSError(f"{out!r} exists and is not a folder")
    base = _existing_ancestor(out)
    if not os.path.isdir(base):
        raise OSError(f"cannot create {out!r}: {base!r} is not a folder")
    if not os.access(base, os.W_OK | os.X_OK):
        raise OSError(f"cannot write into {base!r}: permission denied")


@contextmanager
def _sigint_deferred() -> Iterator[None]:
    """Hold Ctrl-C until the block ends (main thread only), so that moving
    finished files into place is not cut in the middle."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    got = []
    old = signal.signal(signal.SIGINT, lambda *a: got.append(True))
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, old)
        if got and old is not signal.SIG_IGN:
            raise KeyboardInterrupt


def files_under(top: str, skip=()) -> list[str]:
    """Every file under ``top`` (relative paths), not entering ``skip`` or staging folders (``.tmp-*``)."""
    out = []
    for root, dirs, files in os.walk(top):
        dirs[:] = [d for d in dirs if not d.startswith(".tmp-") and os.path.join(root, d) not in skip]
        out += [os.path.relpath(os.path.join(root, f), top) for f in files if not f.startswith(".tmp-")]
    return sorted(out)


@contextmanager
def staged_dir(out: str, owned: Callable[[str], bool] | None = None) -> Iterator[str]:
    """Yield a fresh temporary folder to write the output into; when the block
    ends normally, move its contents into ``out``, else remove it.

    A run that fails or is interrupted leaves no ``out`` (when there was none)
    and leaves an existing ``out`` as it was. A new ``out`` appears by one
    rename; into an existing one each file is renamed over its old version
    (Ctrl-C held meanwhile); files of ``out`` that the run did not write are
    kept, except those ``owned`` says are the output's own (it is given each
    file's path relative to ``out``, with ``/``): those the run did not write
    are removed, so that ``out`` holds the new output and nothing of an older
    one. Missing parent folders are created only at the end. Where a rename
    into an existing ``out`` fails part-way (a read-only ``figures/``, a
    folder in a file's way), every step before it is undone, old files put
    back, and the error raised: ``out`` is as it was."""
    existed = os.path.isdir(out)
    parent = out if existed else _existing_ancestor(out)
    name = os.path.basename(os.path.normpath(out)) or "out"
    stage = tempfile.mkdtemp(prefix=".tmp-" if existed else f".{name}.tmp-", dir=parent)
    try:
        yield stage
        _interrupt.check()  # an interrupt that the block's code swallowed
        with _sigint_deferred():
            if not os.path.isdir(out):
                os.makedirs(os.path.dirname(os.path.abspath(out)), exist_ok=True)
                os.chmod(stage, 0o777 & ~_umask())  # mkdtemp makes a 0700 folder
                os.rename(stage, out)
                return
            _commit(stage, out, owned)
    finally:
        shutil.rmtree(stage, ignore_errors=True)


def _commit(stage: str, out: str, owned: Callable[[str], bool] | None) -> None:
    """Move ``stage``'s files into the existing ``out`` as one transaction:
    each old file that is replaced or dropped goes into a trash folder
    first, so that a failure can put everything back (in reverse order)."""
    trash = tempfile.mkdtemp(prefix=".tmp-old-", dir=out)
    trash_kept = False
    undo: list[tuple[str, str]] = []  # (from, to) renames, to be reversed
    made: list[str] = []  # folders created in out, removed again if empty

    def move(src: str, dst: str) -> None:
        missing, parent = [], os.path.dirname(dst)
        while not os.path.isdir(parent):  # every folder made here is removed again on failure
            missing.append(parent)
            parent = os.path.dirname(parent)
        for d in reversed(missing):
            os.mkdir(d)
            made.append(d)
        os.rename(src, dst)
        undo.append((src, dst))

    try:
        if owned is not None:  # the old output's own files that this run did not write go first
            fresh = {os.path.relpath(os.path.join(r, f), stage) for r, _, fs in os.walk(stage) for f in fs}
            for rel in files_under(out, skip=(stage, trash)):
                if owned(rel.replace(os.sep, "/")) and rel not in fresh:
                    move(os.path.join(out, rel), os.path.join(trash, rel))
        for root, _, files in os.walk(stage):
            sub = os.path.relpath(root, stage)
            for f in sorted(files):
                rel = os.path.normpath(os.path.join(sub, f))
                dest = os.path.join(out, rel)
                # a symbolic link is moved aside itself, even one to a folder
                if os.path.islink(dest) or (os.path.lexists(dest) and not os.path.isdir(dest)):
                    move(dest, os.path.join(trash, rel))
                move(os.path.join(root, f), dest)
    except BaseException as e:
        # best effort; a step that cannot be undone leaves its file where it
        # is, and the trash folder then stays, so that no old file is lost
        for src, dst in reversed(undo):
            try:
                os.rename(dst, src)
            except OSError:
                trash_kept = True
        for d in reversed(made):
            try:
                os.rmdir(d)
            except OSError:
                pass
        if trash_kept and isinstance(e, OSError):  # say where the old files are
            raise OSError(e.errno, f"{e.strerror or e}; some old files could not be put back: they are in "
                                   f"{trash}", e.filename) from e
        raise
    finally:
        if not trash_kept:
            shutil.rmtree(trash, ignore_errors=True)


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
