"""Reference chunks on an in-process dask.distributed cluster give the same
references as the local run."""

from __future__ import annotations

import numpy as np
import pytest

from stabkit.distributed import DistributedError, executor_for
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


def test_no_scheduler_means_local():
    with executor_for(None) as ex:
        assert ex is None


def test_unreachable_scheduler_is_one_clear_error():
    with pytest.raises(DistributedError, match="cannot use the Dask scheduler 'tcp://127.0.0.1:9'"):
        with executor_for("tcp://127.0.0.1:9", timeout=1):
            pass
