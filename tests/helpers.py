"""Helpers shared by the test files (on sys.path through pytest's `pythonpath`)."""

from __future__ import annotations

import pickle
from pathlib import Path
from typing import Callable

import numpy as np
import torch
from PIL import Image
from torch import nn

from convzoo.registry import count_parameters, get_entry, list_models

__all__ = [
    "CIFAR10_NAMES", "assert_one_line_error", "classifier_names", "example_input", "run_cli", "count_parameters", "empty_model", "make_batch", "randomise_norms", "state_shapes",
    "write_cifar10", "write_folder", "write_image", "write_omniglot", "write_pickle", "FOLDER_CLASSES",
]


def run_cli(capsys, *argv: str) -> tuple[int, str, str]:
    """``convzoo ARGV...`` in this process: exit code, standard output, standard error."""
    from convzoo.cli import main

    try:
        code = main(list(argv))
    except SystemExit as exit_:  # argparse's own exits (usage errors, --help)
        code = exit_.code
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def assert_one_line_error(code: int, err: str, *fragments: str) -> None:
    """A user error: non-zero exit, one line ``convzoo: error: ...`` naming each fragment, no traceback."""
    assert code != 0
    assert err.count("\n") == 1 and err.startswith("convzoo: error:"), err
    assert "Traceback" not in err
    for fragment in fragments:
        assert fragment in err


# Tasks whose models have the classifier interface: logits (B, num_classes), forward_features,
# forward_head, feature_info, reset_classifier. A hyperspectral classifier labels a pixel's patch,
# a video classifier a clip.
CLASSIFIER_TASKS = ("classification", "hyperspectral", "video")


def classifier_names() -> list[str]:
    """Every registered model with the classifier interface."""
    return [name for name in list_models() if get_entry(name).task in CLASSIFIER_TASKS]


def example_input(model: nn.Module, batch: int, side: int, **kwargs) -> torch.Tensor:
    """A random ``(batch, C, side, side)`` image batch, or a batch of the clips a video model's ``input_shape`` gives."""
    shape = model.input_shape(side) if hasattr(model, "input_shape") else (model.in_chans, side, side)
    return torch.randn(batch, *shape, **kwargs)


def state_shapes(model: nn.Module) -> dict[str, torch.Size]:
    return {key: value.shape for key, value in model.state_dict().items()}


def randomise_norms(model: nn.Module) -> None:
    """Give every batch norm (1D, 2D, 3D) non-trivial statistics and affine parameters, so loading them is tested."""
    for module in model.modules():
        if isinstance(module, nn.modules.batchnorm._BatchNorm) and module.affine and module.track_running_stats:
            module.weight.data.uniform_(0.5, 1.5)
            module.bias.data.uniform_(-0.5, 0.5)
            module.running_mean.uniform_(-0.5, 0.5)
            module.running_var.uniform_(0.5, 1.5)


def empty_model(builder: Callable[..., nn.Module], **kwargs) -> nn.Module:
    """A model with uninitialised weights (cheap to build), to be filled by a checkpoint; eval mode."""
    with torch.device("meta"):
        model = builder(**kwargs)
    return model.to_empty(device="cpu").eval()


CIFAR10_NAMES = ["airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck"]


