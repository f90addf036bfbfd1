"""Scoring a split with oracle networks that output the true maps: the whole path (flip test, decoding, mapping
back to the image, grouping, COCO's AP) must give near-perfect scores, and a network that knows nothing must not."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from convzoo.data.pose.skeleton import COCO
from convzoo.tasks.pose.data import load_pose_data
from convzoo.tasks.pose.objective import PoseTask, box_sizes, pose_loss
from convzoo.tasks.pose.scoring import MIN_PARTS, score_bottom_up, score_dense, score_top_down


def settings(mode: str, images: int = 16, stride: int = 4, sigma: float | None = 2.0, side: int = 64) -> dict:
    return {"dataset": "synthetic", "data_dir": None, "mode": mode, "input_size": [side, side], "stride": stride,
            "sigma": sigma, "images": images}


class Oracle(nn.Module):
    """Returns, for each input it is given, the target maps of the item whose normalised image it is."""

    def __init__(self, data, output_stride: int, num_pafs: int = 0, flip_skeleton=None) -> None:
        super().__init__()
        self.items = [data[i] for i in range(len(data))]
        self.output_stride, self.num_pafs = output_stride, num_pafs
        self.flip = flip_skeleton.flip_permutation() if flip_skeleton is not None else None
        self.anchor = nn.Parameter(torch.zeros(()))

    def _maps_of(self, image: torch.Tensor) -> torch.Tensor:
        for candidate, target in self.items:
            if torch.equal(candidate, image):
                return target[0]
            if torch.equal(candidate.flip(-1), image):  # flip test's mirrored half
                return target[0].flip(-1)[self.flip]
        raise AssertionError("an input the oracle has not seen")

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        return torch.stack([self._maps_of(image) for image in images])[:, None]  # (B, 1, C, h, w)


def test_top_down_oracle_scores_near_perfect():
    data = load_pose_data(settings("top_down", side=128)).test  # at 64 px OKS punishes a pixel too much for a test
    report = score_top_down(Oracle(data, 4, flip_skeleton=COCO), data, COCO, batch_size=3)
    assert report["items"] == 4 and report["pck@0.2"] == 1.0
    assert report["AP"] > 0.9 and report["AR"] > 0.9  # decoded to a quarter heatmap pixel, mapped back to the image


def test_top_down_blind_network_scores_low():
    data = load_pose_data(settings("top_down")).test

    class Blind(Oracle):
        def forward(self, images):
            return torch.zeros(len(images), 1, 17, 16, 16)

    report = score_top_down(Blind(data, 4, flip_skeleton=COCO), data, COCO)
    assert report["pck@0.2"] < 0.5 and report["AP"] < 0.1


def test_bottom_up_oracle_counts_people():
    data = load_pose_data(settings("bottom_up", images=24, stride=8, sigma=7 / 8, side=128)).test
    report = score_bottom_up(Oracle(data, 8, num_pafs=38), data)
    assert report["items"] == 6
    assert report["people_count_accuracy"] >= 5 / 6 and report["AP50"] > 0.5
    assert MIN_PARTS == 4


def test_dense_oracle_scores_perfect_parts():
    data = load_pose_data(settings("dense", images=8)).test

    class DenseOracle(nn.Module):
        num_parts = 10

        def __init__(self):
            super().__init__()
            self.items = [data[i] for i in range(len(data))]

        def forward(self, images):
            outputs = []
            for image in images:
                labels = next(target for candidate, target in self.items if torch.equal(candidate, image))
                parts = labels[0].long()
                logits = torch.nn.functional.one_hot(parts, 11).permute(2, 0, 1).float() * 20  # (P + 1, H, W)
                u, v = (labels[channel].expand(10, *parts.shape) for channel in (1, 2))  # every part's (u, v)
                outputs.append(torch.cat([logits, u, v]))
            return torch.stack(outputs)

    report = score_dense(DenseOracle(), data, batch_size=2)
    assert report["part_miou"] == 1.0 and report["pixel_accuracy"] == 1.0 and report["uv_error"] < 1e-6


def test_pose_loss_sums_stages_and_honours_weights():
    target = torch.zeros(2, 2, 3, 4, 4)
    target[:, 0, 0, 1, 1] = 1.0
    target[:, 1] = 1.0
    target[1, 1, 2] = 0.0  # joint 2 of the second person is unlabelled
    output = torch.zeros(2, 2, 3, 4, 4)
    output[1, :, 2] = 5.0  # wrong only where the weight is 0
    per_stage = 2 / (2 * 3 * 16)  # the two peaks missed, over B x C x h x w
    assert pose_loss(output, target).item() == pytest.approx(2 * per_stage)


def test_in_batch_pck_and_box_sizes():
    keypoints = torch.tensor([[[0.0, 0.0, 2.0], [10.0, 4.0, 1.0], [50.0, 50.0, 0.0]]])
    assert box_sizes(keypoints).tolist() == [10.0]
    data = load_pose_data(settings("top_down", images=8)).train
    images, targets = zip(*(data[i] for i in range(4)))
    target = torch.stack(targets)
    task = PoseTask(num_pafs=0, output_stride=4)
    sums = task.batch_sums(target[:, :1], target)  # the target as the prediction: every labelled joint right
    assert sums["pck_correct"] == sums["pck_labelled"] > 0
    assert task.summarize(sums, 4) == {"pck@0.2": 1.0}
