"""BN-Inception (paper's Figure 5) and Inception-v3 (torchvision and timm equivalence, auxiliary head)."""

from __future__ import annotations

import pytest
import timm
import torch
import torchvision
from torch import nn
from torchvision.models.inception import InceptionAux

from convzoo.errors import InputShapeError
from convzoo.models._classifier import AuxLogits
from convzoo.models.inception import FIGURE_5, Inception3, InceptionV3Aux, bninception, inception_v3
from convzoo.weights import load_weights
from helpers import count_parameters, empty_model, randomise_norms, state_shapes

BNINCEPTION_PARAMS = 11_285_224
# Cadene's pretrainedmodels.bninception (a port of the Caffe model) has the same layers with a bias in
# every conv: one per output channel of its 69 convs, 10,016 in all.
CADENE_BNINCEPTION_PARAMS = 11_295_240
INCEPTION_V3_PARAMS = 27_161_264  # torchvision's "num_params"; aux_logits=True
INCEPTION_V3_PARAMS_WITHOUT_AUX = 23_834_568


# ------------------------------------------------------------------------------------------ BN-Inception


def test_bninception_parameter_count_and_cadene_count():
    with torch.device("meta"):
        model = bninception()
    assert count_parameters(model) == BNINCEPTION_PARAMS
    convs = [m for m in model.modules() if isinstance(m, nn.Conv2d)]
    assert len(convs) == 69 and all(c.bias is None for c in convs)
    assert BNINCEPTION_PARAMS + sum(c.out_channels for c in convs) == CADENE_BNINCEPTION_PARAMS


def test_bninception_follows_figure_5():
    model = bninception(num_classes=10).eval()
    widths = {name: getattr(model, name).out_channels for name in FIGURE_5}
    assert widths == {
        "inception3a": 256, "inception3b": 320, "inception3c": 576, "inception4a": 576, "inception4b": 576,
        "inception4c": 608, "inception4d": 608, "inception4e": 1056, "inception5a": 1024, "inception5b": 1024,
    }
    # The strided modules have no 1x1 branch and pass the max-pooled input through.
    assert model.inception3c.branch_names == ("branch3x3", "branch3x3dbl", "branch_pool")
    assert isinstance(model.inception3c.branch_pool, nn.MaxPool2d)
    assert isinstance(model.inception5b.branch_pool[0], nn.MaxPool2d)
    assert isinstance(model.inception5a.branch_pool[0], nn.AvgPool2d)
    shapes = {}

    def record(name):
        def hook(_module, _inputs, output) -> None:
            shapes[name] = output.shape

        return hook

    for name in FIGURE_5:
        getattr(model, name).register_forward_hook(record(name))
    with torch.no_grad():
        assert model(torch.randn(1, 3, 96, 96)).shape == (1, 10)
    assert shapes["inception3b"][-1] == 12 and shapes["inception3c"][-1] == 6 and shapes["inception5b"][-1] == 3


def test_bninception_takes_odd_grids():
    """The pass-through max-pools pad like the strided convs beside them, so odd grids concatenate."""
    model = bninception(num_classes=3).eval()
    with torch.no_grad():
        assert model.forward_features(torch.randn(1, 3, 50, 50)).shape == (1, 1024, 2, 2)  # 3c sees 7x7
        assert model(torch.randn(1, 3, 7, 7)).shape == (1, 3)


# ------------------------------------------------------------------------------------------ Inception-v3


def _torchvision_v3(**kwargs) -> nn.Module:
    torch.manual_seed(0)
    model = torchvision.models.inception_v3(init_weights=False, **kwargs).eval()
    randomise_norms(model)
    return model


def test_inception_v3_parameter_counts():
    with torch.device("meta"):
        assert count_parameters(inception_v3()) == INCEPTION_V3_PARAMS
        assert count_parameters(inception_v3(aux_logits=False)) == INCEPTION_V3_PARAMS_WITHOUT_AUX
        theirs = torchvision.models.inception_v3(aux_logits=True, init_weights=False)
    assert count_parameters(theirs) == INCEPTION_V3_PARAMS
    assert sorted(state_shapes(theirs).values()) == sorted(state_shapes(inception_v3().to("meta")).values())


