"""Xception: timm's legacy_xception weights, the three flows of Fig. 5, the separable convs."""

from __future__ import annotations

import timm
import torch
from torch import nn

from convzoo.models.xception import FLOWS, Xception, XceptionBlock, legacy_xception
from convzoo.ops.depthwise_separable import DepthwiseSeparableConv2d
from convzoo.weights import load_weights
from helpers import count_parameters, empty_model, randomise_norms

PARAMS = 22_855_952  # timm's legacy_xception, and the paper's Table 3


def test_parameter_count():
    with torch.device("meta"):
        assert count_parameters(legacy_xception()) == PARAMS
        assert count_parameters(timm.create_model("legacy_xception")) == PARAMS


def test_timm_weights_give_timm_outputs():
    torch.manual_seed(0)
    theirs = timm.create_model("legacy_xception").eval()
    randomise_norms(theirs)
    ours = load_weights(empty_model(legacy_xception), theirs.state_dict())
    x = torch.randn(2, 3, 64, 64)
    with torch.no_grad():
        torch.testing.assert_close(ours(x), theirs(x), rtol=0, atol=1e-5)
        # timm's stage taps are ours too.
        features = theirs.forward_intermediates(x, intermediates_only=True)
        ours_taps = {}
        modules = dict(ours.named_modules())
        for info in ours.feature_info:
            modules[info["module"]].register_forward_hook(
                lambda _m, _i, out, name=info["module"]: ours_taps.__setitem__(name, out.clone())
            )
        ours(x)
    for info, theirs_map in zip(ours.feature_info, features):
        torch.testing.assert_close(ours_taps[info["module"]], theirs_map, rtol=0, atol=1e-5)


def test_remap_renames_only_the_separable_convs():
    keys = {"conv1.weight": 0, "block1.rep.0.conv1.weight": 1, "block4.rep.1.pointwise.weight": 2,
            "conv3.conv1.weight": 3, "conv4.pointwise.weight": 4, "block1.skip.weight": 5, "bn3.weight": 6}
    assert Xception.remap_state_dict(keys) == {
        "conv1.weight": 0, "block1.rep.0.conv_dw.weight": 1, "block4.rep.1.conv_pw.weight": 2,
        "conv3.conv_dw.weight": 3, "conv4.conv_pw.weight": 4, "block1.skip.weight": 5, "bn3.weight": 6,
    }


def test_flows_of_figure_5():
    with torch.device("meta"):
        model = legacy_xception()
    blocks = [getattr(model, f"block{i}") for i in range(1, 13)]
    assert len(FLOWS["entry"]) == 3 and len(FLOWS["middle"]) == 8 and len(FLOWS["exit"]) == 1
    separable = [m for m in model.modules() if isinstance(m, DepthwiseSeparableConv2d)]
    assert len(separable) == 3 * 2 + 8 * 3 + 2 + 2  # 34 separable convs + 2 stem convs: 36 conv layers
    # No norm or activation between depthwise and pointwise (Sec. 4.7, Fig. 10).
    assert all(isinstance(m.bn1, nn.Identity) and isinstance(m.act1, nn.Identity) for m in separable)
    # Projection shortcuts where the shape changes (entry and exit flows), identities in the middle flow.
    assert [isinstance(b.skip, nn.Conv2d) for b in blocks] == [True] * 3 + [False] * 8 + [True]
    assert [b.rep[-1].__class__ for b in blocks].count(nn.MaxPool2d) == 4
    assert not isinstance(blocks[0].rep[0], nn.ReLU) and isinstance(blocks[1].rep[0], nn.ReLU)


def test_shapes_at_299():
    with torch.device("meta"):
        model = legacy_xception().eval()
        shapes = {}
        for name in ("act2", "block1", "block3", "block11", "block12", "act4"):
            model.get_submodule(name).register_forward_hook(
                lambda _m, _i, out, name=name: shapes.__setitem__(name, tuple(out.shape[1:]))
            )
        model(torch.empty(1, 3, 299, 299))
    assert shapes == {
        "act2": (64, 147, 147), "block1": (128, 74, 74), "block3": (728, 19, 19),
        "block11": (728, 19, 19), "block12": (1024, 10, 10), "act4": (2048, 10, 10),
    }


def test_block_keeps_its_input_for_the_shortcut():
    torch.manual_seed(0)
    block = XceptionBlock(8, 8, num_convs=3).eval()
    x = torch.randn(1, 8, 5, 5)
    original = x.clone()
    with torch.no_grad():
        out = block(x)
        torch.testing.assert_close(out, block.rep(original) + original)
    assert torch.equal(x, original)


def test_smallest_input_and_any_channels():
    model = legacy_xception(in_chans=1, num_classes=4).eval()
    assert model.min_input_size == 7
    with torch.no_grad():
        assert model.forward_features(torch.randn(1, 1, 7, 7)).shape == (1, 2048, 1, 1)
        assert model(torch.randn(2, 1, 7, 7)).shape == (2, 4)
