"""ResNeXt: an option of the ResNet family; parameter counts, the grouped-conv form of the block."""

from __future__ import annotations

import pytest
import torch
from torch import nn

import convzoo
from convzoo.models.resnet import ResNet
from helpers import count_parameters

# torchvision's counts (see test_torchvision_equivalence for the weights).
PARAMS = {
    "resnext50_32x4d": 25_028_904,
    "resnext101_32x8d": 88_791_336,
    "resnext101_64x4d": 83_455_272,
}


@pytest.mark.parametrize("name", PARAMS)
def test_parameter_count_and_class(name):
    with torch.device("meta"):
        model = convzoo.create_model(name)
    assert type(model) is ResNet
    assert count_parameters(model) == PARAMS[name]


def test_cardinality_is_the_groups_of_the_3x3_conv():
    with torch.device("meta"):
        model = convzoo.create_model("resnext50_32x4d")
    first = model.layer1[0].conv2
    assert (first.in_channels, first.groups) == (128, 32)  # 32 paths of d = 4 channels
    assert model.layer4[0].conv2.in_channels == 32 * 4 * 8


def test_grouped_conv_equals_the_aggregated_paths():
    """Fig. 3 (a) == (c): C separate 3x3 paths, concatenated, equal one grouped conv."""
    torch.manual_seed(0)
    cardinality, width = 4, 3
    grouped = nn.Conv2d(cardinality * width, cardinality * width, 3, padding=1, groups=cardinality, bias=False)
    x = torch.randn(2, cardinality * width, 8, 8)
    paths = []
    for i, (x_i, w_i) in enumerate(zip(x.chunk(cardinality, 1), grouped.weight.chunk(cardinality, 0))):
        path = nn.Conv2d(width, width, 3, padding=1, bias=False)
        path.weight.data.copy_(w_i)
        paths.append(path(x_i))
    torch.testing.assert_close(grouped(x), torch.cat(paths, 1))
    assert count_parameters(grouped) * cardinality == (cardinality * width) ** 2 * 9
