"""UNet++ (Zhou et al. 2018): Table 1's parameter counts, deep supervision, the accurate
and fast modes, and pruning to UNet++ L^1..L^4."""

from __future__ import annotations

import pytest
import torch

import convzoo
from convzoo.analysis import profile
from convzoo.errors import InputShapeError
from convzoo.models.unetplusplus import PARAMS_TABLE1, UNetPlusPlus, unetplusplus
from convzoo.registry import count_parameters, meta_model


def test_table1_parameter_counts():
    """Filters 32-512, 1 input channel, 1 class: U-Net, wide U-Net (35-560) and UNet++ beside the paper's."""
    counts = {
        "U-Net (32-512)": meta_model("unet", base_width=32, num_classes=1),
        "wide U-Net (35-560)": meta_model("unet", base_width=35, num_classes=1),
        "UNet++ w/o deep supervision": meta_model("unetplusplus", deep_supervision=False, mode="fast"),
        "UNet++ w/ deep supervision": meta_model("unetplusplus"),
    }
    counts = {name: count_parameters(model) for name, model in counts.items()}
    assert counts == {
        "U-Net (32-512)": 7_759_521,  # paper 7.76M
        "wide U-Net (35-560)": 9_282_246,  # paper 9.13M
        "UNet++ w/o deep supervision": 9_041_601,  # paper 9.04M
        "UNet++ w/ deep supervision": 9_041_700,  # paper 9.04M: three more 1x1 heads of 32 + 1
    }
    assert counts == {name: row["convzoo"] for name, row in PARAMS_TABLE1.items()}
    card = convzoo.model_card("unetplusplus")
    assert (card["task"], card["family"], card["params"]) == ("segmentation", "unet", 9_041_700)


def test_deep_supervision_and_modes():
    torch.manual_seed(0)
    model = unetplusplus(base_width=4, in_chans=3, num_classes=2)
    x = torch.randn(2, 3, 32, 48)
    heads = model.forward_heads(x)
    assert [h.shape for h in heads] == [(2, 2, 32, 48)] * 4
    sum(h.square().mean() for h in heads).backward()  # the deep-supervision loss reaches every parameter
    assert all(p.grad is not None for p in model.parameters())
    model.eval()
    with torch.no_grad():
        heads = model.forward_heads(x)
        torch.testing.assert_close(model(x), torch.stack(heads).mean(dim=0))  # accurate mode
        for depth in range(1, 5):
            fast = UNetPlusPlus(3, 2, model.widths, mode="fast", fast_depth=depth)
            fast.load_state_dict(model.state_dict())
            torch.testing.assert_close(fast.eval()(x), heads[depth - 1])  # fast mode: one head
            torch.testing.assert_close(model.pruned(depth)(x), heads[depth - 1])


def test_pruning_drops_macs_and_parameters():
    model = meta_model("unetplusplus")
    pruned = [model.pruned(depth) for depth in range(1, 5)]
    macs = [profile(p, (1, 96, 96)).macs for p in pruned]
    params = [count_parameters(p) for p in pruned]
    assert macs[0] < macs[1] < macs[2] < macs[3] < profile(model, (1, 96, 96)).macs  # accurate mode runs 4 heads
    assert params[0] < params[1] < params[2] < params[3] == 9_041_601
    fast = meta_model("unetplusplus", mode="fast", fast_depth=2)
    assert profile(fast, (1, 96, 96)).macs == macs[1]  # fast mode runs only the nodes its head needs
    shared = {id(p) for p in model.parameters()}
    assert all(id(p) in shared for p in pruned[1].parameters())  # pruning shares, never copies


def test_bad_input_and_arguments():
    model = meta_model("unetplusplus")
    with pytest.raises(InputShapeError, match=r"multiple of 16; H: .*nearest valid sizes are 96 and 112"):
        model(torch.empty(1, 1, 100, 96, device="meta"))
    with pytest.raises(InputShapeError, match=r"expects input of shape \(B, 1, H, W\)"):
        model(torch.empty(1, 3, 96, 96, device="meta"))
    assert model.pruned(1)(torch.empty(1, 1, 2, 6, device="meta")).shape == (1, 1, 2, 6)  # L^1 pools once
    with pytest.raises(ValueError, match="one head"):
        UNetPlusPlus(widths=(4, 8), deep_supervision=False)
    with pytest.raises(ValueError, match="depth must be in 1..4"):
        model.pruned(5)
