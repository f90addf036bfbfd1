"""Heatmap, PAF and ignore-mask targets against hand-computed values."""

from __future__ import annotations

import math

import pytest
import torch

from convzoo.data.pose.skeleton import COCO_TO_OPENPOSE, OPENPOSE_COCO
from convzoo.data.pose.targets import (
    bottom_up_target,
    coco_to_openpose,
    gaussian_heatmaps,
    ignore_mask,
    part_affinity_fields,
    to_heatmap_pixels,
    to_input_pixels,
    top_down_target,
)
from convzoo.errors import ConvzooError


def test_heatmap_peak_is_one_at_the_keypoint_and_the_window_is_clipped():
    sigma = 1.5
    maps, weights = gaussian_heatmaps(torch.tensor([[[10.0, 7.0, 2.0]]]), (20, 24), sigma)
    assert maps.shape == weights.shape == (1, 20, 24)
    assert maps[0, 7, 10] == 1.0 and maps.argmax() == 7 * 24 + 10
    assert maps[0, 7, 11].item() == pytest.approx(math.exp(-1 / (2 * sigma**2)))
    assert maps[0, 9, 12].item() == pytest.approx(math.exp(-8 / (2 * sigma**2)))
    assert maps[0, 7, 14] > 0 and maps[0, 7, 15] == 0  # 4 <= 3 sigma < 5
    assert maps[0, 2, 10] == 0 and maps[0, 7, 5] == 0
    assert (maps[0, :, :6] == 0).all() and (maps[0, :, 15:] == 0).all()
    assert (weights == 1).all()


def test_heatmap_sub_pixel_centre():
    maps, _ = gaussian_heatmaps(torch.tensor([[[4.3, 5.6, 1.0]]]), (12, 12), sigma=2.0)
    expected = math.exp(-(0.3**2 + 0.4**2) / 8)
    assert maps[0, 6, 4].item() == pytest.approx(expected)
    assert maps.max().item() == pytest.approx(expected)


def test_heatmaps_take_the_maximum_over_people():
    people = torch.tensor([[[5.0, 5.0, 2.0]], [[8.0, 6.0, 2.0]]])
    both, weights = gaussian_heatmaps(people, (16, 16), sigma=2.0)
    first, _ = gaussian_heatmaps(people[:1], (16, 16), sigma=2.0)
    second, _ = gaussian_heatmaps(people[1:], (16, 16), sigma=2.0)
    torch.testing.assert_close(both, torch.maximum(first, second))
    assert both[0, 5, 5] == 1 and both[0, 6, 8] == 1
    assert (weights == 1).all()  # several people: an unlabelled joint is still a map to learn


def test_single_person_weights_are_zero_for_unlabelled_and_outside_joints():
    keypoints = torch.tensor([[[3.0, 3.0, 2.0], [5.0, 5.0, 0.0], [40.0, 2.0, 1.0], [-0.6, 3.0, 2.0]]])
    maps, weights = gaussian_heatmaps(keypoints, (10, 12), sigma=1.0)
    assert weights[:, 0, 0].tolist() == [1.0, 0.0, 0.0, 0.0]
    assert (weights == weights[:, :1, :1]).all()
    assert (maps[1] == 0).all() and (maps[2] == 0).all()
    assert maps[0, 3, 3] == 1
    _, bottom_up = gaussian_heatmaps(keypoints, (10, 12), sigma=1.0, single_person=False)
    assert (bottom_up == 1).all()


def test_no_people_give_zero_maps():
    maps, weights = gaussian_heatmaps(torch.zeros(0, 4, 3), (6, 8))
    assert maps.shape == (4, 6, 8) and (maps == 0).all() and (weights == 1).all()


