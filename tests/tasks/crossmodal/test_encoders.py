"""The image side of image-text pairs: a checkpoint loaded into the CNN a fine-tuned DSCMR owns."""

from __future__ import annotations

import pytest
import torch
import torchvision

import convzoo
from convzoo.errors import ConvzooError
from convzoo.tasks.crossmodal.encoders import load_image_encoder


def dscmr_with(encoder: str) -> torch.nn.Module:
    return convzoo.create_model("dscmr", text_dim=5, num_classes=3, hidden_dim=8, common_dim=4, image_encoder=encoder,
                                image_size=(3, 32, 32))


def test_a_torchvision_checkpoint_fills_the_encoder_and_gives_its_pooled_features(tmp_path):
    torch.manual_seed(1)
    reference = torchvision.models.resnet18(num_classes=10).eval()
    torch.save(reference.state_dict(), tmp_path / "r18.pth")
    model = dscmr_with("resnet18").eval()
    load_image_encoder(model, "resnet18", str(tmp_path / "r18.pth"))
    pixels = torch.randn(2, 3, 32, 32)
    reference.fc = torch.nn.Identity()
    torch.testing.assert_close(model.image_encoder(pixels), reference(pixels))
    # The rest of the network keeps its own weights: u is its layers over the loaded CNN's features.
    hidden = torch.relu(reference(pixels) @ model.image_net[0].weight.T + model.image_net[0].bias)
    torch.testing.assert_close(model.encode_image(pixels), hidden @ model.common.weight.T + model.common.bias)


def test_a_convzoo_checkpoint_of_another_classifier_loads_and_a_wrong_one_is_refused(tmp_path):
    from safetensors.torch import save_file

    lenet = convzoo.create_model("lenet5", num_classes=4)
    save_file(lenet.state_dict(), tmp_path / "lenet.safetensors")
    model = convzoo.create_model("dscmr", text_dim=5, num_classes=3, hidden_dim=8, common_dim=4,
                                 image_encoder="lenet5")
    load_image_encoder(model, "lenet5", str(tmp_path / "lenet.safetensors"))
    for key, value in model.image_encoder.state_dict().items():
        torch.testing.assert_close(value, lenet.state_dict()[key])
    with pytest.raises(ConvzooError, match="lenet.safetensors"):
        load_image_encoder(dscmr_with("resnet18"), "resnet18", str(tmp_path / "lenet.safetensors"))
    plain = convzoo.create_model("dscmr", image_dim=6, text_dim=5, num_classes=3, hidden_dim=8, common_dim=4)
    with pytest.raises(ConvzooError, match="no image encoder"):
        load_image_encoder(plain, "lenet5", str(tmp_path / "lenet.safetensors"))
