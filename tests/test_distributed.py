"""Reference chunks on an in-process dask.distributed cluster give the same
references as the local run."""

from __future__ import annotations

import numpy as np
import pytest

from stabkit.reference.executors import DistributedError, executor_for
from stabkit.reference import reference

pytest.importorskip("distributed", reason="dask.distributed not installed (pip install 'stabkit[dask]')")


def test_local_cluster_gives_the_same_references():
    rng = np.random.default_rng(4)
    x = (rng.normal(size=(300, 7)) * 15).astype(np.float32)
    local = reference("log_softmax", x)
    seen = []
    with executor_for("local", 2, processes=False) as ex:
        remote = reference("log_softmax", x, executor=ex, progress=seen.append)
    assert np.array_equal(local.rounded.view(np.uint32), remote.rounded.view(np.uint32))
    assert np.array_equal(local.hi, remote.hi) and np.array_equal(local.precision, remote.precision)
    assert sum(seen) == 300


def test_in_process_cluster_has_one_worker_thread():
    # mpmath's working precision is one global setting: two worker threads in
    # one process raced on it (a wrong reference now and then, and a
    # precision leaked into the next test)
    with executor_for("local", 2, processes=False) as ex:
        assert len(ex._client.scheduler_info()["workers"]) == 1


def test_a_local_cluster_takes_no_fixed_port():
    # the scheduler's HTTP server (started without a dashboard too) took
    # Dask's default port 8787: a run beside another cluster printed a
    # four-line "Port 8787 is already in use" warning (a CI run found it)
    import socket
    import warnings

    with socket.socket() as held:
        try:
            held.bind(("127.0.0.1", 8787))
        except OSError:
            pass  # taken already: the conflict is there either way
        with warnings.catch_warnings():
            warnings.simplefilter("error")
            with executor_for("local", 1, processes=False) as ex:
                assert ex._client.scheduler_info()["services"].get("dashboard") != 8787
                assert ex.submit(sum, [1, 2]).result() == 3


def test_no_scheduler_means_local():
    with executor_for(None) as ex:
        assert ex is None


def test_unreachable_scheduler_is_one_clear_error():
    with pytest.raises(DistributedError, match="cannot use the Dask scheduler 'tcp://127.0.0.1:9'"):
        with executor_for("tcp://127.0.0.1:9", timeout=1):
            pass


def test_sweep_on_a_local_cluster_matches_the_local_run(tmp_path):
    from stabkit.analysis import sweep as sw

    kw = {"start": 0x3E000000, "stop": 0x3E000000 + 2**13, "chunk": 2**11}
    impls = ("naive", "stable", "accurate")
    local = sw.sweep("softplus", "float32", impls, state=tmp_path / "a", workers=1, **kw)
    with executor_for("local", 2, processes=False) as ex:
        remote = sw.sweep("softplus", "float32", impls, state=tmp_path / "b", executor=ex, **kw)
    assert remote.stats == local.stats
    # the chunks computed on the cluster were saved here: a rerun reuses them all
    again = sw.sweep("softplus", "float32", impls, state=tmp_path / "b", workers=1, **kw)
    assert again.reused == again.chunks and again.stats == local.stats


@pytest.mark.slow
def test_cli_scheduler_option(tmp_path):
    from typer.testing import CliRunner

    from stabkit.cli import app

    r = CliRunner().invoke(app, ["analyze", "log_softmax", "--dtype", "float32", "--samples", "3000",
                                 "--impls", "stable,accurate", "--scheduler", "local", "--workers", "2", "--json"])
    assert r.exit_code == 0, r.output
    local = CliRunner().invoke(app, ["analyze", "log_softmax", "--dtype", "float32", "--samples", "3000",
                                     "--impls", "stable,accurate", "--json"])
    assert r.stdout == local.stdout
    bad = CliRunner().invoke(app, ["analyze", "sigmoid", "--samples", "10", "--scheduler", "tcp://127.0.0.1:9"])
    assert bad.exit_code == 1 and bad.stderr.count("\n") == 1 and "cannot use the Dask scheduler" in bad.stderr


def test_reference_chunks_on_threads_take_turns(monkeypatch):
    # a Dask worker with several threads runs chunks side by side in one
    # process; they must not change mpmath's precision under each other:
    # every point is settled holding the process's mpmath lock
    from concurrent.futures import ThreadPoolExecutor

    import stabkit.reference.ziv as ref_mod

    held = []
    settle = ref_mod._settle_point

    def spy(*args, **kw):
        held.append(ref_mod.MP_LOCK._is_owned())
        return settle(*args, **kw)

    rng = np.random.default_rng(9)
    x = rng.normal(size=(200, 6)) * 20
    local = reference("log_softmax", x)
    monkeypatch.setattr(ref_mod, "_settle_point", spy)
    with ThreadPoolExecutor(4) as pool:
        threaded = reference("log_softmax", x, executor=pool, cache=False)
    assert held and all(held)
    assert np.array_equal(local.rounded, threaded.rounded) and np.array_equal(local.precision, threaded.precision)
