"""What a deploy command works on: a trained checkpoint, or a registered model name with random weights."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import torch
from torch import nn

from convzoo.arguments import model_input
from convzoo.registry import create_model, model_card
from convzoo.train.checkpoint import CheckpointMeta, checkpoint_paths, load_checkpoint

__all__ = ["ModelSource", "is_checkpoint", "load_source"]


@dataclass
class ModelSource:
    """A model in eval mode, its registered name, the input it takes and, for a checkpoint, its metadata."""

    model: nn.Module
    name: str
    input_size: tuple[int, ...]
    meta: CheckpointMeta | None = None


def is_checkpoint(text: str) -> bool:
    """A path that exists (a run folder, a checkpoint file) or a checkpoint's stem; anything else is a model name."""
    return Path(text).exists() or checkpoint_paths(text)[1].is_file()


def load_source(text: str, input_size: tuple[int, ...] | None = None) -> ModelSource:
    """The checkpoint at ``text``, or the registered model ``text`` built with seeded random weights.

    ``input_size`` (``--input``) overrides the checkpoint's or the model's default input and must have as many axes;
    a model name with another channel count is built with that many input channels.
    """
    if is_checkpoint(text):
        model, meta = load_checkpoint(text)
        if input_size is not None:
            model_input(meta.model, input_size)  # the right number of axes for this network
        return ModelSource(model, meta.model, tuple(input_size or meta.input_size), meta)
    size = model_input(text, input_size)  # an unknown name: one line with the closest names
    default_chans = model_card(text)["input_size"][0]
    torch.manual_seed(0)
    model = create_model(text, **({} if size[0] == default_chans else {"in_chans": size[0]}))
    return ModelSource(model.eval(), text, size)
