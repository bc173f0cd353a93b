"""MNIST downloaded on first use: the real download code against a loopback
HTTP server serving ../shared/data/mnist (success, the cache, a 404 mirror,
corrupt, truncated, slow and unreachable mirrors, an interrupted download).

No test can reach the internet: every test empties the shipped mirror list,
and ``urlopen`` refuses any host but 127.0.0.1 in this module
(:func:`helpers.nn.refuse_non_loopback`).
"""

from __future__ import annotations

import gzip
import hashlib
import os
import socket
import time

import numpy as np
import pytest
from helpers.nn import MnistMirror, mnist_dir, refuse_non_loopback
from typer.testing import CliRunner

from stabkit.nn import download
from stabkit.nn.data import DataError, load_mnist

T10K = ("t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz")
TRAIN = ("train-images-idx3-ubyte.gz", "train-labels-idx1-ubyte.gz")


def _shared() -> dict[str, bytes]:
    folder = mnist_dir()
    if not all((folder / n).is_file() for n in T10K):
        pytest.skip(f"the MNIST test set is not at {folder} (set STABKIT_MNIST_DIR to its folder)")
    return {n: (folder / n).read_bytes() for n in T10K}


@pytest.fixture(autouse=True)
def _loopback_only(monkeypatch, tmp_path):
    """No mirror from the shipped list, no user settings, a fresh cache, and
    urlopen refuses every host but 127.0.0.1."""
    refuse_non_loopback(monkeypatch)
    monkeypatch.setenv("STABKIT_DATA_DIR", str(tmp_path / "data"))


@pytest.fixture
def server(monkeypatch):
    """The t10k files served under /m/ by their own and the training-set
    names, with the training checksums injected to match."""
    s = MnistMirror(_shared())
    monkeypatch.setattr(download, "MNIST_SHA256", s.checksums())
    yield s
    s.close()


def _closed_port_url() -> str:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    return f"http://127.0.0.1:{port}/mnist/"


def _listing(folder):
    return sorted(p.name for p in folder.iterdir()) if folder.exists() else []


def test_shipped_table_holds_the_canonical_test_set_sums():
    for name, data in _shared().items():
        raw = gzip.decompress(data)
        assert download.MNIST_SHA256[name] == (hashlib.sha256(raw).hexdigest(), len(raw)), name
    assert download.MNIST_SHA256["train-images-idx3-ubyte.gz"][1] == 16 + 60000 * 28 * 28
    assert download.MNIST_SHA256["train-labels-idx1-ubyte.gz"][1] == 8 + 60000


def test_cache_folder_follows_the_environment(monkeypatch, tmp_path):
    assert download.cache_dir() == tmp_path / "data" / "mnist"
    monkeypatch.delenv("STABKIT_DATA_DIR")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert download.cache_dir() == tmp_path / "xdg" / "stabkit" / "mnist"
    monkeypatch.delenv("XDG_CACHE_HOME")
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    assert download.cache_dir() == tmp_path / "home" / ".cache" / "stabkit" / "mnist"


def test_first_call_downloads_the_second_reads_the_cache(server, monkeypatch, tmp_path, capsys):
    monkeypatch.setenv("STABKIT_MNIST_MIRROR", server.url("m"))
    (x_train, y_train), (x_test, y_test) = load_mnist()
    assert x_train.shape == x_test.shape == (10000, 28, 28) and y_train.shape == y_test.shape == (10000,)
    assert {a.dtype for a in (x_train, y_train, x_test, y_test)} == {np.dtype(np.uint8)}
    assert np.bincount(y_test).tolist() == [980, 1135, 1032, 1010, 982, 892, 958, 1028, 974, 1009]
    assert np.array_equal(x_train, x_test)  # the training names serve the test set here
    assert len(server.requests) == 4
    assert _listing(tmp_path / "data" / "mnist") == sorted(TRAIN + T10K)
    err = capsys.readouterr().err
    assert f"downloading {server.url('m')}train-images-idx3-ubyte.gz (1.6 MB)" in err
    load_mnist(quiet=True)
    assert len(server.requests) == 4  # read from the cache, no request


