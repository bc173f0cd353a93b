"""Lazy re-exports for a package's front door (PEP 562)."""

from __future__ import annotations

import importlib
import sys


def exports(package: str, table: dict[str, tuple[str, str]]):
    """``(__getattr__, __dir__)`` for ``package``, whose public names live in
    its submodules: ``table`` maps each name to ``(submodule, attribute)``.
    A name is imported on first use and then kept in the package's namespace,
    so importing one sibling never loads the others (nor mpmath, matplotlib
    and the like)."""

    def __getattr__(name: str):
        try:
            module, attr = table[name]
        except KeyError:
            raise AttributeError(f"module {package!r} has no attribute {name!r}") from None
        value = getattr(importlib.import_module(f".{module}", package), attr)
        setattr(sys.modules[package], name, value)  # later lookups skip __getattr__
        return value

    def __dir__() -> list[str]:
        return sorted(set(vars(sys.modules[package])) | set(table))

    return __getattr__, __dir__
