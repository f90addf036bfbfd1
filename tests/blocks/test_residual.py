"""BasicBlock and Bottleneck: torchvision's blocks, ResNeXt groups, attention, zero init."""

from __future__ import annotations

import pytest
import torch
import torchvision
from torch import nn

from convzoo.blocks.residual import BasicBlock, Bottleneck, conv1x1
from helpers import randomise_norms


class Gate(nn.Module):
    """A tiny attention: scales each channel by a learnt factor."""

    def __init__(self, channels: int) -> None:
        super().__init__()
        self.scale = nn.Parameter(torch.full((1, channels, 1, 1), 0.5))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x * self.scale


def projection(in_channels: int, out_channels: int, stride: int) -> nn.Sequential:
    return nn.Sequential(conv1x1(in_channels, out_channels, stride), nn.BatchNorm2d(out_channels))


@pytest.mark.parametrize(
    "block, reference, in_channels, width, stride, groups, base_width, dilation",
    [
        (BasicBlock, torchvision.models.resnet.BasicBlock, 16, 16, 1, 1, 64, 1),
        (BasicBlock, torchvision.models.resnet.BasicBlock, 16, 32, 2, 1, 64, 1),
        (Bottleneck, torchvision.models.resnet.Bottleneck, 64, 16, 1, 1, 64, 1),
        (Bottleneck, torchvision.models.resnet.Bottleneck, 32, 16, 2, 1, 64, 1),
        (Bottleneck, torchvision.models.resnet.Bottleneck, 32, 16, 2, 8, 4, 1),  # ResNeXt
        (Bottleneck, torchvision.models.resnet.Bottleneck, 32, 16, 1, 1, 128, 2),  # wide, dilated
    ],
)
def test_block_equals_torchvision(block, reference, in_channels, width, stride, groups, base_width, dilation):
    torch.manual_seed(0)
    out_channels = width * block.expansion  # torchvision's blocks take the width ("planes")
    project = stride != 1 or in_channels != out_channels

    def shortcut():
        return projection(in_channels, out_channels, stride) if project else None

    theirs = reference(in_channels, width, stride, shortcut(), groups, base_width, dilation).eval()
    randomise_norms(theirs)
    ours = block(in_channels, out_channels, stride, shortcut(), groups=groups, base_width=base_width,
                 dilation=dilation).eval()
    ours.load_state_dict(theirs.state_dict())
    x = torch.randn(2, in_channels, 9, 9)
    with torch.no_grad():
        output = ours(x)
        torch.testing.assert_close(output, theirs(x), rtol=0, atol=1e-5)
    side = -(-9 // stride)
    assert output.shape == (2, out_channels, side, side)


def test_groups_are_honoured():
    block = Bottleneck(256, 256, groups=32, base_width=4)  # a ResNeXt-50 32x4d block
    assert block.conv2.groups == 32
    assert block.conv2.weight.shape == (128, 4, 3, 3)
    basic = BasicBlock(32, 32, groups=4)
    assert basic.conv1.groups == basic.conv2.groups == 4
    assert basic.conv1.weight.shape == (128, 8, 3, 3) and basic.conv2.weight.shape == (32, 32, 3, 3)
    # A grouped conv keeps the groups apart: perturbing group 0's input moves only group 0's output.
    x = torch.randn(1, 128, 5, 5)
    y = x.clone()
    y[:, :4] += 1.0
    with torch.no_grad():
        changed = (block.conv2(y) - block.conv2(x)).abs().amax(dim=(0, 2, 3)) > 0
    assert changed[:4].all() and not changed[4:].any()


@pytest.mark.parametrize("block, in_channels, out_channels, stride", [
    (BasicBlock, 8, 8, 1), (BasicBlock, 8, 16, 2), (Bottleneck, 16, 16, 1), (Bottleneck, 8, 16, 2),
])
def test_attention_acts_on_the_residual_branch_before_the_addition(block, in_channels, out_channels, stride):
    torch.manual_seed(0)
    project = stride != 1 or in_channels != out_channels
    shortcut = projection(in_channels, out_channels, stride) if project else None
    plain = block(in_channels, out_channels, stride, shortcut).eval()
    gated = block(in_channels, out_channels, stride, shortcut, attn_layer=Gate).eval()
    gated.load_state_dict(plain.state_dict(), strict=False)
    assert gated.se.scale.shape == (1, out_channels, 1, 1)
    assert "se.scale" in gated.state_dict()
    x = torch.randn(2, in_channels, 8, 8)
    with torch.no_grad():
        torch.testing.assert_close(gated(x), torch.relu(0.5 * _branch(plain, x) + plain.downsample(x)))
        gated.se.scale.zero_()  # a closed gate leaves only the shortcut
        torch.testing.assert_close(gated(x), torch.relu(plain.downsample(x)))


def _branch(block: nn.Module, x: torch.Tensor) -> torch.Tensor:
    """The residual branch F(x) of a block, up to its last norm."""
    if isinstance(block, Bottleneck):
        x = block.act1(block.bn1(block.conv1(x)))
        x = block.act2(block.bn2(block.conv2(x)))
        return block.bn3(block.conv3(x))
    return block.bn2(block.conv2(block.act1(block.bn1(block.conv1(x)))))


@pytest.mark.parametrize("block, last_norm", [(BasicBlock, "bn2"), (Bottleneck, "bn3")])
def test_zero_init_last_makes_the_block_an_identity(block, last_norm):
    torch.manual_seed(0)
    b = block(16, 16)
    b.zero_init_last()
    assert torch.count_nonzero(getattr(b, last_norm).weight) == 0
    x = torch.randn(2, 16, 6, 6)
    torch.testing.assert_close(b(x), torch.relu(x))


def test_dilation_keeps_the_resolution():
    b = Bottleneck(64, 64, dilation=2)
    assert b.conv2.dilation == (2, 2) and b.conv2.padding == (2, 2)
    assert b(torch.randn(1, 64, 7, 7)).shape == (1, 64, 7, 7)


def test_injectable_layers():
    b = BasicBlock(8, 8, norm_layer=lambda c: nn.GroupNorm(2, c), act_layer=nn.GELU)
    assert isinstance(b.bn1, nn.GroupNorm) and isinstance(b.act1, nn.GELU)
    assert b(torch.randn(1, 8, 4, 4)).shape == (1, 8, 4, 4)


def test_shape_change_without_downsample_is_refused():
    with pytest.raises(ValueError, match="downsample"):
        Bottleneck(64, 256)
    with pytest.raises(ValueError, match="downsample"):
        BasicBlock(64, 64, stride=2)
