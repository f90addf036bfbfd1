"""COCO keypoint annotations read from a small person_keypoints file and PNG images the test writes."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from convzoo.data.pose.coco import CocoImages, CocoTopDown, read_coco_keypoints
from convzoo.data.pose.skeleton import COCO
from convzoo.data.pose.transforms import box_to_center_size, crop_matrix, invert_matrix, transform_points
from convzoo.errors import ConvzooError

INPUT_SIZE = (32, 24)  # (H, W)
NOSE = (20.0, 14.0)  # image 1's annotated person: the nose is the only bright pixel of its image


def keypoints(offset: float, visibility: int = 2) -> list[float]:
    """17 (x, y, v) triples: joints on a diagonal inside the box, left/right pairs apart in x; the last unlabelled."""
    values = []
    for joint in range(17):
        x = offset + 4 * (joint % 5) + (2 if joint in {right for _, right in COCO.flip_pairs} else 0)
        values += [x, offset + 2 * joint, visibility] if joint < 16 else [0, 0, 0]
    values[:3] = [*NOSE, 1] if offset == 10 else values[:3]
    return values


def coco_file(tmp_path: Path) -> dict:
    return {
        "images": [
            {"id": 1, "file_name": "one.png", "width": 48, "height": 64},
            {"id": 2, "file_name": "two.png", "width": 60, "height": 40},
            {"id": 3, "file_name": "empty.png", "width": 20, "height": 20},
        ],
        "annotations": [
            {"id": 10, "image_id": 1, "bbox": [8.0, 8.0, 30.0, 50.0], "keypoints": keypoints(10), "num_keypoints": 16,
             "area": 1200.0, "iscrowd": 0, "category_id": 1},
            {"id": 11, "image_id": 1, "bbox": [0.0, 0.0, 10.0, 12.0], "keypoints": [0] * 51, "num_keypoints": 0,
             "area": 100.0, "iscrowd": 1, "category_id": 1},
            {"id": 20, "image_id": 2, "bbox": [4.0, 2.0, 40.0, 34.0], "keypoints": keypoints(6, 1),
             "num_keypoints": 16, "area": 900.0, "iscrowd": 0, "category_id": 1},
            {"id": 21, "image_id": 2, "bbox": [44.0, 4.0, 12.0, 20.0], "keypoints": [0] * 51, "num_keypoints": 0,
             "area": 200.0, "iscrowd": 0, "category_id": 1},
        ],
        "categories": [{"id": 1, "name": "person", "keypoints": list(COCO.joints), "skeleton": []}],
    }


def write_coco(tmp_path: Path, data: dict | None = None) -> tuple[Path, Path]:
    images = tmp_path / "images"
    images.mkdir(exist_ok=True)
    one = np.zeros((64, 48, 3), dtype=np.uint8)
    one[int(NOSE[1]), int(NOSE[0])] = 255
    Image.fromarray(one).save(images / "one.png")
    Image.fromarray(np.full((40, 60, 3), 90, dtype=np.uint8)).save(images / "two.png")
    Image.fromarray(np.zeros((20, 20, 3), dtype=np.uint8)).save(images / "empty.png")
    path = tmp_path / "person_keypoints_val.json"
    path.write_text(json.dumps(data if data is not None else coco_file(tmp_path)))
    return path, images


def test_reads_images_and_people(tmp_path):
    path, _ = write_coco(tmp_path)
    annotations = read_coco_keypoints(path)
    assert sorted(annotations.images) == [1, 2, 3] and annotations.images[2].file_name == "two.png"
    assert [person.id for person in annotations.people] == [10, 11, 20, 21]
    person = annotations.people[0]
    assert person.keypoints.shape == (17, 3) and person.keypoints.dtype == np.float32
    assert tuple(person.keypoints[0]) == (*NOSE, 1.0) and person.box == (8.0, 8.0, 30.0, 50.0)
    assert annotations.people[1].iscrowd and [p.id for p in annotations.people_in(2)] == [20, 21]


def test_top_down_items_are_the_labelled_people_cropped_around_their_boxes(tmp_path):
    path, images = write_coco(tmp_path)
    data = CocoTopDown(path, images, input_size=INPUT_SIZE, train=False)
    assert len(data) == 2  # the crowd and the person without keypoints are left out
    image, crop_keypoints = data[1]
    assert image.shape == (3, 32, 24) and image.dtype == torch.float32
    assert torch.allclose(image[:, 16, 12], image[:, 16, 12].new_tensor([-0.485 / 0.229, -0.456 / 0.224, -0.406 / 0.225])
                          + 90 / 255 / torch.tensor([0.229, 0.224, 0.225]), atol=1e-5)
    center, size = box_to_center_size((4.0, 2.0, 40.0, 34.0), 24 / 32)
    original = torch.tensor(keypoints(6, 1)).view(17, 3)
    expected = transform_points(crop_matrix(center, size, (24, 32)), original[:16, :2].double().numpy())
    np.testing.assert_allclose(crop_keypoints[:16, :2].numpy(), expected, atol=1e-4)
    assert crop_keypoints[:, 2].tolist() == [1.0] * 16 + [0.0] and crop_keypoints[16, :2].tolist() == [0.0, 0.0]
    info = data.item_info(1)
    assert (info.image_id, info.annotation_id, info.area, info.flipped) == (2, 20, 900.0, False)


def test_target_fn_builds_the_target(tmp_path):
    path, images = write_coco(tmp_path)
    data = CocoTopDown(path, images, input_size=INPUT_SIZE, train=False, target_fn=lambda k: k[:, 2].sum())
    assert float(data[0][1]) == 1 + 15 * 2


def flipped_and_plain(data: CocoTopDown, index: int) -> tuple[int, int]:
    epochs = {}
    for epoch in range(20):
        data.set_epoch(epoch)
        epochs.setdefault(data.item_info(index).flipped, epoch)
    return epochs[True], epochs[False]


def test_flip_mirrors_the_crop_and_swaps_left_and_right(tmp_path):
    path, images = write_coco(tmp_path)
    data = CocoTopDown(path, images, input_size=INPUT_SIZE, scale_jitter=0.0, rotation=0.0)
    flipped_epoch, plain_epoch = flipped_and_plain(data, 0)
    data.set_epoch(flipped_epoch)
    flipped_image, flipped = data[0]
    data.set_epoch(plain_epoch)
    plain_image, plain = data[0]
    torch.testing.assert_close(flipped_image, plain_image.flip(-1), atol=1e-4, rtol=0)
    swapped = flipped[COCO.flip_permutation()]  # back in COCO's order
    labelled = plain[:, 2] > 0
    torch.testing.assert_close(swapped[labelled, 0], 23 - plain[labelled, 0])
    torch.testing.assert_close(swapped[:, 1:], plain[:, 1:])
    torch.testing.assert_close(flipped[5, 0], 23 - plain[6, 0])  # the mirrored right shoulder is the new left one


def test_augmentation_is_seeded_by_seed_epoch_and_index(tmp_path):
    path, images = write_coco(tmp_path)
    first, second = (CocoTopDown(path, images, input_size=INPUT_SIZE, seed=3) for _ in range(2))
    later = second[1]  # drawn in another order
    for index in (0, 1):
        torch.testing.assert_close(first[index], second[index])
    torch.testing.assert_close(first[1], later)
    matrices = {}
    for seed, epoch in ((3, 0), (3, 1), (4, 0)):
        data = CocoTopDown(path, images, input_size=INPUT_SIZE, seed=seed)
        data.set_epoch(epoch)
        matrices[seed, epoch] = data.item_info(0).matrix
    assert not np.allclose(matrices[3, 0], matrices[3, 1]) and not np.allclose(matrices[3, 0], matrices[4, 0])


def test_item_info_maps_the_crop_back_to_the_image(tmp_path):
    path, images = write_coco(tmp_path)
    data = CocoTopDown(path, images, input_size=(64, 48), seed=1)
    for epoch in range(4):
        data.set_epoch(epoch)
        image, crop_keypoints = data[0]
        info = data.item_info(0)
        back = torch.from_numpy(transform_points(invert_matrix(info.matrix), crop_keypoints[:, :2].double().numpy()))
        if info.flipped:
            back = back[COCO.flip_permutation()]
        original = torch.tensor(keypoints(10)).view(17, 3).double()
        torch.testing.assert_close(back[:16], original[:16, :2], atol=1e-3, rtol=0)
        # The nose is its image's only bright pixel: find it in the crop and map it back.
        brightness = image.sum(0) - image.sum(0).min()
        weights = brightness * (brightness > 0.5 * brightness.max())
        rows, columns = torch.meshgrid(torch.arange(64.0), torch.arange(48.0), indexing="ij")
        found = [float((columns * weights).sum() / weights.sum()), float((rows * weights).sum() / weights.sum())]
        np.testing.assert_allclose(transform_points(invert_matrix(info.matrix), np.array(found)), NOSE, atol=1.0)


def test_whole_images_with_every_person_and_the_regions_to_ignore(tmp_path):
    path, images = write_coco(tmp_path)
    data = CocoImages(path, images, input_size=(32, 32))
    assert len(data) == 2  # the image without people is left out
    image, (people, ignore_boxes) = data[1]
    assert image.shape == (3, 32, 32) and people.shape == (1, 17, 3) and ignore_boxes.shape == (1, 4)
    # 60 x 40 fits 32 x 32 at 32 / 60, centred vertically (the rows above and below are padding).
    scale = 32 / 60
    np.testing.assert_allclose(ignore_boxes[0].numpy(), [
        (44 - 0.5 + 0.5) * scale - 0.5, 15.5 + (4 - 0.5 - 19.5) * scale, (56 - 0.5 + 0.5) * scale - 0.5,
        15.5 + (24 - 0.5 - 19.5) * scale,
    ], atol=1e-4)
    black = -torch.tensor([0.485, 0.456, 0.406]) / torch.tensor([0.229, 0.224, 0.225])
    torch.testing.assert_close(image[:, 0, 16], black)  # padding: zero before normalisation
    info = data.item_info(1)
    original = np.array(keypoints(6, 1), dtype=np.float64).reshape(17, 3)[:16, :2]
    np.testing.assert_allclose(people[0, :16, :2].numpy(), transform_points(info.matrix, original), atol=1e-4)
    _, first = data[0]
    assert first[1].shape == (1, 4)  # the crowd region of image 1
    built = CocoImages(path, images, input_size=(32, 32), target_fn=lambda k, b: (k.shape[0], b.shape[0]))
    assert built[0][1] == (1, 1)
    plain = CocoImages(path, images, input_size=(32, 32), normalise=False)[1][0]
    assert float(plain[:, 0, 16].abs().max()) == 0.0 and plain[:, 16, 16].tolist() == pytest.approx([90 / 255] * 3)


def broken(tmp_path: Path, change) -> Path:
    data = coco_file(tmp_path)
    change(data)
    return write_coco(tmp_path, data)[0]


@pytest.mark.parametrize("change, message", [
    (lambda d: d.pop("annotations"), r"is not a COCO annotation file: expected an object with lists 'images' and"),
    (lambda d: d["annotations"][2].pop("keypoints"), r"annotation 20 lacks keypoints; expected keys"),
    (lambda d: d["annotations"][0]["keypoints"].pop(), r"annotation 10 has 50 keypoint values; expected 51"),
    (lambda d: d["annotations"][0]["keypoints"].__setitem__(5, 3), r"annotation 10 has visibility 3; expected 0, 1 or 2"),
    (lambda d: d["annotations"][3].__setitem__("image_id", 9), r"annotation 21 refers to image 9, which has no image"),
    (lambda d: d["images"][1].pop("file_name"), r"an image record lacks file_name"),
    (lambda d: d["annotations"][1].__setitem__("bbox", [1, 2]), r"annotation 11 has bbox \[1, 2\]; expected \[x, y"),
])
def test_malformed_files_give_one_line_naming_the_file(tmp_path, change, message):
    path = broken(tmp_path, change)
    with pytest.raises(ConvzooError, match=message) as caught:
        read_coco_keypoints(path)
    assert "\n" not in str(caught.value) and str(path) in str(caught.value)


def test_missing_and_non_json_files(tmp_path):
    with pytest.raises(ConvzooError, match="does not exist"):
        read_coco_keypoints(tmp_path / "absent.json")
    (tmp_path / "bad.json").write_text("{not json")
    with pytest.raises(ConvzooError, match=r"bad\.json is not JSON"):
        read_coco_keypoints(tmp_path / "bad.json")