def test_remap_rules():
    keys = {
        "Mixed_5b.branch5x5_1.conv.weight": "Mixed_5b.branch5x5.0.conv.weight",
        "Mixed_6e.branch7x7dbl_5.bn.running_var": "Mixed_6e.branch7x7dbl.4.bn.running_var",
        "Mixed_7a.branch7x7x3_4.conv.weight": "Mixed_7a.branch7x7x3.3.conv.weight",
        "Mixed_7b.branch3x3_2a.conv.weight": "Mixed_7b.branch3x3.1.a.conv.weight",
        "Mixed_7c.branch3x3dbl_3b.bn.bias": "Mixed_7c.branch3x3dbl.2.b.bn.bias",
        "Mixed_5c.branch_pool.conv.weight": "Mixed_5c.branch_pool.1.conv.weight",
        "Mixed_5c.branch_pool.bn.weight": "Mixed_5c.branch_pool.1.bn.weight",
        "Mixed_6a.branch3x3.conv.weight": "Mixed_6a.branch3x3.conv.weight",
        "Mixed_5b.branch1x1.bn.weight": "Mixed_5b.branch1x1.bn.weight",
        "AuxLogits.conv1.conv.weight": "AuxLogits.conv1.conv.weight",
        "Conv2d_1a_3x3.conv.weight": "Conv2d_1a_3x3.conv.weight",
    }
    remapped = Inception3.remap_state_dict({key: torch.zeros(1) for key in keys})
    assert list(remapped) == list(keys.values())


def test_torchvision_weights_give_torchvision_outputs_at_the_smallest_input():
    # The registry-wide test runs 64x64, which Inception-v3 (like torchvision's) cannot take.
    theirs = _torchvision_v3()
    ours = load_weights(empty_model(inception_v3), theirs.state_dict())
    x = torch.randn(2, 3, 75, 75)
    with torch.no_grad():
        torch.testing.assert_close(ours(x), theirs(x), rtol=0, atol=1e-5)
        assert ours.forward_features(x).shape == (2, 2048, 1, 1)


def test_timm_weights_give_timm_outputs():
    torch.manual_seed(0)
    theirs = timm.create_model("inception_v3").eval()  # timm builds it without the auxiliary head
    randomise_norms(theirs)
    ours = load_weights(empty_model(inception_v3, aux_logits=False), theirs.state_dict())
    x = torch.randn(1, 3, 80, 80)
    with torch.no_grad():
        torch.testing.assert_close(ours(x), theirs(x), rtol=0, atol=1e-5)


def test_aux_head_equals_torchvision_on_the_17x17_grid():
    torch.manual_seed(0)
    theirs = InceptionAux(768, 10).eval()
    randomise_norms(theirs)
    ours = InceptionV3Aux(768, 10).eval()
    ours.load_state_dict(theirs.state_dict())
    x = torch.randn(2, 768, 17, 17)
    with torch.no_grad():
        torch.testing.assert_close(ours(x), theirs(x), rtol=0, atol=1e-5)


def test_training_mode_returns_aux_logits_and_needs_299():
    with torch.device("meta"):
        model = inception_v3(num_classes=6).train()
        output = model(torch.empty(2, 3, 299, 299))
        assert isinstance(output, AuxLogits) and len(output.aux) == 1
        assert output.logits.shape == output.aux[0].shape == (2, 6)
        with pytest.raises(InputShapeError, match="299x299"):
            model(torch.empty(2, 3, 298, 298))
        assert isinstance(model.eval()(torch.empty(1, 3, 75, 75)), torch.Tensor)
        no_aux = inception_v3(aux_logits=False).train()
        assert isinstance(no_aux(torch.empty(2, 3, 75, 75)), torch.Tensor)
    assert model.aux_loss_weight == 0.4 and model.min_input_size == 75
    assert model.aux_head_names == ("AuxLogits",) and no_aux.aux_head_names == ()
    names = [name for name, _ in model.named_children()]
    assert names.index("AuxLogits") == names.index("Mixed_6e") + 1


def test_torchvision_aux_head_needs_299_too():
    """Not our choice: torchvision's own Inception-v3 fails below 299x299 in training mode."""
    with torch.device("meta"):
        theirs = torchvision.models.inception_v3(init_weights=False).train()
        theirs(torch.empty(2, 3, 299, 299))
        with pytest.raises(RuntimeError):
            theirs(torch.empty(2, 3, 298, 298))
