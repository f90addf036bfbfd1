"""The synthetic people: seeded, shaped as promised, visibility and dense labels agree with the drawing, COCO export."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from PIL import Image

from convzoo.data.pose.skeleton import COCO
from convzoo.data.pose.synthetic import BODY_PARTS, PoseSample, SyntheticPeople, write_coco
from convzoo.errors import ConvzooError

FIELDS = ("image", "keypoints", "boxes", "areas", "parts", "uv", "instances")
FACE = {"nose", "left_eye", "right_eye", "left_ear", "right_ear"}


def own_parts(joint: str) -> set[int]:
    """Written out independently of the generator: the part labels a keypoint shows on."""
    if joint in FACE:
        names = ["head"]
    else:
        side, kind = joint.split("_")
        names = {"shoulder": ["torso", "upper_arm"], "elbow": ["upper_arm", "lower_arm"], "wrist": ["lower_arm"],
                 "hip": ["torso", "upper_leg"], "knee": ["upper_leg", "lower_leg"], "ankle": ["lower_leg"]}[kind]
        names = [name if name == "torso" else f"{side}_{name}" for name in names]
    return {BODY_PARTS.index(name) + 1 for name in names}


def samples(count: int = 8, size: int = 96, people: tuple[int, int] = (1, 3), seed: int = 0) -> list[PoseSample]:
    dataset = SyntheticPeople(count, image_size=(size, size), people=people, seed=seed)
    return [dataset[index] for index in range(count)]


def test_items_depend_only_on_seed_and_index():
    dataset = SyntheticPeople(5, image_size=(64, 80), people=(1, 3), seed=7)
    later_first = dataset[4]
    item = dataset[2]
    again = SyntheticPeople(5, image_size=(64, 80), people=(1, 3), seed=7)[2]
    for name in FIELDS:
        assert torch.equal(getattr(item, name), getattr(again, name)), name
    assert torch.equal(dataset[4].image, later_first.image)  # any order
    assert torch.equal(dataset[-1].image, later_first.image)
    assert not torch.equal(SyntheticPeople(5, image_size=(64, 80), people=(1, 3), seed=8)[2].image, item.image)
    assert not torch.equal(dataset[3].image, item.image)
    with pytest.raises(IndexError):
        dataset[5]


def test_shapes_dtypes_and_ranges():
    sample = SyntheticPeople(1, image_size=(48, 64), people=(2, 2), seed=1)[0]
    count = sample.num_people
    assert sample.image.shape == (3, 48, 64) and sample.image.dtype == torch.float32
    assert 0.0 <= sample.image.min() and sample.image.max() <= 1.0
    assert sample.keypoints.shape == (count, 17, 3) and sample.keypoints.dtype == torch.float32
    assert sample.boxes.shape == (count, 4) and sample.areas.shape == (count,)
    assert sample.parts.shape == (48, 64) and sample.parts.dtype == torch.int64
    assert sample.instances.shape == (48, 64) and sample.instances.dtype == torch.int64
    assert sample.uv.shape == (2, 48, 64) and sample.uv.dtype == torch.float32
    assert len(BODY_PARTS) == 10 and BODY_PARTS[0] == "torso"


def test_visibility_agrees_with_the_drawn_maps():
    counts = {0: 0, 1: 0, 2: 0}
    for sample in samples(10, 96, (2, 3)):
        height, width = sample.parts.shape
        for person, keypoints in enumerate(sample.keypoints):
            for joint, (x, y, v) in enumerate(keypoints.tolist()):
                counts[int(v)] += 1
                if v == 0:
                    assert (x, y) == (0.0, 0.0)  # unlabelled, stored as COCO stores it
                    continue
                column, row = int(np.floor(x + 0.5)), int(np.floor(y + 0.5))
                assert 0 <= column < width and 0 <= row < height
                part, owner = int(sample.parts[row, column]), int(sample.instances[row, column])
                own = owner == person + 1 and part in own_parts(COCO.joints[joint])
                if v == 2:
                    assert own, (person, COCO.joints[joint])
                else:
                    assert part > 0 and owner > 0  # hidden under a part
                    assert not own or COCO.joints[joint] in FACE  # a face point behind its own head
    assert min(counts.values()) > 0


def test_face_points_have_a_side():
    """Both eyes seen: the person faces the camera, and its left eye is on the image's right."""
    seen = 0
    for sample in samples(16, 64, (1, 2), seed=3):
        for keypoints in sample.keypoints:
            left, right = keypoints[COCO.joints.index("left_eye")], keypoints[COCO.joints.index("right_eye")]
            if left[2] == 2 and right[2] == 2:
                seen += 1
                assert left[0] > right[0]
    assert seen >= 3


