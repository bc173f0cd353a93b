"""How references are computed: cache, worker processes, executor.

None of these changes a result, only how long it takes. The CLI builds one
:class:`ReferenceOptions` from its options and passes it down (to
``references()``, ``analyze_sample()``, ``report.run()``); nothing keeps it
in a module global.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

__all__ = ["ReferenceOptions", "DEFAULT_OPTIONS"]


@dataclass(frozen=True)
class ReferenceOptions:
    """``cache``: read and write the on-disk cache; ``workers``: processes
    for the mpmath points; ``executor``: a ``concurrent.futures.Executor``
    (e.g. Dask's, see :mod:`stabkit.reference.executors`) that runs them."""

    cache: bool = False
    workers: int = 1
    executor: Any = None

    def kwargs(self) -> dict:
        """The keyword arguments of :func:`stabkit.reference.reference`."""
        return {"cache": self.cache, "workers": self.workers, "executor": self.executor}


#: no cache, one process, no executor
DEFAULT_OPTIONS = ReferenceOptions()
