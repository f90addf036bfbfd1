"""Scoring a pose network on a split: PCK and COCO keypoint AP (top-down), people found and AP (bottom-up), IUV
scores (dense).

* Top-down: every item's crop goes through the network and its mirror (flip test, as
  Newell et al. and Xiao et al. report), the heatmaps are decoded and the keypoints mapped
  back to the image. PCK@0.2 is normalised by the larger side of the box around each
  person's labelled joints; MPII's people also get PCKh@0.5 where their head boxes are
  known (head size: 0.6 x the head box's diagonal); COCO and the synthetic people get COCO's keypoint AP, each detection
  scored by the mean of its joints' heatmap peaks (ground-truth boxes, as COCO's top-down
  results with given boxes).
* Bottom-up: each image's last-stage maps are grouped into people
  (:func:`~convzoo.tasks.pose.grouping.group_people`); ``people_count_accuracy`` is the
  share of images where as many people are found as there are people with at least
  :data:`MIN_PARTS` labelled parts; COCO's keypoint AP scores the people found (OpenPose's
  18 parts back to COCO's 17).
* Dense: part mIoU, pixel accuracy and the (u, v) error on correctly labelled pixels.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch
from torch import nn
from torch.utils.data import Dataset

from convzoo.data.pose.coco import CocoTopDown
from convzoo.data.pose.mpii import MpiiTopDown
from convzoo.data.pose.skeleton import COCO, COCO_TO_OPENPOSE, OPENPOSE_COCO, Skeleton
from convzoo.data.pose.synthetic_sets import SyntheticScenes, SyntheticTopDown
from convzoo.data.pose.targets import coco_to_openpose
from convzoo.data.pose.transforms import invert_matrix, transform_points
from convzoo.tasks.pose.coco_eval import coco_keypoint_eval
from convzoo.tasks.pose.decoding import crop_keypoints_to_image, decode_heatmaps, flip_test
from convzoo.tasks.pose.dense import DensePoseMeter
from convzoo.tasks.pose.dense_objective import split_labels
from convzoo.tasks.pose.grouping import Person, group_people
from convzoo.tasks.pose.objective import PCK_THRESHOLD, box_sizes
from convzoo.tasks.pose.pck import mpii_head_size, pck, pckh

__all__ = [
    "MIN_PARTS", "coco_ground_truth", "score_bottom_up", "score_dense", "score_split", "score_top_down",
    "to_coco_keypoints",
]

MIN_PARTS = 4  # the fewest parts OpenPose's grouping keeps a person with (the reference's 4)
AP_KEYS = ("AP", "AP50", "AP75", "APm", "APl", "AR")


def coco_ground_truth(people: list[tuple[int, torch.Tensor, float, list[float]]], image_ids: list[int],
                      skeleton: Skeleton = COCO) -> dict[str, Any]:
    """A COCO keypoint annotation dict of ``(image_id, keypoints (J, 3), area, box xywh)`` people."""
    annotations = [
        {"id": number, "image_id": image_id, "category_id": 1, "keypoints": keypoints.flatten().tolist(),
         "num_keypoints": int((keypoints[:, 2] > 0).sum()), "area": float(area), "bbox": list(box), "iscrowd": 0}
        for number, (image_id, keypoints, area, box) in enumerate(people, start=1)
    ]
    category = {"id": 1, "name": "person", "keypoints": list(skeleton.joints),
                "skeleton": [[a + 1, b + 1] for a, b in skeleton.limbs]}
    return {"images": [{"id": image_id} for image_id in image_ids], "annotations": annotations,
            "categories": [category]}


def _detection(image_id: int, keypoints: torch.Tensor, score: float) -> dict[str, Any]:
    return {"image_id": image_id, "category_id": 1, "keypoints": keypoints.flatten().tolist(), "score": score}


def _ap(ground_truth: dict[str, Any], detections: list[dict[str, Any]]) -> dict[str, float]:
    scores = coco_keypoint_eval(ground_truth, detections)
    return {key: scores[key] for key in AP_KEYS}


@torch.no_grad()
def _predict_crops(model: nn.Module, data: Dataset, skeleton: Skeleton, batch_size: int,
                   device: torch.device | str) -> tuple[torch.Tensor, np.ndarray]:
    """Every item's keypoints ``(N, J, 3)`` in crop pixels (flip test), and the crop matrices ``(N, 2, 3)``."""
    model.eval()
    keypoints, matrices = [], []
    for start in range(0, len(data), batch_size):
        indices = range(start, min(start + batch_size, len(data)))
        images = torch.stack([data[i][0] for i in indices]).to(device)
        heatmaps = flip_test(model, images, skeleton).float().cpu()
        keypoints.append(decode_heatmaps(heatmaps, stride=model.output_stride))
        matrices.extend(data.crop_of(i)[0] for i in indices)
    return torch.cat(keypoints), np.stack(matrices)


def _synthetic_first_people(data: SyntheticTopDown) -> dict[str, Any]:
    people = []
    for index in range(len(data)):
        sample = data.draw(index)
        if sample.num_people:
            people.append((index + 1, sample.keypoints[0], float(sample.areas[0]), sample.boxes[0].tolist()))
    return coco_ground_truth(people, [index + 1 for index in range(len(data))])


