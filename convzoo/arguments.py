"""Command-line pieces shared by ``convzoo``'s own commands and the ones each task adds."""

from __future__ import annotations

import argparse

__all__ = ["positive_int", "train_flag"]


def positive_int(text: str) -> int:
    """An argument type: ``"3"`` -> ``3``; zero, a negative or a non-number is a usage error."""
    if not text.isdigit() or int(text) < 1:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {text!r}")
    return int(text)


def train_flag(parser: argparse.ArgumentParser, name: str, **options) -> None:
    """The ``convzoo train`` flag of the TrainConfig field ``name``, whose default is ``None``, so that
    recipes and defaults fill what is not given."""
    parser.add_argument(f"--{name.replace('_', '-')}", dest=name, default=None, **options)
