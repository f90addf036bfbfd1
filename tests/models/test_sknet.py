"""SKNet: parameter counts, the SKNet-50 layout of Table 1, timm's weights give timm's outputs."""

from __future__ import annotations

import pytest
import timm
import torch

import convzoo
from convzoo.blocks.selective_kernel import SelectiveKernelBasic, SelectiveKernelBottleneck
from convzoo.models.sknet import SKResNet, skresnet18
from convzoo.weights import load_weights
from helpers import count_parameters, empty_model, randomise_norms

# timm's counts; the paper gives 27.5M for SKNet-50.
PARAMS = {
    "skresnet18": 11_958_056,
    "skresnet34": 22_282_376,
    "skresnext50_32x4d": 27_479_784,
}


@pytest.mark.parametrize("name", PARAMS)
def test_parameter_count(name):
    with torch.device("meta"):
        model = convzoo.create_model(name)
    assert isinstance(model, SKResNet)
    assert count_parameters(model) == PARAMS[name]


def test_sknet50_follows_table_1():
    with torch.device("meta"):
        model = convzoo.create_model("skresnext50_32x4d")
    assert all(isinstance(block, SelectiveKernelBottleneck) for block in model.layer1)
    assert [len(getattr(model, f"layer{i}")) for i in range(1, 5)] == [3, 4, 6, 3]
    sk = model.layer1[0].conv2
    assert [(path[0].in_channels, path[0].groups, path[0].dilation) for path in sk.paths] == [
        (128, 32, (1, 1)), (128, 32, (2, 2))
    ]  # SK[M=2, G=32], a 3x3 and a "5x5" branch
    assert sk.attn.fc_reduce.out_channels == 32  # d = max(128 / 16, 32)
    assert model.layer4[0].conv2.attn.fc_reduce.out_channels == 64  # 1024 / 16
    assert model.num_features == 2048


def test_skresnet18_blocks():
    with torch.device("meta"):
        model = convzoo.create_model("skresnet18")
    assert all(isinstance(block, SelectiveKernelBasic) for block in model.layer2)
    assert [path[0].in_channels for path in model.layer2[0].conv1.paths] == [32, 32]  # split input


def test_timm_weights_give_timm_outputs_skresnet18():
    torch.manual_seed(0)
    theirs = timm.create_model("skresnet18").eval()
    randomise_norms(theirs)
    ours = load_weights(empty_model(skresnet18), theirs.state_dict())
    x = torch.randn(2, 3, 64, 64)
    with torch.no_grad():
        torch.testing.assert_close(ours(x), theirs(x), rtol=0, atol=1e-5)


def test_remap_leaves_the_stem_and_the_attention_norm_alone():
    keys = ["bn1.weight", "layer1.0.conv1.attn.bn.weight", "layer1.0.conv1.paths.1.bn.weight", "layer1.0.conv2.conv.weight"]
    remapped = SKResNet.remap_state_dict({key: torch.zeros(1) for key in keys})
    assert list(remapped) == ["bn1.weight", "layer1.0.conv1.attn.bn.weight", "layer1.0.conv1.paths.1.1.weight",
                              "layer1.0.conv2.0.weight"]


def test_split_input_model_traces_with_fx():
    with torch.device("meta"):
        model = convzoo.create_model("skresnet18")
    graph = torch.fx.symbolic_trace(model).graph
    assert sum(node.target == torch.stack for node in graph.nodes) == 8  # one SK conv per basic block
