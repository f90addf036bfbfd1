"""COCO keypoint AP and AR: the protocol of COCO's keypoint challenge, computed by convzoo.

Paper: Microsoft COCO: Common Objects in Context (Lin et al., ECCV 2014)
https://arxiv.org/abs/1405.0312, keypoint evaluation: https://cocodataset.org/#keypoints-eval

A pose detector is scored like an object detector, with the object keypoint similarity
(:func:`convzoo.tasks.pose.oks.oks`) in place of box IoU. Per image and category:

1. detections are sorted by score (ties keep their order) and the best 20 kept;
2. at each OKS threshold ``t`` in 0.50, 0.55, ..., 0.95, each detection in turn takes the
   free true pose of highest OKS ``>= t`` (ties: the later one), preferring poses that
   count over ignored ones; a crowd region is never used up, so it absorbs any number of
   detections;
3. a true pose is ignored if it is a crowd region (``iscrowd=1``), has no labelled
   keypoint (``num_keypoints == 0``) or has an area outside the range scored; a detection
   matched to an ignored pose, or unmatched with an area (the extent of its keypoints)
   outside the range, is ignored too: it is neither a true nor a false positive.

Over all images, detections are ranked by score; the precision at recall ``r`` is the best
precision at any recall ``>= r``, read at the 101 recalls 0, 0.01, ..., 1; AP is its mean
over the recall points and thresholds; AR is the recall reached with all (at most 20 per
image) detections, averaged over the thresholds. Both are averaged over the categories;
the area ranges are all, medium (32^2 to 96^2 pixels) and large (over 96^2). A score that
nothing defines (no true pose that counts in that range) is -1, as cocoapi reports it.

The numbers equal cocoapi's ``COCOeval(gt, dt, iouType="keypoints")`` ``stats`` (the test
compares all ten).

Deviations from cocoapi: bad input raises :class:`ConvzooError` instead of being dropped or
failing later (detections of an image or category the ground truth does not have,
annotations of an image not listed); ``iscrowd`` defaults to 0 and ``num_keypoints`` to the
count of labelled keypoints when an annotation lacks them; a true pose with ``id`` 0 counts
like any other (cocoapi takes a match to it for no match).
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from typing import Any, Mapping, Sequence

import numpy as np
import torch

from convzoo.data.pose.skeleton import COCO
from convzoo.errors import ConvzooError
from convzoo.tasks.pose.oks import oks

__all__ = ["AREA_RANGES", "MAX_DETECTIONS", "OKS_THRESHOLDS", "RECALL_POINTS", "coco_keypoint_eval"]

# The same float64 values cocoapi builds with np.linspace (AP50 and AP75 look them up by equality).
OKS_THRESHOLDS = np.linspace(0.5, 0.95, 10)
RECALL_POINTS = np.linspace(0.0, 1.0, 101)
AREA_RANGES = {"all": (0.0, 1e10), "medium": (32.0**2, 96.0**2), "large": (96.0**2, 1e10)}
MAX_DETECTIONS = 20
_EPSILON = np.spacing(1)


@dataclass
class _Truth:
    """The true poses of one image and category, in file order."""

    keypoints: np.ndarray  # (G, J, 3)
    area: np.ndarray  # (G,)
    boxes: np.ndarray  # (G, 4)
    crowd: np.ndarray  # (G,) bool
    ignored: np.ndarray  # (G,) bool: crowd or no labelled keypoint, never counted in any area range


@dataclass
class _Found:
    """The detections of one image and category, best score first."""

    keypoints: np.ndarray  # (D, J, 3)
    area: np.ndarray  # (D,) the area of the keypoints' bounding box
    scores: np.ndarray  # (D,)


@dataclass
class _ImageResult:
    """One image's detections at every threshold, in score order, and its count of true poses that count."""

    scores: np.ndarray  # (D,)
    matched: np.ndarray  # (T, D)
    ignored: np.ndarray  # (T, D)
    positives: int


def _require(record: Any, keys: Sequence[str], what: str) -> None:
    if not isinstance(record, Mapping):
        raise ConvzooError(f"{what} must be a dict, got {type(record).__name__}")
    missing = [key for key in keys if key not in record]
    if missing:
        raise ConvzooError(f"{what} lacks the key(s) {', '.join(missing)} of COCO's keypoint layout")


