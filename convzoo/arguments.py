"""Command-line pieces shared by ``convzoo``'s own commands and the ones each task adds.

Torch-free: the commands that need no network parse their arguments without importing torch.
"""

from __future__ import annotations

import argparse
import importlib
from typing import Callable

from convzoo.errors import ConvzooError

__all__ = ["deferred", "model_input", "parse_shape", "positive_float", "positive_int", "train_flag"]


def positive_int(text: str) -> int:
    """An argument type: ``"3"`` -> ``3``; zero, a negative or a non-number is a usage error."""
    if not text.isdigit() or int(text) < 1:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {text!r}")
    return int(text)


def positive_float(text: str) -> float:
    """An argument type: ``"0.5"`` -> ``0.5``; zero, a negative, nan, infinity or a non-number is a usage error."""
    try:
        value = float(text)
    except ValueError:
        value = float("nan")
    if not 0 < value < float("inf"):
        raise argparse.ArgumentTypeError(f"expected a positive number, got {text!r}")
    return value


def train_flag(parser: argparse.ArgumentParser, name: str, **options) -> None:
    """The ``convzoo train`` flag of the TrainConfig field ``name``, whose default is ``None``, so that
    recipes and defaults fill what is not given."""
    parser.add_argument(f"--{name.replace('_', '-')}", dest=name, default=None, **options)


def deferred(module: str, function: str) -> Callable[[argparse.Namespace], None]:
    """A command's ``run``: ``module.function(args)``, imported when the command runs, so that building
    ``convzoo``'s parser (and ``--help``) imports nothing the command needs to do its work, torch above all."""

    def run(args: argparse.Namespace) -> None:
        getattr(importlib.import_module(module), function)(args)

    run.target = f"{module}.{function}"
    return run


def parse_shape(text: str) -> tuple[int, ...]:
    """``"3x224x224"`` -> ``(3, 224, 224)``; a volume's ``"1x116x132x132"`` (CxDxHxW) -> ``(1, 116, 132, 132)``."""
    parts = text.lower().split("x")
    if len(parts) not in (3, 4) or not all(part.isdigit() and int(part) > 0 for part in parts):
        raise argparse.ArgumentTypeError(
            f"bad input shape {text!r}: expected CxHxW such as 3x224x224 (CxDxHxW for a 3-D network)"
        )
    return tuple(int(part) for part in parts)


def model_input(name: str, given: tuple[int, ...] | None) -> tuple[int, ...]:
    """The input ``--input`` gives (else the model's default), with as many axes as the model takes."""
    from convzoo.registry import get_entry  # torch: only the commands that build the network ask

    default = tuple(get_entry(name).input_size)
    if given is None:
        return default
    if len(given) != len(default):
        layout = "CxHxW" if len(default) == 3 else "CxDxHxW"
        raise ConvzooError(f"{name} takes {layout} input such as {'x'.join(map(str, default))}, "
                           f"got --input {'x'.join(map(str, given))}")
    return given
