"""U-Net and UNet++ on zoo encoders: segmentation_models_pytorch's state dicts load with
identical outputs, equal parameter counts, shapes, input checks, cards and tracing."""

from __future__ import annotations

import pytest
import torch

import convzoo
from convzoo.analysis import receptive_field
from convzoo.errors import ConvzooError, InputShapeError
from convzoo.models.encoder_unet import EncoderUNet
from convzoo.models.encoder_unetplusplus import EncoderUNetPlusPlus
from convzoo.registry import count_parameters, get_entry, meta_model
from convzoo.train.transfer import freeze
from convzoo.weights import load_weights, normalise_state_dict
from helpers import empty_model, randomise_norms, state_shapes

smp = pytest.importorskip("segmentation_models_pytorch")

# Registered name -> the smp model of the same layout.
REGISTERED = {
    "unet_resnet18": ("Unet", "resnet18"),
    "unet_resnet34": ("Unet", "resnet34"),
    "unet_resnet50": ("Unet", "resnet50"),
    "unet_mobilenet_v2": ("Unet", "mobilenet_v2"),
    "unetplusplus_resnet34": ("UnetPlusPlus", "resnet34"),
    "unetplusplus_resnet50": ("UnetPlusPlus", "resnet50"),
    "unetplusplus_mobilenet_v2": ("UnetPlusPlus", "mobilenet_v2"),
}
PARAMS = {  # 3 input channels, 1 class: smp's counts
    "unet_resnet18": 14_328_209,
    "unet_resnet34": 24_436_369,
    "unet_resnet50": 32_521_105,
    "unet_mobilenet_v2": 6_628_945,
    "unetplusplus_resnet34": 26_078_609,
    "unetplusplus_resnet50": 48_985_745,
    "unetplusplus_mobilenet_v2": 6_824_721,
}


def smp_model(name: str, **kwargs) -> torch.nn.Module:
    architecture, encoder = REGISTERED[name]
    return getattr(smp, architecture)(encoder, encoder_weights=None, **kwargs)


def random_smp(architecture: str, encoder: str, **kwargs) -> torch.nn.Module:
    """An smp model with seeded random weights and batch-norm statistics, in eval mode."""
    torch.manual_seed(0)
    model = getattr(smp, architecture)(encoder, encoder_weights=None, **kwargs).eval()
    randomise_norms(model)
    return model


def assert_same_outputs(ours: torch.nn.Module, theirs: torch.nn.Module, shape=(1, 3, 64, 64)) -> None:
    x = torch.randn(shape)
    with torch.no_grad():
        torch.testing.assert_close(ours.eval()(x), theirs(x), rtol=0, atol=1e-5)


def test_every_registered_name_is_compared():
    files = {"convzoo.models.encoder_unet", "convzoo.models.encoder_unetplusplus"}
    names = {name for name in convzoo.list_models(task="segmentation") if get_entry(name).builder.__module__ in files}
    assert names == set(REGISTERED)


@pytest.mark.parametrize("name", ["unet_resnet34", "unetplusplus_resnet34", "unet_mobilenet_v2", "unetplusplus_mobilenet_v2"])
def test_smp_weights_give_smp_outputs(name):
    theirs = random_smp(*REGISTERED[name], classes=3)
    ours = load_weights(empty_model(get_entry(name).builder, num_classes=3), theirs.state_dict())
    assert_same_outputs(ours, theirs)


def test_an_smp_checkpoint_file_loads_by_create_model(tmp_path):
    theirs = random_smp("Unet", "resnet18", classes=2)
    torch.save(theirs.state_dict(), tmp_path / "smp_unet_resnet18.pth")
    ours = convzoo.create_model("unet_resnet18", num_classes=2, pretrained=tmp_path / "smp_unet_resnet18.pth")
    assert_same_outputs(ours, theirs, shape=(2, 3, 32, 96))


@pytest.mark.parametrize("name", sorted(REGISTERED))
def test_same_parameters_and_shapes_as_smp(name):
    ours = meta_model(name)
    with torch.device("meta"):
        theirs = smp_model(name)
    assert count_parameters(ours) == count_parameters(theirs) == PARAMS[name]
    assert convzoo.model_card(name)["notes"]["parameters (3 channels, 1 class), as smp"] == PARAMS[name]
    theirs_in_our_keys = normalise_state_dict(ours, theirs.state_dict())  # through remap_state_dict
    assert state_shapes(ours) == {key: value.shape for key, value in theirs_in_our_keys.items()}


