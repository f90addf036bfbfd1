"""convzoo: a library and command-line lab of convolutional networks.

The registry's and the weights' functions are imported when first used (PEP 562), so that
``import convzoo`` and the commands that need no network do not import torch.
"""

from __future__ import annotations

import importlib
from typing import Any

from convzoo.errors import (
    CheckpointError,
    ConvzooError,
    InputShapeError,
    UnknownModelError,
    WeightMismatchError,
)

__version__ = "0.1.0"

_MODULE_OF = {
    "create_model": "convzoo.registry",
    "list_models": "convzoo.registry",
    "model_card": "convzoo.registry",
    "register_model": "convzoo.registry",
    "load_weights": "convzoo.weights",
    "read_state_dict": "convzoo.weights",
}

__all__ = [
    "CheckpointError",
    "ConvzooError",
    "InputShapeError",
    "UnknownModelError",
    "WeightMismatchError",
    "create_model",
    "list_models",
    "load_weights",
    "model_card",
    "read_state_dict",
    "register_model",
]


def __getattr__(name: str) -> Any:
    if name not in _MODULE_OF:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(_MODULE_OF[name]), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *__all__})
