"""Datasets read from files that installed packages ship: tensorly's Indian Pines, Debian's
Fashion-MNIST, and the ``photos`` denoising set (scikit-image, scikit-learn, pywavelets, opencv-doc).

The tests write small files in each source's layout (a fake package first on ``sys.path``,
a fake Debian folder through the module's path constant) and never need the real packages;
the tests that read a real source are skipped, with the reason, when it is not installed.
"""

from __future__ import annotations

import gzip
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from convzoo.data import load_dataset, mnist, natural_images
from convzoo.data.hyperspectral import load_scene
from convzoo.data.natural_images import PHOTOS_TEST, PHOTOS_VAL, load_denoise_images
from convzoo.data.package_files import package_dir, package_file
from convzoo.errors import ConvzooError

DEBIAN_FASHION = Path("/usr/share/datasets/fashion-mnist")


def fake_package(root: Path, monkeypatch: pytest.MonkeyPatch, package: str, files: dict[str, np.ndarray]) -> Path:
    """A package ``package`` under ``root`` holding ``files`` (.npy or .npz), found first by the import system."""
    folder = root / package
    folder.mkdir(parents=True)
    (folder / "__init__.py").write_text("raise ImportError('convzoo must not import this package')\n")
    for relative, array in files.items():
        path = folder / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        if path.suffix == ".npz":
            np.savez(path, data=array)
        else:
            np.save(path, array)
    monkeypatch.delitem(sys.modules, package, raising=False)
    monkeypatch.syspath_prepend(str(root))
    return folder


def hide_package(monkeypatch: pytest.MonkeyPatch, package: str) -> None:
    """Make ``package`` look uninstalled: find_spec gives None for a None entry of sys.modules."""
    monkeypatch.setitem(sys.modules, package, None)


def write_idx(path: Path, array: np.ndarray) -> None:
    header = (0x800 + array.ndim).to_bytes(4, "big") + b"".join(n.to_bytes(4, "big") for n in array.shape)
    with gzip.open(path, "wb") as file:
        file.write(header + array.astype(np.uint8).tobytes())


# ------------------------------------------------------------------------------ package files


def test_package_dir_finds_without_importing(tmp_path, monkeypatch):
    folder = fake_package(tmp_path, monkeypatch, "fakepkg", {"data/x.npy": np.zeros(2)})
    assert package_dir("fakepkg") == folder
    assert package_file("fakepkg", "data/x.npy", "test", "pip install fakepkg") == folder / "data" / "x.npy"
    assert "fakepkg" not in sys.modules


def test_package_file_errors_are_one_line(tmp_path, monkeypatch):
    fake_package(tmp_path, monkeypatch, "fakepkg", {})
    with pytest.raises(ConvzooError, match=r"^the fakepkg package at .* has no data/x.npy") as error:
        package_file("fakepkg", "data/x.npy", "test", "pip install fakepkg")
    assert "\n" not in str(error.value)
    with pytest.raises(ConvzooError, match=r"^test reads files that the nopkg_absent package ships: install it with pip"):
        package_file("nopkg_absent", "x", "test", "pip install nopkg")


# ------------------------------------------------------------------------------ Indian Pines from tensorly


def test_indian_pines_from_fake_tensorly(tmp_path, monkeypatch):
    rng = np.random.default_rng(0)
    cube = rng.integers(900, 9000, size=(6, 5, 7)).astype(np.uint16)
    labels = np.zeros((6, 5), dtype=np.uint8)
    labels[1, 1], labels[2, 3], labels[4, 4] = 1, 16, 3
    fake_package(tmp_path, monkeypatch, "tensorly", {
        "datasets/data/Indian_pines_corrected.npy": cube, "datasets/data/Indian_pines_gt.npy": labels})
    scene = load_scene("indian_pines")
    assert scene.cube.dtype == np.float32 and scene.labels.dtype == np.int64
    np.testing.assert_array_equal(scene.cube, cube)
    np.testing.assert_array_equal(scene.labels, labels)
    assert len(scene.class_names) == 16


def test_indian_pines_without_tensorly_says_how_to_get_it(monkeypatch):
    hide_package(monkeypatch, "tensorly")
    with pytest.raises(ConvzooError, match=r"pip install tensorly .*convzoo\[data\].*--data-dir.*Indian_pines_gt.mat"):
        load_scene("indian_pines")


def test_indian_pines_bad_npy_is_one_line(tmp_path, monkeypatch):
    folder = fake_package(tmp_path, monkeypatch, "tensorly", {"datasets/data/Indian_pines_gt.npy": np.zeros((2, 2))})
    (folder / "datasets/data/Indian_pines_corrected.npy").write_bytes(b"not numpy")
    with pytest.raises(ConvzooError, match=r"Indian_pines_corrected.npy is not a readable .npy file"):
        load_scene("indian_pines")


def test_indian_pines_data_dir_still_wins(tmp_path, monkeypatch):
    hide_package(monkeypatch, "tensorly")
    with pytest.raises(ConvzooError, match="Indian_pines_corrected.mat not found in"):
        load_scene("indian_pines", tmp_path)


