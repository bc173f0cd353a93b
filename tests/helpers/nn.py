"""Shared helpers for the trainer tests: where MNIST lives, a loopback MNIST
mirror, the lecture model."""

from __future__ import annotations

import gzip
import hashlib
import http.server
import os
import threading
import time
import urllib.parse
import urllib.request
from pathlib import Path

import numpy as np
import pytest

from stabkit.nn import Dense, Sequential

REPO = Path(__file__).resolve().parents[2]


def mnist_dir() -> Path:
    """``$STABKIT_MNIST_DIR``, else ``../shared/data/mnist`` beside the repository."""
    env = os.environ.get("STABKIT_MNIST_DIR")
    return Path(env) if env else (REPO / ".." / "shared" / "data" / "mnist").resolve()


def mnist_split():
    """The first 8,000 MNIST test images for training, the last 2,000 for testing."""
    from stabkit.nn.data import read_mnist

    folder = mnist_dir()
    if not (folder / "t10k-images-idx3-ubyte.gz").exists():
        pytest.skip(f"the MNIST test set is not at {folder} (set STABKIT_MNIST_DIR to its folder)")
    X, y = read_mnist(folder, split="test")
    return X[:8000], y[:8000], X[8000:], y[8000:]


def lecture_model(last="linear") -> Sequential:
    """Dense(25, relu) -> Dense(15, relu) -> Dense(10, ``last``), as on the slide."""
    return Sequential([Dense(25, activation="relu"), Dense(15, activation="relu"), Dense(10, activation=last)])


def refuse_non_loopback(monkeypatch) -> None:
    """Make a test unable to reach the internet while downloading MNIST: the
    shipped mirror list emptied, ``$STABKIT_MNIST_MIRROR`` and
    ``$STABKIT_MNIST_DIR`` unset, and ``urllib.request.urlopen`` failing the
    test for any host but 127.0.0.1."""
    from stabkit.nn import download

    monkeypatch.setattr(download, "MNIST_MIRRORS", ())
    for var in ("STABKIT_MNIST_MIRROR", "STABKIT_MNIST_DIR"):
        monkeypatch.delenv(var, raising=False)
    real = urllib.request.urlopen

    def guarded(url, *args, **kwargs):
        host = urllib.parse.urlsplit(url if isinstance(url, str) else url.full_url).hostname
        if host != "127.0.0.1":
            raise AssertionError(f"a test tried to reach {url}")
        return real(url, *args, **kwargs)

    monkeypatch.setattr(urllib.request, "urlopen", guarded)


class MnistMirror:
    """A loopback HTTP server (127.0.0.1, an ephemeral port, a thread) that
    serves ``t10k`` (``{name: gz bytes}`` of the two test-set files) under
    ``/m/`` by their own names and by the training-set names.

    ``files`` maps a URL path to bytes (change it to serve something else);
    ``mode`` maps a path to ``'slow'`` (headers and half the body, then a
    1 s pause) or ``'cut'`` (the full Content-Length announced, half the
    body sent); ``requests`` lists every path asked for;
    :meth:`checksums` is the table to inject for these files.
    """

    TRAIN = {"train-images-idx3-ubyte.gz": "t10k-images-idx3-ubyte.gz",
             "train-labels-idx1-ubyte.gz": "t10k-labels-idx1-ubyte.gz"}

    def __init__(self, t10k: dict[str, bytes]):
        self.t10k = dict(t10k)
        self.files = {f"/m/{n}": data for n, data in self.t10k.items()}
        self.files.update({f"/m/{train}": self.t10k[test] for train, test in self.TRAIN.items()})
        self.mode, self.requests = {}, []
        mirror = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self):
                mirror.requests.append(self.path)
                body = mirror.files.get(self.path)
                if body is None:
                    self.send_error(404)
                    return
                self.send_response(200)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                mode = mirror.mode.get(self.path)
                if mode in ("slow", "cut"):
                    self.wfile.write(body[: len(body) // 2])
                    self.wfile.flush()
                    if mode == "slow":
                        time.sleep(1.0)
                    self.close_connection = True
                    return
                self.wfile.write(body)

            def log_message(self, *args):
                pass

        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.httpd.serve_forever, args=(0.05,), daemon=True).start()

    def __repr__(self) -> str:
        return f"MnistMirror({self.url('m')}, {len(self.requests)} requests)"

    def url(self, prefix: str = "m") -> str:
        """The base URL of the folder ``/prefix/``."""
        return f"http://127.0.0.1:{self.httpd.server_address[1]}/{prefix}/"

    def checksums(self) -> dict:
        """The shipped checksum table, the training names mapped to the sums
        of the test-set files served under them."""
        from stabkit.nn import download

        table = dict(download.MNIST_SHA256)
        for train, test in self.TRAIN.items():
            raw = gzip.decompress(self.t10k[test])
            table[train] = (hashlib.sha256(raw).hexdigest(), len(raw))
        return table

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


def keras_optimizer_steps(cls: str, kw: dict, slots: dict, p0: np.ndarray, steps: list) -> np.ndarray:
    """Keras 3's optimizer ``cls(**kw)`` applied to float32 variables cut
    from the flat ``p0`` by ``slots`` (name: (slice, shape)), one
    ``apply_gradients`` per flat gradient in ``steps``; the variables flat
    again. Skips the test where Keras is not installed."""
    os.environ.setdefault("KERAS_BACKEND", "jax")
    keras = pytest.importorskip("keras", reason="Keras 3 is not installed")
    variables = [keras.Variable(p0[sl].reshape(shape).astype("float32")) for sl, shape in slots.values()]
    opt = getattr(keras.optimizers, cls)(**kw)
    for g in steps:
        opt.apply_gradients(zip([g[sl].reshape(shape).astype("float32") for sl, shape in slots.values()], variables))
    return np.concatenate([np.asarray(keras.ops.convert_to_numpy(v)).ravel() for v in variables])
