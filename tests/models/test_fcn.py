"""FCN: the paper's VGG-16 nets (sizes, crops, bilinear upsampling, VGG-16 initialisation) and
torchvision's FCN-ResNets (identical outputs with torchvision's weights)."""

from __future__ import annotations

import pytest
import torch
import torchvision
from helpers import empty_model, randomise_norms
from hypothesis import given, settings
from hypothesis import strategies as st

import convzoo
from convzoo.analysis import profile, receptive_field, stage_shapes
from convzoo.errors import InputShapeError
from convzoo.models.fcn import FCN, bilinear_kernel, fcn_from_vgg16
from convzoo.registry import count_parameters, get_entry, meta_model
from convzoo.weights import load_weights

VGG_NETS = ["fcn32s", "fcn16s", "fcn8s"]
RESNET_NETS = ["fcn_resnet50", "fcn_resnet101"]

# All parameters and the learned ones (requires_grad), at 21 classes. The difference is the
# fixed final upsampling, a full (21, 21, k, k) kernel as in the Caffe nets: k = 64, 32, 16.
# Table 1 of the paper gives FCN-VGG16 134M parameters, the learned ones.
VGG_PARAMS = {
    "fcn32s": (136_152_917, 134_346_581),
    "fcn16s": (134_815_994, 134_364_410),
    "fcn8s": (134_489_759, 134_376_863),
}
# Equal to torchvision's fcn_resnet50/101 (weights=None), without and with the auxiliary head.
RESNET_PARAMS = {
    "fcn_resnet50": (32_957_013, 35_322_218),
    "fcn_resnet101": (51_949_141, 54_314_346),
}


def test_registered_as_segmentation_models():
    assert convzoo.list_models(family="fcn") == sorted(VGG_NETS + RESNET_NETS)
    assert set(VGG_NETS + RESNET_NETS) <= set(convzoo.list_models(task="segmentation"))
    card = convzoo.model_card("fcn8s")
    assert card["num_classes"] == 21 and card["paper"]["year"] == 2015 and "at_once" in card["deviations"]
    assert convzoo.model_card("fcn_resnet101")["torchvision_name"] == "fcn_resnet101"


@pytest.mark.parametrize("name", VGG_NETS)
def test_vgg_parameter_counts(name):
    model = meta_model(name)
    learned = sum(p.numel() for p in model.parameters() if p.requires_grad)
    assert (count_parameters(model), learned) == VGG_PARAMS[name]
    assert round(learned / 1e6) == 134
    kernel = {"fcn32s": 64, "fcn16s": 32, "fcn8s": 16}[name]
    assert count_parameters(model) - learned == 21 * 21 * kernel * kernel


@pytest.mark.parametrize("name", RESNET_NETS)
def test_resnet_parameter_counts_are_torchvisions(name):
    builder = getattr(torchvision.models.segmentation, name)
    for aux_loss, expected in zip((False, True), RESNET_PARAMS[name]):
        with torch.device("meta"):
            ours = convzoo.create_model(name, aux_loss=aux_loss)
            theirs = builder(weights=None, weights_backbone=None, aux_loss=aux_loss)
        assert count_parameters(ours) == count_parameters(theirs) == expected
        assert ours.state_dict().keys() == theirs.state_dict().keys()


@settings(max_examples=40, deadline=None)
@given(stride=st.sampled_from([32, 16, 8]), height=st.integers(1, 700), width=st.integers(1, 700))
def test_output_has_the_inputs_size(stride, height, width):
    """The crops undo the padding of 100 exactly, for any size (on the meta device: shapes only)."""
    with torch.device("meta"):
        model = FCN(stride, num_classes=5, in_chans=2)
        assert model(torch.empty(1, 2, height, width)).shape == (1, 5, height, width)


@pytest.mark.parametrize("name", VGG_NETS + RESNET_NETS)
@pytest.mark.parametrize("size", [(1, 1), (31, 33), (64, 64), (97, 224), (500, 375)])
def test_every_net_keeps_the_size(name, size):
    with torch.device("meta"):
        output = convzoo.create_model(name, num_classes=3)(torch.empty(2, 3, *size))
    output = output["out"] if isinstance(output, dict) else output
    assert output.shape == (2, 3, *size)


@pytest.mark.parametrize("kernel_size, stride", [(4, 2), (16, 8), (32, 16), (64, 32)])
def test_bilinear_kernel_keeps_constants_and_ramps(kernel_size, stride):
    """A stride-s transposed conv with the kernel interpolates linearly: a constant stays
    constant and a linear ramp stays linear, away from the borders; channels stay apart."""
    upsample = torch.nn.ConvTranspose2d(2, 2, kernel_size, stride=stride, bias=False)
    upsample.weight.data = bilinear_kernel(2, kernel_size)
    rows = torch.arange(6.0).view(6, 1).expand(6, 6)
    x = torch.stack([torch.full((6, 6), 3.0), rows + 2 * rows.T]).unsqueeze(0)  # (1, 2, 6, 6)
    with torch.no_grad():
        y = upsample(x)[0]  # (2, 5s + k, 5s + k)
    inner = slice(kernel_size, 5 * stride)
    torch.testing.assert_close(y[0, inner, inner], torch.full_like(y[0, inner, inner], 3.0))
    ramp = y[1, inner, inner]
    torch.testing.assert_close(ramp[2:] - 2 * ramp[1:-1] + ramp[:-2], torch.zeros_like(ramp[2:]), atol=1e-4, rtol=0)
    torch.testing.assert_close(ramp[:, 1:] - ramp[:, :-1], torch.full_like(ramp[:, 1:], 2 / stride))


