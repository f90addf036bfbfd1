"""Transfer learning: loading pretrained weights with a resized head, and freezing parts of a model."""

from __future__ import annotations

import itertools

import pytest
import torch
import torch.nn.functional as F
import torchvision
from helpers import classifier_names, example_input, randomise_norms
from torch import nn

import convzoo
from convzoo.errors import ConvzooError, WeightMismatchError
from convzoo.train.transfer import (
    FreezeSpec,
    freeze,
    load_pretrained,
    module_stages,
    parse_freeze,
    trainable_parameters,
)

MODELS = classifier_names()

# The stages of ResNet-18 by state-dict prefix: the stem (feature_info "act1"), then layer1..4.
RESNET_STAGES = (("conv1.", "bn1."), ("layer1.",), ("layer2.",), ("layer3.",), ("layer4.",))


def resnet_stage(key: str) -> int | None:
    """The stage of a ResNet-18 state-dict key, None for the head."""
    for stage, prefixes in enumerate(RESNET_STAGES):
        if key.startswith(prefixes):
            return stage
    assert key.startswith("fc."), key
    return None


def snapshot(model: nn.Module) -> dict[str, torch.Tensor]:
    return {key: value.detach().clone() for key, value in model.state_dict().items()}


def changed_keys(model: nn.Module, before: dict[str, torch.Tensor]) -> set[str]:
    return {key for key, value in model.state_dict().items() if not torch.equal(value, before[key])}


def sgd_step(model: nn.Module, num_classes: int = 10, *, all_parameters: bool = True) -> None:
    """One SGD step with momentum and weight decay on a random 32x32 batch of 4.

    With ``all_parameters`` the optimizer gets every parameter, frozen ones included, to
    show that freezing alone keeps them fixed.
    """
    parameters = model.parameters() if all_parameters else trainable_parameters(model)
    optimizer = torch.optim.SGD(parameters, lr=0.1, momentum=0.9, weight_decay=0.01)
    x = torch.randn(4, model.in_chans, 32, 32)
    y = torch.randint(0, num_classes, (4,))
    optimizer.zero_grad()
    F.cross_entropy(model(x), y).backward()
    optimizer.step()


def give_gradients(model: nn.Module) -> None:
    """A backward pass before freezing, so that stale gradients would move frozen weights."""
    model(torch.randn(2, model.in_chans, 32, 32)).sum().backward()


# --------------------------------------------------------------------------- parse_freeze


@pytest.mark.parametrize(
    "text, expected",
    [
        ("none", FreezeSpec("none")),
        ("features", FreezeSpec("features")),
        ("stages:0", FreezeSpec("stages", 0)),
        (" Stages:3 ", FreezeSpec("stages", 3)),
        ("head-only", FreezeSpec("head-only")),
    ],
)
def test_parse_freeze(text, expected):
    spec = parse_freeze(text)
    assert spec == expected
    assert parse_freeze(str(spec)) == spec


@pytest.mark.parametrize("text", ["", "all", "stages", "stages:", "stages:-1", "stages:x", "stages:1.5", "layers:2"])
def test_parse_freeze_names_the_accepted_forms(text):
    with pytest.raises(ConvzooError, match=r"none, features, stages:N .*head-only"):
        parse_freeze(text)


def test_too_many_stages_are_refused_by_freeze():
    model = convzoo.create_model("lenet5")
    assert len(model.feature_info) == 3
    freeze(model, "stages:3")
    with pytest.raises(ConvzooError, match="cannot freeze 4 stages of LeNet5: it has 3"):
        freeze(model, "stages:4")


# --------------------------------------------------------------------------- stage structure


