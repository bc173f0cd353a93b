"""Run reference chunks on dask.distributed instead of local processes.

``executor_for("local", workers)`` starts a LocalCluster on this machine;
``executor_for("tcp://host:8786")`` connects to a running scheduler. Either
yields a ``concurrent.futures``-compatible executor (``Client.get_executor()``)
that :func:`stabkit.reference.reference` and the sweeps submit their chunks to,
so the chunking, the cache and the results are the same as with the local
process pool. dask is optional (``pip install 'stabkit[dask]'``).
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator

__all__ = ["DistributedError", "executor_for"]


class DistributedError(RuntimeError):
    """The scheduler cannot be used: dask missing, address unreachable."""


@contextlib.contextmanager
def executor_for(scheduler: str | None, workers: int | None = None, *, processes: bool = True,
                 timeout: float = 10.0) -> Iterator:
    """A context yielding an executor for ``scheduler`` (None: yields None,
    meaning "use the local process pool"). A ``local`` cluster without
    ``processes`` gets one worker thread: mpmath's precision is global to a
    process, so threads computing references side by side would race."""
    if not scheduler:
        yield None
        return
    try:
        from distributed import Client, LocalCluster
    except ImportError:
        raise DistributedError("dask.distributed is not installed: pip install 'stabkit[dask]'") from None
    with contextlib.ExitStack() as stack:
        try:
            if scheduler == "local":
                n = workers or os.cpu_count() or 1
                if not processes:
                    # mpmath keeps its working precision in one global setting:
                    # two worker threads in one process would change it under
                    # each other (wrong references, a leaked precision)
                    n = 1
                # no dashboard; the scheduler's own HTTP server (health and
                # metrics routes, started even so) on a free local port: on its
                # default, 8787, a second run beside one printed Dask's
                # four-line "Port 8787 is already in use" warning
                cluster = stack.enter_context(LocalCluster(
                    n_workers=n, threads_per_worker=1, processes=processes, dashboard_address=None,
                    scheduler_kwargs={"dashboard_address": "127.0.0.1:0"}))
                client = stack.enter_context(Client(cluster))
            else:
                client = stack.enter_context(Client(scheduler, timeout=timeout))
        except (OSError, TimeoutError, ValueError) as e:
            raise DistributedError(f"cannot use the Dask scheduler {scheduler!r}: {e}") from None
        yield client.get_executor()
