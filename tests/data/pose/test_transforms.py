"""Top-down crop geometry: where the crop matrix sends points, its inverse, and the image warp agreeing with it."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from convzoo.data.pose.transforms import (
    CropJitter,
    box_to_center_size,
    crop_matrix,
    invert_matrix,
    transform_points,
    warp_image,
)


def test_region_edges_map_to_the_crop_edges():
    matrix = crop_matrix((49.5, 39.5), (100, 80), (20, 16))  # the region is the whole 100 x 80 image
    corners = np.array([[-0.5, -0.5], [99.5, 79.5], [49.5, 39.5]])
    np.testing.assert_allclose(transform_points(matrix, corners), [[-0.5, -0.5], [19.5, 15.5], [9.5, 7.5]])
    assert matrix.shape == (2, 3) and matrix.dtype == np.float64


def test_box_enlarged_to_the_aspect_ratio_and_padded():
    center, size = box_to_center_size((10, 20, 60, 40), aspect_ratio=0.75)
    assert center == (39.5, 39.5)  # COCO's box edges are half a pixel off the pixel centres
    assert size == pytest.approx((75.0, 100.0))  # 60 x 40 -> 60 x 80 (3:4) -> padded by 1.25
    center, size = box_to_center_size((0, 0, 30, 80), aspect_ratio=0.75, padding=1.0)
    assert size == pytest.approx((60.0, 80.0))
    matrix = crop_matrix(center, size, (12, 16))
    np.testing.assert_allclose(transform_points(matrix, [[-0.5, -0.5], [29.5, 79.5]]), [[2.5, -0.5], [8.5, 15.5]])


@pytest.mark.parametrize("flip", [False, True])
def test_round_trip_through_the_inverse(flip):
    matrix = crop_matrix((31.2, 17.5), (40, 55), (24, 32), rotation_degrees=37.0, flip=flip)
    points = np.random.default_rng(0).uniform(-10, 60, (5, 4, 2))
    back = transform_points(invert_matrix(matrix), transform_points(matrix, points))
    np.testing.assert_allclose(back, points, atol=1e-9)
    np.testing.assert_allclose(invert_matrix(invert_matrix(matrix)), matrix, atol=1e-12)
    tensor = transform_points(matrix, torch.from_numpy(points).float())
    assert tensor.dtype == torch.float32 and tensor.shape == (5, 4, 2)


def test_rotation_turns_counter_clockwise_and_flip_mirrors():
    plain = crop_matrix((10, 10), (20, 20), (20, 20))
    turned = crop_matrix((10, 10), (20, 20), (20, 20), rotation_degrees=90)
    mirrored = crop_matrix((10, 10), (20, 20), (20, 20), flip=True)
    right_of_centre = np.array([15.0, 10.0])
    np.testing.assert_allclose(transform_points(turned, right_of_centre), [9.5, 4.5], atol=1e-12)  # now above
    x, y = transform_points(plain, right_of_centre)
    np.testing.assert_allclose(transform_points(mirrored, right_of_centre), [19 - x, y])


def test_identity_crop_keeps_the_image():
    image = torch.rand(3, 9, 14)
    matrix = crop_matrix((6.5, 4.0), (14, 9), (14, 9))
    torch.testing.assert_close(warp_image(image, matrix, (14, 9)), image, atol=1e-5, rtol=0)


def test_bright_pixel_lands_where_its_point_goes():
    image = torch.zeros(1, 40, 50)
    image[0, 12, 30] = 1.0
    # A quarter turn, mirrored, at one crop pixel per image pixel: the region's (w, h) are along the crop's axes.
    exact = crop_matrix((24.5, 19.5), (40, 50), (40, 50), rotation_degrees=90, flip=True)
    warped = warp_image(image, exact, (40, 50))
    assert warped.shape == (1, 50, 40)
    x, y = transform_points(exact, np.array([30.0, 12.0]))
    assert (x, y) == pytest.approx((27.0, 19.0))
    assert warped[0, 19, 27] == pytest.approx(1.0, abs=1e-4) and warped.sum() == pytest.approx(1.0, abs=1e-4)
    zoomed = crop_matrix((28.0, 15.0), (20, 16), (40, 32), rotation_degrees=-23.0)
    warped = warp_image(image, zoomed, (40, 32))[0]
    row, column = divmod(int(warped.argmax()), warped.shape[1])
    np.testing.assert_allclose([column, row], transform_points(zoomed, np.array([30.0, 12.0])), atol=1.0)


def test_outside_the_image_is_zero_and_integer_images_become_float():
    image = torch.full((3, 8, 8), 200, dtype=torch.uint8)
    warped = warp_image(image, crop_matrix((30.0, 3.5), (8, 8), (8, 8)), (8, 8))
    assert warped.dtype == torch.float32 and float(warped.abs().max()) == 0.0


def test_jitter_stays_in_its_ranges():
    jitter = CropJitter(scale=0.25, rotation=30.0, flip=True)
    draws = [jitter.draw(np.random.default_rng(seed)) for seed in range(50)]
    assert all(0.75 <= scale <= 1.25 and -30 <= angle <= 30 for scale, angle, _ in draws)
    assert {flipped for _, _, flipped in draws} == {False, True}
    assert not any(CropJitter(flip=False).draw(np.random.default_rng(seed))[2] for seed in range(20))
