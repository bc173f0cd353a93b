"""Running the command line on a pseudo-terminal, as a user's shell does."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def run_in_a_terminal(args: list[str], columns: int) -> str:
    """stdout of ``python -m stabkit ARGS`` on a pseudo-terminal COLUMNS wide,
    colour codes removed (the run must exit 0)."""
    master, slave = os.openpty()
    env = {**os.environ, "COLUMNS": str(columns), "NO_COLOR": "1"}
    p = subprocess.Popen([sys.executable, "-m", "stabkit", *args], stdout=slave, stderr=subprocess.DEVNULL, cwd=ROOT, env=env)
    os.close(slave)
    chunks = []
    while True:
        try:
            chunk = os.read(master, 65536)
        except OSError:  # EIO: the child closed the terminal
            break
        if not chunk:
            break
        chunks.append(chunk)
    os.close(master)
    assert p.wait(timeout=120) == 0
    return re.sub(r"\x1b\[[0-9;]*m", "", b"".join(chunks).decode())