@pytest.mark.skipif(package_dir("tensorly") is None, reason="tensorly is not installed (pip install tensorly)")
def test_real_indian_pines_from_tensorly():
    scene = load_scene("indian_pines")
    assert scene.cube.shape == (145, 145, 200)
    assert int((scene.labels > 0).sum()) == 10249 and int(scene.labels.max()) == 16


# ------------------------------------------------------------------------------ Fashion-MNIST from Debian


def test_fashion_mnist_from_debian_folder(tmp_path, monkeypatch):
    rng = np.random.default_rng(0)
    for split, count in (("train", 100), ("t10k", 10)):
        write_idx(tmp_path / f"{split}-images-idx3-ubyte.gz", rng.integers(0, 256, size=(count, 28, 28)))
        write_idx(tmp_path / f"{split}-labels-idx1-ubyte.gz", np.arange(count) % 10)
    monkeypatch.setitem(mnist.SYSTEM_FOLDERS, "fashion-mnist", (tmp_path, "apt-get install dataset-fashion-mnist"))
    splits = load_dataset("fashion-mnist", in_chans=1)
    assert len(splits.test) == 10 and len(splits.train) + len(splits.val) == 100


def test_fashion_mnist_without_debian_folder_says_how_to_get_it(tmp_path, monkeypatch):
    monkeypatch.setitem(mnist.SYSTEM_FOLDERS, "fashion-mnist", (tmp_path / "absent", "apt-get install X"))
    with pytest.raises(ConvzooError, match=r"--data-dir.*or install them in .*absent with apt-get install X$"):
        load_dataset("fashion-mnist", in_chans=1)


@pytest.mark.skipif(not (DEBIAN_FASHION / "train-images-idx3-ubyte.gz").is_file(),
                    reason="Debian's dataset-fashion-mnist is not installed (apt-get install dataset-fashion-mnist)")
def test_real_fashion_mnist_from_debian():
    splits = load_dataset("fashion-mnist", in_chans=1)
    assert (len(splits.train), len(splits.val), len(splits.test)) == (54000, 6000, 10000)


# ------------------------------------------------------------------------------ photos


def fake_sources(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A fake pywt with aero, ascent and camera, and a fake opencv-doc folder with a photo, a held-out one and a logo."""
    rng = np.random.default_rng(0)
    fake_package(tmp_path / "site", monkeypatch, "pywt", {
        f"data/{name}.npz": rng.integers(0, 256, size=(48, 40)).astype(np.uint8) for name in ("aero", "ascent", "camera")})
    opencv = tmp_path / "opencv"
    opencv.mkdir()
    for name in ("home.jpg", "baboon.jpg", "opencv-logo.png"):
        Image.fromarray(rng.integers(0, 256, size=(40, 44, 3)).astype(np.uint8)).save(opencv / name)
    (opencv / "notes.txt").write_text("not an image")
    monkeypatch.setattr(natural_images, "OPENCV_DOC_FOLDER", opencv)


def test_photos_split_holds_out_every_cameraman(tmp_path, monkeypatch):
    fake_sources(tmp_path, monkeypatch)
    images = load_denoise_images("photos", in_chans=1)
    train, val, test = ({image.name for image in part} for part in (images.train, images.val, images.test))
    assert {"pywt:ascent", "opencv:home.jpg", "skimage:astronaut", "sklearn:china"} <= train
    assert {"skimage:camera", "pywt:aero", "opencv:baboon.jpg"} <= test <= set(PHOTOS_TEST)
    assert val == set(PHOTOS_VAL)
    assert not any("camera" in name for name in train | val)  # pywt's camera is the cameraman: never trained on
    assert "opencv:opencv-logo.png" not in train | val | test
    assert all(image.pixels.ndim == 3 and image.pixels.shape[2] == 1 for image in images.train)


def test_photos_without_opencv_doc_uses_the_rest(tmp_path, monkeypatch):
    fake_sources(tmp_path, monkeypatch)
    monkeypatch.setattr(natural_images, "OPENCV_DOC_FOLDER", tmp_path / "absent")
    images = load_denoise_images("photos", in_chans=3)
    assert not any(image.name.startswith("opencv:") for image in images.train + images.val + images.test)
    assert images.test[0].pixels.shape[2] == 3


def test_photos_without_pywavelets_says_how_to_get_it(monkeypatch):
    hide_package(monkeypatch, "pywt")
    with pytest.raises(ConvzooError, match=r"^denoising dataset 'photos' .*pip install pywavelets"):
        load_denoise_images("photos", in_chans=1)


@pytest.mark.skipif(package_dir("pywt") is None, reason="pywavelets is not installed (pip install pywavelets)")
def test_real_photos():
    images = load_denoise_images("photos", in_chans=1)
    names = {image.name for image in images.train}
    assert "pywt:ascent" in names and "pywt:camera" not in names and "skimage:camera" not in names
    assert {image.name for image in images.test} >= {"skimage:camera", "pywt:aero"}