def test_a_404_mirror_is_skipped(server, tmp_path):
    folder = download.fetch_mnist(T10K, urls=[server.url("missing"), server.url("m")], quiet=True)
    assert _listing(folder) == sorted(T10K)
    assert server.requests == [f"/missing/{T10K[0]}", f"/m/{T10K[0]}", f"/missing/{T10K[1]}", f"/m/{T10K[1]}"]


def test_cached_files_get_the_umask_mode_not_mkstemps_0600(server, tmp_path):
    old = os.umask(0o022)
    try:
        folder = download.fetch_mnist(T10K, urls=[server.url("m")], quiet=True)
    finally:
        os.umask(old)
    assert {oct((folder / name).stat().st_mode & 0o777) for name in T10K} == {oct(0o644)}


def test_only_the_missing_files_are_fetched(server, tmp_path):
    folder = tmp_path / "data" / "mnist"
    folder.mkdir(parents=True)
    (folder / T10K[0]).write_bytes(server.files[f"/m/{T10K[0]}"])
    download.fetch_mnist(T10K, urls=[server.url("m")], quiet=True)
    assert server.requests == [f"/m/{T10K[1]}"]


def _fails(server, message, urls=None, **kwargs):
    with pytest.raises(DataError, match=message) as e:
        download.fetch_mnist(T10K, urls=urls or [server.url("m")], quiet=True, **kwargs)
    return str(e.value)


def test_a_file_with_other_content_is_a_checksum_mismatch(server, tmp_path):
    raw = bytearray(gzip.decompress(server.files[f"/m/{T10K[0]}"]))
    raw[5000] ^= 1
    server.files[f"/m/{T10K[0]}"] = gzip.compress(bytes(raw), compresslevel=1)
    msg = _fails(server, f"checksum mismatch: {T10K[0]} holds 7840016 bytes with sha256 ")
    assert "\n" not in msg
    assert _listing(tmp_path / "data" / "mnist") == []  # nothing half-written, no .part file


