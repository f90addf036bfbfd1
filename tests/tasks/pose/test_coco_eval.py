"""COCO keypoint AP/AR: all ten numbers equal pycocotools' COCOeval on seeded random scenes; clear errors."""

from __future__ import annotations

import contextlib
import copy
import io

import numpy as np
import pytest

from convzoo.errors import ConvzooError
from convzoo.tasks.pose.coco_eval import coco_keypoint_eval

SIDES = (20.0, 45.0, 80.0, 130.0, 220.0)  # object sizes whose areas fall in every range (small, medium, large)


def _person(rng: np.random.Generator, image_id: int, annotation_id: int, labelled: bool = True) -> dict:
    """A random person: a box, keypoints inside it, ~20% unlabelled (x = y = v = 0), area below the box's."""
    side = rng.choice(SIDES) * rng.uniform(0.8, 1.2)
    width, height = side * rng.uniform(0.6, 1.0), side
    x, y = rng.uniform(0, 400), rng.uniform(0, 300)
    visibility = rng.choice([0, 1, 2], size=17, p=[0.2, 0.3, 0.5]) if labelled else np.zeros(17, dtype=int)
    points = np.stack([x + rng.uniform(0, width, 17), y + rng.uniform(0, height, 17), visibility], 1)
    points[visibility == 0] = 0
    return {"id": annotation_id, "image_id": image_id, "category_id": 1, "iscrowd": 0,
            "keypoints": points.reshape(-1).tolist(), "num_keypoints": int((visibility > 0).sum()),
            "bbox": [x, y, width, height], "area": width * height * rng.uniform(0.5, 0.9)}


def _detection(rng: np.random.Generator, person: dict, score: float) -> dict:
    """A jittered copy of ``person`` (unlabelled joints guessed inside its box)."""
    x, y, width, height = person["bbox"]
    points = np.asarray(person["keypoints"], dtype=float).reshape(17, 3)
    guessed = points[:, 2] == 0
    points[guessed, 0] = x + rng.uniform(0, width, guessed.sum())
    points[guessed, 1] = y + rng.uniform(0, height, guessed.sum())
    points[:, :2] += rng.normal(0, rng.uniform(0.01, 0.12) * np.sqrt(person["area"]), (17, 2))
    points[:, 2] = 1
    return {"image_id": person["image_id"], "category_id": person["category_id"],
            "keypoints": points.reshape(-1).tolist(), "score": score}


def _scene(seed: int, two_categories: bool = False, tied_scores: bool = False) -> tuple[dict, list]:
    """Six images of people (one with 25 detections, one with a crowd region) and a seventh with none."""
    rng = np.random.default_rng(seed)
    people, detections = [], []
    for image_id in range(1, 7):
        for _ in range(rng.integers(1, 5)):
            people.append(_person(rng, image_id, len(people) + 1, labelled=rng.uniform() > 0.1))
    people.append(_person(rng, 1, len(people) + 1, labelled=False))  # a person with no keypoints
    crowd = _person(rng, 2, len(people) + 1, labelled=False)
    crowd.update(iscrowd=1, bbox=[50.0, 50.0, 300.0, 200.0], area=40000.0)
    people.append(crowd)
    if two_categories:
        for person in people[::3]:
            person["category_id"] = 2
    score = (lambda: float(rng.integers(1, 5)) / 4) if tied_scores else (lambda: float(rng.uniform()))
    for person in people:
        for _ in range(rng.choice([0, 1, 1, 1, 2])):  # missed, found, found twice
            detections.append(_detection(rng, person, score()))
    for _ in range(4):  # false positives, one in the crowd region
        detections.append(_detection(rng, _person(rng, int(rng.integers(1, 8)), 0), score()))
    detections.append(_detection(rng, {**crowd, "keypoints": [0.0] * 51}, score()))
    crowded = [person for person in people if person["image_id"] == 3]
    for _ in range(25):  # more than 20 in one image
        detections.append(_detection(rng, crowded[int(rng.integers(len(crowded)))], score()))
    categories = [{"id": 1, "name": "person"}] + ([{"id": 2, "name": "other"}] if two_categories else [])
    images = [{"id": image_id, "width": 640, "height": 480} for image_id in range(1, 8)]
    return {"images": images, "annotations": people, "categories": categories}, detections


