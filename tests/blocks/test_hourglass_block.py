"""The hourglass block: the pre-activation bottleneck and the recursive residual U-shape, by hand."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from convzoo.blocks.hourglass import BOTTOM, DOWN, SKIP, UP, Hourglass, PreActBottleneck, residual_stack
from helpers import randomise_norms


def test_bottleneck_is_bn_relu_conv_three_times_plus_the_input():
    torch.manual_seed(0)
    block = PreActBottleneck(8, 8).eval()
    randomise_norms(block)
    x = torch.randn(2, 8, 6, 6)
    expected = x
    for bn, conv in ((block.bn1, block.conv1), (block.bn2, block.conv2), (block.bn3, block.conv3)):
        expected = conv(F.relu(bn(expected)))
    with torch.no_grad():
        torch.testing.assert_close(block(x), expected + x)
    assert block.downsample is None
    assert (block.conv1.out_channels, block.conv2.kernel_size, block.conv3.out_channels) == (4, (3, 3), 8)


def test_bottleneck_projects_the_shortcut_when_the_width_changes():
    block = PreActBottleneck(4, 10).eval()
    assert block.conv1.out_channels == 5 and block.downsample[0].kernel_size == (1, 1)
    x = torch.randn(1, 4, 5, 5)
    residual = block.conv3(F.relu(block.bn3(block.conv2(F.relu(block.bn2(block.conv1(F.relu(block.bn1(x)))))))))
    with torch.no_grad():
        torch.testing.assert_close(block(x), residual + block.downsample(x))
    with pytest.raises(ValueError, match="multiple of 2"):
        PreActBottleneck(4, 7)


def test_depth_one_hourglass_is_skip_plus_upsampled_low_path():
    torch.manual_seed(0)
    hourglass = Hourglass(8, depth=1, num_blocks=2).eval()
    randomise_norms(hourglass)
    stacks = hourglass.hg[0]
    x = torch.randn(1, 8, 8, 8)
    low = stacks[UP](stacks[BOTTOM](stacks[DOWN](F.max_pool2d(x, 2))))
    with torch.no_grad():
        torch.testing.assert_close(hourglass(x), stacks[SKIP](x) + F.interpolate(low, scale_factor=2.0))


def test_deeper_levels_nest_inside_the_outer_ones():
    """Level k's low path runs the hourglass of levels 0..k-1 between its ``down`` and ``up`` stacks."""
    torch.manual_seed(0)
    outer = Hourglass(4, depth=2).eval()
    inner = Hourglass(4, depth=1).eval()
    inner.hg[0] = outer.hg[0]
    stacks = outer.hg[1]
    x = torch.randn(1, 4, 16, 12)
    low = stacks[UP](inner(stacks[DOWN](F.max_pool2d(x, 2))))
    with torch.no_grad():
        torch.testing.assert_close(outer(x), stacks[SKIP](x) + F.interpolate(low, scale_factor=2.0))


def test_layout_and_shapes():
    hourglass = Hourglass(16, depth=4, num_blocks=1)
    assert [len(level) for level in hourglass.hg] == [4, 3, 3, 3]  # the innermost level has the bottom stack
    assert sum(isinstance(m, PreActBottleneck) for m in hourglass.modules()) == 13
    assert hourglass(torch.randn(2, 16, 32, 48)).shape == (2, 16, 32, 48)  # constant width: a sum, not a concat
    assert len(residual_stack(6, 3)) == 3
    with pytest.raises(ValueError, match="depth of at least 1"):
        Hourglass(8, depth=0)
