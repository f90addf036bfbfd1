"""MPII Human Pose annotations: a small .mat in the released structure and the HRNet JSON form, written by the test."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import scipy.io
import torch
from PIL import Image

from convzoo.data.pose.mpii import MpiiTopDown, person_region, read_mpii
from convzoo.data.pose.transforms import crop_matrix, transform_points
from convzoo.errors import ConvzooError

EMPTY = np.zeros((0, 0))


def struct_array(records: list[dict]) -> np.ndarray:
    """A 1 x N MATLAB struct array; fields a record lacks are empty, as in the released file."""
    names = list(dict.fromkeys(name for record in records for name in record))
    array = np.zeros((1, len(records)), dtype=[(name, object) for name in names])
    for index, record in enumerate(records):
        for name in names:
            array[0, index][name] = record.get(name, EMPTY)
    return array


def points(*joints: tuple) -> np.ndarray:
    return struct_array([{"id": joint, "x": x, "y": y, "is_visible": visible} for joint, x, y, visible in joints])


def write_mat(path: Path, point_id: int = 9) -> Path:
    two_people = struct_array([
        {"x1": 11.0, "y1": 6.0, "x2": 21.0, "y2": 18.0, "scale": 0.3, "objpos": {"x": 21.0, "y": 31.0},
         "annopoints": {"point": points((0, 11.0, 51.0, 1), (6, 16.0, 36.0, "0"), (point_id, 15.0, 7.0, EMPTY))}},
        {"x1": 31.0, "y1": 5.0, "x2": 40.0, "y2": 15.0, "scale": 0.25, "objpos": {"x": 36.0, "y": 28.0},
         "annopoints": {"point": points((15, 41.0, 26.0, "1"))}},  # one point: a 1 x 1 struct, squeezed
        {"x1": 1.0, "y1": 1.0, "x2": 4.0, "y2": 4.0},  # no objpos or scale: cannot be cropped
    ])
    test_person = {"scale": 0.2, "objpos": {"x": 10.0, "y": 12.0}}  # a test image: no joints
    release = {
        "annolist": struct_array([
            {"image": {"name": "000001.jpg"}, "annorect": two_people},
            {"image": {"name": "000002.jpg"}, "annorect": test_person},
        ]),
        "img_train": np.array([[1, 0]], dtype=np.uint8),
        "single_person": np.empty((1, 2), dtype=object),  # a cell array: per image, 1-based annorect indices
    }
    release["single_person"][0, 0], release["single_person"][0, 1] = np.array([[2.0]]), EMPTY
    scipy.io.savemat(path, {"RELEASE": release})
    return path


def test_reads_the_released_mat_structure(tmp_path):
    people = read_mpii(write_mat(tmp_path / "mpii_human_pose_v1_u12_1.mat"))
    assert [(p.image, p.rect_index) for p in people] == [("000001.jpg", 0), ("000001.jpg", 1), ("000002.jpg", 0)]
    first, second, test = people
    assert first.joints.shape == (16, 3) and first.joints.dtype == np.float32
    assert first.joints[0].tolist() == [10.0, 50.0, 2.0]  # 1-based -> 0-based; visible -> v = 2
    assert first.joints[6].tolist() == [15.0, 35.0, 1.0]  # is_visible '0': labelled, occluded
    assert first.joints[9].tolist() == [14.0, 6.0, 2.0]  # is_visible left empty: labelled
    assert (first.joints[[1, 2, 3, 4, 5, 7, 8, 10, 11, 12, 13, 14, 15]] == 0).all()
    assert first.head_box == (10.0, 5.0, 20.0, 17.0) and first.center == (20.0, 30.0) and first.scale == 0.3
    assert second.joints[15].tolist() == [40.0, 25.0, 2.0] and second.single_person and not first.single_person
    assert first.is_train and first.image_index == 0 and not test.is_train and test.image_index == 1
    assert not test.is_labelled and test.head_box is None and test.center == (9.0, 11.0)


def test_reads_the_json_conversion(tmp_path):
    joints = [[float(5 + joint), float(40 - joint)] for joint in range(16)]
    visible = [1] * 14 + [0, 0]
    records = [
        {"image": "000001.jpg", "center": [21.0, 31.0], "scale": 0.3, "joints": joints, "joints_vis": visible},
        {"image": "000002.jpg", "center": [10.0, 12.0], "scale": 0.2},  # test.json: no joints
    ]
    path = tmp_path / "train.json"
    path.write_text(json.dumps(records))
    first, second = read_mpii(path)
    assert first.joints[3].tolist() == [7.0, 36.0, 2.0] and first.joints[15].tolist() == [0.0, 0.0, 0.0]
    assert first.center == (20.0, 30.0) and first.head_box is None and first.is_train is None
    assert not second.is_labelled


def test_top_down_crops_by_centre_and_scale(tmp_path):
    Image.fromarray(np.full((64, 48, 3), 128, dtype=np.uint8)).save(tmp_path / "000001.jpg")
    path = write_mat(tmp_path / "annotations.mat")
    data = MpiiTopDown(path, tmp_path, input_size=(32, 32), train=False)
    assert len(data) == 2  # the test image's person has no joints
    image, keypoints = data[0]
    assert image.shape == (3, 32, 32) and keypoints.shape == (16, 3)
    center, size = person_region(data.records[0], 1.0)
    assert center == pytest.approx((20.0, 34.5)) and size == pytest.approx((75.0, 75.0))  # 200 * 0.3 * 1.25
    expected = transform_points(crop_matrix(center, size, (32, 32)), np.array([[10.0, 50.0], [15.0, 35.0]]))
    np.testing.assert_allclose(keypoints[[0, 6], :2].numpy(), expected, atol=1e-4)
    assert data.item_info(0).person is data.records[0] and not data.item_info(0).flipped
    everyone = MpiiTopDown(read_mpii(path), tmp_path, input_size=(32, 32), labelled_only=False, train=True)
    assert len(everyone) == 3
    plain = MpiiTopDown(path, tmp_path, input_size=(32, 32), train=False, normalise=False)[0][0]
    torch.testing.assert_close(plain[:, 16, 16], torch.full((3,), 128 / 255))
    _, augmented = everyone[1]
    assert augmented.shape == (16, 3) and torch.isfinite(augmented).all()


def test_malformed_files_give_one_line_naming_the_file(tmp_path):
    bad_id = write_mat(tmp_path / "bad_id.mat", point_id=16)
    with pytest.raises(ConvzooError, match=r"bad_id\.mat: a joint has id 16; expected 0-15"):
        read_mpii(bad_id)
    other = tmp_path / "other.mat"
    scipy.io.savemat(other, {"something": np.ones(3)})
    with pytest.raises(ConvzooError, match=r"other\.mat is not MPII's release: expected a struct RELEASE"):
        read_mpii(other)
    (tmp_path / "junk.mat").write_bytes(b"not a mat file at all")
    with pytest.raises(ConvzooError, match=r"cannot read .*junk\.mat as a MATLAB file"):
        read_mpii(tmp_path / "junk.mat")
    with pytest.raises(ConvzooError, match=r"is neither \.mat nor \.json"):
        (tmp_path / "a.txt").write_text("")
        read_mpii(tmp_path / "a.txt")
    with pytest.raises(ConvzooError, match="does not exist"):
        read_mpii(tmp_path / "absent.json")


@pytest.mark.parametrize("records, message", [
    ({"image": "a.jpg"}, r"expected a list of person records"),
    ([{"image": "a.jpg", "center": [1, 2]}], r"record 0 lacks scale; expected keys image, center, scale"),
    ([{"image": "a.jpg", "center": [1, 2], "scale": 1, "joints": [[0, 0]] * 15, "joints_vis": [1] * 16}],
     r"record 0 has joints of shape \(15, 2\) and joints_vis of 16; expected 16 x 2 and 16"),
    ([{"image": "a.jpg", "center": [1, 2], "scale": 1, "joints": [[0, 0]] * 16}],
     r"record 0 lacks joints_vis; expected joints with joints_vis"),
])
def test_malformed_json_gives_one_line(tmp_path, records, message):
    path = tmp_path / "valid.json"
    path.write_text(json.dumps(records))
    with pytest.raises(ConvzooError, match=message) as caught:
        read_mpii(path)
    assert "\n" not in str(caught.value) and str(path) in str(caught.value)
