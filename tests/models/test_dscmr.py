"""DSCMR's network: the released code's sizes, weight sharing between the modalities, both forward forms."""

from __future__ import annotations

import pytest
import torch

import convzoo
from convzoo.errors import ConvzooError, InputShapeError
from convzoo.models.dscmr import DSCMROutput
from convzoo.registry import count_parameters, meta_model


def test_released_sizes_and_parameter_count():
    model = meta_model("dscmr", image_dim=4096, text_dim=300, num_classes=20)
    assert count_parameters(model) == 4_195_328 + 308_224 + 1_049_600 + 20_500 == 5_573_652
    assert convzoo.model_card("dscmr")["task"] == "crossmodal"
    assert convzoo.list_models(family="dscmr") == ["dscmr"]


def test_both_forward_forms_agree_and_the_last_layers_are_shared():
    torch.manual_seed(0)
    model = convzoo.create_model("dscmr", image_dim=12, text_dim=7, num_classes=5, hidden_dim=16,
                                 common_dim=8).eval()
    images, texts = torch.randn(3, 12), torch.randn(3, 7)
    output = model(images, texts)
    assert isinstance(output, DSCMROutput)
    assert [tuple(part.shape) for part in output] == [(3, 8), (3, 8), (3, 5), (3, 5)]
    for expected, actual in zip(output, model(torch.cat([images, texts], dim=1))):
        torch.testing.assert_close(actual, expected)
    # One common layer and one classifier serve both modalities: u = W relu(A x) + b, P^T u.
    hidden = torch.relu(texts @ model.text_net[0].weight.T + model.text_net[0].bias)
    common = hidden @ model.common.weight.T + model.common.bias
    torch.testing.assert_close(output.text_common, common)
    torch.testing.assert_close(output.text_logits, common @ model.classifier.weight.T + model.classifier.bias)
    torch.testing.assert_close(model.encode_image(images), output.image_common)


def test_every_parameter_gets_a_gradient():
    model = convzoo.create_model("dscmr", image_dim=6, text_dim=5, num_classes=3, hidden_dim=8, common_dim=4)
    sum(part.sum() for part in model(torch.randn(2, 6), torch.randn(2, 5))).backward()
    assert all(p.grad is not None and p.grad.abs().sum() > 0 for p in model.parameters())


def test_bad_inputs_are_one_line():
    model = convzoo.create_model("dscmr", image_dim=6, text_dim=5, num_classes=3, hidden_dim=8, common_dim=4)
    with pytest.raises(InputShapeError, match=r"text features shaped \(batch, 5\)"):
        model(torch.randn(2, 6), torch.randn(2, 4))
    with pytest.raises(InputShapeError, match=r"\(batch, 11\)"):
        model(torch.randn(2, 10))
    with pytest.raises(ConvzooError, match="in_chans=3"):
        convzoo.create_model("dscmr", in_chans=3)
    with pytest.raises(ConvzooError, match="num_classes must be at least 1"):
        convzoo.create_model("dscmr", num_classes=0)


def test_info_shows_the_four_outputs(capsys):
    from helpers import run_cli

    code, out, _ = run_cli(capsys, "info", "dscmr")
    assert code == 0 and "output[image_common] 1x1024" in out and "output[text_logits]  1x20" in out
    assert "5,573,652" in out


def small_with_encoder(**kwargs) -> torch.nn.Module:
    return convzoo.create_model("dscmr", text_dim=7, num_classes=3, hidden_dim=16, common_dim=8,
                                image_encoder="resnet18", image_size=(3, 32, 32), **kwargs)


def test_an_image_encoder_takes_pixels_through_both_forward_forms():
    torch.manual_seed(0)
    model = small_with_encoder().eval()
    assert model.image_dim == 512 and model.image_shape == (3, 32, 32) and model.pair_width == 3 * 32 * 32 + 7
    pixels, texts = torch.randn(2, 3, 32, 32), torch.randn(2, 7)
    output = model(pixels, texts)
    for expected, actual in zip(output, model(torch.cat([pixels.flatten(1), texts], dim=1))):
        torch.testing.assert_close(actual, expected)
    # u = common(relu(A resnet18_pooled(x))), the CNN being resnet18 without its classifier.
    reference = convzoo.create_model("resnet18", num_classes=0).eval()
    reference.load_state_dict({key.removeprefix("image_encoder."): value for key, value in model.state_dict().items()
                               if key.startswith("image_encoder.")})
    hidden = torch.relu(reference(pixels) @ model.image_net[0].weight.T + model.image_net[0].bias)
    torch.testing.assert_close(output.image_common, hidden @ model.common.weight.T + model.common.bias)


def test_the_encoder_keys_sit_beside_the_plain_networks_keys():
    plain = convzoo.create_model("dscmr", image_dim=512, text_dim=7, num_classes=3, hidden_dim=16, common_dim=8)
    keys = set(small_with_encoder().state_dict())
    encoder_keys = {"image_encoder." + key for key in convzoo.create_model("resnet18", num_classes=0).state_dict()}
    assert keys == set(plain.state_dict()) | encoder_keys and set(plain.state_dict()).isdisjoint(encoder_keys)


def test_the_encoder_gets_gradients():
    model = small_with_encoder()
    sum(part.sum() for part in model(torch.randn(2, 3, 32, 32), torch.randn(2, 7))).backward()
    assert all(p.grad is not None and p.grad.abs().sum() > 0 for p in model.image_encoder.parameters())


def test_bad_encoder_settings_are_one_line():
    with pytest.raises(ConvzooError, match="gives 512 features, not image_dim=4096"):
        small_with_encoder(image_dim=4096)
    with pytest.raises(ConvzooError, match="give image_encoder too"):
        convzoo.create_model("dscmr", image_size=(3, 32, 32))
    with pytest.raises(ConvzooError, match="dncnn_s is a denoise model"):
        convzoo.create_model("dscmr", image_encoder="dncnn_s")
    with pytest.raises(ConvzooError, match=r"\(channels, height, width\)"):
        convzoo.create_model("dscmr", image_encoder="resnet18", image_size=(32, 32))
    model = small_with_encoder()
    with pytest.raises(InputShapeError, match=r"image pixels shaped \(batch, 3, 32, 32\)"):
        model.encode_image(torch.randn(2, 3, 28, 28))
    with pytest.raises(InputShapeError, match=r"\(batch, 3079\)"):
        model(torch.randn(2, 3078))
    with pytest.raises(ConvzooError, match="3x32x32 image and 7 text values"):
        convzoo.create_model("dscmr", in_chans=5, text_dim=7, image_encoder="resnet18", image_size=(3, 32, 32))
