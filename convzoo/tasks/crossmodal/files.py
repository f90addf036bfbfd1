"""Images for a text: ``convzoo retrieve CHECKPOINT --text "..."`` with a crossmodal checkpoint.

The words become the bag-of-words vector of the checkpoint's vocabulary (the generated
pairs' words, or an image-text folder's training words; words outside it are reported and
left out), the text network maps it into
the common space, and the test split's images are ranked by cosine similarity to it.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import torch
import torch.nn.functional as F
from matplotlib.figure import Figure

from convzoo.data.crossmodal import CrossModalSplit
from convzoo.errors import ConvzooError
from convzoo.tasks.crossmodal.scoring import embed_split
from convzoo.train.checkpoint import CheckpointMeta

__all__ = ["TextHits", "retrieve_for_text", "text_vector"]


def text_vector(text: str, vocabulary: list[str]) -> tuple[torch.Tensor, list[str]]:
    """``(1, len(vocabulary))`` bag of words of ``text``, and its words outside the vocabulary."""
    index = {word: i for i, word in enumerate(vocabulary)}
    vector = torch.zeros(1, len(vocabulary))
    unknown = []
    for word in text.lower().split():
        if word in index:
            vector[0, index[word]] = 1.0
        elif word not in unknown:
            unknown.append(word)
    return vector, unknown


@dataclass
class TextHits:
    """The test images nearest to a text, nearest first: their indices, names (files, where the dataset has them),
    classes and cosine similarities."""

    indices: list[int]
    names: list[str]
    classes: list[str]
    similarities: list[float]
    unknown_words: list[str]
    strip: Path | None


def retrieve_for_text(model: torch.nn.Module, meta: CheckpointMeta, split: CrossModalSplit, text: str, *,
                      top_k: int, out: Path | None) -> TextHits:
    vocabulary = meta.task_args.get("vocabulary") or []
    if not vocabulary:
        raise ConvzooError(f"the checkpoint was trained on {meta.dataset}'s given text features, which convzoo cannot "
                           "compute from words; --text needs a checkpoint trained on paired-digits or image-text")
    vector, unknown = text_vector(text, vocabulary)
    if not vector.any():
        raise ConvzooError(f"none of the words of --text {text!r} is in the checkpoint's vocabulary: "
                           f"{' '.join(vocabulary)}")
    with torch.no_grad():
        query = model.encode_text(vector.to(next(model.parameters()).device)).float().cpu()
    images, _ = embed_split(model, split)
    similarities = (F.normalize(images, dim=1) @ F.normalize(query, dim=1).T).squeeze(1)
    values, indices = similarities.topk(min(top_k, len(similarities)))
    classes = [meta.class_names[int(split.labels[i].argmax())] for i in indices.tolist()]
    names = [str(split.files[i]) if split.files else f"test image {i}" for i in indices.tolist()]
    strip = None
    if out is not None and split.pictures is not None:
        strip = _write_strip(out, text, split.pictures[indices], values.tolist())
    return TextHits(indices.tolist(), names, classes, values.tolist(), unknown, strip)


def _write_strip(path: Path, text: str, pictures: torch.Tensor, similarities: list[float]) -> Path:
    figure = Figure(figsize=(1.4 * len(pictures), 1.9))
    axes = figure.subplots(1, len(pictures), squeeze=False)[0]
    for ax, picture, similarity in zip(axes, pictures, similarities):
        ax.imshow(picture.numpy(), cmap="gray_r", vmin=0, vmax=1)
        ax.set_title(f"{similarity:.3f}", fontsize=8)
        ax.set_xticks([])
        ax.set_yticks([])
    figure.suptitle(text, fontsize=8)
    figure.tight_layout()
    figure.savefig(path, dpi=80)
    return path
