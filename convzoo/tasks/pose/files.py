"""``convzoo pose CHECKPOINT IMAGE``: the poses a pose checkpoint finds in an image file, drawn.

* A top-down checkpoint estimates one person: the one in ``--box X Y W H`` (image
  pixels), else the whole image taken as the person's region; the crop is the box enlarged
  to the input's aspect ratio and padded by 25%, as in training.
* A bottom-up checkpoint finds every person: the image is scaled to fit the input (aspect
  ratio kept, zero borders), its people are grouped from the PAFs and mapped back.
* A dense checkpoint (``--dense``) draws the image, its part map and the U and V maps.

Skeletons are drawn over the image at its own size (:mod:`~convzoo.tasks.pose.drawing`).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

import torch

from convzoo.data.natural_images import read_image, to_tensor
from convzoo.data.pose.skeleton import COCO, MPII, OPENPOSE_COCO, Skeleton
from convzoo.data.pose.synthetic import BODY_PARTS
from convzoo.data.pose.transforms import (
    box_to_center_size,
    crop_matrix,
    invert_matrix,
    normalise_image,
    transform_points,
    warp_image,
)
from convzoo.errors import ConvzooError
from convzoo.tasks.pose.decoding import crop_keypoints_to_image, decode_heatmaps, flip_test
from convzoo.tasks.pose.dense_picture import draw_iuv
from convzoo.tasks.pose.drawing import draw_skeletons
from convzoo.tasks.pose.grouping import group_people
from convzoo.tasks.pose.pictures import MIN_SCORE
from convzoo.train.checkpoint import CheckpointMeta, load_checkpoint

__all__ = ["PosedFile", "load_pose_model", "pose_file"]


@dataclass
class PosedFile:
    """What :func:`pose_file` wrote and found: the picture, and each person's keypoints in image pixels."""

    picture: Path
    mode: str
    people: list[torch.Tensor]
    skeleton: Skeleton | None


def load_pose_model(checkpoint: str | Path) -> tuple[torch.nn.Module, CheckpointMeta]:
    """A checkpoint written by ``convzoo train --task pose``; an error for any other."""
    model, meta = load_checkpoint(checkpoint)
    if meta.task != "pose":
        raise ConvzooError(f"checkpoint {checkpoint} is a {meta.task} model, not a pose one "
                           "(train one with --task pose)")
    return model.eval(), meta


def _matrix_for(box: Sequence[float] | None, image: torch.Tensor, input_size: tuple[int, int]) -> torch.Tensor:
    height, width = image.shape[1:]
    region = box if box is not None else (0.0, 0.0, float(width), float(height))
    if len(region) != 4 or region[2] <= 0 or region[3] <= 0:
        raise ConvzooError(f"--box must be X Y W H with a positive width and height, got {list(region)}")
    center, size = box_to_center_size(region, input_size[1] / input_size[0])
    return crop_matrix(center, size, (input_size[1], input_size[0]))


def _fit_matrix(image: torch.Tensor, input_size: tuple[int, int]) -> torch.Tensor:
    """The matrix that scales the whole image into the input, aspect ratio kept and centred."""
    height, width = image.shape[1:]
    scale = min(input_size[0] / height, input_size[1] / width)
    size = (input_size[1] / scale, input_size[0] / scale)
    return crop_matrix(((width - 1) / 2, (height - 1) / 2), size, (input_size[1], input_size[0]))


@torch.no_grad()
def pose_file(checkpoint: str | Path, image_path: str | Path, out: str | Path, *, box: Sequence[float] | None = None,
              dense: bool = False) -> PosedFile:
    """Estimate the poses in ``image_path`` with a pose checkpoint and draw them into ``out``."""
    model, meta = load_pose_model(checkpoint)
    mode = meta.task_args["mode"]
    if dense != (mode == "dense"):
        raise ConvzooError(f"checkpoint {checkpoint} is a dense-pose model: add --dense" if mode == "dense" else
                           f"--dense needs a dense-pose checkpoint (densepose_*); {checkpoint} is {mode.replace('_', '-')}")
    if box is not None and mode != "top_down":
        raise ConvzooError("--box is for top-down checkpoints, which estimate one person in a box")
    image = to_tensor(read_image(image_path, 3))  # (3, H, W) in [0, 1]
    input_size = tuple(meta.input_size[1:])
    matrix = _fit_matrix(image, input_size) if mode != "top_down" else _matrix_for(box, image, input_size)
    network_input = normalise_image(warp_image(image, matrix, (input_size[1], input_size[0])))[None]
    if mode == "dense":
        return PosedFile(draw_iuv(image, _dense_on_image(model, network_input, matrix, image), out,
                                  part_names=BODY_PARTS), mode, [], None)
    if mode == "bottom_up":
        output = model(network_input)[0, -1].float()
        found = group_people(output[model.num_pafs:], output[:model.num_pafs], OPENPOSE_COCO,
                             stride=model.output_stride)
        people = [_to_image(person.keypoints, matrix) for person in found]
        return PosedFile(draw_skeletons(image, people, OPENPOSE_COCO, out), mode, people, OPENPOSE_COCO)
    skeleton = MPII if len(meta.class_names) == MPII.num_joints else COCO
    heatmaps = flip_test(model, network_input, skeleton).float()
    keypoints = crop_keypoints_to_image(decode_heatmaps(heatmaps, stride=model.output_stride), matrix)[0]
    return PosedFile(draw_skeletons(image, [keypoints], skeleton, out, min_score=MIN_SCORE), mode, [keypoints],
                     skeleton)


def _to_image(keypoints: torch.Tensor, matrix) -> torch.Tensor:
    moved = keypoints.clone()
    found = moved[:, 2] > 0
    moved[found, :2] = transform_points(invert_matrix(matrix), moved[found, :2]).to(moved.dtype)
    return moved


def _dense_on_image(model: torch.nn.Module, network_input: torch.Tensor, matrix, image: torch.Tensor) -> torch.Tensor:
    """The dense output warped back onto the image's pixels ``(3P + 1, H, W)``."""
    output = model(network_input)[0].float()
    height, width = image.shape[1:]
    return warp_image(output, invert_matrix(matrix), (width, height))
