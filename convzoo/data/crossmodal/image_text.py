"""Images with their raw texts in class folders: ``DIR/<split>/<class>/<name>.<image>`` beside ``<name>.txt``.

The third data source of the issue: each image file has a text file of the same name next
to it (a caption, a paragraph); the folder it sits in is its class. ``train/`` and ``test/``
are required, ``val/`` optional (without it the test pairs validate, as for the released
features). An image without its text, or a text without its image, is one line naming it.
The crossmodal task turns the images into a frozen zoo CNN's features (or, to fine-tune the
CNN, normalised pixels) and the texts into bags of words
(:mod:`convzoo.tasks.crossmodal.encoders`).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from convzoo.data.images import IMAGE_SUFFIXES
from convzoo.errors import ConvzooError

__all__ = ["ImageTextFolder", "read_image_text_folders", "words"]

SPLITS = ("train", "val", "test")


def words(text: str) -> list[str]:
    """The lowercase words of ``text`` (letters and digits; punctuation splits)."""
    return re.findall(r"[a-z0-9]+", text.lower())


@dataclass
class ImageTextFolder:
    """One split's pairs: image paths, their texts, and class indices into the dataset's class names."""

    images: list[Path]
    texts: list[str]
    labels: list[int]


def _split(folder: Path, class_names: list[str]) -> ImageTextFolder:
    images, texts, labels = [], [], []
    for label, name in enumerate(class_names):
        directory = folder / name
        files = sorted(directory.iterdir()) if directory.is_dir() else []
        stems = {p.stem for p in files if p.suffix.lower() in IMAGE_SUFFIXES}
        for text_file in (p for p in files if p.suffix == ".txt" and p.stem not in stems):
            raise ConvzooError(f"{text_file} has no image of the same name beside it")
        for image in (p for p in files if p.suffix.lower() in IMAGE_SUFFIXES):
            text_file = image.with_suffix(".txt")
            if not text_file.is_file():
                raise ConvzooError(f"{image} has no text: expected {text_file.name} beside it")
            images.append(image)
            texts.append(text_file.read_text(encoding="utf-8", errors="replace"))
            labels.append(label)
    if not images:
        raise ConvzooError(f"{folder} holds no image-text pair: expected <class>/<name>.png with <name>.txt")
    return ImageTextFolder(images, texts, labels)


def read_image_text_folders(data_dir: str | Path) -> tuple[dict[str, ImageTextFolder], list[str]]:
    """The splits of ``data_dir`` (``val`` is the test split when there is no ``val/``) and the class names."""
    root = Path(data_dir)
    for required in ("train", "test"):
        if not (root / required).is_dir():
            raise ConvzooError(f"--data-dir {root} has no {required}/ folder; expected train/ and test/ (and "
                               "optionally val/), each <class>/<name>.<image> with <name>.txt")
    class_names = sorted(p.name for p in (root / "train").iterdir() if p.is_dir())
    splits = {split: _split(root / split, class_names) for split in SPLITS if (root / split).is_dir()}
    splits.setdefault("val", splits["test"])
    return splits, class_names
