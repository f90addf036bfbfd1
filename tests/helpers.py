"""Helpers shared by the test files (on sys.path through pytest's `pythonpath`)."""

from __future__ import annotations

from typing import Callable

import torch
from torch import nn

from convzoo.registry import count_parameters

__all__ = ["count_parameters", "empty_model", "randomise_norms", "state_shapes"]


def state_shapes(model: nn.Module) -> dict[str, torch.Size]:
    return {key: value.shape for key, value in model.state_dict().items()}


def randomise_norms(model: nn.Module) -> None:
    """Give every batch norm non-trivial statistics and affine parameters, so loading them is tested."""
    for module in model.modules():
        if isinstance(module, nn.BatchNorm2d):
            module.weight.data.uniform_(0.5, 1.5)
            module.bias.data.uniform_(-0.5, 0.5)
            module.running_mean.uniform_(-0.5, 0.5)
            module.running_var.uniform_(0.5, 1.5)


def empty_model(builder: Callable[..., nn.Module], **kwargs) -> nn.Module:
    """A model with uninitialised weights (cheap to build), to be filled by a checkpoint; eval mode."""
    with torch.device("meta"):
        model = builder(**kwargs)
    return model.to_empty(device="cpu").eval()
