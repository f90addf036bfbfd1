"""Every model that torchvision also has: same parameter count and state-dict shapes, and
torchvision's (random, BN-randomised) weights load into it with identical outputs."""

from __future__ import annotations

import pytest
import torch
import torchvision

import convzoo
from convzoo.registry import get_entry
from convzoo.weights import load_weights, normalise_state_dict
from helpers import classifier_names, count_parameters, empty_model, example_input, randomise_norms, state_shapes

# The classifiers; torchvision's segmentation models (torchvision.models.segmentation) are
# compared in their family's tests (tests/models/test_fcn.py).
SHARED = [name for name in classifier_names() if get_entry(name).torchvision_name]


def torchvision_model(name: str) -> torch.nn.Module:
    """torchvision's builder of ``name``'s architecture; its video models live in ``torchvision.models.video``."""
    tv_name = get_entry(name).torchvision_name
    return getattr(torchvision.models, tv_name, None) or getattr(torchvision.models.video, tv_name)


def test_the_classic_families_are_covered():
    assert {"alexnet", "vgg16_bn", "resnet50"} <= set(SHARED)


@pytest.mark.parametrize("name", SHARED)
def test_same_parameters_and_shapes_as_torchvision(name):
    with torch.device("meta"):
        ours = convzoo.create_model(name)
        theirs = torchvision_model(name)()
    assert count_parameters(ours) == count_parameters(theirs)
    theirs_in_our_keys = normalise_state_dict(ours, theirs.state_dict())  # through remap_state_dict, if any
    assert state_shapes(ours) == {key: value.shape for key, value in theirs_in_our_keys.items()}


@pytest.mark.parametrize("name", SHARED)
def test_torchvision_weights_give_torchvision_outputs(name):
    torch.manual_seed(0)
    theirs = torchvision_model(name)().eval()
    randomise_norms(theirs)
    ours = load_weights(empty_model(get_entry(name).builder), theirs.state_dict())
    side = max(64, ours.min_input_size)
    x = example_input(ours, 2, side)
    with torch.no_grad():
        torch.testing.assert_close(ours(x), theirs(x), rtol=0, atol=1e-5)
