"""ShuffleNet units: V1 against the paper's unit written out, V2 against torchvision's."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from torch import nn
from torchvision.models import shufflenetv2 as tv_shufflenetv2

from convzoo.analysis.profile import profile
from convzoo.blocks.shuffle import ShuffleV1Unit, ShuffleV2Unit
from convzoo.ops.channel_shuffle import ChannelShuffle, channel_shuffle
from helpers import randomise_norms


def prepared(module: nn.Module) -> nn.Module:
    torch.manual_seed(0)
    randomise_norms(module)
    return module.eval()


def conv_bn(unit: nn.Sequential, x: torch.Tensor) -> torch.Tensor:
    """conv then (eval) batch norm, written with the functional ops."""
    conv, bn = unit[0], unit[1]
    x = F.conv2d(x, conv.weight, None, conv.stride, conv.padding, conv.dilation, conv.groups)
    return F.batch_norm(x, bn.running_mean, bn.running_var, bn.weight, bn.bias, False, 0.0, bn.eps)


def paper_unit(unit: ShuffleV1Unit, x: torch.Tensor, shuffle_groups: int) -> torch.Tensor:
    """Fig. 2b/c: GConv 1x1, BN, ReLU, shuffle, DWConv 3x3 (stride), BN, GConv 1x1, BN, add/concat, ReLU."""
    out = F.relu(conv_bn(unit.conv1, x))
    out = channel_shuffle(out, shuffle_groups) if shuffle_groups > 1 else out
    out = conv_bn(unit.conv2, out)  # no ReLU after the depthwise conv
    out = conv_bn(unit.conv3, out)
    if unit.stride == 2:
        return F.relu(torch.cat((F.avg_pool2d(x, 3, 2, 1), out), 1))
    return F.relu(out + x)


@pytest.mark.parametrize("in_channels, out_channels, stride, groups, first_groups", [
    (48, 48, 1, 3, None),
    (24, 240, 2, 3, 1),  # the first unit of stage 2: dense first pointwise conv, no shuffle
    (240, 480, 2, 3, None),
    (32, 32, 1, 4, None),
    (64, 64, 1, 1, None),  # g = 1: plain pointwise convs, no shuffle
])  # fmt: skip
def test_v1_unit_is_the_papers_unit(in_channels, out_channels, stride, groups, first_groups):
    unit = prepared(ShuffleV1Unit(in_channels, out_channels, stride, groups=groups, first_groups=first_groups))
    first = groups if first_groups is None else first_groups
    assert unit.conv1[0].groups == first and unit.conv3[0].groups == groups
    assert unit.conv2[0].groups == unit.conv2[0].in_channels  # depthwise
    assert len(unit.conv2) == 2  # conv and norm: no activation
    assert isinstance(unit.shuffle, ChannelShuffle if first > 1 else nn.Identity)
    assert unit.conv1[0].out_channels == out_channels // 4  # bottleneck: a quarter of the output
    x = torch.randn(2, in_channels, 9, 9)
    with torch.no_grad():
        out = unit(x)
        torch.testing.assert_close(out, paper_unit(unit, x, first), rtol=0, atol=1e-5)
    assert out.shape == (2, out_channels, 5 if stride == 2 else 9, 5 if stride == 2 else 9)


def test_v1_shuffle_after_the_depthwise_conv_is_equivalent():
    """The released ShuffleNet code shuffles after the depthwise conv instead of before it:
    a depthwise conv commutes with a channel permutation (permuting its filters too)."""
    unit = prepared(ShuffleV1Unit(48, 48, groups=3))
    x = torch.randn(2, 48, 7, 7)
    with torch.no_grad():
        reference = unit(x)
        hidden = unit.conv1(x)
        perm = channel_shuffle(torch.arange(12.0).view(1, 12, 1, 1), 3).flatten().long()
        inverse = torch.argsort(perm)  # channel c of the shuffled map is channel perm[c] before it
        depthwise = unit.conv2
        unshuffled_dw = nn.Sequential(
            nn.Conv2d(12, 12, 3, padding=1, groups=12, bias=False), nn.BatchNorm2d(12)
        ).eval()
        unshuffled_dw[0].weight.copy_(depthwise[0].weight[inverse])
        for name in ("weight", "bias", "running_mean", "running_var"):
            getattr(unshuffled_dw[1], name).copy_(getattr(depthwise[1], name)[inverse])
        out = channel_shuffle(unshuffled_dw(hidden), 3)  # depthwise first, then shuffle
        out = F.relu(unit.conv3(out) + x)
    torch.testing.assert_close(out, reference, rtol=0, atol=1e-5)


def test_v1_unit_costs_hw_2cm_over_g_plus_9m():
    """Sec. 3.2: a stride-1 unit on c x h x w with bottleneck m costs hw(2cm/g + 9m) multiply-adds."""
    c, h, w, g = 240, 28, 28, 3
    m = c // 4
    with torch.device("meta"):
        unit = ShuffleV1Unit(c, c, groups=g)
    assert profile(unit, (c, h, w)).macs == h * w * (2 * c * m // g + 9 * m)


def test_v1_unit_rejects_bad_shapes():
    with pytest.raises(ValueError, match="in_channels .* must equal out_channels"):
        ShuffleV1Unit(24, 48, stride=1)
    with pytest.raises(ValueError, match="divisible into 3 groups"):
        ShuffleV1Unit(32, 32, groups=3)
    with pytest.raises(ValueError, match="must exceed in_channels"):
        ShuffleV1Unit(48, 48, stride=2)
    with pytest.raises(ValueError, match="stride"):
        ShuffleV1Unit(48, 48, stride=3)


@pytest.mark.parametrize("in_channels, out_channels, stride", [(24, 48, 2), (48, 48, 1), (116, 232, 2)])
def test_v2_unit_equals_torchvision(in_channels, out_channels, stride):
    theirs = prepared(tv_shufflenetv2.InvertedResidual(in_channels, out_channels, stride))
    ours = ShuffleV2Unit(in_channels, out_channels, stride).eval()
    ours.load_state_dict(theirs.state_dict())
    x = torch.randn(2, in_channels, 8, 8)
    with torch.no_grad():
        torch.testing.assert_close(ours(x), theirs(x), rtol=0, atol=1e-5)


def test_v2_stride_one_unit_passes_half_the_channels_through():
    unit = prepared(ShuffleV2Unit(16, 16))
    assert unit.branch1 is None  # no empty module left behind: every module runs
    assert all(conv.groups in (1, conv.in_channels) for conv in unit.modules() if isinstance(conv, nn.Conv2d))
    x = torch.randn(1, 16, 5, 5)
    with torch.no_grad():
        out = unit(x)
    # After the 2-group shuffle the untouched half sits at the even positions.
    assert torch.equal(out[:, 0::2], x[:, :8])


def test_v2_unit_rejects_bad_shapes():
    with pytest.raises(ValueError, match="must equal out_channels"):
        ShuffleV2Unit(16, 32, stride=1)
    with pytest.raises(ValueError, match="divisible into 2 groups"):
        ShuffleV2Unit(16, 33, stride=2)
