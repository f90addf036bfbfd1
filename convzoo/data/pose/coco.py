"""COCO keypoint annotations: ``person_keypoints_*.json`` and its image folder.

Paper: Microsoft COCO: Common Objects in Context (Lin et al., ECCV 2014)
https://arxiv.org/abs/1405.0312; the keypoint format: https://cocodataset.org/#format-data

Layout: an annotation file (``annotations/person_keypoints_train2017.json``) whose
``images`` give ``id`` and ``file_name`` (a path under the image folder, e.g.
``train2017/``) and whose ``annotations`` give, per person, ``id``, ``image_id``, ``bbox``
``[x, y, w, h]``, ``keypoints`` (17 ``x, y, v`` triples in :data:`COCO` order; v 0 not
labelled, 1 labelled but occluded, 2 visible), ``num_keypoints``, ``area`` and
``iscrowd``. Keypoint coordinates are read as pixel indices (pixel centres at integer
coordinates, as the pose task counts), boxes as continuous coordinates in which the image
spans ``[0, W]`` (as Detectron2 reads both).

Two datasets read it:

* :class:`CocoTopDown`: one person per item (annotations with ``num_keypoints > 0``, not
  crowd, with a box of positive size), cut out by :func:`box_to_center_size` (the box
  enlarged to the input's aspect ratio, padded by 25%), with random scale, rotation and
  mirror in training (:mod:`convzoo.data.pose.transforms`); :meth:`CocoTopDown.item_info`
  gives what maps a prediction back to its image and annotation.
* :class:`CocoImages`: whole images with every person in them, for bottom-up training:
  each image is scaled to fit ``input_size`` and centred, the borders zero; crowd regions
  and people without labelled keypoints are boxes to ignore.

Deviations: HRNet also clips boxes to the image and adds "half body" crops; neither is done here.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch.utils.data import Dataset

from convzoo.data.natural_images import read_image, to_tensor
from convzoo.data.pose.skeleton import COCO
from convzoo.data.pose.transforms import (
    CropJitter,
    PersonCrop,
    TargetFn,
    TopDownCrops,
    box_to_center_size,
    crop_matrix,
    normalise_image,
    transform_points,
    warp_image,
)
from convzoo.errors import ConvzooError

__all__ = [
    "CocoImage",
    "CocoImageInfo",
    "CocoImages",
    "CocoItemInfo",
    "CocoKeypoints",
    "CocoPerson",
    "CocoTopDown",
    "read_coco_keypoints",
]

_IMAGE_KEYS = ("id", "file_name")
_ANNOTATION_KEYS = ("id", "image_id", "bbox", "keypoints")

# (keypoints (N, J, 3), ignore boxes (M, 4)) in input pixels -> the bottom-up training target.
ImagesTargetFn = Callable[[torch.Tensor, torch.Tensor], Any]


@dataclass(frozen=True)
class CocoImage:
    """An image record: its id, its path under the image folder and, where given, its size."""

    id: int
    file_name: str
    width: int | None = None
    height: int | None = None


@dataclass(frozen=True, eq=False)
class CocoPerson:
    """A person annotation: keypoints ``(17, 3)`` float32 in image pixels and COCO's ``[x, y, w, h]`` box."""

    id: int
    image_id: int
    keypoints: np.ndarray
    box: tuple[float, float, float, float]
    area: float
    iscrowd: bool
    num_keypoints: int


@dataclass(frozen=True, eq=False)
class CocoKeypoints:
    """A read and checked keypoint annotation file.

    Attributes:
        path: the file.
        images: image records by id.
        people: every annotation, crowd regions included, in file order.
        ground_truth: the file's parsed JSON, as COCO's evaluation takes it.
    """

    path: Path
    images: dict[int, CocoImage]
    people: list[CocoPerson]
    ground_truth: dict

    def people_in(self, image_id: int) -> list[CocoPerson]:
        """The annotations of one image."""
        return [person for person in self.people if person.image_id == image_id]


