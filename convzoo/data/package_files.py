"""Files that installed packages ship, found by path without importing the package.

Several packages carry real data inside their wheels (tensorly's Indian Pines cube,
pywavelets' photographs, stardist's nuclei). convzoo reads those files directly: the
package is located with ``importlib.util.find_spec``, which does not import it, so none
of its dependencies is needed and its import time is not paid. A missing package or
file is one line that says how to get it.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path

from convzoo.errors import ConvzooError

__all__ = ["package_dir", "package_file"]


def package_dir(package: str) -> Path | None:
    """The folder of installed package ``package``, found without importing it; ``None`` if absent."""
    try:
        spec = importlib.util.find_spec(package)
    except (ImportError, ValueError):
        return None
    if spec is None or not spec.submodule_search_locations:
        return None
    return Path(next(iter(spec.submodule_search_locations)))


def package_file(package: str, relative: str, needed_by: str, install: str) -> Path:
    """The path of ``relative`` inside installed package ``package``.

    Args:
        package: import name (``tensorly``).
        relative: path inside the package folder (``datasets/data/Indian_pines_gt.npy``).
        needed_by: what reads it, for the message (``dataset 'indian_pines'``).
        install: how to get the package, for the message (``pip install tensorly``).
    """
    root = package_dir(package)
    if root is None:
        raise ConvzooError(f"{needed_by} reads files that the {package} package ships: install it with {install}")
    path = root / relative
    if not path.is_file():
        raise ConvzooError(f"the {package} package at {root} has no {relative}; expected a version that ships it")
    return path
