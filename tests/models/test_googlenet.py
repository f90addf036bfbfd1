"""GoogLeNet: parameter counts, torchvision equivalence with and without the auxiliary heads, AuxLogits."""

from __future__ import annotations

import torch
import torchvision
from torch import nn

from convzoo.models._classifier import AuxLogits
from convzoo.models.googlenet import GoogLeNet, GoogLeNetAux, googlenet
from convzoo.weights import load_weights
from helpers import count_parameters, empty_model, randomise_norms, state_shapes

PARAMS_WITH_AUX = 13_004_888  # torchvision.models.googlenet(aux_logits=True)
PARAMS_WITHOUT_AUX = 6_624_904  # torchvision's pretrained googlenet ("num_params" of its weights)


def _torchvision(**kwargs) -> nn.Module:
    torch.manual_seed(0)
    model = torchvision.models.googlenet(init_weights=False, **kwargs).eval()
    randomise_norms(model)
    return model


def test_parameter_counts():
    with torch.device("meta"):
        assert count_parameters(googlenet()) == PARAMS_WITH_AUX
        assert count_parameters(googlenet(aux_logits=False)) == PARAMS_WITHOUT_AUX
        theirs = torchvision.models.googlenet(aux_logits=True, init_weights=False)
        assert state_shapes(googlenet()) == state_shapes(theirs)
    assert count_parameters(theirs) == PARAMS_WITH_AUX


def test_training_mode_returns_aux_logits_equal_to_torchvision():
    theirs = _torchvision()
    ours = load_weights(empty_model(googlenet), theirs.state_dict())
    x = torch.randn(2, 3, 64, 64)
    ours.train()
    theirs.train()
    torch.manual_seed(1)
    output = ours(x)
    torch.manual_seed(1)  # the same dropout masks, drawn in the same order (aux1, aux2, main)
    expected = theirs(x)
    assert isinstance(output, AuxLogits) and len(output.aux) == 2
    torch.testing.assert_close(output.logits, expected.logits, rtol=0, atol=1e-5)
    torch.testing.assert_close(output.aux[0], expected.aux_logits1, rtol=0, atol=1e-5)  # earliest head first
    torch.testing.assert_close(output.aux[1], expected.aux_logits2, rtol=0, atol=1e-5)
    ours.eval()
    with torch.no_grad():
        assert isinstance(ours(x), torch.Tensor)
        assert ours.forward_features(x).shape == (2, 1024, 2, 2)


def test_without_aux_heads_loads_torchvision_without_them():
    theirs = _torchvision(aux_logits=False)
    ours = load_weights(empty_model(googlenet, aux_logits=False), theirs.state_dict())
    assert ours.aux1 is None and ours.aux2 is None
    x = torch.randn(1, 3, 48, 48)
    with torch.no_grad():
        torch.testing.assert_close(ours(x), theirs(x), rtol=0, atol=1e-5)
    ours.train()
    assert isinstance(ours(x), torch.Tensor)


def test_transform_input_matches_torchvision():
    theirs = _torchvision(transform_input=True)
    ours = load_weights(empty_model(googlenet, transform_input=True), theirs.state_dict())
    x = torch.randn(1, 3, 40, 40)
    with torch.no_grad():
        torch.testing.assert_close(ours(x), theirs(x), rtol=0, atol=1e-5)


def test_aux_heads_run_where_they_are_registered():
    """In training mode aux1 runs between inception4a and 4b, aux2 between 4d and 4e, as registered."""
    with torch.device("meta"):
        model = googlenet(num_classes=5).train()
    assert model.aux_head_names == ("aux1", "aux2") and googlenet(aux_logits=False).aux_head_names == ()
    names = [name for name, _ in model.named_children()]
    assert names.index("aux1") == names.index("inception4a") + 1
    assert names.index("aux2") == names.index("inception4d") + 1
    order: list[str] = []
    for name, child in model.named_children():
        child.register_forward_pre_hook(lambda *_, name=name: order.append(name))
    output = model(torch.empty(2, 3, 32, 32, device="meta"))
    assert order == names
    assert [a.shape for a in output.aux] == [(2, 5), (2, 5)]


def test_aux_weight_and_heads():
    model = googlenet(num_classes=4)
    assert GoogLeNet.aux_loss_weight == 0.3 and model.aux_loss_weight == 0.3
    assert isinstance(model.aux1, GoogLeNetAux) and model.aux1.dropout.p == 0.7
    model.reset_classifier(7)  # the auxiliary heads follow, so their losses fit the new classes
    assert model.fc.out_features == model.aux1.fc2.out_features == model.aux2.fc2.out_features == 7


def test_min_input_size_matches_torchvision():
    # torchvision's googlenet weights list min_size (15, 15).
    assert googlenet().min_input_size == 15