def make_batch(labels: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    return rng.integers(0, 256, size=(len(labels), 3072), dtype=np.uint8)  # rows: R, G, B planes of 32x32


def write_pickle(path: Path, content: dict, protocol: int = pickle.DEFAULT_PROTOCOL) -> None:
    with open(path, "wb") as file:
        pickle.dump(content, file, protocol=protocol)


def write_cifar10(root: Path, protocol: int = pickle.DEFAULT_PROTOCOL) -> dict[str, np.ndarray]:
    """``cifar-10-batches-py`` with 5 batches of 20 (2 per class) and a test batch of 20.

    The dicts have the real files' keys as Python 3 reads them with ``encoding="bytes"``.
    """
    folder = root / "cifar-10-batches-py"
    folder.mkdir()
    rng = np.random.default_rng(0)
    train_data, train_labels = [], []
    for i in range(1, 6):
        labels = rng.permutation(np.repeat(np.arange(10), 2))
        data = make_batch(labels, rng)
        write_pickle(folder / f"data_batch_{i}", {
            b"batch_label": f"training batch {i} of 5".encode(), b"labels": labels.tolist(), b"data": data,
            b"filenames": [f"img_{i}_{j}.png".encode() for j in range(len(labels))],
        }, protocol)
        train_data.append(data)
        train_labels.append(labels)
    test_labels = rng.permutation(np.repeat(np.arange(10), 2))
    test_data = make_batch(test_labels, rng)
    test_data[0] = 0
    test_data[0, 0] = 255  # red at row 0, column 0
    test_data[0, 1024 + 1] = 200  # green at row 0, column 1
    test_data[0, 2048 + 32] = 100  # blue at row 1, column 0
    write_pickle(folder / "test_batch", {b"batch_label": b"testing batch 1 of 1", b"labels": test_labels.tolist(),
                                         b"data": test_data}, protocol)
    write_pickle(folder / "batches.meta", {b"num_cases_per_batch": 20, b"label_names": [n.encode() for n in CIFAR10_NAMES],
                                           b"num_vis": 3072}, protocol)
    return {"train_data": np.concatenate(train_data), "train_labels": np.concatenate(train_labels),
            "test_data": test_data, "test_labels": test_labels}


FOLDER_CLASSES = ["bird", "cat", "dog"]


def write_image(path: Path, color=None, size=(40, 30), mode="RGB", seed=0) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    if color is None:
        pixels = np.random.default_rng(seed).integers(0, 256, size=(size[1], size[0], 3), dtype=np.uint8)
        image = Image.fromarray(pixels).convert(mode)
    else:
        image = Image.new(mode, size, color)
    image.save(path)


def write_folder(root: Path, splits=("train", "val"), per_class=None) -> Path:
    """``root/<split>/<class>/`` with PNG (RGB, gray, RGBA) and JPEG files of several sizes."""
    per_class = per_class or {"train": 4, "val": 2, "test": 1}
    for split in splits:
        for label, name in enumerate(FOLDER_CLASSES):
            for i in range(per_class[split]):
                kind = i % 3
                suffix = ".jpg" if kind == 1 else ".png"
                mode = ("RGB", "RGB", "L", "RGBA")[kind if i < 3 else 3]
                write_image(root / split / name / f"{i}{suffix}", size=(40 + 4 * i, 30), mode=mode, seed=label * 10 + i)
    (root / "train" / "cat" / "notes.txt").write_text("not an image")  # skipped
    return root


def _omniglot_drawing(path: Path, stroke: int) -> None:
    """A black bar on white, as Omniglot's 1-bit 105x105 PNGs; ``stroke`` places the bar."""
    pixels = np.full((105, 105), 255, dtype=np.uint8)
    pixels[10 + 5 * stroke:14 + 5 * stroke, 20:80] = 0
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(pixels).convert("1").save(path)


def write_omniglot(root: Path, background: tuple[str, ...], evaluation: tuple[str, ...], characters: tuple[str, ...],
                   drawings: int) -> Path:
    """An Omniglot tree in the released layout (images_background / images_evaluation, alphabet / character /
    PNG); each character's bar at its own height."""
    stroke = 0
    for image_set, alphabets in (("images_background", background), ("images_evaluation", evaluation)):
        for alphabet in alphabets:
            for character in characters:
                for drawer in range(1, drawings + 1):
                    _omniglot_drawing(root / image_set / alphabet / character / f"{stroke:04d}_{drawer:02d}.png",
                                      stroke % 15)
                stroke += 1
    return root


def write_video_frames(path: Path, frames: np.ndarray, fps: int = 10, codec: str = "mpeg4", gop_size: int = 5) -> Path:
    """Write uint8 RGB ``frames`` ``(T, H, W, 3)`` (even H and W) as a real video file with PyAV."""
    import pytest

    av = pytest.importorskip("av")  # imported here: only the video tests need PyAV
    path.parent.mkdir(parents=True, exist_ok=True)
    with av.open(str(path), "w") as container:
        stream = container.add_stream(codec, rate=fps)
        stream.height, stream.width = frames.shape[1:3]
        stream.pix_fmt = "yuv420p"
        stream.codec_context.gop_size = gop_size
        if codec == "libx264":
            stream.options = {"crf": "1"}
        else:
            stream.bit_rate = 4_000_000
        for frame in frames:
            for packet in stream.encode(av.VideoFrame.from_ndarray(np.ascontiguousarray(frame), format="rgb24")):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)
    return path
