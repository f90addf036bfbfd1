"""The layer widths of a structurally pruned model, recorded in its checkpoint and restored on a fresh build.

A structurally pruned model (:mod:`convzoo.deploy.prune`) has narrower layers than its
builder makes. Its checkpoint records the width attributes of every layer that holds
tensors (``pruned`` in the JSON: ``{"layer1.0.conv1": {"in_channels": 64, "out_channels":
44, "groups": 1}, ...}``); loading builds the model from its name, narrows it to those
widths and the tensor shapes of the weights file (:func:`narrow_to_widths`), then loads the
weights. A model is saved so when it carries the mark :func:`mark_pruned` sets.
"""

from __future__ import annotations

from typing import Any, Collection, Mapping, Sequence

import torch
from torch import nn

from convzoo.errors import CheckpointError

__all__ = ["PRUNED_MARK", "is_pruned", "layer_widths", "mark_pruned", "narrow_to_widths"]

# The attribute a structurally pruned model carries, so that its checkpoints record its layer widths.
PRUNED_MARK = "convzoo_pruned"
# The attributes of a layer that set the shapes of its tensors: torch-pruning rewrites them when it
# removes channels (convolutions, linear layers, batch/group/layer norms, PReLU).
WIDTH_ATTRIBUTES = (
    "in_channels", "out_channels", "groups", "in_features", "out_features", "num_features", "num_channels",
    "num_groups", "normalized_shape", "num_parameters",
)
# The width attributes of a layer's output; a classifier keeps its own when it is narrowed (another
# number of classes).
OUTPUT_ATTRIBUTES = ("out_channels", "out_features")


def mark_pruned(model: nn.Module) -> nn.Module:
    """Mark ``model`` as structurally pruned, so that its checkpoints record its layer widths."""
    setattr(model, PRUNED_MARK, True)
    return model


def is_pruned(model: nn.Module) -> bool:
    return bool(getattr(model, PRUNED_MARK, False))


def layer_widths(model: nn.Module) -> dict[str, dict[str, Any]]:
    """The width attributes (:data:`WIDTH_ATTRIBUTES`) of every layer that holds tensors itself, and of
    the model (a classifier's ``num_features``)."""
    widths = {}
    for name, module in model.named_modules():
        holds_tensors = any(True for _ in module.parameters(recurse=False)) or any(True for _ in module.buffers(False))
        if name and not holds_tensors:
            continue
        found = {key: getattr(module, key) for key in WIDTH_ATTRIBUTES if isinstance(getattr(module, key, None),
                                                                                     (int, tuple, list))}
        if found:
            widths[name] = {key: list(value) if isinstance(value, tuple) else value for key, value in found.items()}
    return widths


def _in_any(name: str, prefixes: Collection[str]) -> bool:
    return any(name == prefix or name.startswith(prefix + ".") for prefix in prefixes)


def _resized(tensor: torch.Tensor, shape: Sequence[int]) -> torch.Tensor:
    """An uninitialised tensor like ``tensor`` (a parameter stays a parameter) of another shape."""
    empty = torch.empty(tuple(shape), dtype=tensor.dtype, device=tensor.device)
    if isinstance(tensor, nn.Parameter):
        return nn.Parameter(empty, requires_grad=tensor.requires_grad)
    return empty


def narrow_to_widths(
    model: nn.Module,
    widths: Mapping[str, Mapping[str, Any]],
    shapes: Mapping[str, Sequence[int]],
    *,
    keep_outputs: Collection[str] = (),
) -> nn.Module:
    """Give a freshly built ``model`` the layer widths and tensor shapes of a pruned checkpoint, in place.

    Args:
        model: the model as its builder makes it.
        widths: the checkpoint's ``pruned`` record (:func:`layer_widths` of the pruned model).
        shapes: the shape of every tensor of the checkpoint's state dict.
        keep_outputs: layers (and their submodules) that keep their own output width, such as a
            classifier for another number of classes; they are re-initialised where their tensors change.

    The tensors that change shape are left uninitialised, for the checkpoint's weights to fill.
    Returns ``model``, marked as pruned.
    """
    modules = dict(model.named_modules())
    for name, attributes in widths.items():
        if name not in modules:
            raise CheckpointError(f"the pruned layer {name!r} of the checkpoint is not a layer of "
                                  f"{type(model).__name__}")
        kept = _in_any(name, keep_outputs)
        for key, value in attributes.items():
            if not (kept and key in OUTPUT_ATTRIBUTES):
                setattr(modules[name], key, tuple(value) if isinstance(value, list) else value)
    for name, module in modules.items():
        kept, changed = _in_any(name, keep_outputs), False
        for store in (module._parameters, module._buffers):
            for key, tensor in store.items():
                shape = shapes.get(f"{name}.{key}" if name else key)
                if tensor is None or shape is None:
                    continue
                shape = (tensor.shape[0], *shape[1:]) if kept and tensor.dim() > 0 else tuple(shape)
                if tuple(tensor.shape) != shape:
                    store[key] = _resized(tensor, shape)
                    changed = True
        if kept and changed and hasattr(module, "reset_parameters"):
            module.reset_parameters()
    return mark_pruned(model)
