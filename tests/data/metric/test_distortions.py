"""Koch's affine distortions: identity when off, the paper's ranges, the maps they claim."""

from __future__ import annotations

import pytest
import torch

from convzoo.data.metric import KochAffine, affine_matrices, warp_affine
from convzoo.data.metric.distortions import IDENTITY

HEIGHT, WIDTH = 40, 56  # not square: the pixel-to-grid scaling differs per axis


def _blob(batch: int, x: float, y: float, sigma: float = 2.0) -> torch.Tensor:
    """Gaussian blobs centred at pixel (x, y), ``(batch, 1, HEIGHT, WIDTH)`` float64."""
    rows = torch.arange(HEIGHT, dtype=torch.float64).view(-1, 1)
    cols = torch.arange(WIDTH, dtype=torch.float64).view(1, -1)
    blob = torch.exp(-((cols - x) ** 2 + (rows - y) ** 2) / (2 * sigma**2))
    return blob.expand(batch, 1, HEIGHT, WIDTH).clone()


def _centroids(images: torch.Tensor) -> torch.Tensor:
    """Intensity centroids ``(B, 2)`` as (x, y) in pixels."""
    rows = torch.arange(HEIGHT, dtype=images.dtype).view(-1, 1)
    cols = torch.arange(WIDTH, dtype=images.dtype).view(1, -1)
    mass = images.sum(dim=(1, 2, 3))
    return torch.stack([(images * cols).sum(dim=(1, 2, 3)) / mass, (images * rows).sum(dim=(1, 2, 3)) / mass], dim=1)


def test_identity_when_every_component_is_off():
    distort = KochAffine(probability=0.0)
    assert torch.equal(distort.sample(5), torch.tensor([IDENTITY] * 5, dtype=torch.float64))
    images = torch.randn(5, 3, HEIGHT, WIDTH, dtype=torch.float64)
    torch.testing.assert_close(distort(images), images, atol=1e-12, rtol=0)
    torch.testing.assert_close(distort(images.float()), images.float(), atol=1e-4, rtol=0)  # float32 grid rounding


def test_parameters_stay_in_the_papers_ranges():
    torch.manual_seed(0)
    params = KochAffine().sample(4000)
    bounds = [(-10, 10), (-0.3, 0.3), (-0.3, 0.3), (0.8, 1.2), (0.8, 1.2), (-2, 2), (-2, 2)]
    for column, (low, high) in enumerate(bounds):
        values = params[:, column]
        assert values.min() >= low and values.max() <= high
        assert 0.45 < (values != IDENTITY[column]).double().mean() < 0.55  # each included with probability 0.5
        assert values.min() < low + 0.1 * (high - low) and values.max() > high - 0.1 * (high - low)


def test_translation_moves_a_dot_by_at_most_two_pixels():
    torch.manual_seed(1)
    distort = KochAffine(probability=1.0, degrees=0.0, shear=0.0, scale=(1.0, 1.0))
    images = _blob(64, x=27.5, y=19.5)
    shift = _centroids(distort(images)) - _centroids(images)
    assert shift.abs().max() <= 2.0 + 1e-3 and shift.abs().max() > 1.5


def test_the_image_moves_by_the_matrix_it_was_given():
    torch.manual_seed(2)
    params = KochAffine(probability=1.0).sample(32)
    matrices = affine_matrices(params)
    x, y = 24.0, 21.0
    centred = torch.tensor([x - (WIDTH - 1) / 2, y - (HEIGHT - 1) / 2], dtype=torch.float64)
    expected = (matrices[:, :, :2] @ centred + matrices[:, :, 2]) + torch.tensor([(WIDTH - 1) / 2, (HEIGHT - 1) / 2])
    moved = warp_affine(_blob(32, x, y), matrices)
    torch.testing.assert_close(_centroids(moved), expected, atol=0.05, rtol=0)


def test_matrix_of_each_component():
    params = torch.tensor([[90.0, 0, 0, 1, 1, 0, 0], [0, 0.3, 0, 1, 1, 0, 0], [0, 0, 0, 0.8, 1.2, 2, -1]])
    torch.testing.assert_close(affine_matrices(params), torch.tensor([
        [[0.0, -1, 0], [1, 0, 0]],
        [[1, 0.3, 0], [0, 1, 0]],
        [[0.8, 0, 2], [0, 1.2, -1]],
    ]), atol=1e-6, rtol=0)


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_shape_dtype_fill_and_seeding(dtype):
    distort = KochAffine(probability=1.0, fill=-0.7)
    background = torch.full((4, 3, HEIGHT, WIDTH), -0.7, dtype=dtype)
    out = distort(background)
    assert out.shape == background.shape and out.dtype == dtype
    torch.testing.assert_close(out, background)  # what enters from outside is the background
    images = torch.randn(4, 3, HEIGHT, WIDTH, dtype=dtype)
    torch.manual_seed(5)
    first = distort(images)
    torch.manual_seed(5)
    assert torch.equal(first, distort(images))
