"""Training and scoring the original U-Net, whose valid convs give an output smaller than the input.

The paper's U-Net (``unet``, and ``unet3d``) has unpadded convs: a 572x572 tile gives a
388x388 map, 92 pixels of context short on every side, and only some input sizes go
through its pools (``16 b + 60``). convzoo trains and scores it the way the paper
segments an image (the overlap-tile strategy of Fig. 2, here with one tile): every image
is *mirror-extended* by the context, so that the output covers the whole image,

* before each axis by the context ``c = (tile - output) / 2``;
* after it by what is left to reach ``tile``, the smallest input size the network takes
  whose output covers the image (64 -> a 252 tile, 68 outputs; ``unet3d``: 32 -> 124, 36);

and the mask is extended after each axis by ``ignore_index`` to the output's size, so the
few extra output pixels count in no loss or score. The map of an image is then exactly
:func:`convzoo.models.unet.predict_overlap_tile` with that tile: what ``convzoo segment``
gives. The model sees ``tile / size`` times the pixels per axis (16x the compute at 64 px
in 2-D): the padded variants (``unet_padded``, ``unet3d_padded``) are the fast choice.
"""

from __future__ import annotations

from typing import Sequence

import torch
import torch.nn.functional as F
from torch import nn
from torch.utils.data import Dataset

from convzoo.analysis.arithmetic import LayerSpec, is_valid_input_size, output_size
from convzoo.errors import ConvzooError
from convzoo.models.unet import UNetLayout, mirror_pad

__all__ = ["ValidConvInputs", "is_valid_unet", "mirror_extend", "valid_padding", "valid_tile"]

_SEARCH = 4096  # input sizes tried; valid ones are 2 ** depth apart


def is_valid_unet(model: nn.Module) -> bool:
    """Whether ``model`` is a U-Net with valid (unpadded) convs, whose output is smaller than its input."""
    return isinstance(model, UNetLayout) and model.padding == 0


def _first_valid(chain: list[LayerSpec], start: int) -> int:
    for tile in range(start, start + _SEARCH):
        if is_valid_input_size(chain, tile):
            return tile
    raise ConvzooError(f"no input size from {start} to {start + _SEARCH} goes through the network")


def valid_tile(model: UNetLayout, size: int) -> tuple[int, int]:
    """The smallest input side the valid U-Net takes whose output covers ``size`` pixels, and that output's side.

    The output of a valid input is the input less twice the context, whatever its size.
    """
    chain = model.size_chain()
    probe = _first_valid(chain, size)
    context = (probe - output_size(chain, probe)) // 2
    tile = _first_valid(chain, size + 2 * context)
    return tile, output_size(chain, tile)


def valid_padding(model: UNetLayout, shape: Sequence[int]) -> tuple[list[tuple[int, int]], list[int]]:
    """Per spatial axis of ``shape``: the input's mirror extension ``(before, after)``, and the output's side."""
    padding, outputs = [], []
    for size in shape:
        tile, output = valid_tile(model, int(size))
        context = (tile - output) // 2
        padding.append((context, tile - size - context))
        outputs.append(output)
    return padding, outputs


def mirror_extend(x: torch.Tensor, padding: Sequence[tuple[int, int]]) -> torch.Tensor:
    """Extend the last ``len(padding)`` axes of ``x`` by mirroring, ``(before, after)`` per axis.

    Each axis is extended as :func:`convzoo.models.unet.mirror_pad` extends its columns
    (reflecting about the border pixels, as often as the extension needs).
    """
    for axis, (before, after) in zip(range(-len(padding), 0), padding):
        moved = x.movedim(axis, -1)  # the axis last, where mirror_pad extends the columns
        x = mirror_pad(moved, (0, 0, before, after)).movedim(-1, axis)
    return x


class ValidConvInputs(Dataset):
    """A segmentation dataset as a valid U-Net takes it: images mirror-extended, masks padded with the ignore value.

    See the module docstring; items of any size are extended to their own tile.

    Args:
        data: a dataset of ``(image (C, *S), mask (*S))``.
        model: the valid U-Net (its size arithmetic; it is not run).
        ignore_index: the value the masks are padded with.
    """

    def __init__(self, data: Dataset, model: UNetLayout, ignore_index: int) -> None:
        self.data = data
        self.model = model
        self.ignore_index = ignore_index
        self._layouts: dict[tuple[int, ...], tuple[list[tuple[int, int]], list[int]]] = {}  # per mask shape

    def __len__(self) -> int:
        return len(self.data)

    def __getitem__(self, index: int) -> tuple[torch.Tensor, torch.Tensor]:
        image, mask = self.data[index]
        shape = tuple(mask.shape)
        if shape not in self._layouts:
            self._layouts[shape] = valid_padding(self.model, shape)
        padding, outputs = self._layouts[shape]
        extended = mirror_extend(image, padding)  # (C, *tile)
        mask_padding = [amount for output, size in zip(reversed(outputs), reversed(mask.shape))
                        for amount in (0, output - size)]  # F.pad's order: last axis first
        return extended, F.pad(mask, mask_padding, value=self.ignore_index)  # (*output)
