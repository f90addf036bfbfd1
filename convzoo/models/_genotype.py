"""What the networks built from a genotype (``nas_net``, ``darts_net``) share: the genotype read from a
JSON file, and the forms their builders accept (a dict, the genotype itself, a path, or ``None``)."""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any, TypeVar

from convzoo.errors import ConvzooError

__all__ = ["as_genotype", "load_genotype"]

G = TypeVar("G")


def load_genotype(genotype_class: type[G], path: str | os.PathLike) -> G:
    """Read and validate a genotype (``genotype_class.from_dict``) from a JSON file; errors name the file."""
    try:
        text = Path(path).read_text()
    except OSError as error:
        raise ConvzooError(f"cannot read the genotype file {path}: {error.strerror or error}") from None
    try:
        values = json.loads(text)
    except json.JSONDecodeError as error:
        raise ConvzooError(f"the genotype file {path} is not JSON: {error}") from None
    try:
        return genotype_class.from_dict(values)
    except ConvzooError as error:
        raise ConvzooError(f"{path}: {error}") from None


def as_genotype(genotype: Any, genotype_class: type[G], default: G) -> G:
    """A ``genotype_class`` from a dict, a ``genotype_class``, the path of a JSON file, or ``None`` (``default``)."""
    if genotype is None:
        return default
    if isinstance(genotype, genotype_class):
        return genotype
    if isinstance(genotype, (str, os.PathLike)):
        return load_genotype(genotype_class, genotype)
    if isinstance(genotype, Mapping):
        return genotype_class.from_dict(genotype)
    raise ConvzooError(f"genotype: expected a dict, a {genotype_class.__name__} or the path of a JSON file, "
                       f"got {type(genotype).__name__}")
