"""create_model(..., features_only=True): every classifier as an encoder of stage feature maps, as timm's."""

from __future__ import annotations

import pytest
import timm
import torch
import torch.nn.functional as F
from helpers import classifier_names, example_input, randomise_norms

import convzoo
from convzoo.errors import ConvzooError, InputShapeError
from convzoo.registry import count_parameters, get_entry, meta_model
from convzoo.weights import load_weights

MODELS = classifier_names()


def probe_side(model: torch.nn.Module) -> int:
    return model.fixed_input_size or max(model.min_input_size, 64)


def hooked_stages(model: torch.nn.Module, x: torch.Tensor) -> list[torch.Tensor]:
    """The output of every ``feature_info`` module in the full classifier's forward pass."""
    outputs: dict[str, torch.Tensor] = {}

    def keep(name: str):
        def hook(_module, _inputs, output) -> None:  # returns None: the output stays as it is
            outputs.setdefault(name, output)

        return hook

    modules = dict(model.named_modules())
    handles = [modules[info["module"]].register_forward_hook(keep(info["module"])) for info in model.feature_info]
    try:
        model(x)
    finally:
        for handle in handles:
            handle.remove()
    return [outputs[info["module"]] for info in model.feature_info]


@pytest.mark.parametrize("name", MODELS)
def test_maps_follow_feature_info_and_every_weight_is_used(name):
    """On the meta device: one map per stage, with the declared channels and strides; the
    removed head and the early stop leave no parameter without a gradient."""
    encoder = meta_model(name, features_only=True)
    stages = encoder.body.feature_info  # the classifier's, all stages
    assert encoder.out_indices == tuple(range(len(stages)))
    assert encoder.feature_info.channels() == [s["num_chs"] for s in stages]
    assert encoder.feature_info.reduction() == [s["reduction"] for s in stages]
    side = probe_side(encoder)
    maps = encoder(example_input(encoder.body, 2, side, device="meta"))
    assert len(maps) == len(stages)
    assert [m.shape[1] for m in maps] == encoder.feature_info.channels()
    for stage, feature_map in zip(stages, maps):
        # side / reduction for padded convs; unpadded ones (Inception) lose up to min_input_size - 1 pixels.
        largest = side / stage["reduction"]
        smallest = (side - encoder.min_input_size + 1) / stage["reduction"]
        tolerance = max(1.5, 0.2 * largest)
        assert smallest - tolerance <= feature_map.shape[-1] <= largest + tolerance, (stage, feature_map.shape)
    sum(m.sum() for m in maps).backward()
    unused = [n for n, p in encoder.named_parameters() if p.grad is None]
    assert not unused, f"parameters the encoder never uses: {unused}"


@pytest.mark.parametrize("name", ["resnet50", "vgg16_bn", "mobilenet_v2", "efficientnet_b0"])
def test_maps_equal_the_full_models_intermediate_outputs(name):
    torch.manual_seed(0)
    full = convzoo.create_model(name).eval()
    randomise_norms(full)
    encoder = convzoo.create_model(name, features_only=True)
    load_weights(encoder, full.state_dict())  # the head's keys are dropped
    x = torch.randn(2, 3, 64, 64)
    with torch.no_grad():
        expected = hooked_stages(full, x)
        maps = encoder.eval()(x)
    assert len(maps) == len(expected)
    for ours, theirs in zip(maps, expected):
        torch.testing.assert_close(ours, theirs, rtol=0, atol=0)


# timm's stages as ours: same maps, except that timm's VGG stages end before each max-pool
# (reductions 1 to 16, then pool5) where ours end after it; and our MobileNet-V2 and
# EfficientNet have a sixth stage, the 1x1 conv to 1280 channels, which timm's lack.
TIMM_STAGES = {
    "resnet50": lambda timm_maps: timm_maps,
    "vgg16_bn": lambda timm_maps: [F.max_pool2d(m, 2) for m in timm_maps[:4]] + [timm_maps[5]],
    "mobilenet_v2": lambda timm_maps: timm_maps,
    "efficientnet_b0": lambda timm_maps: timm_maps,
}


