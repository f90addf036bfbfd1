"""Valid convs by mirror extension, whole and tiled inference, and the pictures."""

from __future__ import annotations

import numpy as np
import torch
from PIL import Image
from torch.utils.data import TensorDataset

from convzoo.models.unet import mirror_pad, predict_overlap_tile
from convzoo.registry import create_model
from convzoo.tasks.segmentation.overlay import class_colours, colour_mask, overlay, write_panels
from convzoo.tasks.segmentation.tiling import segment_tiled, segment_whole, size_multiple
from convzoo.tasks.segmentation.valid_convs import ValidConvInputs, mirror_extend, valid_padding, valid_tile


def test_valid_tiles_are_the_smallest_that_cover_the_image():
    unet = create_model("unet", base_width=2)
    assert valid_tile(unet, 64) == (252, 68)  # 16 b + 60, output = input - 184
    assert valid_tile(unet, 388) == (572, 388)  # the paper's tile
    assert valid_padding(unet, (64, 30)) == ([(92, 96), (92, 98)], [68, 36])
    assert valid_tile(create_model("unet3d", base_width=2), 32) == (124, 36)  # 3 pools: 8 b + 28, input - 88


def test_mirror_extend_is_mirror_pad_along_every_axis():
    x = torch.arange(2 * 5 * 4, dtype=torch.float32).view(2, 5, 4)
    torch.testing.assert_close(mirror_extend(x, [(7, 3), (2, 9)]), mirror_pad(x, (7, 3, 2, 9)))
    volume = torch.rand(1, 3, 4, 5)
    extended = mirror_extend(volume, [(2, 4), (1, 1), (3, 0)])
    assert extended.shape == (1, 9, 6, 8)
    torch.testing.assert_close(extended[:, 2:5, 1:5, 3:], volume)
    torch.testing.assert_close(extended[:, 1, 1:5, 3:], volume[:, 1])  # the slice before the first mirrors the second


def test_a_valid_unet_scores_the_mirror_extended_image_as_overlap_tile_segments_it():
    torch.manual_seed(0)
    unet = create_model("unet", base_width=2, in_chans=3, num_classes=3).eval()
    image, mask = torch.rand(3, 40, 40), torch.randint(0, 3, (40, 40))
    extended, padded_mask = ValidConvInputs(TensorDataset(image[None], mask[None]), unet, 255)[0]
    assert extended.shape == (3, 236, 236) and padded_mask.shape == (52, 52)
    assert torch.equal(padded_mask[:40, :40], mask) and (padded_mask[40:] == 255).all() and (padded_mask[:, 40:] == 255).all()
    with torch.no_grad():
        scores = unet(extended[None])[..., :40, :40]
    torch.testing.assert_close(scores, predict_overlap_tile(unet, image[None], 236))
    torch.testing.assert_close(segment_whole(unet, image[None]), scores)


def test_tiled_equals_whole_for_a_padded_unet_and_for_unet():
    torch.manual_seed(0)
    image = torch.rand(1, 3, 70, 53)
    padded = create_model("unet_padded", base_width=2, num_classes=4).eval()
    assert size_multiple(padded) == 16
    whole = segment_whole(padded, image)
    assert whole.shape == (1, 4, 70, 53)
    torch.testing.assert_close(segment_tiled(padded, image, tile=32), whole)  # 6 tiles, each with its context
    torch.testing.assert_close(segment_tiled(padded, image, tile=512), whole)  # one tile: the whole pass itself
    unet = create_model("unet", base_width=2, in_chans=3, num_classes=4).eval()
    whole = segment_whole(unet, image)
    torch.testing.assert_close(segment_tiled(unet, image, tile=40), whole)  # overlap-tile: 4 tiles of 236 -> 52


def test_palette_overlay_and_panels(tmp_path):
    colours = class_colours(22)
    assert colours[0].tolist() == [0, 0, 0] and colours[1].tolist() == [128, 0, 0] and colours[15].tolist() == [192, 128, 128]
    assert len({tuple(c) for c in colours}) == 22  # one colour per class
    mask = np.array([[0, 1], [255, 2]])
    shown = colour_mask(mask, colours)
    assert shown[1, 0].tolist() == [255, 255, 255]  # ignored: white
    picture = np.full((2, 2, 3), 100, dtype=np.uint8)
    blended = overlay(picture, mask, colours)
    assert blended[0, 0].tolist() == [100, 100, 100] and blended[0, 1].tolist() == [114, 50, 50]
    path = write_panels(tmp_path / "p.png", [[picture, shown, blended], [picture, shown, blended]], gap=4, scale=3)
    with Image.open(path) as written:
        assert written.format == "PNG" and written.size == (3 * 6 + 2 * 4, 2 * 6 + 4)
