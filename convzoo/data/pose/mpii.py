"""MPII Human Pose annotations: the released ``.mat`` file or its common JSON conversion.

Paper: 2D Human Pose Estimation: New Benchmark and State of the Art Analysis (Andriluka,
Pishchulin, Gehler, Schiele, CVPR 2014) http://human-pose.mpi-inf.mpg.de/

Two layouts are read by :func:`read_mpii`:

* the released ``mpii_human_pose_v1_u12_1.mat``, read with
  ``scipy.io.loadmat(path, struct_as_record=False, squeeze_me=True)``::

      RELEASE.annolist[i].image.name            the image file (under images/)
      RELEASE.annolist[i].annorect[j]           person j of image i:
          .x1 .y1 .x2 .y2                       head box
          .annopoints.point[k]                  labelled joints: .id (0-15, MPII order),
                                                .x, .y, .is_visible (0/1, '0'/'1' or empty)
          .objpos.x .objpos.y  .scale           rough centre; person height / 200 px
      RELEASE.img_train[i]                      1 for the training images, 0 for test
      RELEASE.single_person[i]                  1-based annorect indices of the
                                                well-separated people of image i

  People without ``objpos`` or ``scale`` cannot be cropped and are skipped; test images'
  people have no joints (all v = 0).
* the JSON conversion of Xiao et al. / HRNet (``mpii/annot/train.json``, ``valid.json``):
  a list of records ``{"image", "center": [x, y], "scale", "joints": 16 x [x, y],
  "joints_vis": 16 x 0/1}``; ``test.json`` has no joints. It has no head boxes, image
  indices or splits (those fields are ``None``).

Both hold MATLAB's 1-based coordinates; 1 is subtracted from every x and y (joints, centre,
head box), as HRNet does, to give the pose task's pixel-centre coordinates. Visibility
becomes COCO's: a labelled joint with ``is_visible`` 1 (or empty: the file leaves it empty
for some head joints) is v = 2, with 0 it is v = 1 (labelled, occluded), an unlabelled one
v = 0 with x = y = 0. The JSON's ``joints_vis`` only says which joints are labelled, so its
joints are v = 2 or 0.

:class:`MpiiTopDown` crops each person as the Stacked Hourglass code does: the centre
moved down by 15 * scale pixels (less often cutting off the feet), a region 200 * scale *
1.25 pixels high (and as wide as the input's aspect ratio makes it), with the training
augmentation of :mod:`convzoo.data.pose.transforms`.
"""

from __future__ import annotations

import json
import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import scipy.io

from convzoo.data.pose.skeleton import MPII
from convzoo.data.pose.transforms import CropJitter, PersonCrop, TargetFn, TopDownCrops
from convzoo.errors import ConvzooError

__all__ = ["MPII_PIXELS_PER_SCALE", "MpiiItemInfo", "MpiiPerson", "MpiiTopDown", "person_region", "read_mpii"]

MPII_PIXELS_PER_SCALE = 200.0  # MPII's scale is the person's height in units of 200 pixels
_CROP_PADDING = 1.25
_CENTER_SHIFT = 15.0  # pixels per unit of scale that the crop's centre moves down (Hourglass code)
_JSON_KEYS = ("image", "center", "scale")


@dataclass(frozen=True, eq=False)
class MpiiPerson:
    """One annotated person.

    Attributes:
        image: the image's file name.
        joints: ``(16, 3)`` float32, x, y in 0-based pixels and v in COCO's 0/1/2.
        center: ``(x, y)`` of the person (``objpos``).
        scale: the person's height / 200 pixels.
        head_box: ``(x1, y1, x2, y2)`` of the head (PCKh's reference), ``None`` from JSON.
        is_train: the image is in MPII's training set (``None`` from JSON).
        single_person: one of the image's well-separated people (``None`` from JSON).
        image_index: 0-based index into ``annolist`` (``None`` from JSON).
        rect_index: 0-based index into the image's ``annorect`` (``None`` from JSON).
    """

    image: str
    joints: np.ndarray
    center: tuple[float, float]
    scale: float
    head_box: tuple[float, float, float, float] | None = None
    is_train: bool | None = None
    single_person: bool | None = None
    image_index: int | None = None
    rect_index: int | None = None

    @property
    def is_labelled(self) -> bool:
        return bool((self.joints[:, 2] > 0).any())


