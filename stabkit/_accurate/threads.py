"""Worker threads for the accurate tier: :func:`workers` (a context manager)
and the two loops that obey it, over blocks (:func:`each`) and over the
chunks of one ufunc call (:func:`split_call`).

Every function of the accurate tier works through its input in independent
blocks of whole rows (or of elements), each written to its own slice of the
output, and spends its time in NumPy calls and compiled kernels that release
the GIL. So giving contiguous runs of blocks to threads changes no
arithmetic: the results are bit for bit those of one thread (the tests
compare them), and only the blocks' order in time differs. Losses reduced to
a mean or sum reduce the per-row values after the loop, in one thread, in
the same order as always.

The count is per context (a :class:`contextvars.ContextVar`), so threads and
asyncio tasks of the caller each keep their own. Inside the workers the
caller's context runs (copied per task): ``np.errstate`` and the count
itself come along.
"""

from __future__ import annotations

import contextlib
import contextvars
import functools
import inspect
import os
import threading
from concurrent.futures import ThreadPoolExecutor

import numpy as np

__all__ = ["workers", "current", "each", "split_call", "keyword", "MIN_SPLIT"]

_COUNT: contextvars.ContextVar[int] = contextvars.ContextVar("stabkit_workers", default=1)

#: a single ufunc call is split only from this many elements on (below it
#: the threads' start costs more than they save)
MIN_SPLIT = 1 << 16

_POOL: ThreadPoolExecutor | None = None
_POOL_SIZE = 0
_POOL_LOCK = threading.Lock()


def _count(n) -> int:
    """``n`` as a worker count: a positive int, or -1 for every CPU (SciPy's
    ``workers=-1``); TypeError or ValueError naming ``workers`` otherwise."""
    if isinstance(n, np.integer):
        n = int(n)
    if isinstance(n, bool) or not isinstance(n, int):
        raise TypeError(f"workers must be an int (a positive count, or -1 for every CPU), got {n!r}")
    if n == -1:
        return os.cpu_count() or 1
    if n < 1:
        raise ValueError(f"workers must be a positive count or -1 (every CPU), got {n}")
    return n


@contextlib.contextmanager
def workers(n=-1):
    """Run the accurate tier's functions on ``n`` threads inside the block
    (``-1``, the default: one per CPU; ``1``: the caller's thread alone).

    ``with stabkit.accurate.workers(2): y = accurate.softmax(x)`` gives the
    same bits as without it; large inputs (a few blocks of ~10**5 elements
    or more) go faster, small ones are left on the caller's thread."""
    token = _COUNT.set(_count(n))
    try:
        yield
    finally:
        _COUNT.reset(token)


_KEYWORD_DOC = """
``workers``: run on this many threads (``-1``: one per CPU), as inside
``with stabkit.accurate.workers(n):``; the same bits as one thread. None
(the default) keeps the count in force (1 outside such a block)."""


def keyword(f):
    """``f`` with a keyword-only ``workers=None`` (SciPy's spelling, as in
    ``scipy.fft``): ``f(x, workers=2)`` is ``f(x)`` inside ``workers(2)``.
    The count is checked before the call (TypeError or ValueError naming
    ``workers``), and the public signature and docstring show the option."""
    enter = workers  # the parameter below shadows the context manager's name

    @functools.wraps(f)
    def g(*args, workers=None, **kwargs):
        if workers is None:
            return f(*args, **kwargs)
        with enter(workers):
            return f(*args, **kwargs)

    sig = inspect.signature(f)
    params = list(sig.parameters.values())
    g.__signature__ = sig.replace(parameters=params + [inspect.Parameter("workers", inspect.Parameter.KEYWORD_ONLY, default=None)])
    g.__doc__ = (f.__doc__ or "").rstrip() + "\n" + _KEYWORD_DOC
    del g.__wrapped__  # inspect shows the signature above, not f's
    return g


def current() -> int:
    """The worker count in force here (1 outside :func:`workers`)."""
    return _COUNT.get()


def _pool(n: int) -> ThreadPoolExecutor:
    """One shared pool, replaced by a larger one when a larger count is asked
    for (the old one is not shut down: another caller may be submitting to it;
    its idle threads end when it is collected)."""
    global _POOL, _POOL_SIZE
    with _POOL_LOCK:
        if _POOL is None or _POOL_SIZE < n:
            _POOL, _POOL_SIZE = ThreadPoolExecutor(n, thread_name_prefix="stabkit"), n
        return _POOL


def _run(tasks) -> None:
    """Run the callables ``tasks`` on the pool, each in a copy of the
    caller's context with one worker (a function that calls another inside a
    task must not wait for the pool it is running on); the first exception
    is raised after all have ended."""

    def alone(t):
        _COUNT.set(1)  # in the task's own copy of the context
        return t()

    pool = _pool(len(tasks))
    futures = [pool.submit(contextvars.copy_context().run, alone, t) for t in tasks]
    errors = [f.exception() for f in futures]
    for e in errors:
        if e is not None:
            raise e


def each(body, items) -> None:
    """``body(item)`` for every item (slices of independent blocks), the
    items cut into :func:`current` contiguous runs, one per thread; in order
    on the caller's thread when there is one worker or one item."""
    items = list(items)
    n = min(current(), len(items))
    if n <= 1:
        for it in items:
            body(it)
        return

    def run(part):
        return lambda: [body(it) for it in part]

    bounds = [len(items) * k // n for k in range(n + 1)]
    _run([run(items[bounds[k]: bounds[k + 1]]) for k in range(n)])


def split_call(ufunc, *args, out) -> None:
    """``ufunc(*args, out=out)`` for arrays of one shape, the flat elements
    cut into :func:`current` contiguous chunks, one per thread, when there
    are at least ``MIN_SPLIT`` of them and every array is C-contiguous."""
    size = out.size
    n = min(current(), size // MIN_SPLIT)
    if n <= 1 or not all(a.shape == out.shape and a.flags.c_contiguous for a in (*args, out)):
        ufunc(*args, out=out)
        return
    flat = [a.reshape(-1) for a in args]
    fo = out.reshape(-1)
    bounds = [size * k // n for k in range(n + 1)]

    def chunk(s):
        return lambda: ufunc(*(f[s] for f in flat), out=fo[s])

    _run([chunk(slice(bounds[k], bounds[k + 1])) for k in range(n)])
