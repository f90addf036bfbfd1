"""Comparing image files with a metric-learning checkpoint: verification of a pair, retrieval from a folder.

What ``convzoo verify CHECKPOINT A B`` and ``convzoo retrieve CHECKPOINT QUERY --gallery
DIR`` do. An image is read as the checkpoint's network takes it (its channel count and
side, the training split's normalisation; Omniglot's strokes inverted to bright on dark,
as its loader gives them), embedded in eval mode, and compared by the distance the
report used (Euclidean, or minus the network's pair score). The verification threshold
is the one the training run chose on its validation split.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import torch
from matplotlib.figure import Figure

from convzoo.data.images import IMAGE_SUFFIXES, load_image
from convzoo.errors import ConvzooError
from convzoo.tasks.metric.neighbours import nearest_neighbours
from convzoo.tasks.metric.scoring import pair_distance_fn
from convzoo.train.checkpoint import CheckpointMeta, load_checkpoint

__all__ = ["Retrieved", "Verified", "gallery_files", "load_comparer", "read_image", "retrieve_files", "verify_files"]

INVERTED_DATASETS = ("omniglot",)  # loaded with strokes bright on a dark background


def load_comparer(checkpoint: str | Path) -> tuple[torch.nn.Module, CheckpointMeta]:
    """A checkpoint written by ``convzoo train --task metric``; an error for any other."""
    model, meta = load_checkpoint(checkpoint)
    if meta.task != "metric":
        raise ConvzooError(f"checkpoint {checkpoint} is a {meta.task} model, not a metric-learning one "
                           "(train one with --task metric)")
    return model, meta


def read_image(path: str | Path, meta: CheckpointMeta) -> torch.Tensor:
    """``path`` as the checkpoint's network takes it, ``(C, S, S)``."""
    channels, side = meta.input_size[0], meta.input_size[-1]
    image = load_image(path, in_chans=channels, size=side, mean=[0.0] * channels, std=[1.0] * channels)
    if meta.task_args.get("dataset") in INVERTED_DATASETS:
        image = 1.0 - image
    mean = torch.tensor(meta.mean, dtype=torch.float32).view(-1, 1, 1)
    std = torch.tensor(meta.std, dtype=torch.float32).view(-1, 1, 1)
    return (image - mean) / std


@torch.no_grad()
def _embed(model: torch.nn.Module, images: list[torch.Tensor], batch_size: int = 64) -> torch.Tensor:
    return torch.cat([model(torch.stack(images[start:start + batch_size])).float()
                      for start in range(0, len(images), batch_size)])


@dataclass
class Verified:
    """The distance of two images, the checkpoint's threshold, and the verdict (distance <= threshold)."""

    distance: float
    threshold: float | None
    same: bool | None


def verify_files(checkpoint: str | Path, first: str | Path, second: str | Path) -> Verified:
    model, meta = load_comparer(checkpoint)
    embeddings = _embed(model, [read_image(first, meta), read_image(second, meta)])
    distance = float(pair_distance_fn(model)(embeddings[:1], embeddings[1:])[0])
    threshold = meta.task_args.get("threshold")
    return Verified(distance, threshold, None if threshold is None else distance <= threshold)


def gallery_files(folder: str | Path) -> list[Path]:
    """The image files under ``folder`` (subfolders too), sorted; an error when there is none."""
    folder = Path(folder)
    if not folder.is_dir():
        raise ConvzooError(f"gallery {folder} is not a folder of images")
    files = sorted(p for p in folder.rglob("*") if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES)
    if not files:
        raise ConvzooError(f"gallery {folder} holds no image ({', '.join(IMAGE_SUFFIXES)})")
    return files


@dataclass
class Retrieved:
    """The nearest gallery files to the query, nearest first, with their distances, and the strip drawn."""

    files: list[Path]
    distances: list[float]
    strip: Path | None


def retrieve_files(checkpoint: str | Path, query: str | Path, gallery: str | Path, *, top_k: int = 5,
                   out: str | Path | None = None) -> Retrieved:
    model, meta = load_comparer(checkpoint)
    files = gallery_files(gallery)
    query_embedding = _embed(model, [read_image(query, meta)])
    gallery_embeddings = _embed(model, [read_image(path, meta) for path in files])
    k = min(top_k, len(files))
    if hasattr(model, "pair_logits"):  # a network that scores pairs ranks by its score
        distances = pair_distance_fn(model)(query_embedding.expand(len(files), -1), gallery_embeddings)
        distances, indices = distances.topk(k, largest=False)
    else:
        distances, indices = (row[0] for row in nearest_neighbours(query_embedding, gallery_embeddings, k))
    found = [files[i] for i in indices.tolist()]
    strip = _write_strip(Path(out), query, found, distances.tolist()) if out is not None else None
    return Retrieved(found, distances.tolist(), strip)


def _write_strip(path: Path, query: str | Path, found: list[Path], distances: list[float]) -> Path:
    """The query and its nearest gallery images in one row, each titled with its distance."""
    from PIL import Image

    figure = Figure(figsize=(1.8 * (len(found) + 1), 2.2))
    axes = figure.subplots(1, len(found) + 1)
    for index, (ax, file) in enumerate(zip(axes, [Path(query), *found])):
        with Image.open(file) as image:
            ax.imshow(image.convert("RGB"))
        ax.set_title("query" if index == 0 else f"{distances[index - 1]:.3f}", fontsize=8)
        ax.set_xlabel(file.name, fontsize=6)
        ax.set_xticks([])
        ax.set_yticks([])
    figure.tight_layout()
    figure.savefig(path, dpi=80)
    return path