def _field(struct: Any, name: str) -> Any:
    """A struct's field, ``None`` where it is absent or empty (the .mat leaves fields empty as [])."""
    value = getattr(struct, name, None)
    if isinstance(value, np.ndarray) and value.size == 0:
        return None
    return value


def _items(value: Any) -> list:
    """A squeezed struct array as a list: nothing, one struct, or an array of them."""
    if value is None:
        return []
    return list(np.ravel(value)) if isinstance(value, np.ndarray) else [value]


def _visibility(path: Path, value: Any) -> float:
    if value is None:
        return 2.0
    try:
        visible = int(str(value).strip()) if isinstance(value, str) else int(value)
    except (TypeError, ValueError):
        raise ConvzooError(f"{path}: a joint has is_visible {value!r}; expected 0 or 1") from None
    return 2.0 if visible else 1.0


def _mat_joints(path: Path, annopoints: Any) -> np.ndarray:
    joints = np.zeros((MPII.num_joints, 3), dtype=np.float32)
    for point in _items(_field(annopoints, "point") if annopoints is not None else None):
        joint = int(point.id)
        if not 0 <= joint < MPII.num_joints:
            raise ConvzooError(f"{path}: a joint has id {joint}; expected 0-{MPII.num_joints - 1} (MPII's joints)")
        joints[joint] = (float(point.x) - 1, float(point.y) - 1, _visibility(path, _field(point, "is_visible")))
    return joints


def _head_box(rect: Any) -> tuple[float, float, float, float] | None:
    corners = [_field(rect, name) for name in ("x1", "y1", "x2", "y2")]
    if any(corner is None for corner in corners):
        return None
    x1, y1, x2, y2 = (float(corner) - 1 for corner in corners)
    return x1, y1, x2, y2


def _single_people(value: Any) -> set[int]:
    """The 0-based annorect indices of an image's ``single_person`` entry."""
    return {int(index) - 1 for index in np.ravel(value)} if value is not None else set()


def _read_mat(path: Path) -> list[MpiiPerson]:
    try:
        release = scipy.io.loadmat(path, struct_as_record=False, squeeze_me=True).get("RELEASE")
    except (scipy.io.matlab.MatReadError, ValueError, TypeError, IndexError, OSError, NotImplementedError) as error:
        raise ConvzooError(f"cannot read {path} as a MATLAB file: {error}") from None
    annolist = _field(release, "annolist") if release is not None else None
    if annolist is None:
        raise ConvzooError(f"{path} is not MPII's release: expected a struct RELEASE with an annolist")
    images = _items(annolist)
    train_flags = _field(release, "img_train")
    is_train = np.ravel(train_flags) if train_flags is not None else np.zeros(0)
    single = _items(_field(release, "single_person"))
    people = []
    for image_index, entry in enumerate(images):
        singles = _single_people(single[image_index]) if image_index < len(single) else set()
        for rect_index, rect in enumerate(_items(_field(entry, "annorect"))):
            objpos, scale = _field(rect, "objpos"), _field(rect, "scale")
            if objpos is None or scale is None or _field(objpos, "x") is None:
                continue
            people.append(MpiiPerson(
                image=str(entry.image.name),
                joints=_mat_joints(path, _field(rect, "annopoints")),
                center=(float(objpos.x) - 1, float(objpos.y) - 1),
                scale=float(scale),
                head_box=_head_box(rect),
                is_train=bool(is_train[image_index]) if image_index < len(is_train) else None,
                single_person=rect_index in singles,
                image_index=image_index,
                rect_index=rect_index,
            ))
    return people


def _json_joints(path: Path, index: int, record: dict) -> np.ndarray:
    joints = np.zeros((MPII.num_joints, 3), dtype=np.float32)
    if "joints" not in record and "joints_vis" not in record:
        return joints
    try:
        positions = np.asarray(record["joints"], dtype=np.float32)
        labelled = np.asarray(record["joints_vis"], dtype=np.float32).reshape(-1)
    except KeyError as error:
        raise ConvzooError(f"{path}: record {index} lacks {error.args[0]}; expected joints with joints_vis") from None
    except (TypeError, ValueError):
        raise ConvzooError(f"{path}: record {index} has non-numeric joints or joints_vis") from None
    if positions.shape != (MPII.num_joints, 2) or labelled.shape != (MPII.num_joints,):
        raise ConvzooError(
            f"{path}: record {index} has joints of shape {positions.shape} and joints_vis of {labelled.size}; "
            f"expected {MPII.num_joints} x 2 and {MPII.num_joints}"
        )
    mask = labelled > 0
    joints[mask, :2] = positions[mask] - 1
    joints[mask, 2] = 2.0
    return joints