@pytest.mark.parametrize("name", list(TIMM_STAGES))
def test_maps_equal_timms_features_only(name):
    torch.manual_seed(0)
    timm_name = get_entry(name).timm_name
    timm_full = timm.create_model(timm_name).eval()
    randomise_norms(timm_full)
    theirs = timm.create_model(timm_name, features_only=True).eval()
    # timm's feature nets keep the classifier's keys, or flatten its first Sequential (features_0 for features.0).
    full_state = timm_full.state_dict()
    theirs.load_state_dict({
        key: full_state[key if key in full_state else key.replace("_", ".", 1)] for key in theirs.state_dict()
    })
    ours = convzoo.create_model(name, features_only=True).eval()
    load_weights(ours, timm_full.state_dict())  # through the classifier's timm key map
    x = torch.randn(2, 3, 64, 64)
    with torch.no_grad():
        expected = TIMM_STAGES[name](theirs(x))
        maps = ours(x)[: len(expected)]
    assert [m.shape for m in maps] == [m.shape for m in expected]
    for our_map, their_map in zip(maps, expected):
        torch.testing.assert_close(our_map, their_map, rtol=0, atol=1e-5)


def test_out_indices_select_stages_and_drop_later_layers():
    encoder = convzoo.create_model("resnet18", features_only=True, out_indices=(-1, 1))
    assert encoder.out_indices == (1, 4)
    assert encoder.feature_info.channels() == [64, 512]
    assert encoder.feature_info.reduction() == [4, 32]
    assert encoder.feature_info.module_name() == ["layer1", "layer4"]
    assert [info["index"] for info in encoder.feature_info] == [1, 4]
    maps = encoder.eval()(torch.randn(1, 3, 64, 64))
    assert [tuple(m.shape) for m in maps] == [(1, 64, 16, 16), (1, 512, 2, 2)]

    shallow = convzoo.create_model("resnet18", features_only=True, out_indices=(1,))
    # conv1 + bn1 + layer1 of ResNet-18: nothing of layer2..4 or of the classifier remains.
    assert count_parameters(shallow) == 9408 + 128 + 147_968
    calls = []
    shallow.body.layer2.register_forward_pre_hook(lambda *_: calls.append("layer2"))
    shallow(torch.randn(1, 3, 32, 32))
    assert calls == []  # the forward pass stops after layer1
    vgg = meta_model("vgg16", features_only=True, out_indices=(0, 1))
    assert count_parameters(vgg) == 1792 + 36_928 + 73_856 + 147_584  # conv1_1 .. conv2_2 of 138M


def test_a_classifier_checkpoint_loads_into_the_encoder(tmp_path):
    full = convzoo.create_model("resnet18")
    torch.save(full.state_dict(), tmp_path / "resnet18.pth")
    encoder = convzoo.create_model("resnet18", features_only=True, pretrained=tmp_path / "resnet18.pth")
    assert torch.equal(encoder.body.layer4[1].conv2.weight, full.layer4[1].conv2.weight)
    again = convzoo.create_model("resnet18", features_only=True, out_indices=(2,))
    load_weights(again, full.state_dict())
    assert torch.equal(again.body.layer2[0].conv1.weight, full.layer2[0].conv1.weight)


def test_training_gives_gradients_and_checks_the_input():
    torch.manual_seed(0)
    encoder = convzoo.create_model("mobilenet_v2", features_only=True, out_indices=(0, 2), in_chans=1)
    maps = encoder(torch.randn(2, 1, 32, 32))
    sum(m.square().mean() for m in maps).backward()
    assert all(p.grad is not None for p in encoder.parameters())
    with pytest.raises(InputShapeError, match=r"expects input of shape \(B, 1,"):
        encoder(torch.randn(2, 3, 32, 32))


def test_bad_indices_list_the_valid_ones():
    with pytest.raises(ConvzooError, match=r"\[7\], out of range; valid indices of .* are 0..4 or -5..-1 .*0: act1"):
        convzoo.create_model("resnet18", features_only=True, out_indices=(0, 7))
    with pytest.raises(ConvzooError, match="names a stage twice"):
        meta_model("resnet18", features_only=True, out_indices=(4, -1))
    with pytest.raises(ConvzooError, match="non-empty sequence of ints"):
        meta_model("resnet18", features_only=True, out_indices=3)
    with pytest.raises(ConvzooError, match="pass features_only=True"):
        convzoo.create_model("resnet18", out_indices=(1, 2))
    with pytest.raises(ConvzooError, match="no feature_info stages"):
        meta_model("fcn8s", features_only=True)