def test_paf_is_the_unit_vector_on_the_limb_and_zero_off_it():
    keypoints = torch.tensor([[[2.0, 5.0, 2.0], [9.0, 5.0, 2.0], [3.0, 1.0, 2.0], [7.0, 4.0, 1.0]]])
    fields, counts = part_affinity_fields(keypoints, [(0, 1), (2, 3)], (12, 14), limb_width=1.0)
    assert fields.shape == (4, 12, 14) and counts.shape == (2, 12, 14)
    on_first = torch.zeros(12, 14, dtype=torch.bool)
    on_first[4:7, 1:11] = True  # within 1 of the segment, one pixel past each end (CMU's putVecMaps)
    assert torch.equal(counts[0] == 1, on_first)
    assert (fields[0][on_first] == 1).all() and (fields[1][on_first] == 0).all()
    assert (fields[:2][:, ~on_first] == 0).all()
    direction = fields[2:, counts[1] == 1]  # the diagonal limb: (4, 3) / 5
    torch.testing.assert_close(direction, torch.tensor([[0.8], [0.6]]).expand_as(direction))
    assert counts[1, 1, 3] == 1 and counts[1, 4, 7] == 1 and counts[1, 1, 2] == 1 and counts[1, 1, 1] == 0 and counts[1, 5, 8] == 0


def test_paf_skips_limbs_with_an_unlabelled_end_and_orders_channels():
    keypoints = torch.tensor([[[1.0, 1.0, 2.0], [6.0, 1.0, 2.0], [1.0, 5.0, 0.0]]])
    fields, counts = part_affinity_fields(keypoints, [(0, 1), (0, 2)], (8, 8), paf_channels=[(2, 3), (0, 1)])
    assert (counts[1] == 0).all() and (fields[:2] == 0).all()
    assert fields[2, 1, 3] == 1 and fields[3, 1, 3] == 0


def test_paf_averages_where_people_overlap():
    keypoints = torch.tensor([
        [[2.0, 6.0, 2.0], [10.0, 6.0, 2.0]],  # to the right along y = 6
        [[6.0, 2.0, 2.0], [6.0, 10.0, 2.0]],  # down along x = 6
    ])
    fields, counts = part_affinity_fields(keypoints, [(0, 1)], (13, 13))
    assert counts[0, 6, 6] == 2 and counts[0, 6, 3] == 1 and counts[0, 3, 6] == 1
    assert fields[:, 6, 6].tolist() == [0.5, 0.5]
    assert fields[:, 6, 3].tolist() == [1.0, 0.0] and fields[:, 3, 6].tolist() == [0.0, 1.0]
    opposite = torch.tensor([[[2.0, 6.0, 2.0], [10.0, 6.0, 2.0]], [[10.0, 6.0, 2.0], [2.0, 6.0, 2.0]]])
    cancelled, counts = part_affinity_fields(opposite, [(0, 1)], (13, 13))
    assert counts[0, 6, 4] == 2 and (cancelled == 0).all()


def test_ignore_mask_from_boxes_and_masks():
    weights = ignore_mask((8, 8), boxes=torch.tensor([[7.5, 3.5, 15.5, 11.5]]), stride=4)
    expected = torch.ones(8, 8)
    expected[1:3, 2:4] = 0  # input pixels 8..15 x 4..11 = cells (1..2, 2..3)
    torch.testing.assert_close(weights, expected)
    mask = torch.zeros(32, 32, dtype=torch.bool)
    mask[5, 9] = True  # one pixel: cell (1, 2)
    from_mask = ignore_mask((8, 8), masks=mask[None], stride=4)
    assert (from_mask == 0).nonzero().tolist() == [[1, 2]]
    assert (ignore_mask((8, 8)) == 1).all()


def test_heatmap_pixels_round_trip_and_cell_centres():
    points = torch.tensor([[0.0, 0.0, 2.0], [3.0, 7.0, 1.0]])
    on_map = to_heatmap_pixels(points, 4)
    assert on_map[:, :2].tolist() == [[-0.375, -0.375], [0.375, 1.375]]
    assert on_map[:, 2].tolist() == [2.0, 1.0]
    torch.testing.assert_close(to_input_pixels(on_map, 4), points)
    assert to_input_pixels(torch.tensor([[0.0, 1.0]]), 4).tolist() == [[1.5, 5.5]]  # cells' centres


