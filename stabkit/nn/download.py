"""MNIST downloaded on first use, verified, cached (as Keras and torchvision do).

The four ``.gz`` files are fetched from the mirrors in :data:`MNIST_MIRRORS`
(or only ``$STABKIT_MNIST_MIRROR`` when set), tried in order, into
:func:`cache_dir`. Standard library only (``urllib``).

Verification. Each file is checked against the SHA-256 and the size of its
*decompressed* IDX bytes (:data:`MNIST_SHA256`), not of the ``.gz`` bytes: a
mirror that recompressed the same data (another gzip header, time stamp or
level) serves valid MNIST, and the
decompressed sums are the ones every copy agrees on. The two t10k sums were
computed here from the canonical files (whose MD5s, 2646ac64... and
27ae3e4e..., are the published ones); the two training sums are the values
published for the canonical files, and a copy of the training files from the
package registry matched them byte for byte (docs/trainer.md, "The full
MNIST"). A wrong file is never accepted: any mismatch is "checksum mismatch"
naming the file.
Decompression stops one byte past the expected size, so a small file that
inflates to gigabytes is rejected without being inflated.

Atomicity. A file is written to a hidden ``.NAME.*.part`` file in the cache
folder, verified, then renamed over ``NAME`` (:func:`os.replace`). Any
failure, ``KeyboardInterrupt`` included, removes the ``.part`` file; the
cache only ever holds complete, verified files under their real names (a
process killed outright can leave a ``.part`` file, never read as data).
"""

from __future__ import annotations

import hashlib
import os
import sys
import tempfile
import zlib
from collections.abc import Callable, Iterable
from pathlib import Path

from stabkit._io import open_up

from .errors import DataError

__all__ = ["MNIST_MIRRORS", "MNIST_SHA256", "TIMEOUT", "cache_dir", "mirrors", "fetch_mnist", "StderrProgress"]

#: Base URLs holding the four ``.gz`` files, tried in order (torchvision's
#: first mirror, then TensorFlow Datasets' copy of LeCun's files).
MNIST_MIRRORS = (
    "https://ossci-datasets.s3.amazonaws.com/mnist/",
    "https://storage.googleapis.com/cvdf-datasets/mnist/",
)

#: ``.gz`` file -> (SHA-256, size in bytes) of its decompressed IDX content.
MNIST_SHA256 = {
    "train-images-idx3-ubyte.gz": ("ba891046e6505d7aadcbbe25680a0738ad16aec93bde7f9b65e87a2fc25776db", 47040016),
    "train-labels-idx1-ubyte.gz": ("65a50cbbf4e906d70832878ad85ccda5333a97f0f4c3dd2ef09a8a9eef7101c5", 60008),
    "t10k-images-idx3-ubyte.gz": ("0fa7898d509279e482958e8ce81c8e77db3f2f8254e26661ceb7762c4d494ce7", 7840016),
    "t10k-labels-idx1-ubyte.gz": ("ff7bcfd416de33731a308c3f266cc351222c34898ecbeaf847f06e48f7ec33f2", 10008),
}

#: seconds to wait for a connection or for each read from a mirror
TIMEOUT = 30.0
_CHUNK = 1 << 16
_GZIP_SLACK = 1 << 16  # a gzip file is at most a little larger than its content

Progress = Callable[[str, int, "int | None"], None]


class _Bad(Exception):
    """One mirror's copy of one file failed; the reason, for the final error."""


def cache_dir() -> Path:
    """Where downloaded MNIST is kept: ``$STABKIT_DATA_DIR/mnist``, else
    ``$XDG_CACHE_HOME/stabkit/mnist``, else ``~/.cache/stabkit/mnist``."""
    if os.environ.get("STABKIT_DATA_DIR"):
        return Path(os.environ["STABKIT_DATA_DIR"]).expanduser() / "mnist"
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base).expanduser() / "stabkit" / "mnist"


def mirrors() -> list[str]:
    """``$STABKIT_MNIST_MIRROR`` alone when set (a mirror the user chose, or a
    test's loopback server: nothing else is asked), else :data:`MNIST_MIRRORS`."""
    own = os.environ.get("STABKIT_MNIST_MIRROR", "").strip()
    return [own] if own else list(MNIST_MIRRORS)