def test_corrupt_gzip_data_is_named(server, tmp_path):
    data = bytearray(server.files[f"/m/{T10K[1]}"])
    data[len(data) // 2] ^= 0xFF
    server.files[f"/m/{T10K[1]}"] = bytes(data)
    _fails(server, f"cannot download MNIST {T10K[1]}: .*(corrupt gzip data in {T10K[1]}|checksum mismatch: {T10K[1]})")
    assert _listing(tmp_path / "data" / "mnist") == [T10K[0]]  # the good file stays, verified


@pytest.mark.parametrize("how", ["connection closed early", "short file"])
def test_a_truncated_download_is_named(server, tmp_path, how):
    path = f"/m/{T10K[0]}"
    if how == "short file":
        server.files[path] = server.files[path][:100_000]
        message = f"truncated: the gzip stream of {T10K[0]} ends after"
    else:
        server.mode[path] = "cut"
        message = "truncated: received"
    _fails(server, message)
    assert _listing(tmp_path / "data" / "mnist") == []


def test_a_slow_server_times_out(server, tmp_path):
    server.mode[f"/m/{T10K[0]}"] = "slow"
    start = time.monotonic()
    _fails(server, r"timed out after 0.2 s", timeout=0.2)
    assert time.monotonic() - start < 5
    assert _listing(tmp_path / "data" / "mnist") == []


def test_offline_error_names_urls_cache_and_the_ways_out(tmp_path):
    url = _closed_port_url()
    with pytest.raises(DataError) as e:
        download.fetch_mnist(urls=[url], quiet=True)
    msg = str(e.value)
    cache = tmp_path / "data" / "mnist"
    for part in (f"{url}train-images-idx3-ubyte.gz (connection refused", f"Cache folder: {cache}", "--data-dir",
                 "$STABKIT_MNIST_DIR", f"the four MNIST .gz files ({', '.join(download.MNIST_SHA256)})"):
        assert part in msg, part
    assert "\n" not in msg and _listing(cache) == []


def test_load_mnist_offline_tries_the_configured_mirror(monkeypatch, tmp_path):
    url = _closed_port_url()
    monkeypatch.setenv("STABKIT_MNIST_MIRROR", url)
    with pytest.raises(DataError, match=f"cannot download MNIST train-images-idx3-ubyte.gz: {url}"):
        load_mnist(quiet=True)


def test_an_interrupted_download_leaves_nothing(server, tmp_path):
    calls = []

    def interrupt(url, done, total):
        calls.append(done)
        if len(calls) == 3:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        download.fetch_mnist(T10K, urls=[server.url("m")], progress=interrupt)
    assert calls[1] > 0 and _listing(tmp_path / "data" / "mnist") == []


def test_a_folder_without_the_training_set_says_what_to_use(tmp_path):
    folder = tmp_path / "t10k"
    folder.mkdir()
    with pytest.raises(DataError, match=r"no train-images-idx3-ubyte or .*read_mnist\(folder, split='test'\)"):
        load_mnist(folder)
    with pytest.raises(DataError, match="no such data folder"):
        load_mnist(tmp_path / "absent")


def test_train_downloads_the_full_split_into_the_cache(server, monkeypatch, tmp_path):
    from stabkit.cli import app

    monkeypatch.setenv("STABKIT_MNIST_MIRROR", server.url("m"))
    r = CliRunner().invoke(app, ["train", "--dataset", "mnist", "--epochs", "1", "--json"])
    assert r.exit_code == 0, r.output
    assert f"MNIST train/t10k from {tmp_path / 'data' / 'mnist'}" in r.stdout
    assert len(server.requests) == 4


def test_train_offline_is_one_line(monkeypatch, tmp_path):
    from stabkit.cli import app

    monkeypatch.setenv("STABKIT_MNIST_MIRROR", _closed_port_url())
    r = CliRunner().invoke(app, ["train", "--dataset", "mnist", "--epochs", "1"])
    assert r.exit_code == 1 and r.stderr.count("\n") == 1 and "Traceback" not in r.output
    assert r.stderr.startswith("error: cannot download MNIST train-images-idx3-ubyte.gz: ")
    assert "--data-dir" in r.stderr and str(tmp_path / "data" / "mnist") in r.stderr


def test_an_unwritable_cache_is_one_clear_error(server, tmp_path):
    folder = tmp_path / "data" / "mnist"
    (folder / T10K[0]).mkdir(parents=True)  # a folder where the file should go: os.replace fails
    with pytest.raises(DataError, match=f"cannot write {T10K[0]} into the MNIST cache folder .*STABKIT_DATA_DIR"):
        download.fetch_mnist(T10K, urls=[server.url("m")], quiet=True)
    assert _listing(folder) == [T10K[0]] and not any(folder.glob(".*.part"))


def test_progress_bar_on_a_terminal_plain_lines_elsewhere():
    import io

    class Tty(io.StringIO):
        def isatty(self):
            return True

    tty, pipe = Tty(), io.StringIO()
    for stream in (tty, pipe):
        bar = download.StderrProgress(stream)
        for done in (0, 40_000, 250_000):
            bar("http://127.0.0.1:1/m/t10k-images-idx3-ubyte.gz", done, 250_000)
        bar.close()
    assert "t10k-images-idx3-ubyte.gz" in tty.getvalue() and "250.0/250.0 kB" in tty.getvalue()
    assert pipe.getvalue() == "downloading http://127.0.0.1:1/m/t10k-images-idx3-ubyte.gz (0.2 MB)\n"
