"""Print a pip constraints file pinning every dependency to its lowest allowed
version, read from pyproject.toml: ``name>=X`` becomes ``name==X``.

    python3 .ci/lowest_constraints.py [EXTRA ...] > lowest.txt

The build requirements and the core dependencies are always pinned; extras
named on the command line (``test``) are pinned too. A dependency without a ``>=`` bound is an error:
every lower bound must be one that CI installs and tests.
"""

from __future__ import annotations

import re
import sys
from pathlib import Path

try:
    import tomllib
except ModuleNotFoundError:  # Python 3.10
    tomllib = None


def _dependencies(text: str, extras: list[str]) -> list[str]:
    if tomllib is not None:
        config = tomllib.loads(text)
        project = config["project"]
        deps = list(config["build-system"]["requires"]) + list(project["dependencies"])
        for extra in extras:
            deps += project["optional-dependencies"][extra]
        return deps
    raise SystemExit("lowest_constraints.py needs Python >= 3.11 (tomllib)")


def main(argv: list[str]) -> int:
    text = (Path(__file__).resolve().parents[1] / "pyproject.toml").read_text()
    seen = set()
    for dep in _dependencies(text, argv):
        m = re.fullmatch(r"\s*([A-Za-z0-9_.\-]+)(\[[^\]]*\])?\s*>=\s*([0-9][^,;\s]*)\s*(,.*)?", dep)
        if m is None:
            print(f"error: {dep!r} has no '>=' lower bound", file=sys.stderr)
            return 1
        pin = f"{m.group(1)}=={m.group(3)}"
        if pin not in seen:  # numpy is both a build requirement and a dependency
            seen.add(pin)
            print(pin)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
