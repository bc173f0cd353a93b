"""A Dask cluster that a Ctrl-C ends in one line (``error: interrupted``).

Ctrl-C on a terminal signals the whole process group: a ``--scheduler
local`` cluster's worker processes each raised ``KeyboardInterrupt`` and
printed its traceback, and while the cluster closed, its workers and the
scheduler logged every task cancelled (about 70 lines on stderr in all).
Here the workers start with SIGINT blocked (the command, not they, answers
a Ctrl-C, and closes them in order), their stderr goes through a pipe that
stops passing it on once the command is interrupted, and this process's
logging stops then too. Until then everything they print is printed.
"""

from __future__ import annotations

import contextlib
import logging
import os
import signal
import threading

from .. import _interrupt

__all__ = ["quiet_on_interrupt"]


@contextlib.contextmanager
def quiet_on_interrupt(executor_cm, local: bool):
    """``executor_cm`` (from :func:`stabkit.reference.executors.executor_for`)
    entered; for a ``local`` cluster, with its worker processes started as
    described above. After an interrupt, nothing more from Dask is shown."""
    muted = threading.Event()
    copier = None
    try:
        with contextlib.ExitStack() as stack:
            if local:
                copier = stack.enter_context(_workers_quiet_after(muted))
            with executor_cm as ex:
                try:
                    stack.close()  # the workers are up: our stderr and SIGINT are ours again
                    yield ex
                finally:
                    _mute_if_interrupted(muted)  # before the cluster closes: it logs each task it cancels
    finally:
        _mute_if_interrupted(muted)
        if copier is not None and not muted.is_set():
            copier.join(timeout=1)  # the workers' last lines, if any (they have exited)


def _mute_if_interrupted(muted: threading.Event) -> None:
    if _interrupt.seen():
        muted.set()
        logging.disable(logging.CRITICAL)  # the command ends now: Dask's logs of its shutdown are not news


@contextlib.contextmanager
def _workers_quiet_after(muted: threading.Event):
    """While the block starts processes: SIGINT blocked (inherited by them,
    and by the threads that start them; a Ctrl-C meanwhile waits and comes
    after), and their stderr a pipe copied to ours until ``muted``. Yields
    the copying thread."""
    try:
        from multiprocessing import resource_tracker

        resource_tracker.ensure_running()  # started now, it would hold the pipe open until we exit
    except Exception:  # noqa: BLE001 - without it the copier only waits longer at the end
        pass
    if not hasattr(signal, "pthread_sigmask"):  # Windows: no process groups to signal, no masks to inherit
        yield None
        return
    try:
        saved = os.dup(2)
        read, write = os.pipe()
    except OSError:  # no stderr to copy: they inherit whatever there is
        yield None
        return
    thread = threading.Thread(target=_copy, args=(read, saved, muted), name="stabkit-dask-stderr", daemon=True)
    old = signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGINT})
    try:
        thread.start()
        os.dup2(write, 2)
        yield thread
    finally:
        os.dup2(saved, 2)
        os.close(write)  # the workers hold the pipe's other copies: it ends when they do
        signal.pthread_sigmask(signal.SIG_SETMASK, old)


def _copy(read: int, to: int, muted: threading.Event) -> None:
    """Copy the pipe to ``to`` (our stderr) until it ends; drop it once ``muted``."""
    with open(read, "rb", buffering=0) as pipe, open(to, "wb", buffering=0) as out:
        for chunk in iter(lambda: pipe.read(65536), b""):
            if not muted.is_set():
                try:
                    out.write(chunk)
                except OSError:
                    muted.set()
