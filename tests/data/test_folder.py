"""Image-folder datasets from PNG and JPEG files written here."""

from __future__ import annotations

import io
import pickle
from pathlib import Path

import pytest
import torch
from PIL import Image
from torch.utils.data import DataLoader

from convzoo.data import load_dataset
from convzoo.data.folder import IMAGENET_MEAN, IMAGENET_STD
from convzoo.errors import ConvzooError
from helpers import FOLDER_CLASSES as CLASSES
from helpers import write_folder, write_image

RED = (255, 0, 0)


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    return write_folder(tmp_path)


def test_folder_classes_sizes_and_items(folder):
    splits = load_dataset("folder", image_size=24, in_chans=3, data_dir=folder)
    assert splits.class_names == CLASSES and splits.native_size is None and splits.augment is None
    assert [len(splits.train), len(splits.val), len(splits.test)] == [12, 6, 6]
    assert splits.test is splits.val  # no test folder: the validation images
    image, label = splits.train[5]
    assert image.shape == (3, 24, 24) and image.dtype == torch.float32 and label == 1
    assert splits.mean == list(IMAGENET_MEAN) and splits.std == list(IMAGENET_STD)
    assert sorted(set(splits.train.targets)) == [0, 1, 2]


def test_folder_with_test_split(tmp_path):
    root = write_folder(tmp_path, splits=("train", "val", "test"))
    splits = load_dataset("folder", image_size=16, in_chans=3, data_dir=root)
    assert len(splits.test) == 3 and splits.test.samples[0][0].endswith("test/bird/0.png")


def test_eval_transform_round_trips_pixels_and_crops_centre(folder):
    write_image(folder / "val" / "cat" / "red.png", color=RED, size=(50, 32))
    splits = load_dataset("folder", image_size=16, in_chans=3, data_dir=folder)
    index = [path for path, _ in splits.val.samples].index(str(folder / "val" / "cat" / "red.png"))
    image, label = splits.val[index]
    assert label == CLASSES.index("cat") and image.shape == (3, 16, 16)  # shorter side 18, centre 16x16
    expected = (torch.tensor([1.0, 0.0, 0.0]) - torch.tensor(IMAGENET_MEAN)) / torch.tensor(IMAGENET_STD)
    assert torch.allclose(image, expected.view(3, 1, 1).expand(3, 16, 16), atol=1e-5)

    gray = load_dataset("folder", image_size=16, in_chans=1, data_dir=folder)
    image, _ = gray.val[index]
    assert image.shape == (1, 16, 16)
    assert gray.mean == [pytest.approx(0.449)] and gray.std == [pytest.approx(0.226)]
    assert torch.allclose(image * gray.std[0] + gray.mean[0], torch.full((1, 16, 16), 76 / 255), atol=1e-5)  # luminance of red


def test_gray_image_repeated_for_rgb_models(folder):
    write_image(folder / "val" / "dog" / "gray.png", color=128, mode="L")
    splits = load_dataset("folder", image_size=8, in_chans=3, data_dir=folder)
    index = [path for path, _ in splits.val.samples].index(str(folder / "val" / "dog" / "gray.png"))
    image, _ = splits.val[index]
    restored = image * torch.tensor(IMAGENET_STD).view(3, 1, 1) + torch.tensor(IMAGENET_MEAN).view(3, 1, 1)
    assert torch.allclose(restored, torch.full((3, 8, 8), 128 / 255), atol=1e-5)


def test_standard_augmentation_is_random_and_none_is_the_eval_transform(folder):
    standard = load_dataset("folder", image_size=16, in_chans=3, data_dir=folder)
    plain = load_dataset("folder", image_size=16, in_chans=3, data_dir=folder, augment="none")
    torch.manual_seed(0)
    first = standard.train[0][0]
    torch.manual_seed(0)
    assert torch.equal(standard.train[0][0], first)  # seeded: repeatable
    assert not all(torch.equal(standard.train[0][0], first) for _ in range(5))  # random crops
    assert torch.equal(plain.train[0][0], plain.train[0][0])
    names = [type(t).__name__ for t in standard.train.transform.transforms]
    assert names[:2] == ["RandomResizedCrop", "RandomHorizontalFlip"]
    assert [type(t).__name__ for t in plain.train.transform.transforms][:2] == ["Resize", "CenterCrop"]


