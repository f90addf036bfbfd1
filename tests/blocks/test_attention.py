"""get_attn: every attention block by name, and any of them inside any residual network."""

from __future__ import annotations

import pytest
import torch

import convzoo
from convzoo.blocks import CBAM
from convzoo.blocks.attention import ATTENTION_BLOCKS, get_attn
from convzoo.registry import get_entry


@pytest.mark.parametrize("name", ATTENTION_BLOCKS)
def test_every_block_keeps_the_shape(name):
    block = get_attn(name)(32).eval()
    x = torch.randn(2, 32, 8, 8)
    with torch.no_grad():
        assert block(x).shape == x.shape


@pytest.mark.parametrize("name", ATTENTION_BLOCKS)
def test_any_attention_drops_into_a_resnet(name):
    torch.manual_seed(0)
    model = convzoo.create_model("resnet18", num_classes=5, attn_layer=name).eval()
    blocks = [m for m in model.modules() if hasattr(m, "se")]
    assert len(blocks) == 8 and all(type(b.se).__name__ != "Identity" for b in blocks)
    with torch.no_grad():
        assert model(torch.randn(1, 3, 64, 64)).shape == (1, 5)


def test_keyword_arguments_reach_the_block_and_unknown_names_are_listed():
    assert get_attn("se", reduction=8)(64).fc1.out_channels == 8
    with pytest.raises(ValueError, match="unknown attention 'eca'; expected one of se, sk"):
        get_attn("eca")


RESIDUAL_FAMILIES = ("resnet", "resnext", "sknet", "resnest")


@pytest.mark.parametrize("name", [n for n in convzoo.list_models() if get_entry(n).family in RESIDUAL_FAMILIES])
def test_every_residual_network_takes_attn_layer(name):
    with torch.device("meta"):
        model = convzoo.create_model(name, attn_layer="cbam")
    blocks = [m for m in model.modules() if hasattr(m, "se") and hasattr(m, "conv1")]
    assert blocks and all(isinstance(block.se, CBAM) for block in blocks)


def test_se_resnets_point_to_the_plain_resnet_for_another_attention():
    with pytest.raises(ValueError, match="create_model\\('resnet50', attn_layer='cbam'\\)"):
        convzoo.create_model("seresnet50", attn_layer="cbam")
