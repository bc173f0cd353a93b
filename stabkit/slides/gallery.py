"""The gallery's index: ``gallery.json`` (one entry per figure: caption,
what it shows, the data, the command that drew it) and the ``README.md``
made from it.

A run with ``--only`` replaces the entries of the figures it drew and keeps
the others, so the README always lists every figure in the folder with the
command that reproduces *that* figure. A full run starts a fresh index.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

__all__ = ["INDEX", "docs_link", "load", "merge", "readme"]

INDEX = "gallery.json"
SCHEMA = 1


def load(out: str) -> dict:
    """The index in ``out``: ``{"full_command", "skipped", "figures": {name: entry}}``
    (empty when there is none, or one written by another version)."""
    empty = {"full_command": None, "skipped": {}, "figures": {}}
    try:
        doc = json.loads((Path(out) / INDEX).read_text())
    except (OSError, ValueError):
        return empty
    if not isinstance(doc, dict) or doc.get("schema") != SCHEMA:
        return empty
    figures = {e["name"]: e for e in doc.get("figures", []) if isinstance(e, dict) and "name" in e}
    return {"full_command": doc.get("full_command"), "skipped": doc.get("skipped") or {}, "figures": figures}


def merge(old: dict, new: list[dict], order: list[str], full: str | None = None,
          skipped: dict[str, str] | None = None) -> str:
    """The index's JSON: the entries ``new`` over those of ``old`` (see
    :func:`load`), in the lecture's ``order``. A full run (``full``, its
    command; ``skipped``, the figures it left out and why) drops ``old``;
    a run with ``--only`` keeps the rest of ``old``."""
    if full:
        old = {"full_command": full, "skipped": skipped or {}, "figures": {}}
    figures = {**old["figures"], **{e["name"]: e for e in new}}
    # by the figure's number, so a figure whose file is named after its data
    # (01-sklearn-digits beside 01-mnist-digits) keeps its place
    rank = {n.split("-")[0]: i for i, n in enumerate(order)}
    ranked = sorted(figures.values(), key=lambda e: rank.get(e["name"].split("-")[0], len(order)))
    skipped = {k: v for k, v in old["skipped"].items() if k not in figures}
    return json.dumps({"schema": SCHEMA, "full_command": old["full_command"], "skipped": skipped,
                       "figures": ranked}, indent=1) + "\n"


def docs_link(out: str) -> str:
    """A link from ``out`` to docs/slides.md when ``out`` sits in the
    checkout that holds it; else the doc named in words."""
    root = Path(__file__).resolve().parents[2]
    doc = root / "docs" / "slides.md"
    here = Path(os.path.abspath(out))
    if doc.is_file() and (here == root or root in here.parents):
        return f"[docs/slides.md]({Path(os.path.relpath(doc, here)).as_posix()})"
    return "docs/slides.md in stabkit's repository (or `stabkit slides --help`)"


def readme(index_json: str, out: str) -> str:
    """The gallery's README.md: how to reproduce it, then each figure with
    its image, what it shows, the numbers measured in its run, the command
    that drew it (where a later ``--only`` run did) and how to redraw it
    alone."""
    doc = json.loads(index_json)
    lines = ["# Lecture figures", "",
             f"Made by `stabkit slides` (see {docs_link(out)}). Every number under \"measured\" was computed in "
             "the run that drew the figure; \"what it shows\" says how to read it.", ""]
    if doc.get("full_command"):
        lines += ["Reproduce the whole gallery (paths as given, from the folder the command was run in):", "", "```bash",
                  doc["full_command"], "```", ""]
    for name, why in doc.get("skipped", {}).items():
        lines += [f"Not drawn: `{name}` ({why}).", ""]
    for e in doc["figures"]:
        files = e["files"]
        thumb = next((f for f in files if f.endswith(".png")), None)
        lines += [f"## {e['name']}", ""]
        lines += [f'<a href="{thumb}"><img src="{thumb}" width="640" alt="{e["name"]}"></a>', ""] if thumb else []
        lines += [f"Files: {', '.join(f'[{f}]({f})' for f in files)}. Data: {e['data']}.", "",
                  f"**What it shows.** {e['reading']}", "",
                  f"**Measured.** {e['caption']}", ""]
        if e["command"] != doc.get("full_command"):
            lines += [f"Drawn by: `{e['command']}`", ""]
        lines += [f"Redraw it alone: `{e['alone']}`", ""]
    return "\n".join(lines)