@pytest.mark.parametrize("name", VGG_NETS)
def test_upsampling_starts_bilinear_and_only_the_final_one_is_fixed(name):
    model = meta_model(name, num_classes=4)
    final, kernel_size = {"fcn32s": ("upscore", 64), "fcn16s": ("upscore16", 32), "fcn8s": ("upscore8", 16)}[name]
    learned = {"fcn32s": [], "fcn16s": ["upscore2"], "fcn8s": ["upscore2", "upscore_pool4"]}[name]
    upsamplings = {n: m for n, m in model.named_children() if isinstance(m, torch.nn.ConvTranspose2d)}
    assert set(upsamplings) == {final, *learned}
    assert upsamplings[final].kernel_size == (kernel_size, kernel_size) and not upsamplings[final].weight.requires_grad
    assert all(upsamplings[n].weight.requires_grad for n in learned)
    real = convzoo.create_model(name, num_classes=4) if name == "fcn8s" else None
    if real is not None:
        for n in [final, *learned]:
            module = getattr(real, n)
            assert torch.equal(module.weight, bilinear_kernel(4, module.kernel_size[0]))
        assert not any(p.abs().sum() for n, p in real.named_parameters() if n.startswith("score"))  # zero-initialised


def test_fcn8s_trains_and_at_once_scales_the_skips():
    torch.manual_seed(0)
    model = convzoo.create_model("fcn8s", num_classes=3, at_once=True)
    for name in ("score_fr", "score_pool4", "score_pool3"):
        torch.nn.init.normal_(getattr(model, name).weight, std=0.01)
    seen = {}

    def keep(name: str, from_input: bool):
        def hook(_module, args, out) -> None:
            seen[name] = args[0] if from_input else out

        return hook

    model.features[23].register_forward_hook(keep("pool4", from_input=False))  # pool4
    model.score_pool4.register_forward_hook(keep("scored", from_input=True))
    output = model(torch.randn(1, 3, 12, 9))
    assert output.shape == (1, 3, 12, 9) and torch.isfinite(output).all()
    torch.testing.assert_close(seen["scored"], seen["pool4"] * 0.01)
    output.square().mean().backward()
    assert all(p.grad is not None for p in model.parameters() if p.requires_grad)
    assert model.upscore8.weight.grad is None
    with pytest.raises(InputShapeError, match=r"expects input of shape \(B, 3,"):
        model(torch.randn(2, 1, 12, 9))


def test_vgg16_classifier_initialises_the_backbone():
    torch.manual_seed(0)
    vgg = convzoo.create_model("vgg16").eval()
    fcn = empty_model(get_entry("fcn32s").builder)
    missing, unexpected = fcn.load_state_dict(fcn_from_vgg16(vgg.state_dict()), strict=False)
    assert set(missing) == {"score_fr.weight", "score_fr.bias", "upscore.weight"} and not unexpected
    assert torch.equal(fcn.features[28].weight, vgg.features[28].weight)
    # fc6 over a 7x7 pool5 map is VGG's first linear layer; fc7 its second. A convolution and a matrix
    # product sum the 25,088 (4,096) products of each output in different orders, so they agree to a few
    # float32 roundings of the sum, not to the default 1e-5 (one element in 8,192 differed by 1.5e-5).
    pool5 = torch.randn(2, 512, 7, 7)
    with torch.no_grad():
        torch.testing.assert_close(fcn.fc6(pool5).flatten(1), vgg.classifier[0](pool5.flatten(1)),
                                   rtol=1e-4, atol=1e-4)
        hidden = torch.randn(2, 4096)
        torch.testing.assert_close(fcn.fc7(hidden[:, :, None, None]).flatten(1), vgg.classifier[3](hidden),
                                   rtol=1e-4, atol=1e-4)


@pytest.mark.parametrize("name", RESNET_NETS)
@pytest.mark.parametrize("aux_loss", [False, True])
def test_torchvision_weights_give_torchvision_outputs(name, aux_loss):
    torch.manual_seed(0)
    theirs = getattr(torchvision.models.segmentation, name)(weights=None, weights_backbone=None, aux_loss=aux_loss)
    randomise_norms(theirs.eval())
    ours = load_weights(empty_model(get_entry(name).builder, aux_loss=aux_loss), theirs.state_dict())
    x = torch.randn(1, 3, 64, 64)
    with torch.no_grad():
        expected, output = theirs(x), ours(x)
    assert list(output) == list(expected) == (["out", "aux"] if aux_loss else ["out"])
    for key in expected:
        torch.testing.assert_close(output[key], expected[key], rtol=0, atol=1e-5)


def test_analysis_lab_measures_segmentation_models():
    assert stage_shapes(meta_model("fcn_resnet50", aux_loss=True), (3, 64, 48)) == [
        ("output[out]", (1, 21, 64, 48)), ("output[aux]", (1, 21, 64, 48)),
    ]
    assert stage_shapes(meta_model("fcn8s"), (3, 64, 48)) == [("output", (1, 21, 64, 48))]
    assert profile("fcn8s", (3, 224, 224)).params == VGG_PARAMS["fcn8s"][0]
    for name in ("fcn32s", "fcn8s", "fcn_resnet50"):
        result = receptive_field(meta_model(name), (3, 224, 224))
        assert result.output.size and result.output.jump == 1
