"""The picture of a pose run: its network's prediction on the first test item.

Top-down: the crop with the predicted skeleton (flip test, joints whose heatmap peak is
below :data:`MIN_SCORE` left out); bottom-up: the image with every person the grouping
found; dense: the image, the predicted parts and their U and V maps.
"""

from __future__ import annotations

from pathlib import Path

import torch
from torch import nn
from torch.utils.data import Dataset

from convzoo.data.pose.skeleton import COCO, OPENPOSE_COCO
from convzoo.data.pose.synthetic import BODY_PARTS
from convzoo.data.pose.transforms import denormalise_image
from convzoo.tasks.pose.decoding import decode_heatmaps, flip_test
from convzoo.tasks.pose.dense_picture import draw_iuv
from convzoo.tasks.pose.drawing import draw_skeletons
from convzoo.tasks.pose.grouping import group_people

__all__ = ["MIN_SCORE", "write_sample"]

MIN_SCORE = 0.1  # the least heatmap peak of a joint that is drawn


@torch.no_grad()
def write_sample(model: nn.Module, data: Dataset, mode: str, path: Path) -> Path:
    """Draw ``model``'s prediction on ``data[0]`` into ``path``; returns the path."""
    model.eval()
    device = next(model.parameters()).device
    image = data[0][0]
    if mode == "dense":
        return draw_iuv(denormalise_image(image), model(image[None].to(device))[0].float().cpu(), path,
                        part_names=BODY_PARTS)
    if mode == "bottom_up":
        output = model(image[None].to(device))[0, -1].float().cpu()
        people = group_people(output[model.num_pafs:], output[:model.num_pafs], OPENPOSE_COCO,
                              stride=model.output_stride)
        return draw_skeletons(denormalise_image(image), [person.keypoints for person in people], OPENPOSE_COCO, path)
    skeleton = getattr(data, "skeleton", COCO)
    heatmaps = flip_test(model, image[None].to(device), skeleton).float().cpu()
    keypoints = decode_heatmaps(heatmaps, stride=model.output_stride)[0]
    return draw_skeletons(denormalise_image(image), [keypoints], skeleton, path, min_score=MIN_SCORE)
