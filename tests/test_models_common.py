"""One suite over the whole registry: every model honours the common interface."""

from __future__ import annotations

import pytest
import torch
from helpers import classifier_names, example_input

import convzoo
from convzoo.errors import InputShapeError
from convzoo.models._classifier import AuxLogits

MODELS = classifier_names()
NUM_CLASSES = 7


def small_side(model: torch.nn.Module) -> int:
    """A cheap input side the model takes: its fixed size, else at least 32."""
    return model.fixed_input_size or max(model.min_input_size, 32)


def stage_outputs(model: torch.nn.Module, x: torch.Tensor) -> tuple[dict[str, torch.Tensor], torch.Tensor]:
    """The output of each ``feature_info`` module and of ``forward_features``."""
    outputs: dict[str, torch.Tensor] = {}
    modules = dict(model.named_modules())
    handles = [
        modules[info["module"]].register_forward_hook(
            lambda _m, _i, output, name=info["module"]: outputs.setdefault(name, output)
        )
        for info in model.feature_info
    ]
    try:
        features = model.forward_features(x)
    finally:
        for handle in handles:
            handle.remove()
    return outputs, features


def test_registry_is_not_empty():
    assert len(MODELS) >= 17


@pytest.mark.parametrize("name", MODELS)
def test_forward_backward(name):
    torch.manual_seed(0)
    model = convzoo.create_model(name, num_classes=NUM_CLASSES)
    # Inception-v3's auxiliary head, which runs in training mode, needs its 299x299 input.
    side = max(small_side(model), getattr(model, "aux_min_input_size", 0))
    x = example_input(model, 2, side)
    output = model(x)
    outputs = [output.logits, *output.aux] if isinstance(output, AuxLogits) else [output]
    for logits in outputs:  # the main head's, and in training mode any auxiliary heads'
        assert logits.shape == (2, NUM_CLASSES)
        assert torch.isfinite(logits).all()
    sum(logits.square().mean() for logits in outputs).backward()
    no_grad = [n for n, p in model.named_parameters() if p.requires_grad and p.grad is None]
    assert not no_grad, f"parameters without gradient: {no_grad}"


@pytest.mark.parametrize("name", MODELS)
def test_interface(name):
    torch.manual_seed(0)
    model = convzoo.create_model(name, in_chans=2, num_classes=NUM_CLASSES).eval()
    assert model.in_chans == 2 and model.num_classes == NUM_CLASSES
    side = model.fixed_input_size or max(model.min_input_size, 64)
    x = example_input(model, 2, side)
    with torch.no_grad():
        stages, features = stage_outputs(model, x)
        assert features.dim() == x.dim()
        assert [info["num_chs"] for info in model.feature_info] == [stages[i["module"]].shape[1] for i in model.feature_info]
        assert model.feature_info[-1]["num_chs"] == features.shape[1]
        for info in model.feature_info:
            # side / reduction for padded convs; unpadded ones (Inception) lose up to min_input_size - 1 pixels.
            largest = side / info["reduction"]
            smallest = (side - model.min_input_size + 1) / info["reduction"]
            tolerance = max(1.5, 0.2 * largest)
            measured = stages[info["module"]].shape[-1]
            assert smallest - tolerance <= measured <= largest + tolerance, (info, measured)
        assert model.forward_head(features, pre_logits=True).shape == (2, model.num_features)
        model.reset_classifier(0)
        assert model(x).shape == (2, model.num_features)
        model.reset_classifier(3)
        assert model(x).shape == (2, 3)


@pytest.mark.parametrize("name", MODELS)
def test_get_classifier_is_the_logit_layer(name):
    """get_classifier() maps the pre-logit features to the logits; reset_classifier replaces exactly it."""
    with torch.device("meta"):
        model = convzoo.create_model(name, num_classes=NUM_CLASSES).eval()
        classifier = model.get_classifier()
        calls: list[tuple[torch.Size, torch.Size]] = []
        handle = classifier.register_forward_hook(lambda _m, args, out: calls.append((args[0].shape, out.shape)))
        side = small_side(model)
        logits = model(example_input(model, 2, side))
        handle.remove()
        assert calls == [((2, model.num_features), (2, NUM_CLASSES))]
        assert logits.shape == (2, NUM_CLASSES)

        before = dict(model.named_parameters())
        model.reset_classifier(3)
        after = dict(model.named_parameters())
    new_classifier = model.get_classifier()
    assert new_classifier is not classifier
    replaced = {n for n, p in after.items() if before.get(n) is not p} | (before.keys() - after.keys())

    def names_of(module, parameters):
        return {n for n, p in parameters.items() if any(p is q for q in module.parameters())}

    # Auxiliary heads (GoogLeNet, Inception-v3) replace their last layers too.
    aux_heads = tuple(f"{head}." for head in getattr(model, "aux_head_names", ()))
    replaced = {n for n in replaced if not n.startswith(aux_heads)}
    assert replaced == names_of(classifier, before) | names_of(new_classifier, after)


@pytest.mark.parametrize("name", MODELS)
def test_bad_input_is_explained(name):
    with torch.device("meta"):
        model = convzoo.create_model(name, in_chans=3)
    side = small_side(model)
    with pytest.raises(InputShapeError, match=r"expects input of shape \(B, 3,"):
        model(torch.empty(1, 4, side, side, device="meta"))
    with pytest.raises(InputShapeError, match="expects input"):
        model(torch.empty(3, side, side, device="meta"))
    too_small = (model.fixed_input_size or model.min_input_size) - 1
    if too_small >= 1:
        with pytest.raises(InputShapeError, match=str(model.fixed_input_size or model.min_input_size)):
            model(torch.empty(1, 3, too_small, too_small, device="meta"))


@pytest.mark.parametrize("name", MODELS)
def test_model_card(name):
    card = convzoo.model_card(name)
    for key in ("family", "task", "paper", "input_size", "params", "torchvision_name", "timm_name", "deviations"):
        assert key in card
    assert card["paper"]["year"] >= 1989 and card["paper"]["url"].startswith("http")
    with torch.device("meta"):
        model = convzoo.create_model(name)
    assert card["params"] == sum(p.numel() for p in model.parameters())


@pytest.mark.parametrize("name", MODELS)
def test_min_input_size_is_exact(name):
    """The declared smallest side runs, and one pixel less breaks the layers themselves."""
    with torch.device("meta"):
        model = convzoo.create_model(name).eval()
    if model.fixed_input_size is not None:
        pytest.skip("fixed input size")
    side = model.min_input_size
    model(example_input(model, 1, side, device="meta"))
    if side > 1:
        smaller = example_input(model, 1, side - 1, device="meta")
        with pytest.raises(RuntimeError):
            model.forward_head(model.forward_features(smaller))  # bypasses the input check