def _pycocotools_stats(ground_truth: dict, detections: list) -> list[float]:
    coco = pytest.importorskip("pycocotools.coco")
    cocoeval = pytest.importorskip("pycocotools.cocoeval")
    with contextlib.redirect_stdout(io.StringIO()):
        truth = coco.COCO()
        truth.dataset = copy.deepcopy(ground_truth)
        truth.createIndex()
        evaluation = cocoeval.COCOeval(truth, truth.loadRes(copy.deepcopy(detections)), iouType="keypoints")
        evaluation.evaluate()
        evaluation.accumulate()
        evaluation.summarize()
    return evaluation.stats.tolist()


@pytest.mark.parametrize("seed, two_categories, tied_scores", [
    (0, False, False), (1, False, False), (2, False, True), (3, True, False),
])
def test_equals_pycocotools(seed, two_categories, tied_scores):
    ground_truth, detections = _scene(seed, two_categories, tied_scores)
    expected = _pycocotools_stats(ground_truth, detections)
    result = coco_keypoint_eval(ground_truth, detections)
    assert list(result) == ["AP", "AP50", "AP75", "APm", "APl", "AR", "AR50", "AR75", "ARm", "ARl"]
    np.testing.assert_allclose(list(result.values()), expected, rtol=0, atol=1e-9)
    assert 0.05 < result["AP"] < 0.95 and result["AP50"] > result["AP75"]  # a scene that tells scores apart


def test_perfect_detections_score_one_and_no_detections_zero():
    ground_truth, _ = _scene(4)
    counted = [person for person in ground_truth["annotations"] if person["num_keypoints"] and not person["iscrowd"]]
    perfect = [{"image_id": p["image_id"], "category_id": 1, "keypoints": p["keypoints"], "score": 1.0}
               for p in counted]
    scores = coco_keypoint_eval(ground_truth, perfect)
    assert scores["AP"] == pytest.approx(1.0) and scores["AR"] == pytest.approx(1.0)
    assert coco_keypoint_eval(ground_truth, []) == pytest.approx({name: 0.0 for name in scores})


def _bad(change) -> dict:
    ground_truth, _ = _scene(5)
    change(ground_truth)
    return ground_truth


@pytest.mark.parametrize("change, message", [
    (lambda gt: gt.pop("categories"), "lacks the key.s. categories"),
    (lambda gt: gt["annotations"][0].pop("keypoints"), "annotation 0 .id 1. lacks the key.s. keypoints"),
    (lambda gt: gt["annotations"][1].update(keypoints=[0.0] * 50), "has 50 keypoint numbers; expected 51"),
    (lambda gt: gt["annotations"][0].update(keypoints=[1.0, 1.0, 3.0] * 17), r"visibility flags \[3.0\]"),
    (lambda gt: gt["annotations"][0].update(image_id=99), "image 99, which the ground truth's images do not list"),
])
def test_rejects_ground_truth_not_in_coco_layout(change, message):
    with pytest.raises(ConvzooError, match=message):
        coco_keypoint_eval(_bad(change), [])


def test_rejects_bad_detections():
    ground_truth, detections = _scene(6)
    with pytest.raises(ConvzooError, match="detection 0 lacks the key.s. score"):
        coco_keypoint_eval(ground_truth, [{k: v for k, v in detections[0].items() if k != "score"}])
    with pytest.raises(ConvzooError, match="detection 0 is of image 42"):
        coco_keypoint_eval(ground_truth, [{**detections[0], "image_id": 42}])
    with pytest.raises(ConvzooError, match="detection 0 has 3 keypoint numbers"):
        coco_keypoint_eval(ground_truth, [{**detections[0], "keypoints": [1, 2, 3]}])
