"""The synthetic people as the pose task trains on them: person crops, whole scenes, and dense labels.

:class:`~convzoo.data.pose.synthetic.SyntheticPeople` draws whole images; a pose network
sees them in one of three ways:

* :class:`SyntheticTopDown` (top-down networks: Stacked Hourglass, the simple baseline):
  item ``i`` is the crop around the first person of image ``i`` (its box enlarged to the
  input's aspect ratio and padded by 25%, with :class:`~convzoo.data.pose.transforms.CropJitter`
  in training), whatever else the image holds; the other people are distractors, as
  neighbours are in a COCO crop.
* :class:`SyntheticScenes` (bottom-up networks: OpenPose): item ``i`` is image ``i`` whole,
  with every person's keypoints, for part affinity field targets.
* :class:`SyntheticDense` (dense pose): image ``i`` with its part index and (u, v) maps.

An image is drawn when an item is asked for (about 10 ms at 256x256), never stored, so a
split of any size costs no memory; the last image drawn is kept, so that reading an item's
region and then its pixels draws it once.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
import torch
from torch.utils.data import Dataset

from convzoo.data.pose.skeleton import COCO
from convzoo.data.pose.synthetic import PoseSample, SyntheticPeople
from convzoo.data.pose.transforms import CropJitter, PersonCrop, TopDownCrops, box_to_center_size, normalise_image

__all__ = ["SyntheticDense", "SyntheticScenes", "SyntheticTopDown"]


class _LastDrawn:
    """A :class:`SyntheticPeople` that keeps the last image it drew."""

    def __init__(self, images: SyntheticPeople) -> None:
        self.images = images
        self.index: int | None = None
        self.sample: PoseSample | None = None

    def __len__(self) -> int:
        return len(self.images)

    def __call__(self, index: int) -> PoseSample:
        if index != self.index:
            self.sample, self.index = self.images[index], index
        return self.sample


class _FirstPeople(Sequence):
    """The first person of each image as a :class:`PersonCrop`; an image without people gives the whole image."""

    def __init__(self, draw: _LastDrawn, aspect_ratio: float) -> None:
        self.draw = draw
        self.aspect_ratio = aspect_ratio

    def __len__(self) -> int:
        return len(self.draw)

    def __getitem__(self, index: int) -> PersonCrop:
        if not 0 <= index < len(self):
            raise IndexError(f"index {index} is out of range for {len(self)} crops")
        sample = self.draw(index)
        height, width = sample.image.shape[1:]
        if sample.num_people == 0:
            return PersonCrop(None, np.zeros((COCO.num_joints, 3), np.float32), ((width - 1) / 2, (height - 1) / 2),
                              (float(width), float(height)))
        center, size = box_to_center_size(sample.boxes[0].tolist(), self.aspect_ratio)
        return PersonCrop(None, sample.keypoints[0].numpy(), center, size)


class SyntheticTopDown(TopDownCrops):
    """Crops of the first person of ``count`` synthetic images (module docstring).

    Args:
        count: number of images (and crops).
        input_size: ``(H, W)`` of the crops; the images are drawn at the same size.
        people: ``(min, max)`` people per image (the others are distractors).
        seed: the images' seed (:class:`SyntheticPeople`); with the epoch, also the jitter's.
        jitter: training augmentation, ``None`` for the plain crops of evaluation.
        target_fn: builds the target from the crop's keypoints ``(17, 3)``.
    """

    def __init__(self, count: int, *, input_size: tuple[int, int], people: tuple[int, int] = (1, 2), seed: int = 0,
                 jitter: CropJitter | None = None, target_fn: Callable[[torch.Tensor], Any] | None = None) -> None:
        self.draw = _LastDrawn(SyntheticPeople(count, image_size=input_size, people=people, seed=seed))
        super().__init__(_FirstPeople(self.draw, input_size[1] / input_size[0]), COCO, input_size=input_size,
                         jitter=jitter, target_fn=target_fn, seed=seed)

    def image_of(self, index: int) -> torch.Tensor:
        return self.draw(index).image


class SyntheticScenes(Dataset):
    """``count`` whole synthetic images with every person: ``(image, target_fn(keypoints (N, 17, 3)))``.

    Images are normalised by ImageNet's mean and std (:func:`normalise_image`), as the
    crops are; :meth:`sample` gives the drawn :class:`PoseSample` itself (ground truth for
    evaluation).
    """

    def __init__(self, count: int, *, input_size: tuple[int, int], people: tuple[int, int] = (1, 4), seed: int = 0,
                 target_fn: Callable[[torch.Tensor], Any] | None = None) -> None:
        self.draw = _LastDrawn(SyntheticPeople(count, image_size=input_size, people=people, seed=seed))
        self.target_fn = target_fn

    def __len__(self) -> int:
        return len(self.draw)

    def sample(self, index: int) -> PoseSample:
        return self.draw(index)

    def __getitem__(self, index: int) -> tuple[torch.Tensor, Any]:
        sample = self.draw(index)
        target = self.target_fn(sample.keypoints) if self.target_fn is not None else sample.keypoints
        return normalise_image(sample.image), target


class SyntheticDense(SyntheticScenes):
    """``count`` synthetic images with their dense labels: ``(image, (3, H, W))``, the part index then u and v."""

    def __getitem__(self, index: int) -> tuple[torch.Tensor, torch.Tensor]:
        sample = self.draw(index)
        labels = torch.cat([sample.parts[None].float(), sample.uv])  # (3, H, W)
        return normalise_image(sample.image), labels
