"""Packages that import their submodules when one of their names is first asked for (PEP 562).

Importing such a package, or a torch-free module inside it, then imports nothing else: ``convzoo``'s
command line reads dataset and flag names from the packages without importing torch.
"""

from __future__ import annotations

import importlib
import sys
from typing import Any, Callable

__all__ = ["lazy_exports"]


def lazy_exports(package: str, submodule_of: dict[str, str]) -> tuple[Callable[[str], Any], Callable[[], list[str]]]:
    """The ``__getattr__`` and ``__dir__`` of the package named ``package``, which export each name of
    ``submodule_of`` from the submodule it maps to: ``__getattr__, __dir__ = lazy_exports(__name__, {...})``."""

    def get(name: str) -> Any:
        if name not in submodule_of:
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        value = getattr(importlib.import_module(f"{package}.{submodule_of[name]}"), name)
        setattr(sys.modules[package], name, value)
        return value

    def names() -> list[str]:
        return sorted({*vars(sys.modules[package]), *submodule_of})

    return get, names