def test_top_down_target_shape_and_peak():
    keypoints = torch.zeros(17, 3)
    keypoints[3] = torch.tensor([41.5, 21.5, 2.0])  # cell (5, 10) at stride 4
    target = top_down_target(keypoints, (64, 48), stride=4, sigma=2.0)
    assert target.shape == (2, 17, 16, 12)
    assert target[0, 3, 5, 10] == 1 and target[0, 3].argmax() == 5 * 12 + 10
    assert target[1, :, 0, 0].tolist() == [1.0 if joint == 3 else 0.0 for joint in range(17)]


def test_bottom_up_target_channels_background_and_ignore():
    keypoints = torch.zeros(2, 18, 3)
    keypoints[0, 1] = torch.tensor([19.5, 11.5, 2.0])  # neck at cell (1, 2)
    keypoints[0, 2] = torch.tensor([51.5, 11.5, 2.0])  # right shoulder at cell (1, 6)
    keypoints[1, 1] = torch.tensor([19.5, 43.5, 1.0])
    ignore = ignore_mask((8, 10), boxes=torch.tensor([[60.0, 50.0, 79.5, 63.5]]), stride=8)
    target = bottom_up_target(keypoints, size=(64, 80), stride=8, sigma=1.0, ignore=ignore)
    assert target.shape == (2, 38 + 19, 8, 10)
    maps, weights = target
    torch.testing.assert_close(maps[56], 1 - maps[38:56].amax(dim=0))
    assert maps[38 + 1, 1, 2] == 1 and maps[38 + 1, 5, 2] == 1 and maps[38 + 2, 1, 6] == 1
    x_channel, y_channel = OPENPOSE_COCO.paf_channels[0]  # the neck -> right shoulder limb
    assert maps[x_channel, 1, 2:7].tolist() == [1.0] * 5 and (maps[y_channel] == 0).all()
    others = [c for c in range(38) if c != x_channel]
    assert (maps[others] == 0).all()
    assert (weights[:, 6:, 7:] == 0).all() and weights[:, :6].eq(1).all() and weights[:, :, :7].eq(1).all()


def test_coco_to_openpose_adds_the_neck():
    coco = torch.zeros(2, 17, 3)
    coco[..., 0] = torch.arange(17.0)
    coco[..., 2] = 2
    coco[0, 5] = torch.tensor([10.0, 20.0, 2.0])
    coco[0, 6] = torch.tensor([20.0, 30.0, 1.0])
    coco[1, 6, 2] = 0
    parts = coco_to_openpose(coco)
    assert parts.shape == (2, 18, 3)
    torch.testing.assert_close(parts[:, list(COCO_TO_OPENPOSE)], coco)
    assert parts[0, 1].tolist() == [15.0, 25.0, 1.0]
    assert parts[1, 1].tolist() == [0.0, 0.0, 0.0]
    assert OPENPOSE_COCO.joints[COCO_TO_OPENPOSE[5]] == "left_shoulder"


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (lambda: gaussian_heatmaps(torch.zeros(3, 2), (4, 4)), "shape"),
        (lambda: gaussian_heatmaps(torch.tensor([[[1.0, 1.0, 3.0]]]), (4, 4)), "visibility"),
        (lambda: top_down_target(torch.zeros(1, 17, 3), (64, 64)), "shape"),
        (lambda: bottom_up_target(torch.zeros(1, 17, 3), size=(64, 64)), "18 joints"),
        (lambda: coco_to_openpose(torch.zeros(18, 3)), "17, 3"),
        (lambda: bottom_up_target(torch.zeros(0, 18, 3), size=(64, 64), ignore=torch.ones(4, 4)), "ignore"),
    ],
)
def test_bad_input_is_one_clear_error(call, message):
    with pytest.raises(ConvzooError, match=message):
        call()