def test_data_loader_with_worker_processes(folder):
    splits = load_dataset("folder", image_size=16, in_chans=3, data_dir=folder)
    assert len(pickle.loads(pickle.dumps(splits.train))) == 12  # what a spawned worker receives
    loader = DataLoader(splits.train, batch_size=5, num_workers=2)
    batches = list(loader)
    assert [images.shape[0] for images, _ in batches] == [5, 5, 2]
    assert batches[0][0].shape == (5, 3, 16, 16)
    assert torch.cat([labels for _, labels in batches]).tolist() == splits.train.targets


def test_corrupt_image_is_named_when_read(folder):
    bad = folder / "train" / "dog" / "broken.png"
    bad.write_bytes(b"\x89PNG\r\n\x1a\n not really a png")
    buffer = io.BytesIO()
    Image.new("RGB", (64, 64), RED).save(buffer, format="JPEG")
    truncated = folder / "val" / "bird" / "cut.jpg"
    truncated.write_bytes(buffer.getvalue()[: len(buffer.getvalue()) // 2])
    splits = load_dataset("folder", image_size=16, in_chans=3, data_dir=folder)  # listing does not decode
    index = [path for path, _ in splits.train.samples].index(str(bad))
    with pytest.raises(ConvzooError, match=r"cannot read image .*train/dog/broken\.png"):
        splits.train[index]
    index = [path for path, _ in splits.val.samples].index(str(truncated))
    with pytest.raises(ConvzooError, match=r"cannot read image .*val/bird/cut\.jpg"):
        splits.val[index]
    with pytest.raises(ConvzooError, match=r"broken\.png"):  # also from a worker process
        list(DataLoader(splits.train, batch_size=4, num_workers=1))


def test_class_mismatch_and_layout_errors(tmp_path):
    root = write_folder(tmp_path)
    with pytest.raises(ConvzooError, match="no native image size"):
        load_dataset("folder", in_chans=3, data_dir=root)
    write_image(root / "val" / "eel" / "0.png")
    (root / "val" / "bird" / "0.png").unlink()
    (root / "val" / "bird" / "1.jpg").unlink()
    (root / "val" / "bird").rmdir()
    with pytest.raises(ConvzooError, match=r"class folders of .*val differ from those of train: missing bird; extra eel"):
        load_dataset("folder", image_size=16, in_chans=3, data_dir=root)
    with pytest.raises(ConvzooError, match=r"image folder .*missing/train not found.*<class>/<image>"):
        load_dataset("folder", image_size=16, in_chans=3, data_dir=tmp_path / "missing")
    (root / "train" / "empty").mkdir()
    with pytest.raises(ConvzooError, match=r"class folder .*train/empty holds no images"):
        load_dataset("folder", image_size=16, in_chans=3, data_dir=root)
    with pytest.raises(ConvzooError, match="in_chans=2"):
        load_dataset("folder", image_size=16, in_chans=2, data_dir=root)


@pytest.mark.parametrize("size", [(40, 30), (30, 52)])
def test_predict_preprocessing_equals_the_folder_evaluation(tmp_path, size):
    from convzoo.data.folder import EVAL_CROP_FRACTION, folder_transform, read_image_file
    from convzoo.data.images import load_image

    path = tmp_path / "image.png"
    write_image(path, size=size, seed=3)
    mean, std = [0.485, 0.456, 0.406], [0.229, 0.224, 0.225]
    expected = folder_transform(24, train=False, mean=mean, std=std)(read_image_file(path, "RGB"))
    actual = load_image(path, in_chans=3, size=24, mean=mean, std=std, crop_fraction=EVAL_CROP_FRACTION)
    torch.testing.assert_close(actual, expected, rtol=0, atol=1e-6)
