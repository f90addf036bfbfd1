"""Scoring a DSCMR network on a split: both modalities in the common space, the two mAPs and their average, and
the precision-recall curves drawn.

The test split's images query its texts (image-to-text) and its texts query its images
(text-to-image), each ranking the whole other modality by cosine distance
(:func:`~convzoo.tasks.crossmodal.retrieval.cross_modal_map`); the average of the two is the
paper's headline number.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch
from torch import nn

from convzoo.data.crossmodal import CrossModalSplit
from convzoo.tasks.crossmodal.retrieval import cross_modal_map, precision_recall_curve

__all__ = ["PR_FILE", "embed_split", "map_report", "plot_precision_recall", "report_lines"]

PR_FILE = "precision_recall.png"


@torch.no_grad()
def embed_split(model: nn.Module, split: CrossModalSplit, *, batch_size: int = 256,
                device: torch.device | str | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    """The split's images and texts in the common space, in eval mode: ``(N, D)`` each, on the CPU."""
    device = device or next(model.parameters()).device
    was_training = model.training
    model.eval()
    images, texts = [], []
    for start in range(0, len(split), batch_size):
        images.append(model.encode_image(split.images[start:start + batch_size].to(device)).float().cpu())
        texts.append(model.encode_text(split.texts[start:start + batch_size].to(device)).float().cpu())
    model.train(was_training)
    return torch.cat(images), torch.cat(texts)


def map_report(image_common: torch.Tensor, text_common: torch.Tensor, labels: torch.Tensor) -> dict[str, Any]:
    """Image-to-text and text-to-image mAP over the whole split, and their average."""
    image_to_text = cross_modal_map(image_common, text_common, labels, labels)
    text_to_image = cross_modal_map(text_common, image_common, labels, labels)
    return {"image_to_text_map": image_to_text, "text_to_image_map": text_to_image,
            "average_map": (image_to_text + text_to_image) / 2, "pairs": len(labels)}


def report_lines(report: dict[str, Any]) -> list[str]:
    return [f"mAP           image->text {report['image_to_text_map']:.4f}  text->image "
            f"{report['text_to_image_map']:.4f}  average {report['average_map']:.4f}  ({report['pairs']} pairs, "
            "whole split, cosine)"]


def plot_precision_recall(image_common: torch.Tensor, text_common: torch.Tensor, labels: torch.Tensor, path: Path,
                          title: str) -> None:
    """Both directions' precision-recall curves in one PNG."""
    import matplotlib  # slow to import: only when a plot is drawn

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figure, axes = plt.subplots(figsize=(5, 4))
    for name, queries, gallery in (("image -> text", image_common, text_common),
                                   ("text -> image", text_common, image_common)):
        recall, precision = precision_recall_curve(queries, gallery, labels, labels)
        axes.plot(recall, precision, label=name)
    axes.set(xlabel="recall", ylabel="precision", title=title, xlim=(0, 1), ylim=(0, 1.02))
    axes.legend()
    figure.tight_layout()
    figure.savefig(path, dpi=100)
    plt.close(figure)
