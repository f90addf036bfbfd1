"""U-Net (Ronneberger et al. 2015): the paper's sizes and parameters, valid input sizes,
overlap-tile inference, and the padded variant."""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as F

import convzoo
from convzoo.analysis import profile
from convzoo.analysis.arithmetic import unet_valid_sizes
from convzoo.errors import ConvzooError, InputShapeError
from convzoo.models.unet import UNet, mirror_pad, predict_overlap_tile, unet, unet_padded
from convzoo.registry import count_parameters, meta_model


def meta(builder, **kwargs):
    """The registered model on the meta device, without initialisation (fast)."""
    return meta_model(builder.__name__, **kwargs)


def test_paper_parameters_and_tile():
    model = meta(unet)
    assert count_parameters(model) == 31_030_658  # 1 input channel, 2 classes
    assert model(torch.empty(1, 1, 572, 572, device="meta")).shape == (1, 2, 388, 388)
    assert model.output_size(572) == 388


def test_model_card():
    card = convzoo.model_card("unet")
    facts = (card["family"], card["task"], card["input_size"], card["num_classes"])
    assert facts == ("unet", "segmentation", [1, 572, 572], 2)
    assert card["params"] == 31_030_658
    assert set(convzoo.list_models(family="unet")) >= {"unet", "unet_padded", "unetplusplus", "unet3d", "unet3d_padded"}


def test_valid_sizes_are_the_analysis_labs():
    """The model accepts exactly the sizes convzoo.analysis.arithmetic calls valid, and outputs what it predicts."""
    model = meta(unet)
    accepted = []
    for size in range(150, 300):
        try:
            model(torch.empty(1, 1, size, 188, device="meta"))
            accepted.append(size)
        except InputShapeError:
            pass
    assert accepted == unet_valid_sizes(start=150, stop=300) == [188, 204, 220, 236, 252, 268, 284]
    for size in accepted:
        assert model(torch.empty(1, 1, size, 188, device="meta")).shape[-2] == model.output_size(size)


def test_bad_input_is_explained():
    model = meta(unet)
    with pytest.raises(InputShapeError, match=r"H: input size 570 is not valid.*nearest valid sizes are 556 and 572"):
        model(torch.empty(1, 1, 570, 572, device="meta"))
    with pytest.raises(InputShapeError, match=r"W: .*nearest valid sizes are 572 and 588"):
        model(torch.empty(1, 1, 572, 580, device="meta"))
    with pytest.raises(InputShapeError, match=r"expects input of shape \(B, 1, H, W\), got \(1, 3, 572, 572\)"):
        model(torch.empty(1, 3, 572, 572, device="meta"))
    with pytest.raises(InputShapeError, match="expects input of shape"):
        model(torch.empty(1, 572, 572, device="meta"))


def test_forward_backward_small():
    torch.manual_seed(0)
    model = unet(base_width=2, in_chans=2, num_classes=3)
    out = model(torch.randn(2, 2, 204, 220))
    assert out.shape == (2, 3, 20, 36) and torch.isfinite(out).all()
    out.square().mean().backward()
    assert all(p.grad is not None for p in model.parameters())


def test_mirror_pad():
    x = torch.arange(30.0).reshape(1, 1, 5, 6)
    assert torch.equal(mirror_pad(x, (2, 3, 4, 1)), F.pad(x, (4, 1, 2, 3), mode="reflect"))
    # Padding beyond the image reflects again, as numpy's "reflect".
    wide = mirror_pad(x, (9, 11, 13, 7))
    assert np.array_equal(wide[0, 0].numpy(), np.pad(x[0, 0].numpy(), ((9, 11), (13, 7)), mode="reflect"))


def test_overlap_tile_equals_one_pass_over_the_mirrored_image():
    torch.manual_seed(0)
    model = unet(base_width=2, num_classes=3).double().eval()
    image = torch.rand(1, 1, 68, 100, dtype=torch.float64)
    # 68 + 2 x 92 = 252 and 100 + 184 = 284 are valid sizes: the whole image fits in one pass.
    with torch.no_grad():
        whole = model(mirror_pad(image, (92, 92, 92, 92)))
    tiled = predict_overlap_tile(model, image, tile=236)  # 52x52 outputs on a 48-pixel step: 2 x 2 tiles
    assert whole.shape == tiled.shape == (1, 3, 68, 100)
    torch.testing.assert_close(tiled, whole, rtol=1e-12, atol=1e-12)


def test_overlap_tile_takes_any_size():
    torch.manual_seed(0)
    model = unet(base_width=2).eval()
    for height, width in ((100, 137), (7, 3), (1, 1)):
        out = predict_overlap_tile(model, torch.rand(1, 1, height, width), tile=(252, 284))
        assert out.shape == (1, 2, height, width) and torch.isfinite(out).all()


def test_overlap_tile_refuses_what_it_cannot_do():
    model = meta(unet)
    with pytest.raises(InputShapeError, match="nearest valid sizes are 204 and 220"):
        predict_overlap_tile(model, torch.rand(1, 1, 50, 50), tile=210)
    with pytest.raises(InputShapeError, match="at least 204"):
        predict_overlap_tile(model, torch.rand(1, 1, 50, 50), tile=188)  # a 4-pixel output cannot step on the grid
    with pytest.raises(InputShapeError, match=r"\(B, 1, H, W\)"):
        predict_overlap_tile(model, torch.rand(1, 3, 50, 50), tile=204)
    with pytest.raises(ConvzooError, match="valid convs"):
        predict_overlap_tile(meta(unet_padded), torch.rand(1, 3, 64, 64), tile=64)


def test_padded_keeps_the_size():
    torch.manual_seed(0)
    model = unet_padded(base_width=4)
    out = model(torch.randn(2, 3, 64, 96))
    assert out.shape == (2, 2, 64, 96)
    out.square().mean().backward()
    assert all(p.grad is not None for p in model.parameters())
    assert count_parameters(meta(unet_padded)) == 31_037_698  # no conv bias before BN, 2 BN parameters per channel
    bilinear = unet_padded(base_width=4, upsample="bilinear")
    assert bilinear(torch.randn(1, 3, 32, 48)).shape == (1, 2, 32, 48)


def test_padded_refuses_sizes_not_divisible_by_16():
    model = meta(unet_padded)
    with pytest.raises(InputShapeError, match=r"multiple of 16; H: .*nearest valid sizes are 240 and 256"):
        model(torch.empty(1, 3, 250, 256, device="meta"))


def test_constructor_checks():
    with pytest.raises(ValueError, match="padding"):
        UNet(padding=2)
    with pytest.raises(ValueError, match="upsample"):
        UNet(widths=(4, 8), upsample="nearest")


def test_profile_counts_every_layer():
    result = profile("unet")
    assert result.params == 31_030_658
    assert result.coverage.summary() == "coverage: all 45 leaf layers counted"
