"""Every model that timm also has: same parameter count, and timm's (random, BN-randomised)
weights load into it with identical outputs."""

from __future__ import annotations

import pytest
import timm
import torch

import convzoo
from convzoo.registry import get_entry
from convzoo.weights import load_weights
from helpers import count_parameters, empty_model, randomise_norms

SHARED = [name for name in convzoo.list_models() if get_entry(name).timm_name]


def timm_model(name: str, ours: torch.nn.Module) -> torch.nn.Module:
    """timm's model of the same name, with auxiliary heads where ours has them (timm leaves them out)."""
    kwargs = {"aux_logits": True} if getattr(ours, "aux_head_names", ()) else {}
    return timm.create_model(get_entry(name).timm_name, **kwargs)
# timm's VGG head is a 7x7 conv that needs a 224 input; tests/models/test_vgg.py loads one at that size.
OUTPUTS_CHECKED_ELSEWHERE = {"vgg"}


def test_timm_names_are_timm_models():
    assert {"resnet50", "vgg16_bn"} <= set(SHARED)
    unknown = [get_entry(name).timm_name for name in SHARED if not timm.is_model(get_entry(name).timm_name)]
    assert not unknown


@pytest.mark.parametrize("name", SHARED)
def test_same_parameters_as_timm(name):
    with torch.device("meta"):
        ours = convzoo.create_model(name)
        theirs = timm_model(name, ours)
    assert count_parameters(ours) == count_parameters(theirs)


@pytest.mark.parametrize("name", [n for n in SHARED if get_entry(n).family not in OUTPUTS_CHECKED_ELSEWHERE])
def test_timm_weights_give_timm_outputs(name):
    """In eval mode; auxiliary heads left out on both sides (timm's would run in eval mode too)."""
    torch.manual_seed(0)
    ours = empty_model(get_entry(name).builder)
    if getattr(ours, "aux_head_names", ()):
        ours = empty_model(get_entry(name).builder, aux_logits=False)
    theirs = timm.create_model(get_entry(name).timm_name).eval()
    randomise_norms(theirs)
    load_weights(ours, theirs.state_dict())
    side = max(ours.min_input_size, 64)
    x = torch.randn(2, 3, side, side)
    with torch.no_grad():
        torch.testing.assert_close(ours(x), theirs(x), rtol=0, atol=1e-5)
