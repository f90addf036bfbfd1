"""The interface every convzoo image classifier shares.

It is timm's: ``forward_features`` returns the last feature map, ``forward_head`` turns
it into logits (or into the pre-logit features with ``pre_logits=True``),
``get_classifier`` returns the last layer (the one producing the logits) and
``reset_classifier`` swaps it for a new one, ``num_features`` is the width of the
pre-logit features and ``feature_info`` lists each stage as
``dict(num_chs=..., reduction=..., module=...)``, where ``module`` is the name of the
submodule whose output is that stage's feature map.

``forward`` checks the input first, so a wrong channel count or a too-small image fails
with a message that states the expected shape, not deep inside a conv.
"""

from __future__ import annotations

from typing import NamedTuple

import torch
import torch.fx
from torch import nn

from convzoo.errors import InputShapeError

__all__ = ["AuxLogits", "ImageClassifier", "check_image_input", "classifier_layer"]


def check_image_input(x: torch.Tensor, in_chans: int, min_size: int, fixed_size: int | None, model: str) -> None:
    """Raise :class:`InputShapeError` unless ``x`` is ``(B, in_chans, H, W)`` the model can take."""
    if x.dim() != 4 or x.shape[1] != in_chans:
        size = f"{fixed_size}, {fixed_size}" if fixed_size else "H, W"
        raise InputShapeError(
            f"{model} expects input of shape (B, {in_chans}, {size}), got {tuple(x.shape)}"
        )
    height, width = x.shape[-2:]
    if fixed_size is not None and (height, width) != (fixed_size, fixed_size):
        raise InputShapeError(
            f"{model} takes only {fixed_size}x{fixed_size} images, got {height}x{width}; "
            f"resize the input to (B, {in_chans}, {fixed_size}, {fixed_size})"
        )
    if min(height, width) < min_size:
        raise InputShapeError(
            f"{model} needs images of at least {min_size}x{min_size} for its downsampling, "
            f"got {height}x{width}"
        )


# Keep the check a single node when the model is traced with torch.fx.
torch.fx.wrap("check_image_input")


class AuxLogits(NamedTuple):
    """What a model with auxiliary classifiers (GoogLeNet, Inception-v3) returns in training mode.

    ``logits`` are the main head's; ``aux`` the auxiliary heads', earliest first. The
    training loss adds each auxiliary head's loss times the model's ``aux_loss_weight``.
    In eval mode such a model returns the main logits alone, as every other classifier.
    """

    logits: torch.Tensor
    aux: tuple[torch.Tensor, ...]


def classifier_layer(in_features: int, num_classes: int) -> nn.Module:
    """The final linear layer, or an identity when ``num_classes`` is 0 (features only)."""
    return nn.Linear(in_features, num_classes) if num_classes > 0 else nn.Identity()


class ImageClassifier(nn.Module):
    """Base class of the image classifiers.

    Subclasses build their layers, set ``in_chans``, ``num_classes``, ``num_features``,
    ``feature_info`` and, where the network needs it, ``min_input_size`` (smallest side
    the downsampling can take) or ``fixed_input_size`` (the only side it takes), and
    implement :meth:`forward_features`, :meth:`forward_head`, :meth:`get_classifier`
    and :meth:`reset_classifier`.
    """

    in_chans: int
    num_classes: int
    num_features: int
    feature_info: list[dict]
    min_input_size: int = 1
    fixed_input_size: int | None = None

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        raise NotImplementedError

    def forward_head(self, x: torch.Tensor, pre_logits: bool = False) -> torch.Tensor:
        raise NotImplementedError

    def get_classifier(self) -> nn.Module:
        """The final layer, which maps the pre-logit features to the logits.

        It is the layer :meth:`reset_classifier` replaces (an ``nn.Identity`` when
        ``num_classes`` is 0); hidden fully connected layers before it belong to the head
        (:meth:`forward_head`) but not to the classifier.
        """
        raise NotImplementedError

    def reset_classifier(self, num_classes: int) -> None:
        raise NotImplementedError

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        check_image_input(x, self.in_chans, self.min_input_size, self.fixed_input_size, type(self).__name__)
        return self.forward_head(self.forward_features(x))