def test_dense_labels_cover_exactly_the_bodies():
    for sample in samples(6, 64, (1, 3), seed=2):
        body = sample.instances > 0
        assert torch.equal(sample.parts > 0, body)
        assert int(sample.parts.max()) <= len(BODY_PARTS) and int(sample.instances.max()) == sample.num_people
        assert (sample.uv[:, ~body] == 0).all()
        assert 0.0 <= sample.uv.min() and sample.uv.max() <= 1.0
        assert sample.uv[:, body].std(dim=1).min() > 0.1  # u and v vary over the bodies
        for person in range(sample.num_people):
            mask = sample.instances == person + 1
            assert sample.areas[person] == mask.sum()
            rows, columns = mask.nonzero(as_tuple=True)
            x, y, w, h = sample.boxes[person].tolist()
            assert (x, y) == (columns.min() - 0.5, rows.min() - 0.5)
            assert (w, h) == (columns.max() - columns.min() + 1, rows.max() - rows.min() + 1)


def test_several_people_when_asked():
    people = [sample.num_people for sample in samples(6, 96, (3, 3), seed=4)]
    assert max(people) == 3 and sum(count == 3 for count in people) >= 5  # a person hidden entirely is dropped
    assert all(sample.num_people == 1 for sample in samples(3, 64, (1, 1), seed=4))


@pytest.mark.parametrize("arguments, message", [
    ({"count": -1}, "count"),
    ({"count": 2, "image_size": (16, 64)}, "image_size"),
    ({"count": 2, "image_size": 64}, "image_size"),
    ({"count": 2, "people": (3, 1)}, "people"),
    ({"count": 2, "people": (0, 0)}, "people"),
    ({"count": 2, "people": (1, 99)}, "people"),
    ({"count": 2, "seed": -3}, "seed"),
])
def test_bad_arguments_are_one_line_errors(arguments, message):
    with pytest.raises(ConvzooError, match=message) as error:
        SyntheticPeople(**arguments)
    assert "\n" not in str(error.value)


def decode_run_lengths(segmentation: dict) -> np.ndarray:
    height, width = segmentation["size"]
    values = np.arange(len(segmentation["counts"])) % 2
    return np.repeat(values, segmentation["counts"]).astype(bool).reshape(width, height).T


def test_write_coco_round_trip(tmp_path):
    dataset = SyntheticPeople(4, image_size=(64, 72), people=(1, 3), seed=5)
    path = write_coco(dataset, tmp_path, indices=[0, 2, 3])
    content = json.loads(path.read_text())
    assert path == tmp_path / "person_keypoints.json"
    assert {"images", "annotations", "categories"} <= content.keys()
    category = content["categories"][0]
    assert category["name"] == "person" and category["keypoints"] == list(COCO.joints)
    assert category["skeleton"] == [[a + 1, b + 1] for a, b in COCO.limbs]
    assert [image["id"] for image in content["images"]] == [1, 3, 4]
    for record in content["images"]:
        sample = dataset[record["id"] - 1]
        pixels = np.asarray(Image.open(tmp_path / "images" / record["file_name"]).convert("RGB"))
        assert (record["height"], record["width"]) == pixels.shape[:2] == (64, 72)
        expected = (sample.image.permute(1, 2, 0).numpy() * 255).round()
        assert np.array_equal(pixels, expected)
        annotations = [a for a in content["annotations"] if a["image_id"] == record["id"]]
        assert len(annotations) == sample.num_people
        for person, annotation in enumerate(annotations):
            keypoints = torch.tensor(annotation["keypoints"], dtype=torch.float32).view(17, 3)
            assert torch.equal(keypoints, sample.keypoints[person])
            assert all(isinstance(value, int) for value in annotation["keypoints"][2::3])
            assert annotation["num_keypoints"] == int((sample.keypoints[person, :, 2] > 0).sum())
            assert annotation["bbox"] == sample.boxes[person].tolist() and annotation["area"] == sample.areas[person]
            assert annotation["iscrowd"] == 0 and annotation["category_id"] == 1
            mask = decode_run_lengths(annotation["segmentation"])
            assert np.array_equal(mask, (sample.instances == person + 1).numpy())
    assert len({a["id"] for a in content["annotations"]}) == len(content["annotations"])
    with pytest.raises(ConvzooError, match="index 9"):
        write_coco(dataset, tmp_path, indices=[9])


def test_pycocotools_reads_and_scores_the_export(tmp_path):
    """COCO's own reader takes the file, and its keypoint evaluation scores the ground truth as perfect."""
    import contextlib
    import io

    pytest.importorskip("pycocotools")
    from pycocotools.coco import COCO as CocoApi
    from pycocotools.cocoeval import COCOeval

    path = write_coco(SyntheticPeople(3, image_size=(96, 96), people=(1, 3), seed=6), tmp_path)
    with contextlib.redirect_stdout(io.StringIO()):
        ground_truth = CocoApi(str(path))
        detections = [{"image_id": a["image_id"], "category_id": 1, "keypoints": a["keypoints"], "score": 1.0}
                      for a in ground_truth.dataset["annotations"] if a["num_keypoints"] > 0]
        evaluation = COCOeval(ground_truth, ground_truth.loadRes(detections), iouType="keypoints")
        evaluation.evaluate()
        evaluation.accumulate()
        evaluation.summarize()
    assert evaluation.stats[0] == pytest.approx(1.0)
