"""Features of images and raw texts for DSCMR: a frozen zoo CNN for the images, bags of words for the texts.

For ``--dataset image-text`` (:mod:`convzoo.data.crossmodal.image_text`). The image side is
``--image-encoder`` (any zoo classifier, default ``resnet18``) with its classifier removed
(``reset_classifier(0)``: the pooled features), loaded from ``--image-encoder-weights`` (a
torchvision, timm or convzoo checkpoint; without it the network keeps its random
initialisation, which only suits tests), frozen and run once over every image in eval
mode. Images are read at the encoder's input side (or ``--image-size``), normalised with
ImageNet's statistics (3 channels) or 0.5/0.5. The text side is the bag of words (1 per
word present) over the words of the training texts, the released code's Doc2Vec replaced by
the issue's bag-of-words option.

Deviations:
    The encoder is frozen (features computed once); fine-tuning it with DSCMR's losses is
    not done.
"""

from __future__ import annotations

from typing import Any

import torch

from convzoo.data.crossmodal import CrossModalSplit, CrossModalSplits
from convzoo.data.crossmodal.image_text import ImageTextFolder, read_image_text_folders, words
from convzoo.data.images import load_image
from convzoo.errors import ConvzooError
from convzoo.registry import create_model, get_entry

__all__ = ["IMAGENET_MEAN", "IMAGENET_STD", "encode_image_text", "vocabulary_of"]

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


@torch.no_grad()
def _image_features(encoder: torch.nn.Module, folder: ImageTextFolder, channels: int, side: int) -> torch.Tensor:
    mean, std = (IMAGENET_MEAN, IMAGENET_STD) if channels == 3 else ((0.5,) * channels, (0.5,) * channels)
    features = []
    for start in range(0, len(folder.images), BATCH):
        batch = torch.stack([load_image(path, in_chans=channels, size=side, mean=mean, std=std)
                             for path in folder.images[start:start + BATCH]])
        features.append(encoder(batch).flatten(1).float())
    return torch.cat(features)


def encode_image_text(settings: dict[str, Any]) -> CrossModalSplits:
    """The pairs of ``settings['data_dir']`` as CNN features and bags of words (see the module's notes)."""
    name = settings.get("image_encoder") or "resnet18"
    if get_entry(name).task != "classification":
        raise ConvzooError(f"--image-encoder {name} is a {get_entry(name).task} model; give a classifier, e.g. resnet18")
    splits, class_names = read_image_text_folders(settings["data_dir"])
    channels, *sides = get_entry(name).input_size
    side = settings.get("image_size") or sides[-1]
    with torch.random.fork_rng(devices=[]):  # the run's own random state is left as it was
        torch.manual_seed(0)  # a randomly initialised encoder is the same for training and evaluation
        encoder = create_model(name, pretrained=settings.get("image_encoder_weights"))
    encoder.reset_classifier(0)
    encoder.eval()
    vocabulary = vocabulary_of(splits["train"].texts)
    eye = torch.eye(len(class_names))

    def split(folder: ImageTextFolder) -> CrossModalSplit:
        return CrossModalSplit(_image_features(encoder, folder, channels, side), _bags(folder.texts, vocabulary),
                               eye[folder.labels], sentences=folder.texts, files=folder.images)

    encoded = {key: split(folder) for key, folder in splits.items() if key != "val"}
    encoded["val"] = encoded["test"] if splits["val"] is splits["test"] else split(splits["val"])
    return CrossModalSplits(train=encoded["train"], val=encoded["val"], test=encoded["test"],
                            class_names=class_names, vocabulary=vocabulary)
