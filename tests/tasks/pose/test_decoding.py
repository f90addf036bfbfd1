"""Heatmap decoding: sub-pixel accuracy, target round trips, flip testing and the way back through a crop."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from convzoo.data.pose.skeleton import COCO
from convzoo.data.pose.targets import gaussian_heatmaps, top_down_target
from convzoo.data.pose.transforms import crop_matrix, transform_points
from convzoo.errors import ConvzooError
from convzoo.tasks.pose.decoding import crop_keypoints_to_image, decode_heatmaps, flip_test


def test_sub_pixel_gaussians_decode_within_a_quarter_pixel():
    generator = torch.Generator().manual_seed(0)
    truth = torch.rand(6, 17, 2, generator=generator) * torch.tensor([40.0, 28.0]) + 4  # inside (36, 48) maps
    keypoints = torch.cat([truth, torch.full((6, 17, 1), 2.0)], dim=-1)
    heatmaps = torch.stack([gaussian_heatmaps(person[None], (36, 48), sigma=2.0)[0] for person in keypoints])
    decoded = decode_heatmaps(heatmaps, stride=1)
    assert decoded.shape == (6, 17, 3)
    assert (decoded[..., :2] - truth).abs().max() <= 0.25 + 1e-6
    torch.testing.assert_close(decoded[..., 2], heatmaps.flatten(2).amax(-1))


def test_quarter_shift_goes_towards_the_higher_neighbour_and_not_on_the_border():
    heatmaps = torch.zeros(1, 3, 5, 6)
    heatmaps[0, 0, 2, 3], heatmaps[0, 0, 2, 4], heatmaps[0, 0, 1, 3] = 1.0, 0.5, 0.2  # right and up
    heatmaps[0, 1, 0, 0], heatmaps[0, 1, 0, 1] = 1.0, 0.9  # corner: no shift
    heatmaps[0, 2, 3, 2] = 1.0  # equal neighbours: no shift
    decoded = decode_heatmaps(heatmaps, stride=1)
    assert decoded[0, :, :2].tolist() == [[3.25, 1.75], [0.0, 0.0], [2.0, 3.0]]


def test_top_down_target_decodes_back_to_the_keypoints():
    generator = torch.Generator().manual_seed(1)
    keypoints = torch.cat([torch.rand(17, 2, generator=generator) * torch.tensor([180.0, 240.0]) + 6,
                           torch.full((17, 1), 2.0)], dim=-1)
    target = top_down_target(keypoints, (256, 192), stride=4, sigma=2.0)
    decoded = decode_heatmaps(target[0][None], stride=4)[0]
    assert (decoded[:, :2] - keypoints[:, :2]).abs().max() <= 1.0 + 1e-5
    assert (decoded[:, 2] > 0.8).all()


class MirrorEquivariantNet(nn.Module):
    """Heatmaps that mirror with the image: a joint's kernel is the mirror of its flip partner's kernel."""

    def __init__(self) -> None:
        super().__init__()
        kernels = torch.randn(COCO.num_joints, 1, 5, 5, generator=torch.Generator().manual_seed(2))
        for left, right in COCO.flip_pairs:
            kernels[right] = kernels[left].flip(-1)
        for joint in set(range(COCO.num_joints)) - {j for pair in COCO.flip_pairs for j in pair}:
            kernels[joint] = (kernels[joint] + kernels[joint].flip(-1)) / 2
        self.register_buffer("kernels", kernels)

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        heatmaps = F.avg_pool2d(torch.sigmoid(F.conv2d(images, self.kernels, padding=2)), 4)  # (B, J, H/4, W/4)
        return torch.stack([heatmaps * 0.5, heatmaps], dim=1)  # (B, S=2, J, h, w)


def test_flip_test_of_a_mirror_equivariant_model_gives_its_heatmaps():
    model = MirrorEquivariantNet()
    images = torch.rand(2, 1, 32, 24, generator=torch.Generator().manual_seed(3))
    with torch.no_grad():
        plain = model(images)[:, -1]
        averaged = flip_test(model, images, COCO)
    assert averaged.shape == (2, 17, 8, 6)
    torch.testing.assert_close(averaged, plain)


def test_flip_test_swaps_left_and_right():
    def one_sided(images: torch.Tensor) -> torch.Tensor:  # only the left shoulder answers, at the left edge
        heatmaps = torch.zeros(len(images), 17, 4, 4)
        heatmaps[:, 5, :, 0] = images[:, 0, :4, :4].mean()
        return heatmaps

    images = torch.ones(1, 1, 4, 4)
    averaged = flip_test(one_sided, images, COCO)
    assert (averaged[0, 5, :, 0] == 0.5).all() and (averaged[0, 6, :, 3] == 0.5).all()
    assert averaged.sum() == 4.0
    with pytest.raises(ConvzooError, match="17 heatmap channels"):
        flip_test(lambda x: torch.zeros(len(x), 1, 19, 4, 4), images, COCO)


def test_keypoints_decoded_in_a_crop_go_back_to_the_image():
    keypoints = torch.tensor([[70.0, 40.0, 2.0], [95.0, 130.0, 2.0], [52.0, 88.0, 2.0]])
    matrix = crop_matrix((75.0, 85.0), (90.0, 120.0), (96, 128), rotation_degrees=20.0)
    in_crop = keypoints.clone()
    in_crop[:, :2] = transform_points(matrix, keypoints[:, :2])
    target = top_down_target(in_crop, (128, 96), stride=4, sigma=2.0)
    decoded = decode_heatmaps(target[0][None], stride=4)
    back = crop_keypoints_to_image(decoded, matrix[None])
    assert back.shape == (1, 3, 3)
    assert (back[0, :, :2] - keypoints[:, :2]).norm(dim=-1).max() <= 1.5  # a crop pixel is 0.94 image pixels
    exact = in_crop.clone()[None]
    torch.testing.assert_close(crop_keypoints_to_image(exact, matrix)[0, :, :2], keypoints[:, :2])
