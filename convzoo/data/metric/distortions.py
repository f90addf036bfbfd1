"""Koch's random affine distortions of handwritten characters, on whole batches.

Paper: Siamese Neural Networks for One-shot Image Recognition (Koch, Zemel and
Salakhutdinov, ICML Deep Learning Workshop 2015)
https://www.cs.cmu.edu/~rsalakhu/papers/oneshot1.pdf

Sec. 4.2 augments each training pair with small affine distortions
``T = (theta, rho_x, rho_y, s_x, s_y, t_x, t_y)``: a rotation ``theta`` in [-10, 10]
degrees, shears ``rho_x, rho_y`` in [-0.3, 0.3], scales ``s_x, s_y`` in [0.8, 1.2] and
translations ``t_x, t_y`` in [-2, 2] pixels, each of the seven components included with
probability 0.5 (left at identity otherwise), drawn independently for each image of a pair.

In pixel coordinates about the image centre (x to the right, y down), an image point ``p``
moves to ``A p + t`` with ``A = R(theta) Sh(rho_x, rho_y) S(s_x, s_y)``::

    R = [[cos theta, -sin theta],   Sh = [[1,     rho_x],   S = [[s_x, 0  ],
         [sin theta,  cos theta]]         [rho_y, 1    ]]        [0,   s_y]]

The output is sampled bilinearly at ``A^-1 (q - t)`` for every output pixel ``q``
(``affine_grid`` + ``grid_sample``); pixels that come from outside the image take the
background value ``fill``.

Deviations: the paper does not say in which order the components compose; we scale,
then shear, then rotate, then translate. The paper generates 8 distorted copies of each
training pair once, before training; here every batch is distorted afresh, so the network
sees a new distortion of a pair each time it meets it. The random numbers come from
PyTorch's global CPU generator, as :mod:`convzoo.data.augment`'s transforms (whose
``RandomAffine`` has no shear and one isotropic scale, hence this class), so a seeded run
repeats and a resumed run continues after the engine restores the generator.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

__all__ = ["KochAffine", "affine_matrices", "warp_affine"]

# Order of the seven components in a parameter row, and their identity values.
COMPONENTS = ("theta", "rho_x", "rho_y", "s_x", "s_y", "t_x", "t_y")
IDENTITY = (0.0, 0.0, 0.0, 1.0, 1.0, 0.0, 0.0)


def affine_matrices(params: torch.Tensor) -> torch.Tensor:
    """Forward maps ``(B, 2, 3)`` ``[A | t]`` in centred pixel coordinates from ``(B, 7)`` parameters.

    A row of ``params`` is ``(theta in degrees, rho_x, rho_y, s_x, s_y, t_x, t_y)``.
    """
    theta, rho_x, rho_y, s_x, s_y, t_x, t_y = params.unbind(dim=1)
    angle = torch.deg2rad(theta)
    cos, sin = torch.cos(angle), torch.sin(angle)
    ones, zeros = torch.ones_like(angle), torch.zeros_like(angle)
    rotation = torch.stack([torch.stack([cos, -sin], 1), torch.stack([sin, cos], 1)], 1)  # (B, 2, 2)
    shear = torch.stack([torch.stack([ones, rho_x], 1), torch.stack([rho_y, ones], 1)], 1)
    scale = torch.stack([torch.stack([s_x, zeros], 1), torch.stack([zeros, s_y], 1)], 1)
    linear = rotation @ shear @ scale  # (B, 2, 2)
    return torch.cat([linear, torch.stack([t_x, t_y], 1).unsqueeze(2)], dim=2)  # (B, 2, 3)


def warp_affine(images: torch.Tensor, matrices: torch.Tensor, fill: float = 0.0) -> torch.Tensor:
    """Move every image of ``images`` ``(B, C, H, W)`` by its forward map ``matrices`` ``(B, 2, 3)``.

    ``matrices`` are in centred pixel coordinates, as :func:`affine_matrices` gives
    them; pixels that come from outside the image take the value ``fill``.
    """
    _, _, height, width = images.shape
    matrices = matrices.to(torch.float64)
    inverse = torch.linalg.inv(matrices[:, :, :2])  # (B, 2, 2): output point -> input point
    # grid_sample's coordinates (align_corners=False) are u = 2 x / W, v = 2 y / H in centred pixels.
    to_grid = torch.tensor([2.0 / width, 2.0 / height], dtype=torch.float64)
    linear = to_grid.view(1, 2, 1) * inverse / to_grid.view(1, 1, 2)  # D A^-1 D^-1
    offset = -to_grid.view(1, 2) * (inverse @ matrices[:, :, 2:]).squeeze(2)  # -D A^-1 t
    theta = torch.cat([linear, offset.unsqueeze(2)], dim=2).to(device=images.device, dtype=images.dtype)
    grid = F.affine_grid(theta, list(images.shape), align_corners=False)  # (B, H, W, 2)
    moved = F.grid_sample(images - fill, grid, mode="bilinear", padding_mode="zeros", align_corners=False)
    return moved + fill


class KochAffine:
    """Koch et al.'s random affine distortion of every image of a batch ``(B, C, H, W)``.

    Args:
        probability: chance that each of the seven components is drawn (else identity).
        degrees: rotations are uniform in ``[-degrees, degrees]``.
        shear: both shears are uniform in ``[-shear, shear]``.
        scale: both scales are uniform in ``[scale[0], scale[1]]``.
        translate: both shifts are uniform in ``[-translate, translate]`` pixels (the
            paper's 2 px are of its 105x105 images; scale them with the image).
        fill: value of the pixels that enter from outside the image (the normalised
            background).

    Shape:
        Input and output ``(B, C, H, W)``, of the same floating dtype and device.
    """

    def __init__(
        self,
        probability: float = 0.5,
        degrees: float = 10.0,
        shear: float = 0.3,
        scale: tuple[float, float] = (0.8, 1.2),
        translate: float = 2.0,
        fill: float = 0.0,
    ) -> None:
        self.probability = probability
        self.degrees = degrees
        self.shear = shear
        self.scale = scale
        self.translate = translate
        self.fill = fill

    def sample(self, batch: int) -> torch.Tensor:
        """``(batch, 7)`` parameters drawn from the global generator, rows as in :func:`affine_matrices`."""
        low = torch.tensor([-self.degrees, -self.shear, -self.shear, self.scale[0], self.scale[0],
                            -self.translate, -self.translate], dtype=torch.float64)
        high = torch.tensor([self.degrees, self.shear, self.shear, self.scale[1], self.scale[1],
                             self.translate, self.translate], dtype=torch.float64)
        values = low + (high - low) * torch.rand(batch, len(COMPONENTS), dtype=torch.float64)
        included = torch.rand(batch, len(COMPONENTS)) < self.probability
        return torch.where(included, values, torch.tensor(IDENTITY, dtype=torch.float64))

    def __call__(self, images: torch.Tensor) -> torch.Tensor:
        return warp_affine(images, affine_matrices(self.sample(images.shape[0])), self.fill)

    def __repr__(self) -> str:
        return (f"KochAffine(probability={self.probability}, degrees={self.degrees}, shear={self.shear}, "
                f"scale={self.scale}, translate={self.translate}, fill={self.fill})")
