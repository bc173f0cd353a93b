"""What regimes.py and widths.py share: the accurate tier timed against
PyTorch's one thread alone, their options checked, the header line and the
footnotes of implementations left out."""

from __future__ import annotations

import argparse
import platform
import sys

import stabkit
from stabkit._machine import processor
from functions import Notes
from peers import load


def check_choices(ap: argparse.ArgumentParser, *checks: tuple[str, object, tuple], empty_ok: bool = True) -> None:
    """Exit through ``ap.error`` where an option (name, values given,
    values allowed) names an unknown value, or none where ``empty_ok`` is
    False."""
    for what, got, allowed in checks:
        bad = sorted(set(got) - set(allowed))
        if bad or not (got or empty_ok):
            kind = "unknown" if empty_ok else "unknown or empty"
            ap.error(f"{what}: {kind} {', '.join(bad)} (choose from {', '.join(allowed)})")


def torch_peers(repeat: int, unit: str = "") -> list | None:
    """PyTorch on one thread as the only peer, after the run's header line
    (machine, versions, rounds and ``unit``); None, with the reason on
    stderr, where PyTorch is not installed."""
    peers, missing = load(["torch"], 1)
    if not peers:
        print("\n".join(missing) or "PyTorch is not installed", file=sys.stderr)
        return None
    print(f"# {processor()}, Python {platform.python_version()}, "
          f"stabkit {stabkit.__version__}, torch {peers[0].version} on 1 thread; median of {repeat} rounds{unit}")
    return peers


def print_notes(notes: Notes) -> None:
    """The footnotes of the n/a cells, where there are any."""
    if notes.keys:
        print("\nn/a: the implementation is left out of that case:")
        for line in notes.lines():
            print(line)