def _keypoints(values: Any, joints: int, what: str, check_visibility: bool) -> np.ndarray:
    """A flat list of ``3 J`` numbers as a ``(J, 3)`` float64 array, checked."""
    flat = np.asarray(values, dtype=np.float64).reshape(-1)
    if flat.size != 3 * joints:
        raise ConvzooError(f"{what} has {flat.size} keypoint numbers; expected {3 * joints} (x, y, v for {joints} "
                           f"keypoints)")
    if not np.isfinite(flat).all():
        raise ConvzooError(f"{what} has keypoints that are not finite numbers")
    points = flat.reshape(joints, 3)
    if check_visibility and not np.isin(points[:, 2], (0, 1, 2)).all():
        raise ConvzooError(f"{what} has visibility flags {sorted(set(points[:, 2].tolist()))}; expected 0, 1 or 2")
    return points


def _annotation(record: Any, index: int, image_ids: set, category_ids: set,
                joints: int) -> tuple[np.ndarray, float, np.ndarray, bool, bool]:
    """One checked annotation: keypoints ``(J, 3)``, area, box, whether a crowd region, whether ignored."""
    what = f"annotation {index} (id {record.get('id')})" if isinstance(record, Mapping) else f"annotation {index}"
    _require(record, ("image_id", "category_id", "keypoints", "area"), what)
    _check_known(record, image_ids, category_ids, what)
    points = _keypoints(record["keypoints"], joints, what, check_visibility=True)
    labelled = int((points[:, 2] > 0).sum())
    if labelled == 0:
        _require(record, ("bbox",), f"{what}, which has no labelled keypoint,")
    box = np.asarray(record.get("bbox", (0.0, 0.0, 0.0, 0.0)), dtype=np.float64).reshape(-1)
    if box.size != 4:
        raise ConvzooError(f"{what} has a bbox of {box.size} numbers; expected 4 (x, y, width, height)")
    crowd = bool(record.get("iscrowd", 0))
    return points, float(record["area"]), box, crowd, crowd or record.get("num_keypoints", labelled) == 0


def _ground_truth(ground_truth: Any, joints: int) -> tuple[list[Any], list[Any], dict[tuple, _Truth]]:
    """Sorted image and category ids and the true poses of each (image, category)."""
    _require(ground_truth, ("images", "annotations", "categories"), "the ground truth")
    for record in ground_truth["images"]:
        _require(record, ("id",), "an image record")
    for record in ground_truth["categories"]:
        _require(record, ("id",), "a category record")
    image_ids = sorted({record["id"] for record in ground_truth["images"]})
    category_ids = sorted({record["id"] for record in ground_truth["categories"]})
    grouped: dict[tuple, list] = defaultdict(list)
    for index, record in enumerate(ground_truth["annotations"]):
        parsed = _annotation(record, index, set(image_ids), set(category_ids), joints)
        grouped[record["image_id"], record["category_id"]].append(parsed)
    truths = {}
    for key, rows in grouped.items():
        points, area, boxes, crowd, ignored = zip(*rows)
        truths[key] = _Truth(keypoints=np.stack(points), area=np.array(area), boxes=np.stack(boxes),
                             crowd=np.array(crowd), ignored=np.array(ignored))
    return image_ids, category_ids, truths


def _check_known(record: Mapping, image_ids: set, category_ids: set, what: str) -> None:
    if record["image_id"] not in image_ids:
        raise ConvzooError(f"{what} is of image {record['image_id']!r}, which the ground truth's images do not list")
    if record["category_id"] not in category_ids:
        raise ConvzooError(f"{what} is of category {record['category_id']!r}, which the ground truth's categories "
                           f"do not list")


def _detections(detections: Any, image_ids: set, category_ids: set, joints: int) -> dict[tuple, _Found]:
    """The detections of each (image, category), sorted by score (stable) and cut to :data:`MAX_DETECTIONS`."""
    if not isinstance(detections, Sequence):
        raise ConvzooError(f"detections must be a list of dicts, got {type(detections).__name__}")
    grouped: dict[tuple, list] = defaultdict(list)
    for index, record in enumerate(detections):
        what = f"detection {index}"
        _require(record, ("image_id", "category_id", "keypoints", "score"), what)
        _check_known(record, image_ids, category_ids, what)
        score = float(record["score"])
        if not np.isfinite(score):
            raise ConvzooError(f"{what} has score {score}; expected a finite number")
        points = _keypoints(record["keypoints"], joints, what, check_visibility=False)
        grouped[record["image_id"], record["category_id"]].append((points, score))
    found = {}
    for key, rows in grouped.items():
        scores = np.array([row[1] for row in rows])
        keep = np.argsort(-scores, kind="mergesort")[:MAX_DETECTIONS]
        points = np.stack([rows[i][0] for i in keep])  # (D, J, 3)
        extent = points[..., :2].max(1) - points[..., :2].min(1)  # (D, 2): the keypoints' box, as cocoapi's loadRes
        found[key] = _Found(keypoints=points, area=extent[:, 0] * extent[:, 1], scores=scores[keep])
    return found