def _read_json(path: Path) -> list[MpiiPerson]:
    try:
        records = json.loads(path.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as error:
        raise ConvzooError(f"{path} is not JSON: {error}") from None
    if not isinstance(records, list):
        raise ConvzooError(f"{path} is not an MPII JSON annotation: expected a list of person records")
    people = []
    for index, record in enumerate(records):
        missing = [key for key in _JSON_KEYS if key not in record] if isinstance(record, dict) else list(_JSON_KEYS)
        if missing:
            raise ConvzooError(f"{path}: record {index} lacks {', '.join(missing)}; expected keys {', '.join(_JSON_KEYS)}")
        x, y = (float(value) - 1 for value in record["center"])
        joints = _json_joints(path, index, record)
        people.append(MpiiPerson(str(record["image"]), joints, (x, y), float(record["scale"])))
    return people


def read_mpii(path: str | os.PathLike) -> list[MpiiPerson]:
    """Every person of an MPII annotation file, ``.mat`` (the release) or ``.json`` (HRNet's conversion)."""
    path = Path(path)
    if not path.is_file():
        raise ConvzooError(f"MPII annotation file {path} does not exist")
    if path.suffix.lower() == ".mat":
        return _read_mat(path)
    if path.suffix.lower() == ".json":
        return _read_json(path)
    raise ConvzooError(f"{path} is neither .mat nor .json; expected MPII's release .mat or its JSON conversion")


@dataclass(frozen=True, eq=False)
class MpiiItemInfo:
    """What maps item ``i``'s prediction back: its person, the crop matrix (image -> crop), and whether it is mirrored."""

    person: MpiiPerson
    matrix: np.ndarray
    flipped: bool


def person_region(person: MpiiPerson, aspect_ratio: float) -> tuple[tuple[float, float], tuple[float, float]]:
    """The crop region ``(center, (w, h))`` of a person, as the Stacked Hourglass code cuts it."""
    x, y = person.center
    height = MPII_PIXELS_PER_SCALE * person.scale * _CROP_PADDING
    return (x, y + _CENTER_SHIFT * person.scale), (height * aspect_ratio, height)


class MpiiTopDown(TopDownCrops):
    """MPII's people, one per item, cropped by centre and scale (see :class:`TopDownCrops` for the items).

    Args:
        annotation: an MPII annotation file (``.mat`` or ``.json``) or people already read.
        image_dir: the folder of MPII's images.
        input_size: ``(H, W)`` of the crops (256 x 256 in Newell et al.).
        train: augment (random scale, rotation and mirror); else the plain crop.
        scale_jitter: the region's size varies by up to this fraction.
        rotation: the crop turns by up to this many degrees.
        flip: mirror half of the training crops (left and right joints swap).
        target_fn: builds the target from the keypoints in the crop ``(16, 3)``.
        seed: with the epoch and the index, seeds each item's augmentation.
        labelled_only: keep only people with at least one labelled joint.
        normalise: ImageNet's mean and std; ``False`` keeps the pixels in [0, 1].
    """

    def __init__(
        self,
        annotation: str | os.PathLike | Sequence[MpiiPerson],
        image_dir: str | os.PathLike,
        *,
        input_size: tuple[int, int] = (256, 256),
        train: bool = True,
        scale_jitter: float = 0.25,
        rotation: float = 30.0,
        flip: bool = True,
        target_fn: TargetFn | None = None,
        seed: int = 0,
        labelled_only: bool = True,
        normalise: bool = True,
    ) -> None:
        people = read_mpii(annotation) if isinstance(annotation, (str, os.PathLike)) else list(annotation)
        self.records = [person for person in people if person.is_labelled or not labelled_only]
        aspect_ratio = input_size[1] / input_size[0]
        crops = [PersonCrop(Path(image_dir) / person.image, person.joints, *person_region(person, aspect_ratio))
                 for person in self.records]
        jitter = CropJitter(scale_jitter, rotation, flip) if train else None
        super().__init__(
            crops, MPII, input_size=input_size, jitter=jitter, target_fn=target_fn, seed=seed, normalise=normalise
        )

    def item_info(self, index: int) -> MpiiItemInfo:
        """Item ``index``'s person and crop matrix (this epoch's)."""
        matrix, flipped = self.crop_of(index)
        return MpiiItemInfo(self.records[index], matrix, flipped)
