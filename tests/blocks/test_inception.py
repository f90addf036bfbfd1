"""Inception blocks: the concatenation of branches, output widths, and equivalence with torchvision's and timm's."""

from __future__ import annotations

from functools import partial

import pytest
import torch
from timm.models.inception_resnet_v2 import Block35
from torch import nn
from torchvision.models.googlenet import Inception

from convzoo.blocks.inception import ConvBnAct, InceptionBlock, InceptionResidual, branch_width
from convzoo.models.googlenet import inception_v1_block
from helpers import randomise_norms


def test_conv_bn_act_keys_and_shape():
    unit = ConvBnAct(3, 8, kernel_size=(1, 7), padding=(0, 3)).eval()
    assert list(unit.state_dict()) == [
        "conv.weight", "bn.weight", "bn.bias", "bn.running_mean", "bn.running_var", "bn.num_batches_tracked"
    ]
    assert unit.conv.bias is None and unit.bn.eps == 1e-3
    assert unit(torch.randn(1, 3, 9, 10)).shape == (1, 8, 9, 10)


def test_output_is_the_concatenation_of_the_branches():
    torch.manual_seed(0)
    branches = {
        "one": ConvBnAct(4, 3),
        "chain": [ConvBnAct(4, 2), ConvBnAct(2, 5, kernel_size=3, padding=1)],
        "pool": nn.MaxPool2d(3, stride=1, padding=1),  # keeps the input's 4 channels
    }
    block = InceptionBlock(4, branches).eval()
    for module in block.modules():
        if isinstance(module, nn.BatchNorm2d):
            module.running_mean.uniform_(-1, 1)
    assert block.branch_names == ("one", "chain", "pool")
    assert isinstance(block.chain, nn.Sequential)
    assert block.out_channels == 3 + 5 + 4
    x = torch.randn(2, 4, 7, 7)
    with torch.no_grad():
        expected = torch.cat([block.one(x), block.chain(x), block.pool(x)], dim=1)
        output = block(x)
    assert output.shape == (2, 12, 7, 7)
    torch.testing.assert_close(output, expected, rtol=0, atol=0)
    # Each slice of the output channels is one branch, in the mapping's order.
    torch.testing.assert_close(output[:, 3:8], block.chain(x), rtol=0, atol=0)


def test_nested_block_width_and_empty_block():
    split = InceptionBlock(6, {"a": ConvBnAct(6, 4, (1, 3), padding=(0, 1)), "b": ConvBnAct(6, 4, (3, 1), padding=(1, 0))})
    assert split.out_channels == 8
    assert branch_width(nn.Sequential(ConvBnAct(5, 6), split), 5) == 8
    assert branch_width(nn.Sequential(nn.AvgPool2d(3, 1, 1), ConvBnAct(5, 7)), 5) == 7
    assert branch_width(nn.MaxPool2d(3, 2), 5) == 5
    with pytest.raises(ValueError, match="at least one branch"):
        InceptionBlock(3, {})


def test_googlenet_module_equals_torchvision_inception():
    torch.manual_seed(0)
    theirs = Inception(192, 64, 96, 128, 16, 32, 32).eval()
    randomise_norms(theirs)
    ours = inception_v1_block(192, (64, 96, 128, 16, 32, 32)).eval()
    ours.load_state_dict(theirs.state_dict())
    assert ours.out_channels == 256
    x = torch.randn(2, 192, 9, 9)
    with torch.no_grad():
        torch.testing.assert_close(ours(x), theirs(x), rtol=0, atol=1e-5)


def _block35(conv=ConvBnAct) -> InceptionResidual:
    return InceptionResidual(320, {
        "branch0": conv(320, 32),
        "branch1": [conv(320, 32), conv(32, 32, 3, padding=1)],
        "branch2": [conv(320, 32), conv(32, 48, 3, padding=1), conv(48, 64, 3, padding=1)],
    }, scale=0.17)


def test_residual_block_adds_the_scaled_projection():
    torch.manual_seed(0)
    block = _block35().eval()
    assert block.concat_channels == 128 and block.out_channels == 320
    x = torch.randn(1, 320, 5, 5)
    with torch.no_grad():
        concat = InceptionBlock.forward(block, x)
        expected = torch.relu(x + 0.17 * block.conv2d(concat))
        torch.testing.assert_close(block(x), expected, rtol=0, atol=1e-6)
    linear = InceptionResidual(4, {"b": ConvBnAct(4, 2)}, scale=0.5, act_layer=None)
    assert isinstance(linear.act, nn.Identity)


def test_residual_block_equals_timm_block35():
    torch.manual_seed(0)
    theirs = Block35(scale=0.17).eval()  # built alone, its norms have PyTorch's default eps
    randomise_norms(theirs)
    ours = _block35(partial(ConvBnAct, norm_layer=nn.BatchNorm2d)).eval()
    ours.load_state_dict(theirs.state_dict())
    x = torch.randn(1, 320, 5, 5)
    with torch.no_grad():
        torch.testing.assert_close(ours(x), theirs(x), rtol=0, atol=1e-5)
