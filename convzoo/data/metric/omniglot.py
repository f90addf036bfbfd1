"""Omniglot in its released layout, split by alphabet as Koch et al. train and test on it.

Dataset: Human-level concept learning through probabilistic program induction (Lake,
Salakhutdinov and Tenenbaum, Science 2015) https://github.com/brendenlake/omniglot
Paper: Siamese Neural Networks for One-shot Image Recognition (Koch, Zemel and
Salakhutdinov, ICML Deep Learning Workshop 2015)
https://www.cs.cmu.edu/~rsalakhu/papers/oneshot1.pdf

1,623 handwritten characters of 50 alphabets, each drawn once by 20 people: 32,460
binary 105x105 PNGs, black strokes on white. Layout under the data directory, as the
released ``images_background.zip`` and ``images_evaluation.zip`` unpack (torchvision's
``omniglot-py/`` folder holding them is found too)::

    images_background/<alphabet>/<character>/<drawing>.png   30 alphabets, 964 characters
    images_evaluation/<alphabet>/<character>/<drawing>.png    20 alphabets, 659 characters

e.g. ``images_background/Latin/character01/0123_01.png``. Every character is a class,
named ``<alphabet>/<character>``: ``character01`` of Latin and of Greek are two classes.

Split, by alphabet (the paper's: train on the 30 background alphabets; of the 20
evaluation alphabets, 10 validate and 10 test): ``train`` holds every background
alphabet; the evaluation alphabets, sorted by name, go the first half to ``val`` and the
second half to ``test``. For the released set that is

* val (307 characters): Angelic, Atemayar_Qelisayer, Atlantean, Aurek-Besh, Avesta,
  Ge_ez, Glagolitic, Gurmukhi, Kannada, Keble;
* test (352 characters): Malayalam, Manipuri, Mongolian, Old_Church_Slavonic_(Cyrillic),
  Oriya, Sylheti, Syriac_(Serto), Tengwar, Tibetan, ULOG.

Reference: Koch et al. report 92.0% 20-way one-shot accuracy on the evaluation alphabets.

Images are inverted on reading, strokes 1 on a background of 0 (as the digits and MNIST),
and held in memory as ``uint8`` (all 32,460 at 105x105 are 358 MB; as float32 they would
be 1.4 GB); each image is converted to a normalised float tensor as it is read, with the
training split's mean and standard deviation. Drawings must be 1-channel PNGs of
105x105 pixels, as released; they are resized once to ``image_size`` when it differs
(Koch uses 105x105 as is). The standard augmentation is Koch's affine distortions
(:class:`~convzoo.data.metric.distortions.KochAffine`), the translation scaled with
the image.

Deviations: the paper also divides the 20 drawers (12 for training, 4 for validation, 4
for the one-shot tests) and trains on a fixed sample of 30,000-150,000 pairs; here every
drawing of an alphabet belongs to that alphabet's split, and pairs or P x K batches are
drawn by the task. The paper does not say which polarity it fed the network.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image, UnidentifiedImageError
from torch.utils.data import Dataset

from convzoo.data import AUGMENTATIONS
from convzoo.data.metric.distortions import KochAffine
from convzoo.data.metric.splits import MetricSplits
from convzoo.data.splits import check_image_size, check_in_chans
from convzoo.errors import ConvzooError

__all__ = ["DRAWING_SIZE", "ByteImageDataset", "load_omniglot", "omniglot_alphabets"]

DRAWING_SIZE = 105  # side of every released drawing
KOCH_TRANSLATE = 2.0  # pixels at 105x105
SETS = ("images_background", "images_evaluation")
_CHUNK = 2048  # images resized or summed at a time, to bound the float32 memory


class ByteImageDataset(Dataset):
    """``uint8`` images held in memory, normalised to float as each one is read.

    Args:
        images: ``(N, 1, S, S)`` ``uint8``.
        labels: ``(N,)`` ``int64``.
        mean, std: the normalisation of images scaled to [0, 1].
        in_chans: channels of the images given out (the gray channel repeated).
    """

    def __init__(self, images: torch.Tensor, labels: torch.Tensor, mean: float, std: float, in_chans: int) -> None:
        self.images = images
        self.labels = labels
        self.mean = mean
        self.std = std
        self.in_chans = in_chans

    def __len__(self) -> int:
        return len(self.labels)

    def __getitem__(self, index: int) -> tuple[torch.Tensor, torch.Tensor]:
        image = (self.images[index].float() / 255.0 - self.mean) / self.std  # (1, S, S)
        return image.expand(self.in_chans, -1, -1).contiguous(), self.labels[index]


def _root(data_dir: str | os.PathLike | None) -> Path:
    """The folder that holds both image sets, or a ConvzooError saying where the files go."""
    where = "DIR" if data_dir is None else str(data_dir)
    expected = (
        f"expected {where}/images_background/<alphabet>/<character>/*.png and "
        f"{where}/images_evaluation/<alphabet>/<character>/*.png (the released images_background.zip "
        "and images_evaluation.zip, unpacked)"
    )
    if data_dir is None:
        raise ConvzooError(f"dataset 'omniglot' needs its files (--data-dir): {expected}")
    for root in (Path(data_dir), Path(data_dir) / "omniglot-py"):
        if all((root / name).is_dir() for name in SETS):
            return root
    raise ConvzooError(f"omniglot files not found: {expected}")


def _folders(parent: Path) -> list[Path]:
    return sorted(entry for entry in parent.iterdir() if entry.is_dir() and not entry.name.startswith("."))


def _drawings(character: Path) -> list[Path]:
    """The PNG drawings of one character folder; any other file is an error."""
    files = sorted(entry for entry in character.iterdir() if not entry.name.startswith("."))
    for entry in files:
        if entry.is_dir() or entry.suffix.lower() != ".png":
            raise ConvzooError(f"{entry} is not a PNG drawing; an Omniglot character folder holds only *.png")
    if not files:
        raise ConvzooError(f"character folder {character} holds no PNG drawings")
    return files


def omniglot_alphabets(root: Path, image_set: str) -> dict[str, list[Path]]:
    """The character folders of each alphabet of ``root/image_set``, sorted by name."""
    alphabets = {alphabet.name: _folders(alphabet) for alphabet in _folders(root / image_set)}
    if not alphabets:
        raise ConvzooError(f"{root / image_set} holds no alphabet folders; expected <alphabet>/<character>/*.png")
    for name, characters in alphabets.items():
        if not characters:
            raise ConvzooError(f"alphabet folder {root / image_set / name} holds no character folders")
    return alphabets


def _read_drawing(path: Path) -> np.ndarray:
    """One drawing as ``(105, 105)`` ``uint8``, strokes 255 on a background of 0."""
    try:
        with Image.open(path) as image:
            if image.format != "PNG":
                raise ConvzooError(f"{path} is a {image.format} file, not a PNG")
            if len(image.getbands()) != 1:
                raise ConvzooError(
                    f"{path} has {len(image.getbands())} channels ({image.mode}); Omniglot drawings are 1-channel"
                )
            if image.size != (DRAWING_SIZE, DRAWING_SIZE):
                raise ConvzooError(
                    f"{path} is {image.size[0]}x{image.size[1]}; Omniglot drawings are {DRAWING_SIZE}x{DRAWING_SIZE}"
                )
            pixels = np.asarray(image.convert("L"), dtype=np.uint8)
    except (UnidentifiedImageError, OSError) as error:
        raise ConvzooError(f"cannot read {path} as a PNG: {error}") from None
    return 255 - pixels


def _read_characters(characters: list[Path], first_label: int) -> tuple[torch.Tensor, torch.Tensor]:
    """All drawings of ``characters`` as ``(N, 1, 105, 105)`` ``uint8`` and their labels."""
    images, labels = [], []
    for offset, character in enumerate(characters):
        for path in _drawings(character):
            images.append(_read_drawing(path))
            labels.append(first_label + offset)
    return torch.from_numpy(np.stack(images)).unsqueeze(1), torch.tensor(labels, dtype=torch.long)


def _resized(images: torch.Tensor, size: int) -> torch.Tensor:
    """``uint8`` images ``(N, 1, S, S)`` resized bilinearly (antialiased when shrinking) to ``size``."""
    if images.shape[-1] == size:
        return images
    out = torch.empty(len(images), 1, size, size, dtype=torch.uint8)
    for start in range(0, len(images), _CHUNK):
        chunk = images[start:start + _CHUNK].float()
        shrink = size < images.shape[-1]
        chunk = F.interpolate(chunk, size=(size, size), mode="bilinear", align_corners=False, antialias=shrink)
        out[start:start + _CHUNK] = chunk.round_().clamp_(0, 255).to(torch.uint8)
    return out


def _statistics(images: torch.Tensor) -> tuple[float, float]:
    """Mean and standard deviation of ``uint8`` images scaled to [0, 1], summed a chunk at a time."""
    total = squares = 0.0
    for start in range(0, len(images), _CHUNK):
        chunk = images[start:start + _CHUNK].double() / 255.0
        total += chunk.sum().item()
        squares += chunk.square().sum().item()
    count = images.numel()
    mean = total / count
    variance = (squares - count * mean * mean) / max(count - 1, 1)
    return mean, max(variance, 1e-12) ** 0.5


def load_omniglot(
    *,
    data_dir: str | os.PathLike | None,
    image_size: int | None = None,
    in_chans: int = 1,
    augment: str = "standard",
) -> MetricSplits:
    """Omniglot under ``data_dir``, split by alphabet (module docstring), as a :class:`MetricSplits`.

    Args:
        data_dir: the folder holding ``images_background/`` and ``images_evaluation/``.
        image_size: side of the images given to the model; ``None`` keeps 105.
        in_chans: 1, or 3 for a model that wants RGB (the gray image repeated).
        augment: ``"standard"`` (Koch's affine distortions) or ``"none"``.
    """
    check_in_chans(in_chans, "omniglot")
    if augment not in AUGMENTATIONS:
        raise ConvzooError(f"unknown augmentation {augment!r}; expected one of {', '.join(AUGMENTATIONS)}")
    size = check_image_size(image_size, "omniglot", DRAWING_SIZE)
    root = _root(data_dir)
    background = omniglot_alphabets(root, "images_background")
    evaluation = omniglot_alphabets(root, "images_evaluation")
    if len(evaluation) < 2:
        raise ConvzooError(
            f"{root / 'images_evaluation'} holds {len(evaluation)} alphabet; 2 are needed (val and test)"
        )
    names = sorted(evaluation)
    half = len(names) // 2
    val_alphabets = {name: evaluation[name] for name in names[:half]}
    test_alphabets = {name: evaluation[name] for name in names[half:]}

    class_names: list[str] = []
    parts = []
    for alphabets in (background, val_alphabets, test_alphabets):
        characters = [character for folders in alphabets.values() for character in folders]
        images, labels = _read_characters(characters, len(class_names))
        parts.append((_resized(images, size), labels))
        class_names.extend(f"{character.parent.name}/{character.name}" for character in characters)

    mean, std = _statistics(parts[0][0])
    train, val, test = (ByteImageDataset(images, labels, mean, std, in_chans) for images, labels in parts)
    translate = KOCH_TRANSLATE * size / DRAWING_SIZE
    return MetricSplits(
        name="omniglot",
        train=train,
        val=val,
        test=test,
        train_labels=parts[0][1],
        val_labels=parts[1][1],
        test_labels=parts[2][1],
        class_names=class_names,
        mean=[mean] * in_chans,
        std=[std] * in_chans,
        augment=KochAffine(translate=translate, fill=-mean / std) if augment == "standard" else None,
        native_size=DRAWING_SIZE,
    )
