"""convzoo: a library and command-line lab of convolutional networks."""

from convzoo.errors import (
    CheckpointError,
    ConvzooError,
    InputShapeError,
    UnknownModelError,
    WeightMismatchError,
)
from convzoo.registry import create_model, list_models, model_card, register_model
from convzoo.weights import load_weights, read_state_dict

__version__ = "0.1.0"

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
