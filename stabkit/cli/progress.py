"""Progress of the long commands on stderr: a rich bar on a terminal, a plain
line every few seconds elsewhere (CI logs, ``| tee``, notebooks), nothing
with ``--quiet``.

The plain reporter is time-throttled: it prints
``references: 1200/40000 (3%), 0:00:12 elapsed`` at most once every
``every`` seconds, and a final line when it printed any (a run shorter than
``every`` stays silent). Its decisions depend only on the clock it is given,
so tests drive it with a fake one.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import TextIO

__all__ = ["PlainProgress", "progress", "progress_line", "elapsed"]

#: seconds between two plain progress lines
EVERY = 5.0


def elapsed(seconds: float) -> str:
    """``H:MM:SS``, as rich's elapsed column writes it."""
    s = max(0, int(seconds))
    return f"{s // 3600}:{s // 60 % 60:02d}:{s % 60:02d}"


def progress_line(label: str, done: int, total: int | None, seconds: float) -> str:
    """``label: done/total (pct%), H:MM:SS elapsed`` (no total: ``label: done``)."""
    if total:
        pct = min(100, int(100 * done / total))
        count = f"{done}/{total} ({pct}%)"
    else:
        count = f"{done}"
    return f"{label}: {count}, {elapsed(seconds)} elapsed"


class PlainProgress:
    """Counts work and writes a :func:`progress_line` to ``stream`` when
    ``every`` seconds have passed since the start or the last line."""

    def __init__(self, label: str, stream: TextIO, every: float | None = None,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.label, self.stream, self.clock = label, stream, clock
        self.every = EVERY if every is None else every
        self.done, self.total = 0, None
        self.start = self.last = clock()
        self.lines = 0

    def __repr__(self) -> str:
        return f"PlainProgress({self.label!r}, {self.done}/{self.total}, every {self.every:g} s)"

    def set_total(self, n: int) -> None:
        self.total = int(n)

    def advance(self, k: int = 1) -> None:
        self.done += k
        now = self.clock()
        if now - self.last >= self.every:
            self._write(now)

    def close(self) -> None:
        """The final line, if any line came before it."""
        if self.lines:
            self._write(self.clock())

    def _write(self, now: float) -> None:
        self.last = now
        self.lines += 1
        self.stream.write(progress_line(self.label, self.done, self.total, now - self.start) + "\n")
        self.stream.flush()


@contextmanager
def progress(quiet: bool, label: str, stream: TextIO | None = None) -> Iterator[tuple[Callable, Callable]]:
    """``(advance, set_total)`` callbacks: a rich bar when ``stream``
    (stderr by default) is a terminal, :class:`PlainProgress` lines when it
    is not, no-ops when ``quiet``."""
    if quiet:
        yield (lambda k=1: None), (lambda n: None)
        return
    stream = sys.stderr if stream is None else stream
    if not stream.isatty():
        p = PlainProgress(label, stream)
        yield p.advance, p.set_total
        p.close()
        return
    from rich.console import Console
    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        Progress,
        TextColumn,
        TimeElapsedColumn,
        TimeRemainingColumn,
    )

    with Progress(TextColumn(label), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(), TimeRemainingColumn(),
                  console=Console(file=stream), transient=True) as bar:
        task = bar.add_task(label, total=None)
        yield (lambda k=1: bar.advance(task, k)), (lambda n: bar.update(task, total=n))