def _last_best(similarity: np.ndarray, allowed: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per row, the last column of highest similarity among the allowed ones, and whether there is one."""
    masked = np.where(allowed, similarity, -np.inf)[:, ::-1]
    return masked.shape[1] - 1 - masked.argmax(1), allowed.any(1)


def _match(similarity: np.ndarray, ignored: np.ndarray, crowd: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Greedy matching at every threshold: per detection ``(T, D)`` whether matched and whether to an ignored pose.

    ``similarity`` is ``(D, G)`` with the detections in score order.
    """
    thresholds = OKS_THRESHOLDS[:, None]  # (T, 1)
    taken = np.zeros((len(OKS_THRESHOLDS), similarity.shape[1]), dtype=bool)  # (T, G)
    matched = np.zeros((len(OKS_THRESHOLDS), similarity.shape[0]), dtype=bool)  # (T, D)
    to_ignored = np.zeros_like(matched)
    rows = np.arange(len(OKS_THRESHOLDS))
    for detection, row in enumerate(similarity):
        candidates = ((~taken) | crowd) & (row >= thresholds)  # (T, G)
        best_counted, has_counted = _last_best(np.broadcast_to(row, taken.shape), candidates & ~ignored)
        best_ignored, has_ignored = _last_best(np.broadcast_to(row, taken.shape), candidates & ignored)
        best = np.where(has_counted, best_counted, best_ignored)
        hit = has_counted | has_ignored
        matched[:, detection] = hit
        to_ignored[:, detection] = hit & ignored[best]
        taken[rows[hit], best[hit]] = True
    return matched, to_ignored


def _outside(area: np.ndarray, area_range: tuple[float, float]) -> np.ndarray:
    return (area < area_range[0]) | (area > area_range[1])


def _evaluate_image(truth: _Truth | None, found: _Found | None, similarity: np.ndarray,
                    area_range: tuple[float, float]) -> _ImageResult:
    """One image and category in one area range (see the module docstring)."""
    thresholds = len(OKS_THRESHOLDS)
    if found is None:
        empty = np.zeros((thresholds, 0), dtype=bool)
        return _ImageResult(np.zeros(0), empty, empty, int((~(truth.ignored | _outside(truth.area, area_range))).sum()))
    if truth is None:
        matched = np.zeros((thresholds, len(found.scores)), dtype=bool)
        ignored = np.broadcast_to(_outside(found.area, area_range), matched.shape)
        return _ImageResult(found.scores, matched, ignored, 0)
    ignored_truth = truth.ignored | _outside(truth.area, area_range)
    order = np.argsort(ignored_truth, kind="mergesort")  # poses that count first, as cocoapi orders them
    matched, to_ignored = _match(similarity[:, order], ignored_truth[order], truth.crowd[order])
    ignored = to_ignored | (~matched & _outside(found.area, area_range)[None])
    return _ImageResult(found.scores, matched, ignored, int((~ignored_truth).sum()))


def _precision_and_recall(results: list[_ImageResult]) -> tuple[np.ndarray, np.ndarray]:
    """``(T, R)`` interpolated precision and ``(T,)`` recall over the images of one category and area range."""
    thresholds = len(OKS_THRESHOLDS)
    positives = sum(result.positives for result in results)
    if not results or positives == 0:
        return -np.ones((thresholds, len(RECALL_POINTS))), -np.ones(thresholds)
    scores = np.concatenate([result.scores for result in results])
    if scores.size == 0:
        return np.zeros((thresholds, len(RECALL_POINTS))), np.zeros(thresholds)
    order = np.argsort(-scores, kind="mergesort")
    matched = np.concatenate([result.matched for result in results], axis=1)[:, order]  # (T, N)
    ignored = np.concatenate([result.ignored for result in results], axis=1)[:, order]
    true_positives = np.cumsum(matched & ~ignored, axis=1, dtype=np.float64)
    false_positives = np.cumsum(~matched & ~ignored, axis=1, dtype=np.float64)
    recall = true_positives / positives
    precision = true_positives / (true_positives + false_positives + _EPSILON)
    envelope = np.maximum.accumulate(precision[:, ::-1], axis=1)[:, ::-1]  # best precision at any higher recall
    interpolated = np.zeros((thresholds, len(RECALL_POINTS)))
    for t in range(thresholds):
        at = np.searchsorted(recall[t], RECALL_POINTS, side="left")
        reached = at < scores.size
        interpolated[t, reached] = envelope[t, at[reached]]
    return interpolated, recall[:, -1]


def _mean_defined(values: np.ndarray) -> float:
    defined = values[values > -1]
    return float(defined.mean()) if defined.size else -1.0


def _similarity(truth: _Truth | None, found: _Found | None, sigmas: Sequence[float]) -> np.ndarray:
    """``(D, G)`` OKS of an image's detections (in score order) with its true poses; empty if either is missing."""
    if truth is None or found is None:
        return np.zeros((0, 0))
    return oks(torch.from_numpy(truth.keypoints), torch.from_numpy(found.keypoints), torch.from_numpy(truth.area),
               sigmas=sigmas, boxes=torch.from_numpy(truth.boxes)).numpy()


_SUMMARY = {  # name: (AP or AR, OKS threshold or None for the mean over all, area range)
    "AP": ("precision", None, "all"), "AP50": ("precision", 0.5, "all"), "AP75": ("precision", 0.75, "all"),
    "APm": ("precision", None, "medium"), "APl": ("precision", None, "large"),
    "AR": ("recall", None, "all"), "AR50": ("recall", 0.5, "all"), "AR75": ("recall", 0.75, "all"),
    "ARm": ("recall", None, "medium"), "ARl": ("recall", None, "large"),
}


def _summary(precision: np.ndarray, recall: np.ndarray) -> dict[str, float]:
    """The ten numbers of COCO's keypoint table: means over the defined entries of each slice."""
    tables = {"precision": precision, "recall": recall}
    areas = list(AREA_RANGES)
    summary = {}
    for name, (kind, threshold, area) in _SUMMARY.items():
        table = tables[kind][..., areas.index(area)]
        if threshold is not None:
            table = table[OKS_THRESHOLDS == threshold]
        summary[name] = _mean_defined(table)
    return summary


def coco_keypoint_eval(ground_truth: Mapping[str, Any], detections: Sequence[Mapping[str, Any]],
                       sigmas: Sequence[float] = COCO.sigmas) -> dict[str, float]:
    """COCO's keypoint AP and AR of ``detections`` against ``ground_truth``.

    Args:
        ground_truth: a COCO keypoint annotation dict: ``images`` (each with ``id``), ``categories``
            (each with ``id``) and ``annotations``, each with ``image_id``, ``category_id``,
            ``keypoints`` (a flat list ``x1, y1, v1, ...`` of ``3 J`` numbers, ``v`` in 0, 1, 2),
            ``area``, ``bbox`` (``x, y, width, height``; needed where no keypoint is labelled),
            ``iscrowd`` (default 0) and ``num_keypoints`` (default: the labelled keypoints).
        detections: dicts with ``image_id``, ``category_id``, ``keypoints`` (``3 J`` numbers; the
            third of each triple is not read) and ``score``, as in a COCO results file.
        sigmas: the ``J`` per-keypoint OKS constants (COCO's 17 by default).

    Returns:
        ``AP`` (mean over OKS 0.50:0.95), ``AP50``, ``AP75``, ``APm``, ``APl``, ``AR``, ``AR50``,
        ``AR75``, ``ARm``, ``ARl`` in ``[0, 1]``, each -1 where no true pose counts.
    """
    joints = len(sigmas)
    image_ids, category_ids, truths = _ground_truth(ground_truth, joints)
    found = _detections(detections, set(image_ids), set(category_ids), joints)
    precision = -np.ones((len(OKS_THRESHOLDS), len(RECALL_POINTS), len(category_ids), len(AREA_RANGES)))
    recall = -np.ones((len(OKS_THRESHOLDS), len(category_ids), len(AREA_RANGES)))
    for k, category in enumerate(category_ids):
        pairs = [(truths.get((image, category)), found.get((image, category))) for image in image_ids]
        pairs = [(truth, dets) for truth, dets in pairs if truth is not None or dets is not None]
        similarities = [_similarity(truth, dets, sigmas) for truth, dets in pairs]
        for a, area_range in enumerate(AREA_RANGES.values()):
            results = [_evaluate_image(truth, dets, similarity, area_range)
                       for (truth, dets), similarity in zip(pairs, similarities)]
            precision[:, :, k, a], recall[:, k, a] = _precision_and_recall(results)
    return _summary(precision, recall)
