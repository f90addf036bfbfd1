"""Joint augmentation: the mask moves with the image and keeps only its own values."""

from __future__ import annotations

import torch

from convzoo.data.segmentation import JointAugment


def blocks(size: int = 32, classes: int = 4, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    """A mask of 8x8 blocks of random classes and an image that shows it (value = class / classes)."""
    generator = torch.Generator().manual_seed(seed)
    mask = (
        torch.randint(classes, (size // 8, size // 8), generator=generator)
        .repeat_interleave(8, 0)
        .repeat_interleave(8, 1)
    )
    image = (mask.float() / classes)[None].repeat(3, 1, 1)
    return image, mask


def test_flips_alone_move_image_and_mask_identically():
    image, mask = blocks()
    augment = JointAugment(degrees=0.0, scale=(1.0, 1.0))
    for seed in range(6):
        torch.manual_seed(seed)
        new_image, new_mask = augment(image, mask)
        assert torch.equal((new_image[0] * 4).round().long(), new_mask)


def test_flips_happen_unless_turned_off():
    """Half the pairs are mirrored by default; none with flip=False (a mirrored digit is not that digit)."""
    image, mask = blocks()
    for flip, expected in ((True, True), (False, False)):
        augment = JointAugment(degrees=0.0, scale=(1.0, 1.0), flip=flip)
        torch.manual_seed(0)
        mirrored = [torch.equal(augment(image, mask)[1], mask.flip(-1)) for _ in range(20)]
        assert any(mirrored) is expected


def test_digit_scenes_are_never_mirrored():
    from convzoo.data.segmentation import load_segmentation_data

    assert load_segmentation_data("scenes").train.transform.flip is False


def test_rotation_and_zoom_keep_image_and_mask_together():
    image, mask = blocks()
    augment = JointAugment(degrees=20.0, scale=(0.8, 1.3))
    for seed in range(6):
        torch.manual_seed(seed)
        new_image, new_mask = augment(image, mask)
        assert new_image.shape == image.shape and new_mask.shape == mask.shape and new_mask.dtype == torch.int64
        assert set(new_mask.unique().tolist()) <= set(mask.unique().tolist()) | {255}  # nearest neighbour
        known = new_mask != 255
        agree = ((new_image[0] * 4).round().long() == new_mask)[known].float().mean()
        assert agree > 0.85  # only pixels on block edges, where bilinear blends two classes, may differ


def test_pixels_from_outside_are_ignored():
    image, mask = blocks()
    torch.manual_seed(0)
    new_image, new_mask = JointAugment(degrees=0.0, scale=(0.5, 0.5))(image, mask)
    outside = new_mask == 255
    assert outside[0].all() and outside[:, 0].all()  # zooming out to half brings in a border
    assert new_image[:, outside].abs().max() < 1e-6


def test_same_global_seed_same_augmentation():
    image, mask = blocks()
    augment = JointAugment()
    torch.manual_seed(7)
    first = augment(image, mask)
    torch.manual_seed(7)
    second = augment(image, mask)
    assert torch.equal(first[0], second[0]) and torch.equal(first[1], second[1])


def test_volumes_flip_and_turn_with_their_masks():
    generator = torch.Generator().manual_seed(0)
    mask = torch.randint(3, (6, 8, 8), generator=generator)
    volume = mask.float()[None] / 3
    for seed in range(8):
        torch.manual_seed(seed)
        new_volume, new_mask = JointAugment()(volume, mask)
        assert new_volume.shape == (1, 6, 8, 8) and new_mask.shape == (6, 8, 8)
        assert torch.equal((new_volume[0] * 3).round().long(), new_mask)