def _load_json(path: Path) -> dict:
    if not path.is_file():
        raise ConvzooError(f"COCO annotation file {path} does not exist")
    try:
        data = json.loads(path.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as error:
        raise ConvzooError(f"{path} is not JSON: {error}") from None
    if not (isinstance(data, dict) and all(isinstance(data.get(key), list) for key in ("images", "annotations"))):
        raise ConvzooError(f"{path} is not a COCO annotation file: expected an object with lists 'images' and 'annotations'")
    return data


def _missing(record: Any, keys: tuple[str, ...]) -> list[str]:
    return [key for key in keys if key not in record] if isinstance(record, dict) else list(keys)


def _read_image_record(path: Path, record: Any) -> CocoImage:
    missing = _missing(record, _IMAGE_KEYS)
    if missing:
        raise ConvzooError(f"{path}: an image record lacks {', '.join(missing)}; expected keys {', '.join(_IMAGE_KEYS)}")
    return CocoImage(int(record["id"]), str(record["file_name"]), record.get("width"), record.get("height"))


def _read_keypoints(path: Path, annotation_id: int, values: Any) -> np.ndarray:
    expected = 3 * COCO.num_joints
    try:
        keypoints = np.asarray(values, dtype=np.float32).reshape(-1)
    except (TypeError, ValueError):
        raise ConvzooError(f"{path}: annotation {annotation_id} has non-numeric keypoints") from None
    if keypoints.size != expected:
        raise ConvzooError(
            f"{path}: annotation {annotation_id} has {keypoints.size} keypoint values; "
            f"expected {expected} ({COCO.num_joints} joints x (x, y, v))"
        )
    keypoints = keypoints.reshape(COCO.num_joints, 3)
    bad = sorted(set(keypoints[:, 2].tolist()) - {0.0, 1.0, 2.0})
    if bad:
        raise ConvzooError(f"{path}: annotation {annotation_id} has visibility {bad[0]:g}; expected 0, 1 or 2")
    return keypoints


def _read_annotation(path: Path, record: Any, images: dict[int, CocoImage]) -> CocoPerson:
    missing = _missing(record, _ANNOTATION_KEYS)
    if missing:
        name = f"annotation {record['id']}" if isinstance(record, dict) and "id" in record else "an annotation"
        raise ConvzooError(f"{path}: {name} lacks {', '.join(missing)}; expected keys {', '.join(_ANNOTATION_KEYS)}")
    annotation_id, image_id = int(record["id"]), int(record["image_id"])
    if image_id not in images:
        raise ConvzooError(f"{path}: annotation {annotation_id} refers to image {image_id}, which has no image record")
    keypoints = _read_keypoints(path, annotation_id, record["keypoints"])
    box = record["bbox"]
    if not isinstance(box, list) or len(box) != 4:
        raise ConvzooError(f"{path}: annotation {annotation_id} has bbox {box!r}; expected [x, y, w, h]")
    x, y, width, height = (float(value) for value in box)
    return CocoPerson(
        id=annotation_id,
        image_id=image_id,
        keypoints=keypoints,
        box=(x, y, width, height),
        area=float(record.get("area", width * height)),
        iscrowd=bool(record.get("iscrowd", 0)),
        num_keypoints=int(record.get("num_keypoints", int((keypoints[:, 2] > 0).sum()))),
    )


def read_coco_keypoints(json_path: str | os.PathLike) -> CocoKeypoints:
    """Read and check a COCO keypoint annotation file; a malformed one fails with one line naming it."""
    path = Path(json_path)
    data = _load_json(path)
    images = {}
    for record in data["images"]:
        image = _read_image_record(path, record)
        images[image.id] = image
    people = [_read_annotation(path, record, images) for record in data["annotations"]]
    return CocoKeypoints(path, images, people, data)


def _annotations(annotation_json: str | os.PathLike | CocoKeypoints) -> CocoKeypoints:
    return annotation_json if isinstance(annotation_json, CocoKeypoints) else read_coco_keypoints(annotation_json)


def _is_trainable(person: CocoPerson) -> bool:
    """A person a top-down model learns from: labelled keypoints, not a crowd, a real box."""
    return person.num_keypoints > 0 and not person.iscrowd and person.box[2] > 0 and person.box[3] > 0


@dataclass(frozen=True, eq=False)
class CocoItemInfo:
    """What maps item ``i``'s prediction back: its image and annotation, the crop and the box.

    ``invert_matrix(matrix)`` takes crop pixels to image pixels; when ``flipped``, the
    crop's joints are also in mirrored order (``COCO.flip_permutation()`` restores it).
    """

    image_id: int
    annotation_id: int
    matrix: np.ndarray
    area: float
    box: tuple[float, float, float, float]
    flipped: bool


class CocoTopDown(TopDownCrops):
    """COCO's people, one per item, cropped around their boxes (see :class:`TopDownCrops` for the items).

    Args:
        annotation_json: a ``person_keypoints_*.json`` file (or its :class:`CocoKeypoints`).
        image_dir: the folder the images' ``file_name`` are relative to.
        input_size: ``(H, W)`` of the crops (256 x 192 in Xiao et al. and HRNet).
        train: augment (random scale, rotation and mirror); else the plain crop.
        scale_jitter: the region's size varies by up to this fraction.
        rotation: the crop turns by up to this many degrees.
        flip: mirror half of the training crops (left and right joints swap).
        target_fn: builds the target from the keypoints in the crop ``(17, 3)``.
        seed: with the epoch and the index, seeds each item's augmentation.
        normalise: ImageNet's mean and std; ``False`` keeps the pixels in [0, 1].
    """

    def __init__(
        self,
        annotation_json: str | os.PathLike | CocoKeypoints,
        image_dir: str | os.PathLike,
        *,
        input_size: tuple[int, int] = (256, 192),
        train: bool = True,
        scale_jitter: float = 0.25,
        rotation: float = 30.0,
        flip: bool = True,
        target_fn: TargetFn | None = None,
        seed: int = 0,
        normalise: bool = True,
    ) -> None:
        self.annotations = _annotations(annotation_json)
        self.image_dir = Path(image_dir)
        self.records = [person for person in self.annotations.people if _is_trainable(person)]
        aspect_ratio = input_size[1] / input_size[0]
        crops = []
        for person in self.records:
            center, size = box_to_center_size(person.box, aspect_ratio)
            image_path = self.image_dir / self.annotations.images[person.image_id].file_name
            crops.append(PersonCrop(image_path, person.keypoints, center, size))
        jitter = CropJitter(scale_jitter, rotation, flip) if train else None
        super().__init__(
            crops, COCO, input_size=input_size, jitter=jitter, target_fn=target_fn, seed=seed, normalise=normalise
        )

    def item_info(self, index: int) -> CocoItemInfo:
        """Item ``index``'s image id, annotation id, crop matrix (this epoch's), area and box."""
        person = self.records[index]
        matrix, flipped = self.crop_of(index)
        return CocoItemInfo(person.image_id, person.id, matrix, person.area, person.box, flipped)


@dataclass(frozen=True, eq=False)
class CocoImageInfo:
    """Item ``i`` of :class:`CocoImages`: its image id and the matrix from image to input pixels."""

    image_id: int
    matrix: np.ndarray


def _box_corners(person: CocoPerson) -> np.ndarray:
    """COCO's box as its ``(x1, y1), (x2, y2)`` edges in pixel-centre coordinates ``(2, 2)``."""
    x, y, width, height = person.box
    return np.array([[x - 0.5, y - 0.5], [x + width - 0.5, y + height - 0.5]])


class CocoImages(Dataset):
    """Whole COCO images with all their people, for bottom-up training.

    Each image is scaled to fit ``input_size`` with its aspect ratio kept and centred; the
    borders are zero. Items are images with at least one person with labelled
    keypoints. Each item is ``(image, target)``: the image ``(3, H, W)`` normalised as in
    :class:`TopDownCrops`, and ``target_fn(keypoints, ignore_boxes)`` or, without a
    ``target_fn``, the pair itself:

    * ``keypoints`` ``(N, 17, 3)`` float32: the people with labelled keypoints, x and y in
      input pixels (0 where v = 0);
    * ``ignore_boxes`` ``(M, 4)`` float32: crowd regions and people without labelled
      keypoints, as ``(x1, y1, x2, y2)`` edges in input pixel coordinates (a pixel whose
      centre lies inside is one the loss should not count).

    Args:
        annotation_json: a ``person_keypoints_*.json`` file (or its :class:`CocoKeypoints`).
        image_dir: the folder the images' ``file_name`` are relative to.
        input_size: ``(H, W)`` of the network's input.
        target_fn: builds the training target from ``(keypoints, ignore_boxes)``.
        normalise: ImageNet's mean and std; ``False`` keeps the pixels in [0, 1].
    """

    def __init__(
        self,
        annotation_json: str | os.PathLike | CocoKeypoints,
        image_dir: str | os.PathLike,
        *,
        input_size: tuple[int, int],
        target_fn: ImagesTargetFn | None = None,
        normalise: bool = True,
    ) -> None:
        self.annotations = _annotations(annotation_json)
        self.image_dir = Path(image_dir)
        self.input_size = (int(input_size[0]), int(input_size[1]))
        self.target_fn = target_fn
        self.normalise = normalise
        people: dict[int, list[CocoPerson]] = {}
        for person in self.annotations.people:
            people.setdefault(person.image_id, []).append(person)
        self.image_ids = [image_id for image_id in self.annotations.images if any(map(_is_trainable, people.get(image_id, [])))]
        self.people = people

    def __len__(self) -> int:
        return len(self.image_ids)

    def item_info(self, index: int, image_size: tuple[int, int] | None = None) -> CocoImageInfo:
        """Item ``index``'s image id and image -> input matrix; ``image_size`` ``(W, H)`` if the record lacks it."""
        record = self.annotations.images[self.image_ids[index]]
        if image_size is None:
            if record.width is None or record.height is None:
                raise ConvzooError(f"{self.annotations.path}: image {record.id} has no width and height; pass image_size")
            image_size = (int(record.width), int(record.height))
        width, height = image_size
        aspect_ratio = self.input_size[1] / self.input_size[0]
        fit = (max(width, height * aspect_ratio), max(height, width / aspect_ratio))
        center = ((width - 1) / 2, (height - 1) / 2)
        return CocoImageInfo(record.id, crop_matrix(center, fit, (self.input_size[1], self.input_size[0])))

    def __getitem__(self, index: int) -> tuple[torch.Tensor, Any]:
        image_id = self.image_ids[index]
        image = to_tensor(read_image(self.image_dir / self.annotations.images[image_id].file_name, 3))
        matrix = self.item_info(index, (image.shape[2], image.shape[1])).matrix
        height, width = self.input_size
        inputs = warp_image(image, matrix, (width, height))  # (3, H, W)
        inputs = normalise_image(inputs) if self.normalise else inputs
        persons = self.people[image_id]
        labelled = [person.keypoints for person in persons if _is_trainable(person)]
        keypoints = torch.from_numpy(np.stack(labelled))  # (N, 17, 3)
        keypoints[..., :2] = transform_points(matrix, keypoints[..., :2]) * (keypoints[..., 2:] > 0)
        ignored = [_box_corners(person) for person in persons if not _is_trainable(person)]
        corners = np.stack(ignored) if ignored else np.zeros((0, 2, 2))
        ignore_boxes = torch.from_numpy(transform_points(matrix, corners).reshape(-1, 4)).float()  # (M, 4)
        target = (keypoints, ignore_boxes)
        return inputs, self.target_fn(*target) if self.target_fn is not None else target
