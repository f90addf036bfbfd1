"""GaitSet: a walker's gait as an unordered set of silhouettes.

Paper: GaitSet: Regarding Gait as a Set for Cross-View Gait Recognition (Hanqing Chao, Yiwei He,
Junping Zhang, Jianfeng Feng, AAAI 2019) https://arxiv.org/abs/1811.06186

Gait recognition identifies a person by the way they walk, from a sequence of binary
silhouettes. Earlier methods fed a gait energy image (the silhouettes averaged) or an ordered
clip to a CNN; GaitSet treats the silhouettes as a *set*: a shared frame-level CNN maps each
one to a feature map, and set pooling (SP, an element-wise max over the frames) merges them,
so the result does not depend on the frames' order or on how many there are (any number of
frames at inference, from any part of the gait cycle)::

    frames (B, T, 64, 44)
      -> set_layer1-2 (32 ch, pool) -> set_layer3-4 (64 ch, pool) -> set_layer5-6 (128 ch)   each frame alone
            | SP                          | SP                           | SP
            v                             v                              v
      gl_layer1-2 (64 ch, pool) ------> (+) gl_layer3-4 (128 ch) -----> (+)                 the set, once

The multilayer global pipeline (MGP, Sec. 3.3) keeps set-level features of every depth: the
set-pooled shallow map goes through its own convolutions and is added to the set-pooled maps
of deeper layers. Horizontal pyramid mapping (HPM, Sec. 3.4) then cuts both final maps, the
frame branch's SP output and the MGP's, (B, 128, 16, 11), into 1, 2, 4, 8 and 16 horizontal
strips (31 per map, 62 in all); each strip is pooled to a 128-vector by its mean plus its max,
and mapped by its own fully connected layer to 256 dims. The output, (B, 62, 256), is one
feature per strip; training puts a triplet loss on each strip (the gait task's).

Parameters: 562,976 in the ten convolutions (no biases) and 62 x 128 x 256 = 2,031,616 in the
strip maps: 2,594,592.

The attribute names are those of the authors' release (``set_layer1.forward_block.conv``,
``gl_layer1.conv``, ``fc_bin.0``), so its state dicts load with ``strict=True`` (their
``module.`` prefix from DataParallel removed), and the strips are concatenated in its order
(for each scale, the frame branch's strips then the MGP's).

Deviations:
    None in the network. Besides the paper's 64x44 silhouettes it takes whole multiples
    (128x88, ...), whose maps still cut into 16 strips.
"""

from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from convzoo.errors import InputShapeError
from convzoo.models.siamese import drop_num_classes
from convzoo.registry import Paper, register_model

__all__ = ["GaitSet", "PAPER", "SILHOUETTE", "check_silhouettes", "gaitset", "set_pool"]

PAPER = Paper(
    title="GaitSet: Regarding Gait as a Set for Cross-View Gait Recognition",
    authors="Hanqing Chao, Yiwei He, Junping Zhang, Jianfeng Feng",
    venue="AAAI",
    year=2019,
    url="https://arxiv.org/abs/1811.06186",
)

BINS = (1, 2, 4, 8, 16)  # HPM's scales: strips per map at each
SILHOUETTE = (64, 44)  # CASIA-B's preprocessed silhouettes, (H, W)


def check_silhouettes(x: torch.Tensor, in_chans: int) -> None:
    """An error that says what a set of silhouettes must be, unless ``x`` is one: (B, T, H, W) for one channel,
    or (B, T, C, H, W)."""
    if not ((x.dim() == 4 and in_chans == 1) or (x.dim() == 5 and x.shape[2] == in_chans)):
        raise InputShapeError(
            f"gaitset expects sets of silhouettes shaped (B, T, H, W) or (B, T, {in_chans}, H, W), got {tuple(x.shape)}"
        )
    frames, height, width = x.shape[1], x.shape[-2], x.shape[-1]
    if frames == 0:
        raise InputShapeError("gaitset expects at least one silhouette per set, got sets of 0 frames")
    scale = height // SILHOUETTE[0]
    if scale < 1 or (height, width) != (scale * SILHOUETTE[0], scale * SILHOUETTE[1]):
        raise InputShapeError(
            f"gaitset expects silhouettes of {SILHOUETTE[0]}x{SILHOUETTE[1]} pixels (or a whole multiple such as "
            f"128x88; CASIA-B's 64x64 crops lose 10 columns on each side), got {height}x{width}"
        )


# Keep the check a single node when the model is traced with torch.fx.
torch.fx.wrap("check_silhouettes")


def set_pool(x: torch.Tensor) -> torch.Tensor:
    """SP: the element-wise max over the frames, (B, T, C, H, W) -> (B, C, H, W)."""
    return x.max(dim=1).values