def score_top_down(model: nn.Module, data: Dataset, skeleton: Skeleton, *, batch_size: int = 32,
                   device: torch.device | str = "cpu") -> dict[str, Any]:
    """PCK@0.2 per joint and mean, PCKh@0.5 (MPII) or COCO's AP (COCO, synthetic) of a top-down split."""
    crops, matrices = _predict_crops(model, data, skeleton, batch_size, device)
    predicted = crop_keypoints_to_image(crops, matrices)  # (N, J, 3) in image pixels, joint scores
    truth = torch.stack([torch.as_tensor(np.asarray(data.people[i].keypoints), dtype=torch.float32)
                         for i in range(len(data))])
    scores = pck(predicted, truth, box_sizes(truth), PCK_THRESHOLD)
    report: dict[str, Any] = {"items": len(data), "pck@0.2": float(scores["mean"]),
                              "pck_per_joint": dict(zip(skeleton.joints, scores["per_joint"].tolist()))}
    if isinstance(data, MpiiTopDown):
        boxes = [person.head_box for person in data.records]
        if all(box is not None for box in boxes):  # the released .mat has them; the JSON conversion does not
            head_scores = pckh(predicted, truth, mpii_head_size(torch.tensor(np.array(boxes), dtype=torch.float32)))
            report.update({"pckh@0.5": float(head_scores["mean"]),
                           "pckh_per_joint": dict(zip(skeleton.joints, head_scores["per_joint"].tolist()))})
        return report
    if isinstance(data, CocoTopDown):
        ground_truth = data.annotations.ground_truth
        image_ids = [data.item_info(i).image_id for i in range(len(data))]
    else:
        ground_truth = _synthetic_first_people(data)
        image_ids = [i + 1 for i in range(len(data))]
    detections = [_detection(image_id, keypoints, float(keypoints[:, 2].mean()))
                  for image_id, keypoints in zip(image_ids, predicted)]
    report.update(_ap(ground_truth, detections))
    return report


def _people_of(model: nn.Module, image: torch.Tensor) -> list[Person]:
    output = model(image[None])[0, -1].float().cpu()  # (38 + 19, h, w) of the last stage
    return group_people(output[model.num_pafs:], output[:model.num_pafs], OPENPOSE_COCO, stride=model.output_stride)


def to_coco_keypoints(person: Person) -> torch.Tensor:
    """A person of OpenPose's 18 parts as COCO's 17 keypoints ``(17, 3)``, the third column the part's peak."""
    order = list(COCO_TO_OPENPOSE)
    keypoints = person.keypoints[order].clone()
    keypoints[:, 2] = person.part_scores[order]
    return keypoints


def _findable(keypoints: torch.Tensor) -> int:
    """How many of an image's people ``(N, 17, 3)`` have at least MIN_PARTS labelled OpenPose parts."""
    return int(((coco_to_openpose(keypoints)[..., 2] > 0).sum(dim=-1) >= MIN_PARTS).sum())


@torch.no_grad()
def score_bottom_up(model: nn.Module, data: Dataset, *, device: torch.device | str = "cpu") -> dict[str, Any]:
    """``people_count_accuracy``, the mean absolute error of the count, and COCO's AP of a bottom-up split."""
    model.eval()
    right, error, detections, people, image_ids = 0, 0, [], [], []
    for index in range(len(data)):
        image, _ = data[index]
        found = _people_of(model, image.to(device))
        if isinstance(data, SyntheticScenes):
            sample, image_id, to_image = data.sample(index), index + 1, None
            truth = sample.keypoints
            people.extend((image_id, truth[n], float(sample.areas[n]), sample.boxes[n].tolist())
                          for n in range(sample.num_people))
        else:  # CocoImages: whole images letterboxed into the input
            info = data.item_info(index)
            image_id, to_image = info.image_id, invert_matrix(info.matrix)
            truth = torch.stack([torch.as_tensor(p.keypoints, dtype=torch.float32)
                                 for p in data.annotations.people_in(image_id) if not p.iscrowd] or
                                [torch.zeros(COCO.num_joints, 3)])
        expected = _findable(truth)
        right += len(found) == expected
        error += abs(len(found) - expected)
        image_ids.append(image_id)
        for person in found:
            keypoints = to_coco_keypoints(person)
            if to_image is not None:
                keypoints[:, :2] = transform_points(to_image, keypoints[:, :2])
            detections.append(_detection(image_id, keypoints, person.score))
    ground_truth = (coco_ground_truth(people, image_ids) if isinstance(data, SyntheticScenes)
                    else data.annotations.ground_truth)
    return {"items": len(data), "people_count_accuracy": right / max(len(data), 1),
            "people_count_error": error / max(len(data), 1), **_ap(ground_truth, detections)}


@torch.no_grad()
def score_dense(model: nn.Module, data: Dataset, *, batch_size: int = 16,
                device: torch.device | str = "cpu") -> dict[str, Any]:
    """Part mIoU, pixel accuracy and (u, v) error of a dense split."""
    model.eval()
    meter = DensePoseMeter(model.num_parts)
    for start in range(0, len(data), batch_size):
        items = [data[i] for i in range(start, min(start + batch_size, len(data)))]
        images = torch.stack([image for image, _ in items]).to(device)
        meter.update(model(images).float().cpu(), *split_labels(torch.stack([labels for _, labels in items])))
    return {"items": len(data), **meter.compute()}


def score_split(mode: str, model: nn.Module, data: Dataset, skeleton: Skeleton, *, batch_size: int = 32,
                device: torch.device | str = "cpu") -> dict[str, Any]:
    """The scores of ``mode`` (:data:`~convzoo.tasks.pose.flags.MODES`) on ``data``."""
    if mode == "top_down":
        return score_top_down(model, data, skeleton, batch_size=batch_size, device=device)
    if mode == "bottom_up":
        return score_bottom_up(model, data, device=device)
    return score_dense(model, data, batch_size=batch_size, device=device)