@pytest.mark.parametrize("name", MODELS)
def test_modules_are_registered_in_forward_order(name):
    """The assumption of module_stages: each layer runs within its stage, head layers in forward_head.

    A leaf module of stage i must first run after the feature_info module of stage i - 1 has
    returned and before that of stage i has; a head module must first run in forward_head.
    """
    with torch.device("meta"):
        model = convzoo.create_model(name).eval()
    stages = module_stages(model)
    clock = itertools.count()
    started: dict[str, int] = {}
    finished: dict[str, int] = {}

    def stamp(times: dict[str, int], name: str):
        def hook(*_) -> None:  # returns None, so it leaves inputs and outputs alone
            times.setdefault(name, next(clock))

        return hook

    handles = []
    for module_name, module in model.named_modules():
        if module_name:
            handles.append(module.register_forward_pre_hook(stamp(started, module_name)))
            handles.append(module.register_forward_hook(stamp(finished, module_name)))
    side = model.fixed_input_size or max(model.min_input_size, 32)
    features = model.forward_features(example_input(model, 1, side, device="meta"))
    head_starts = next(clock)
    model.forward_head(features)
    for handle in handles:
        handle.remove()

    stage_ends = [finished[info["module"]] for info in model.feature_info]
    assert stage_ends == sorted(stage_ends)
    # Containers may be bypassed (VGG's forward_head slices its classifier); the leaves all run,
    # but for auxiliary heads (GoogLeNet, Inception-v3), which run in training mode only.
    aux_heads = tuple(f"{name}." for name in getattr(model, "aux_head_names", ()))
    leaves = [n for n, m in model.named_modules() if not any(m.children()) and not n.startswith(aux_heads)]
    assert not set(leaves) - set(started), "every leaf module runs in forward"
    for module_name in leaves:
        stage = stages[module_name]
        time = started[module_name]
        if stage is None:
            assert time > head_starts, f"{module_name} is registered after the features but runs before the head"
        else:
            assert time < stage_ends[stage], f"{module_name} is registered in stage {stage} but runs later"
            assert stage == 0 or time > stage_ends[stage - 1], f"{module_name} (stage {stage}) runs too early"


def test_resnet_stages():
    with torch.device("meta"):
        model = convzoo.create_model("resnet18")
    stages = module_stages(model)
    assert stages["conv1"] == stages["bn1"] == stages["act1"] == 0
    assert stages["maxpool"] == stages["layer1"] == stages["layer1.1.bn2"] == 1
    assert stages["layer4.0.downsample.0"] == 4
    assert stages["avgpool"] is stages["fc"] is None


# --------------------------------------------------------------------------- freezing


def test_head_only_trains_only_the_classifier_and_keeps_norm_statistics():
    torch.manual_seed(0)
    model = convzoo.create_model("resnet18", num_classes=10)
    give_gradients(model)
    parts = freeze(model, parse_freeze("head-only"))
    parts.train_mode(model, True)
    assert model.training and model.fc.training
    assert not any(m.training for m in model.modules() if isinstance(m, nn.BatchNorm2d))
    assert len(parts.frozen_norms) == sum(isinstance(m, nn.BatchNorm2d) for m in model.modules())
    assert trainable_parameters(model) == list(model.get_classifier().parameters())
    assert parts.trainable == ("fc.weight", "fc.bias")
    assert parts.num_trainable == 512 * 10 + 10
    assert parts.num_frozen + parts.num_trainable == sum(p.numel() for p in model.parameters())
    assert f"training {parts.num_trainable:,} of" in parts.summary()

    before = snapshot(model)
    sgd_step(model)
    assert changed_keys(model, before) == {"fc.weight", "fc.bias"}
    assert all(p.grad is None for n, p in model.named_parameters() if not n.startswith("fc."))

    parts.train_mode(model, False)
    assert not any(m.training for m in model.modules())


@pytest.mark.parametrize("num_stages", [0, 1, 2, 5])
def test_stages_freeze_exactly_the_first_n(num_stages):
    torch.manual_seed(0)
    model = convzoo.create_model("resnet18", num_classes=10)
    give_gradients(model)
    parts = freeze(model, f"stages:{num_stages}")
    parts.train_mode(model, True)
    for name, parameter in model.named_parameters():
        stage = resnet_stage(name)
        assert parameter.requires_grad == (stage is None or stage >= num_stages), name

    before = snapshot(model)
    sgd_step(model)
    changed = changed_keys(model, before)
    for key in before:
        if key.endswith("num_batches_tracked"):
            continue
        stage = resnet_stage(key)
        frozen = stage is not None and stage < num_stages
        # Parameters, and the running statistics of the batch norms, move only outside the frozen stages.
        assert (key in changed) != frozen, f"{key} (stage {stage}) {'moved' if frozen else 'did not move'}"


def test_features_on_vgg_trains_the_hidden_fully_connected_layers():
    torch.manual_seed(0)
    model = convzoo.create_model("vgg11_bn", num_classes=10)
    parts = freeze(model, "features")
    parts.train_mode(model, True)
    assert all(n.startswith("classifier.") for n in parts.trainable)
    assert all(n.startswith("features.") for n in parts.frozen)
    before = snapshot(model)
    sgd_step(model, all_parameters=False)
    changed = changed_keys(model, before)
    assert not any(key.startswith("features.") for key in changed)
    for layer in (0, 3, 6):  # fc6, fc7 and the classifier
        assert {f"classifier.{layer}.weight", f"classifier.{layer}.bias"} <= changed


