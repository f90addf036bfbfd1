"""Images and raw texts for DSCMR: a zoo CNN on the images, frozen or fine-tuned, and bags of words for the texts.

For ``--dataset image-text`` (:mod:`convzoo.data.crossmodal.image_text`). The image side is
``--image-encoder`` (any zoo classifier, default ``resnet18``) with its classifier removed
(``reset_classifier(0)``: the pooled features), loaded from ``--image-encoder-weights`` (a
torchvision, timm or convzoo checkpoint; without it the network keeps its random
initialisation, which only suits tests). Images are read at the encoder's input side (or
``--image-size``), normalised with ImageNet's statistics (3 channels) or 0.5/0.5. Two modes:

- frozen (the default): the encoder runs once over every image in eval mode and the splits
  hold its features, ``(N, num_features)``; DSCMR trains on them as on the release's
  features. Cheap: one forward pass per image, and 4 bytes per feature in memory (2 KB
  an image for resnet18's 512).
- fine-tuned (``--image-encoder-finetune``): the splits hold the normalised pixels,
  ``(N, C, H, W)``, and DSCMR owns the CNN (``create_model("dscmr", image_encoder=...)``),
  whose weights :func:`load_image_encoder` fills; DSCMR's losses then train the CNN with the
  rest, every step a forward and backward pass through it. All pixels are held in memory as
  float32: ``4 C H W`` bytes an image, 602,112 at 3x224x224 (574 MiB for 1,000 images).

The text side is the bag of words (1 per word present) over the words of the training
texts, the released code's Doc2Vec replaced by the issue's bag-of-words option.

Deviations:
    The paper's image features come from a VGG-19 fixed beforehand; fine-tuning the CNN with
    DSCMR's losses is convzoo's option.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch

from convzoo.data.crossmodal import CrossModalSplit, CrossModalSplits
from convzoo.data.crossmodal.image_text import ImageTextFolder, read_image_text_folders, words
from convzoo.data.images import load_image
from convzoo.errors import ConvzooError
from convzoo.models.dscmr import DSCMR
from convzoo.registry import create_model, get_entry
from convzoo.weights import check_state_dict, normalise_state_dict, read_state_dict

__all__ = ["IMAGENET_MEAN", "IMAGENET_STD", "encode_image_text", "encoder_input", "load_image_encoder",
           "pooled_encoder", "read_pixels", "vocabulary_of"]

IMAGENET_MEAN, IMAGENET_STD = (0.485, 0.456, 0.406), (0.229, 0.224, 0.225)
BATCH = 32


def vocabulary_of(texts: list[str]) -> list[str]:
    """The sorted words of ``texts``."""
    return sorted({word for text in texts for word in words(text)})


def _bags(texts: list[str], vocabulary: list[str]) -> torch.Tensor:
    index = {word: i for i, word in enumerate(vocabulary)}
    vectors = torch.zeros(len(texts), len(vocabulary))
    for row, text in enumerate(texts):
        for word in words(text):
            if word in index:
                vectors[row, index[word]] = 1.0
    return vectors


def encoder_input(settings: dict[str, Any]) -> tuple[int, int, int]:
    """The (C, H, W) the images are read at: the encoder's channels, ``image_size`` or its input side."""
    name = settings.get("image_encoder") or "resnet18"
    entry = get_entry(name)
    if entry.task != "classification":
        raise ConvzooError(f"--image-encoder {name} is a {entry.task} model; give a classifier, e.g. resnet18")
    channels, *sides = entry.input_size
    side = settings.get("image_size") or sides[-1]
    return channels, side, side


def read_pixels(paths: list[Path], channels: int, side: int) -> torch.Tensor:
    """``(N, channels, side, side)`` float32 pixels of ``paths``, normalised as the encoders expect."""
    mean, std = (IMAGENET_MEAN, IMAGENET_STD) if channels == 3 else ((0.5,) * channels, (0.5,) * channels)
    return torch.stack([load_image(path, in_chans=channels, size=side, mean=mean, std=std) for path in paths])


def pooled_encoder(name: str, weights: str | None) -> torch.nn.Module:
    """Classifier ``name`` without its classifier, in eval mode, from checkpoint ``weights`` (seeded random without).

    The checkpoint is a whole classifier's (torchvision, timm or convzoo keys) with any number
    of classes: its classifier is left out, every other tensor must fit.
    """
    with torch.random.fork_rng(devices=[]):  # the run's own random state is left as it was
        torch.manual_seed(0)  # a randomly initialised encoder is the same for training and evaluation
        encoder = create_model(name)
    whole = set(encoder.state_dict())
    state = None if weights is None else normalise_state_dict(encoder, read_state_dict(weights))
    encoder.reset_classifier(0)
    if state is not None:
        head = whole - set(encoder.state_dict())
        state = {key: value for key, value in state.items() if key not in head}
        check_state_dict(encoder, state, source=weights)
        encoder.load_state_dict(state)
    return encoder.eval()


def load_image_encoder(model: DSCMR, name: str, weights: str) -> None:
    """Fill the CNN a fine-tuned DSCMR owns with classifier ``name``'s checkpoint ``weights``.

    What :func:`pooled_encoder` reads from the checkpoint is copied into ``model.image_encoder``.
    """
    if model.image_encoder is None:
        raise ConvzooError(f"--image-encoder-weights {weights}: this DSCMR has no image encoder to load")
    model.image_encoder.load_state_dict(pooled_encoder(name, weights).state_dict())


@torch.no_grad()
def _image_features(encoder: torch.nn.Module, folder: ImageTextFolder, channels: int, side: int) -> torch.Tensor:
    features = []
    for start in range(0, len(folder.images), BATCH):
        batch = read_pixels(folder.images[start:start + BATCH], channels, side)
        features.append(encoder(batch).flatten(1).float())
    return torch.cat(features)


def encode_image_text(settings: dict[str, Any]) -> CrossModalSplits:
    """The pairs of ``settings['data_dir']``: CNN features, or pixels when fine-tuning, and bags of words."""
    channels, side, _ = encoder_input(settings)
    splits, class_names = read_image_text_folders(settings["data_dir"])
    if settings.get("image_encoder_finetune"):
        def images(folder: ImageTextFolder) -> torch.Tensor:
            return read_pixels(folder.images, channels, side)  # (N, C, H, W)
    else:
        encoder = pooled_encoder(settings.get("image_encoder") or "resnet18", settings.get("image_encoder_weights"))

        def images(folder: ImageTextFolder) -> torch.Tensor:
            return _image_features(encoder, folder, channels, side)  # (N, num_features)
    vocabulary = vocabulary_of(splits["train"].texts)
    eye = torch.eye(len(class_names))

    def split(folder: ImageTextFolder) -> CrossModalSplit:
        return CrossModalSplit(images(folder), _bags(folder.texts, vocabulary), eye[folder.labels],
                               sentences=folder.texts, files=folder.images)

    encoded = {key: split(folder) for key, folder in splits.items() if key != "val"}
    encoded["val"] = encoded["test"] if splits["val"] is splits["test"] else split(splits["val"])
    return CrossModalSplits(train=encoded["train"], val=encoded["val"], test=encoded["test"],
                            class_names=class_names, vocabulary=vocabulary)
