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