def test_any_encoder_depth_and_decoder_widths_match_smp():
    """A shallower encoder (smp's encoder_depth) and narrower decoder: UNet++'s node grid shrinks with it."""
    widths = (64, 32, 16, 8)
    theirs = random_smp("UnetPlusPlus", "resnet18", classes=2, encoder_depth=4, decoder_channels=widths)
    ours = EncoderUNetPlusPlus("resnet18", num_classes=2, encoder_depth=4, decoder_channels=widths)
    assert sorted(ours.decoder) == ["x0_4", "x1_1", "x1_2", "x1_3", "x2_1", "x2_2", "x3_1"]
    load_weights(ours, theirs.state_dict())
    assert_same_outputs(ours, theirs, shape=(1, 3, 48, 32))  # multiples of 16 suffice at depth 4


def test_an_unregistered_encoder_builds_as_smp_does():
    """Any zoo classifier is an encoder: ResNeXt-50 32x4d, the same as smp's on the meta device."""
    with torch.device("meta"):
        ours = EncoderUNet("resnext50_32x4d", num_classes=4)
        theirs = smp.Unet("resnext50_32x4d", encoder_weights=None, classes=4)
    assert count_parameters(ours) == count_parameters(theirs)
    assert state_shapes(ours) == {k: v.shape for k, v in normalise_state_dict(ours, theirs.state_dict()).items()}
    assert ours.encoder.feature_info.channels() == [64, 256, 512, 1024, 2048]


def test_output_shape_and_every_parameter_learns():
    torch.manual_seed(0)
    for model in (EncoderUNet("resnet18", num_classes=3), EncoderUNetPlusPlus("resnet18", num_classes=3)):
        output = model(torch.randn(2, 3, 32, 96))  # training mode
        assert output.shape == (2, 3, 32, 96)
        output.square().mean().backward()
        assert all(p.grad is not None for p in model.parameters())


def test_in_chans_and_sizes_are_checked():
    model = convzoo.create_model("unet_resnet18", in_chans=1).eval()
    assert model(torch.randn(1, 1, 64, 64)).shape == (1, 1, 64, 64)
    with pytest.raises(InputShapeError, match=r"multiple of 32; H: .* nearest valid sizes are 64 and 96"):
        model(torch.randn(1, 1, 65, 64))
    with pytest.raises(InputShapeError, match=r"W: .* nearest valid sizes are 96 and 128"):
        model(torch.randn(1, 1, 64, 100))
    with pytest.raises(InputShapeError, match=r"expects input of shape \(B, 1, H, W\)"):
        model(torch.randn(1, 3, 64, 64))


def test_bad_encoders_and_widths_are_explained():
    with pytest.raises(ConvzooError, match="'lenet5' has no stage at reduction"):
        EncoderUNet("lenet5")
    with pytest.raises(ConvzooError, match="one width per reduction, 4 for encoder_depth=4"):
        EncoderUNet("resnet18", encoder_depth=4, decoder_channels=(256, 128, 64, 32, 16))
    with pytest.raises(ConvzooError, match="encoder_depth must be 1 to 5"):
        EncoderUNet("resnet18", encoder_depth=6)


def test_model_card():
    card = convzoo.model_card("unet_resnet34")
    assert (card["task"], card["family"], card["num_classes"], card["input_size"]) == ("segmentation", "unet", 1, [3, 256, 256])
    assert card["params"] == PARAMS["unet_resnet34"] and "segmentation_models_pytorch" in card["deviations"]
    assert convzoo.model_card("unetplusplus_resnet34")["paper"]["year"] == 2018


def test_receptive_field_traces_through_the_encoder():
    """torch.fx traces the features_only encoder, a ReLU stage (ResNet's act1) included."""
    result = receptive_field(meta_model("unet_resnet18"), (3, 64, 64))
    assert result.output.shape == (1, 1, 64, 64) and result.output.jump == 1


def test_the_encoder_is_the_features_a_fine_tuning_freezes():
    """feature_info names the encoder's stages: `--freeze features` trains the decoder and head alone."""
    model = meta_model("unetplusplus_mobilenet_v2")
    assert [(i["num_chs"], i["reduction"]) for i in model.feature_info] == [(16, 2), (24, 4), (32, 8), (96, 16), (1280, 32)]
    assert model.feature_info[-1]["module"] == "encoder.body.features.18"
    frozen = freeze(model, "features")
    assert frozen.num_frozen == count_parameters(model.encoder)
    assert {name.split(".")[0] for name in frozen.trainable} == {"decoder", "head"}