def _size(n: int) -> str:
    return f"{n / 1e6:.1f} MB" if n >= 100_000 else f"{n / 1e3:.1f} kB"


class StderrProgress:
    """The default progress report: a rich bar per file when ``stream``
    (stderr by default) is a terminal, one plain line per file otherwise."""

    def __init__(self, stream=None):
        self.stream = sys.stderr if stream is None else stream
        self._url, self._bar, self._task = None, None, None

    def __repr__(self) -> str:
        return f"StderrProgress({'rich' if self._bar else 'plain'}, at {self._url})"

    def __call__(self, url: str, done: int, total: int | None) -> None:
        if url != self._url:
            self._url = url
            size = f" ({_size(total)})" if total else ""
            if not self._isatty():
                print(f"downloading {url}{size}", file=self.stream, flush=True)
                return
            if self._bar is None:
                from rich.console import Console
                from rich.progress import BarColumn, DownloadColumn, TextColumn, TransferSpeedColumn
                from rich.progress import Progress as Bar

                self._bar = Bar(TextColumn("{task.description}"), BarColumn(), DownloadColumn(),
                                     TransferSpeedColumn(), console=Console(file=self.stream))
                self._bar.start()
            self._task = self._bar.add_task(url.rsplit("/", 1)[-1], total=total)
        if self._bar is not None:
            self._bar.update(self._task, completed=done)

    def _isatty(self) -> bool:
        try:
            return self.stream.isatty()
        except (AttributeError, ValueError):
            return False

    def close(self) -> None:
        """Stop the bar, if one was started."""
        if self._bar is not None:
            self._bar.stop()
            self._bar = None


def _reason(e: BaseException, timeout: float) -> str:
    """A short, readable reason for a failed request."""
    import urllib.error

    if isinstance(e, urllib.error.HTTPError):
        return f"HTTP {e.code} {e.reason}"
    if isinstance(e, urllib.error.URLError):
        if not isinstance(e.reason, BaseException):
            return str(e.reason)
        e = e.reason
    if isinstance(e, TimeoutError):  # socket.timeout is TimeoutError
        return f"timed out after {timeout:g} s"
    if isinstance(e, ConnectionRefusedError):
        return "connection refused"
    if isinstance(e, OSError) and e.strerror:
        return e.strerror
    return str(e) or type(e).__name__


def _verify(path: Path, name: str, expected: tuple[str, int]) -> None:
    """Decompress ``path`` in chunks, never past ``size + 1`` bytes, and
    compare the SHA-256 and size of the content with ``expected``."""
    digest, size = expected
    d, h, n = zlib.decompressobj(wbits=31), hashlib.sha256(), 0
    try:
        with open(path, "rb") as f:
            while not d.eof and (chunk := f.read(_CHUNK)):
                while chunk and not d.eof:
                    out = d.decompress(chunk, _CHUNK)
                    n += len(out)
                    if n > size:
                        raise _Bad(f"checksum mismatch: {name} decompresses to more than the {size} bytes of MNIST's")
                    h.update(out)
                    chunk = d.unconsumed_tail
    except zlib.error as e:
        raise _Bad(f"corrupt gzip data in {name} ({e})") from None
    if not d.eof:
        raise _Bad(f"truncated: the gzip stream of {name} ends after {n} of {size} bytes")
    if h.hexdigest() != digest or n != size:
        raise _Bad(f"checksum mismatch: {name} holds {n} bytes with sha256 {h.hexdigest()}, expected {size} bytes "
                   f"with sha256 {digest}")