class BasicConv2d(nn.Module):
    """A bias-free convolution and a leaky ReLU (slope 0.01), the release's building layer."""

    def __init__(self, in_channels: int, out_channels: int, kernel_size: int) -> None:
        super().__init__()
        self.conv = nn.Conv2d(in_channels, out_channels, kernel_size, padding=kernel_size // 2, bias=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.leaky_relu(self.conv(x))


class SetBlock(nn.Module):
    """A layer of the frame-level CNN, applied to every frame of every set, optionally max-pooled by 2."""

    def __init__(self, in_channels: int, out_channels: int, kernel_size: int = 3, pool: bool = False) -> None:
        super().__init__()
        self.forward_block = BasicConv2d(in_channels, out_channels, kernel_size)
        self.pool = nn.MaxPool2d(2) if pool else nn.Identity()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        batch, frames = x.shape[:2]
        y = self.pool(self.forward_block(x.flatten(0, 1)))  # (B*T, C', H', W')
        return y.unflatten(0, (batch, frames))  # (B, T, C', H', W')


def horizontal_pyramid(x: torch.Tensor, bins: tuple[int, ...] = BINS) -> list[torch.Tensor]:
    """Each scale's strips of ``x`` (B, C, H, W), each pooled by mean + max: a (B, C, s) tensor per scale s."""
    strips = []
    for count in bins:
        z = x.flatten(2).unflatten(2, (count, -1))  # (B, C, s, H/s * W): row-major, so a strip is H/s whole rows
        strips.append(z.mean(dim=3) + z.amax(dim=3))
    return strips


class GaitSet(nn.Module):
    """GaitSet: frame-level CNN, set pooling, multilayer global pipeline, horizontal pyramid mapping.

    Args:
        in_chans: channels of a silhouette (1).
        hidden_dim: the strip maps' output width (256).
        bins: HPM's scales (1, 2, 4, 8, 16: 31 strips per map).

    Shape:
        - Input: (B, T, H, W) silhouettes (or (B, T, in_chans, H, W)), H a multiple of 64, W of 4;
          any T >= 1.
        - Output: (B, 2 * sum(bins), hidden_dim) = (B, 62, 256), one feature per strip.
    """

    def __init__(self, in_chans: int = 1, hidden_dim: int = 256, bins: tuple[int, ...] = BINS) -> None:
        super().__init__()
        self.in_chans, self.hidden_dim, self.bins = in_chans, hidden_dim, tuple(bins)
        self.set_layer1 = SetBlock(in_chans, 32, kernel_size=5)
        self.set_layer2 = SetBlock(32, 32, pool=True)
        self.set_layer3 = SetBlock(32, 64)
        self.set_layer4 = SetBlock(64, 64, pool=True)
        self.set_layer5 = SetBlock(64, 128)
        self.set_layer6 = SetBlock(128, 128)
        self.gl_layer1 = BasicConv2d(32, 64, 3)
        self.gl_layer2 = BasicConv2d(64, 64, 3)
        self.gl_layer3 = BasicConv2d(64, 128, 3)
        self.gl_layer4 = BasicConv2d(128, 128, 3)
        self.gl_pooling = nn.MaxPool2d(2)
        self.num_strips = 2 * sum(self.bins)
        strip_maps = torch.empty(self.num_strips, 128, hidden_dim)
        self.fc_bin = nn.ParameterList([nn.Parameter(nn.init.xavier_uniform_(strip_maps))])
        for module in self.modules():
            if isinstance(module, nn.Conv2d):
                nn.init.xavier_uniform_(module.weight)  # the release's initialisation

    def input_shape(self, side: int | None = None, frames: int = 4) -> tuple[int, int, int]:
        """``(T, H, W)`` of a set the model takes: ``frames`` silhouettes of 64x44 (``side`` is ignored: code
        written for square images asks this instead)."""
        return (frames, *SILHOUETTE)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        check_silhouettes(x, self.in_chans)
        x = x.reshape(x.shape[0], x.shape[1], self.in_chans, x.shape[-2], x.shape[-1])  # (B, T, 1, 64, 44)
        x = self.set_layer2(self.set_layer1(x))  # (B, T, 32, 32, 22)
        gl = self.gl_pooling(self.gl_layer2(self.gl_layer1(set_pool(x))))  # (B, 64, 16, 11)
        x = self.set_layer4(self.set_layer3(x))  # (B, T, 64, 16, 11)
        gl = self.gl_layer4(self.gl_layer3(gl + set_pool(x)))  # (B, 128, 16, 11)
        x = set_pool(self.set_layer6(self.set_layer5(x)))  # (B, 128, 16, 11)
        gl = gl + x
        strips = [s for pair in zip(horizontal_pyramid(x, self.bins), horizontal_pyramid(gl, self.bins)) for s in pair]
        features = torch.cat(strips, dim=2).permute(2, 0, 1)  # (62, B, 128)
        return features.bmm(self.fc_bin[0]).permute(1, 0, 2)  # (B, 62, 256)


@register_model(
    family="gaitset", task="gait", paper=PAPER, input_size=(30, 64, 44), num_classes=0,
    notes={
        "input": "a set of T silhouettes, (B, T, 64, 44); the card's input is the paper's 30 training frames",
        "output": "(B, 62, 256): 31 horizontal strips of each of two maps, 256 dims each",
        "parameters": "562,976 (convolutions) + 2,031,616 (62 strip maps 128 -> 256) = 2,594,592",
        "CASIA-B rank-1, LT (paper, identical views excluded)": "NM 95.0, BG 87.2, CL 70.4",
        "train": "convzoo train gaitset --task gait (generated walkers); --dataset casia-b --data-dir D",
    },
)
def gaitset(in_chans: int | None = None, **kwargs: Any) -> GaitSet:
    """GaitSet (Chao et al., AAAI 2019): 2.6M parameters, 62 strip features of 256 dims per set.

    ``in_chans``, which generic callers pass as the first axis of the card's input (30, 64, 44),
    is the number of frames of a set here, and the network takes any number: it is accepted
    and does not change the network. Silhouettes have one channel.
    """
    return GaitSet(**drop_num_classes("gaitset", kwargs, width="hidden_dim"))
