"""The shape volumes: seeded, shaped as promised, anisotropic, classes told apart by shape only."""

from __future__ import annotations

import pytest
import torch

from convzoo.data.segmentation import load_segmentation_data
from convzoo.data.segmentation.volumes import CLASS_NAMES, Z_SPACING, generate_volumes


def test_same_seed_same_volumes():
    volumes, masks = generate_volumes(4, 16, seed=2)
    again, again_masks = generate_volumes(4, 16, seed=2)
    torch.testing.assert_close(volumes, again)
    assert torch.equal(masks, again_masks)
    assert not torch.equal(masks, generate_volumes(4, 16, seed=3)[1])


@pytest.fixture(scope="module")
def shapes() -> tuple[torch.Tensor, torch.Tensor]:
    return generate_volumes(32, 24, seed=0)


def test_shapes_and_classes(shapes):
    volumes, masks = shapes
    assert volumes.shape == (32, 1, 24, 24, 24) and masks.shape == (32, 24, 24, 24)
    assert 0.0 <= volumes.min() and volumes.max() <= 1.0
    assert set(masks.unique().tolist()) == set(range(len(CLASS_NAMES)))


def test_objects_are_squashed_along_depth(shapes):
    _, masks = shapes
    spheres = masks == 1
    depth = spheres.any(dim=(2, 3)).sum(dim=1).float()  # slices a volume's spheres touch
    height = spheres.any(dim=(1, 3)).sum(dim=1).float()
    present = depth > 0
    ratio = (height[present] / depth[present]).mean()
    assert ratio > 0.7 * Z_SPACING


def test_brightness_does_not_tell_the_class(shapes):
    volumes, masks = shapes
    means = [volumes[:, 0][masks == kind].mean().item() for kind in (1, 2, 3)]
    assert max(means) - min(means) < 0.1


def test_loader_gives_three_dimensional_items():
    data = load_segmentation_data("volumes", image_size=16, augment=True)
    image, mask = data.train[0]
    assert data.dims == 3 and data.in_chans == 1 and data.class_names == CLASS_NAMES
    assert image.shape == (1, 16, 16, 16) and mask.shape == (16, 16, 16) and mask.dtype == torch.int64
    assert load_segmentation_data("volumes", image_size=16, in_chans=3).val[0][0].shape == (3, 16, 16, 16)
