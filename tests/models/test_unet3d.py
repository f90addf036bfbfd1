"""3D U-Net (Cicek et al. 2016): the paper's tile and parameter count, volumetric input
checks, the padded variant, and the two-stage coarse-to-fine geometry."""

from __future__ import annotations

import pytest
import torch
from torch import nn

import convzoo
from convzoo.analysis import profile
from convzoo.errors import InputShapeError
from convzoo.models.unet3d import TwoStageUNet3D, unet3d, unet3d_padded
from convzoo.registry import count_parameters, meta_model


def test_paper_tile_and_parameters():
    model = meta_model("unet3d")
    # 132x132x116 (x, y, z) -> 44x44x28; PyTorch's (D, H, W) order puts z first.
    assert model(torch.empty(1, 3, 116, 132, 132, device="meta")).shape == (1, 3, 28, 44, 44)
    norms = sum(p.numel() for m in model.modules() if isinstance(m, nn.BatchNorm3d) for p in m.parameters())
    assert count_parameters(model) - norms == 19_069_955  # the paper's count, batch norm left out
    assert count_parameters(model) == 19_074_627
    assert [info["num_chs"] for info in model.feature_info] == [64, 128, 256, 512]  # doubled before each pool


def test_registry_takes_a_volumetric_input_size():
    card = convzoo.model_card("unet3d")
    assert (card["task"], card["family"], card["input_size"]) == ("segmentation", "unet", [3, 116, 132, 132])
    result = profile("unet3d")  # the entry's (C, D, H, W) input
    assert result.input_shape == (1, 3, 116, 132, 132) and result.params == 19_074_627
    assert convzoo.model_card("unet3d_padded")["input_size"] == [3, 64, 64, 64]


def test_bad_input_is_explained():
    model = meta_model("unet3d")
    with pytest.raises(InputShapeError, match=r"D: input size 117 is not valid.*nearest valid sizes are 116 and 124"):
        model(torch.empty(1, 3, 117, 132, 132, device="meta"))
    with pytest.raises(InputShapeError, match=r"expects input of shape \(B, 3, D, H, W\), got \(1, 3, 132, 132\)"):
        model(torch.empty(1, 3, 132, 132, device="meta"))
    with pytest.raises(InputShapeError, match=r"multiple of 8; W: .*nearest valid sizes are 56 and 64"):
        meta_model("unet3d_padded")(torch.empty(1, 3, 64, 64, 60, device="meta"))


def test_forward_backward_small():
    torch.manual_seed(0)
    model = unet3d(base_width=2, in_chans=1, num_classes=2)
    out = model(torch.randn(1, 1, 92, 100, 92))
    assert out.shape == (1, 2, 4, 12, 4) and torch.isfinite(out).all()
    out.square().mean().backward()
    assert all(p.grad is not None for p in model.parameters())


def test_padded_keeps_the_size():
    torch.manual_seed(0)
    model = unet3d_padded(base_width=2, in_chans=1, num_classes=2)
    out = model(torch.randn(2, 1, 8, 16, 24))
    assert out.shape == (2, 2, 8, 16, 24)
    out.square().mean().backward()
    assert all(p.grad is not None for p in model.parameters())


class Threshold(nn.Module):
    """An oracle segmenter: class 1 where channel 0 exceeds 0.5; records the shapes it is given."""

    def __init__(self) -> None:
        super().__init__()
        self.seen: list[tuple[int, ...]] = []

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        self.seen.append(tuple(x.shape))
        return torch.cat([0.5 - x[:, :1], x[:, :1] - 0.5], dim=1)


class Everything(Threshold):
    """Labels every voxel it is given foreground: its output shows the region of interest."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        self.seen.append(tuple(x.shape))
        return torch.stack([torch.zeros_like(x[:, 0]), torch.ones_like(x[:, 0])], dim=1)


def synthetic_volume() -> tuple[torch.Tensor, torch.Tensor]:
    """A 32x40x48 volume with a bright box (the organ) and one bright voxel far away (noise)."""
    volume = torch.zeros(2, 1, 32, 40, 48)
    volume[0, 0, 10:16, 12:20, 30:38] = 1.0
    volume[0, 0, 2, 2, 2] = 1.0  # averaged away by the coarse stage: outside the region of interest
    truth = torch.zeros(2, 32, 40, 48, dtype=torch.long)
    truth[0, 10:16, 12:20, 30:38] = 1
    return volume, truth


def test_two_stage_crop_and_paste_geometry():
    volume, _ = synthetic_volume()
    coarse, fine = Threshold(), Everything()
    model = TwoStageUNet3D(coarse, fine, scale=2, roi_margin=3)
    labels = model(volume)
    assert coarse.seen == [(2, 1, 16, 20, 24)]  # the downsampled volume
    # The box (10:16, 12:20, 30:38) covers coarse voxels (5:8, 6:10, 15:19), i.e. the same box at full
    # resolution; widened by 3 voxels and clipped (38 + 3 = 41 < 48).
    assert fine.seen == [(1, 1, 12, 14, 14)]  # only the first volume has foreground
    expected = torch.zeros_like(labels)
    expected[0, 7:19, 9:23, 27:41] = 1
    assert torch.equal(labels, expected)
    assert model.regions_of_interest(volume) == [(slice(7, 19), slice(9, 23), slice(27, 41)), None]


def test_two_stage_rounds_the_crop_for_the_fine_network_and_clips_it():
    volume, truth = synthetic_volume()
    volume[0, 0, 28:32, 36:40, 40:48] = 1.0  # a second organ at the far corner
    truth[0, 28:32, 36:40, 40:48] = 1
    fine = Threshold()
    model = TwoStageUNet3D(Threshold(), fine, scale=2, roi_margin=5, fine_multiple=8)
    box = model.regions_of_interest(volume)[0]
    # Widened by 5 and clipped, then rounded up to a multiple of 8 about the centre and shifted back inside:
    # D 10-32 -> 5-32 (27) -> 32 voxels: 0-32; H 12-40 -> 7-40 (33) -> 40: 0-40; W 30-48 -> 25-48 (23) -> 24: 24-48.
    assert box == (slice(0, 32), slice(0, 40), slice(24, 48))
    labels = model(volume)
    assert torch.equal(labels[0], truth[0])  # the noise voxel at (2, 2, 2) lies outside the box
    assert fine.seen == [(1, 1, 32, 40, 24)]


def test_two_stage_with_real_networks():
    torch.manual_seed(0)
    coarse = unet3d_padded(base_width=2, in_chans=1, num_classes=2).eval()
    fine = unet3d_padded(base_width=2, in_chans=1, num_classes=2).eval()
    model = TwoStageUNet3D(coarse, fine, scale=2, roi_margin=2, fine_multiple=8)
    with torch.no_grad():
        labels = model(torch.rand(1, 1, 16, 16, 32))
    assert labels.shape == (1, 16, 16, 32) and labels.dtype == torch.long
