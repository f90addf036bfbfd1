"""CASIA-B's silhouette preprocessing on drawn shapes: size, centring, shift invariance, empty and ready frames."""

from __future__ import annotations

import numpy as np
import pytest

from convzoo.data.gait import preprocess_silhouette
from convzoo.errors import ConvzooError


def figure(shape=(240, 320), top=40, left=120) -> np.ndarray:
    """A head disc over a trunk rectangle with two legs, white on black."""
    image = np.zeros(shape, np.uint8)
    rows, columns = np.ogrid[:shape[0], :shape[1]]
    image[(rows - (top + 15)) ** 2 + (columns - (left + 30)) ** 2 <= 15 ** 2] = 255  # head
    image[top + 30:top + 110, left + 10:left + 50] = 255  # trunk
    image[top + 110:top + 180, left + 12:left + 26] = 255  # legs
    image[top + 110:top + 180, left + 34:left + 48] = 255
    return image


def test_a_rectangle_is_scaled_to_64_rows_and_centred():
    """A 100x50 white block becomes 64x32 (aspect kept), centred in the 64-wide window, cut to 44 columns."""
    image = np.zeros((200, 300), np.uint8)
    image[30:130, 77:127] = 255
    out = preprocess_silhouette(image)
    expected = np.zeros((64, 44), np.uint8)
    expected[:, 6:38] = 255  # window columns 16..47 of 64, less the 10 cut on the left
    np.testing.assert_array_equal(out, expected)


def test_a_figure_fills_the_rows_and_is_centred_on_its_mass():
    out = preprocess_silhouette(figure())
    assert out.shape == (64, 44) and out.dtype == np.uint8
    rows = np.flatnonzero(out.max(axis=1) > 0)
    assert rows[0] == 0 and rows[-1] == 63  # the body spans the height
    mass = out.sum(axis=0, dtype=np.float64)
    centre = (mass * np.arange(44)).sum() / mass.sum()
    assert abs(centre - 21.5) <= 1.0  # the mass's half-way column is the window's middle (32 - 10)


def test_a_shifted_silhouette_gives_the_same_frame():
    out = preprocess_silhouette(figure())
    np.testing.assert_array_equal(preprocess_silhouette(figure(top=7, left=201)), out)
    np.testing.assert_array_equal(preprocess_silhouette(figure(shape=(300, 400), top=90, left=3)), out)


def test_a_larger_drawing_gives_nearly_the_same_frame():
    small = preprocess_silhouette(figure()).astype(float)
    large = preprocess_silhouette(figure().repeat(2, axis=0).repeat(2, axis=1)).astype(float)
    assert np.abs(large - small).mean() < 4.0  # resampling differs only at the edges


def test_gray_and_boolean_inputs_are_thresholded():
    gray = (figure() // 255 * 180 + 40).astype(np.uint8)  # body 220, background 40 (below the threshold)
    np.testing.assert_array_equal(preprocess_silhouette(gray), preprocess_silhouette(figure()))
    np.testing.assert_array_equal(preprocess_silhouette(figure() > 0), preprocess_silhouette(figure()))


def test_empty_frames_are_none():
    assert preprocess_silhouette(np.zeros((240, 320), np.uint8)) is None
    speck = np.zeros((240, 320), np.uint8)
    speck[100:105, 100:105] = 255  # 25 pixels: segmentation noise, not a body
    assert preprocess_silhouette(speck) is None
    assert preprocess_silhouette(speck, min_pixels=1) is not None


def test_a_preprocessed_frame_passes_unchanged():
    frame = preprocess_silhouette(figure())
    frame[10, 3] = 77  # grey values included
    np.testing.assert_array_equal(preprocess_silhouette(frame), frame)


def test_a_wide_silhouette_is_cut_to_the_window():
    image = np.zeros((100, 400), np.uint8)
    image[40:60, 20:380] = 255  # 20 rows by 360 columns: 64 by 1152 once scaled
    np.testing.assert_array_equal(preprocess_silhouette(image), np.full((64, 44), 255, np.uint8))


def test_a_colour_image_is_refused():
    with pytest.raises(ConvzooError, match=r"gray image \(H, W\)"):
        preprocess_silhouette(np.zeros((10, 10, 3), np.uint8))