def test_features_on_lenet_keeps_f6_trainable():
    model = convzoo.create_model("lenet5")
    parts = freeze(model, "features")
    assert parts.trainable == ("f6.weight", "f6.bias", "output.weight", "output.bias")


def test_a_new_spec_replaces_the_previous_one():
    model = convzoo.create_model("resnet18", num_classes=10)
    freeze(model, "head-only")
    parts = freeze(model, "none")
    assert parts.frozen == () and parts.frozen_norms == ()
    assert all(p.requires_grad for p in model.parameters())
    parts.train_mode(model, True)
    assert all(m.training for m in model.modules())


# --------------------------------------------------------------------------- load_pretrained


@pytest.fixture(scope="module")
def torchvision_resnet18() -> dict[str, torch.Tensor]:
    """A torchvision ResNet-18 state dict with random weights and 1000 classes."""
    torch.manual_seed(1)
    model = torchvision.models.resnet18(weights=None)
    randomise_norms(model)
    return model.state_dict()


def test_load_pretrained_resizes_the_head(torchvision_resnet18, tmp_path):
    torch.manual_seed(0)
    model = convzoo.create_model("resnet18", num_classes=10)
    fresh_head = {k: v.clone() for k, v in model.get_classifier().state_dict().items()}
    # Through a file, nested and wrapped as a DataParallel training script saves it.
    path = tmp_path / "resnet18.pth"
    torch.save({"state_dict": {f"module.{k}": v for k, v in torchvision_resnet18.items()}}, path)
    report = load_pretrained(model, path)

    assert report.skipped == report.initialised == ("fc.weight", "fc.bias")
    assert set(report.loaded) == set(torchvision_resnet18) - {"fc.weight", "fc.bias"}
    for key, value in model.state_dict().items():
        if key.startswith("fc."):
            assert torch.equal(value, fresh_head[key.removeprefix("fc.")])
        else:
            assert torch.equal(value, torchvision_resnet18[key]), key
    assert model.fc.weight.shape == (10, 512)
    assert "fc.weight" in report.summary()


def test_load_pretrained_keeps_a_head_that_fits(torchvision_resnet18):
    model = convzoo.create_model("resnet18")
    report = load_pretrained(model, torchvision_resnet18)
    assert report.skipped == report.initialised == ()
    assert torch.equal(model.fc.weight, torchvision_resnet18["fc.weight"])


def test_load_pretrained_into_a_feature_extractor(torchvision_resnet18):
    model = convzoo.create_model("resnet18", num_classes=0)
    report = load_pretrained(model, torchvision_resnet18)
    assert report.skipped == ("fc.weight", "fc.bias") and report.initialised == ()


def test_load_pretrained_skips_head_buffers():
    """LeNet-5 (1998)'s RBF classifier holds its prototypes in a buffer, sized by the classes."""
    source = convzoo.create_model("lenet5_1998", num_classes=10)
    model = convzoo.create_model("lenet5_1998", num_classes=4)
    report = load_pretrained(model, source.state_dict())
    assert report.skipped == ("output.prototypes",)
    assert torch.equal(model.c3.weight, source.c3.weight)


def test_backbone_mismatches_still_raise(torchvision_resnet18):
    model = convzoo.create_model("resnet18", in_chans=1, num_classes=10)
    before = snapshot(model)
    with pytest.raises(WeightMismatchError, match=r"conv1\.weight \(64, 3, 7, 7\) != \(64, 1, 7, 7\)"):
        load_pretrained(model, torchvision_resnet18)
    assert not changed_keys(model, before)

    model = convzoo.create_model("resnet18", num_classes=10)
    missing = {k: v for k, v in torchvision_resnet18.items() if k != "layer1.0.conv1.weight"}
    with pytest.raises(WeightMismatchError, match=r"missing keys: layer1\.0\.conv1\.weight"):
        load_pretrained(model, missing)
    with pytest.raises(WeightMismatchError, match=r"unexpected keys: extra"):
        load_pretrained(model, {**torchvision_resnet18, "extra": torch.zeros(1)})