def _download(url: str, name: str, folder: Path, expected: tuple[str, int], timeout: float,
              progress: Progress | None) -> None:
    """One file from one URL into ``folder/name``, through a ``.part`` file
    that is verified and renamed, or removed on any failure."""
    import http.client  # here, not at import: urllib.request costs 0.1 s to import
    import urllib.error
    import urllib.request

    limit = expected[1] + _GZIP_SLACK
    fd, tmp = tempfile.mkstemp(prefix=f".{name}.", suffix=".part", dir=folder)
    try:
        with os.fdopen(fd, "wb") as out:
            try:
                with urllib.request.urlopen(url, timeout=timeout) as r:  # noqa: S310 (http/https URLs only)
                    total = r.headers.get("Content-Length")
                    total = int(total) if total and total.isdigit() else None
                    if total is not None and total > limit:
                        raise _Bad(f"the server announces {total} bytes, more than {name} can hold ({limit})")
                    done = 0
                    if progress:
                        progress(url, done, total)
                    while chunk := r.read(_CHUNK):
                        done += len(chunk)
                        if done > limit:
                            raise _Bad(f"the server sent more than {limit} bytes, more than {name} can hold")
                        out.write(chunk)
                        if progress:
                            progress(url, done, total)
                    if total is not None and done < total:
                        raise _Bad(f"truncated: received {done} of {total} bytes")
            except (urllib.error.URLError, http.client.HTTPException, OSError, ValueError) as e:
                if isinstance(e, http.client.IncompleteRead):
                    raise _Bad(f"truncated: received {len(e.partial)} bytes, the connection closed early") from None
                raise _Bad(_reason(e, timeout)) from None
        _verify(Path(tmp), name, expected)
        open_up(tmp)  # a cache file as readable as Keras's, not mkstemp's 0600
        os.replace(tmp, folder / name)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)


def _these(names: list[str]) -> str:
    """The files a call needs, in words: 'the two MNIST .gz files (a, b)'."""
    count = {1: "the", 2: "the two", 3: "the three", 4: "the four"}.get(len(names), f"the {len(names)}")
    return f"{count} MNIST .gz file{'s' if len(names) != 1 else ''} ({', '.join(names)})"


def fetch_mnist(names: Iterable[str] | None = None, folder=None, *, urls: list[str] | None = None,
                timeout: float = TIMEOUT, quiet: bool = False, progress: Progress | None = None) -> Path:
    """Make ``folder`` (default :func:`cache_dir`) hold each ``.gz`` file in
    ``names`` (default all four), downloading only the missing ones, and
    return the folder. A file already there is not checked again: the
    download only ever puts verified files under their real names.

    Each file is tried from each base URL in ``urls`` (default
    :func:`mirrors`) in order until one copy passes verification. Progress
    goes to ``progress(url, bytes_done, bytes_total_or_None)``; by default a
    :class:`StderrProgress`, none with ``quiet``. A file no mirror could
    deliver is a :class:`DataError` naming every URL tried and why it failed,
    the cache folder, ``--data-dir`` and ``$STABKIT_MNIST_DIR``; the files
    fetched before it stay (they are complete and verified).
    """
    folder = Path(folder) if folder is not None else cache_dir()
    names = list(MNIST_SHA256) if names is None else list(names)
    unknown = [n for n in names if n not in MNIST_SHA256]
    if unknown:
        raise DataError(f"unknown MNIST file {unknown[0]!r}; the files are {', '.join(MNIST_SHA256)}")
    missing = [n for n in names if not (folder / n).is_file()]
    if not missing:
        return folder
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise DataError(f"{folder}: cannot create the MNIST cache folder ({e.strerror}); "
                        "set $STABKIT_DATA_DIR to a writable folder") from None
    bases = mirrors() if urls is None else list(urls)
    own = progress is None and not quiet
    report = StderrProgress() if own else (None if quiet else progress)
    try:
        for name in missing:
            tried = []
            for base in bases:
                url = base.rstrip("/") + "/" + name
                try:
                    _download(url, name, folder, MNIST_SHA256[name], timeout, report)
                    break
                except _Bad as e:
                    tried.append(f"{url} ({e})")
                except OSError as e:  # the network's are _Bad: this is the cache folder's
                    raise DataError(f"{folder}: cannot write {name} into the MNIST cache folder ({e.strerror or e}); "
                                    "set $STABKIT_DATA_DIR to a writable folder") from None
            else:
                raise DataError(
                    f"cannot download MNIST {name}: " + ("; ".join(tried) or "no mirror to try")
                    + f". Cache folder: {folder}. Offline? Put {_these(names)} "
                    "in that folder, or pass --data-dir FOLDER (or set $STABKIT_MNIST_DIR) to a folder holding them; "
                    "$STABKIT_MNIST_MIRROR=URL names another mirror"
                )
    finally:
        if own:
            report.close()
    return folder
