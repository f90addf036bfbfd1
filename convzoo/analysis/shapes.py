"""The output shape of every stage of a model, measured without real memory.

The model runs on PyTorch's meta device: tensors carry shapes but no data, so even
VGG-19 at 224x224 costs nothing to trace.
"""

from __future__ import annotations

from collections.abc import Mapping

import torch
from torch import nn

__all__ = ["stage_shapes"]


def stage_shapes(model: nn.Module, input_size: tuple[int, int, int]) -> list[tuple[str, tuple[int, ...]]]:
    """``(name, shape)`` of each ``feature_info`` stage and of the output, for a batch of 1.

    A model that returns a dict of maps (torchvision's segmentation models: ``"out"``,
    ``"aux"``), or a named tuple, gets one ``output[key]`` row per entry. ``model`` should live on the meta
    device (build it under ``torch.device("meta")``).
    """
    shapes: dict[str, tuple[int, ...]] = {}

    def record(name: str):
        def hook(_module: nn.Module, _inputs: tuple, output: torch.Tensor) -> None:
            shapes.setdefault(name, tuple(output.shape))

        return hook

    modules = dict(model.named_modules())
    handles = [
        modules[info["module"]].register_forward_hook(record(info["module"]))
        for info in getattr(model, "feature_info", [])
    ]
    try:
        with torch.no_grad():
            output = model.eval()(torch.empty(1, *input_size, device="meta"))
    finally:
        for handle in handles:
            handle.remove()
    if hasattr(output, "_asdict"):  # a named tuple of tensors (dscmr's DSCMROutput): one row per field
        output = output._asdict()
    if isinstance(output, Mapping):
        return [*shapes.items(), *((f"output[{key}]", tuple(value.shape)) for key, value in output.items())]
    return [*shapes.items(), ("output", tuple(output.shape))]
