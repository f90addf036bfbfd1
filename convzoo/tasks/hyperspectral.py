"""Hyperspectral pixel classification: the remote-sensing scores and a whole-scene classification map.

A hyperspectral classifier labels every pixel of a scene from the patch around it; the
loss is the cross-entropy of classification. The field reports three scores, all read
off the confusion matrix ``C`` (rows: true class, columns: predicted), with ``n`` test
pixels:

* overall accuracy, ``OA = trace(C) / n``: the share of pixels labelled right;
* average accuracy, ``AA``: the mean over classes of each class's accuracy (its recall,
  ``C_kk / sum_j C_kj``). Scenes are very unbalanced (Indian Pines has 2,455 pixels of
  Soybean-mintill and 20 of Oats), so OA can be high while small classes are missed; AA
  weighs every class the same;
* Cohen's kappa, ``(p_o - p_e) / (1 - p_e)`` with ``p_o = OA`` and
  ``p_e = sum_k (row_k / n)(col_k / n)``, the agreement expected by chance from the
  class frequencies of the truth and of the predictions: 0 for a classifier no better
  than chance at those frequencies, 1 for a perfect one.

Papers quote all three in percent, with the per-class accuracies. The whole scene,
unlabelled pixels included, is then classified in batches (:func:`predict_scene`) and
drawn beside the ground truth (:func:`plot_classification_map`).
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import torch
from torch import nn
from torch.utils.data import Dataset

from convzoo.data.hyperspectral import HyperspectralSplits, PatchDataset
from convzoo.errors import ConvzooError
from convzoo.tasks.classification import ClassificationTask, main_logits, per_class_accuracy

if TYPE_CHECKING:
    from matplotlib.figure import Figure

__all__ = [
    "SCENE_MAPS", "HyperspectralTask", "classification_map_figure", "cohen_kappa", "plot_classification_map",
    "predict_pixels", "predict_scene", "scene_scores",
]

SCENE_MAPS = ("all", "labelled", "none")  # which pixels the classification map shows


def cohen_kappa(confusion: torch.Tensor) -> float:
    """Cohen's kappa of a confusion matrix (rows: true class, columns: predicted)."""
    confusion = confusion.double()
    total = confusion.sum()
    if total == 0:
        return 0.0
    observed = confusion.trace() / total
    expected = (confusion.sum(dim=1) * confusion.sum(dim=0)).sum() / total**2
    if expected == 1:  # a single class in truth and prediction: agreement cannot beat chance
        return 1.0 if observed == 1 else 0.0
    return ((observed - expected) / (1 - expected)).item()


def scene_scores(confusion: torch.Tensor) -> dict[str, float | list[float | None]]:
    """OA, AA, kappa and per-class accuracy of a confusion matrix; AA averages the classes present."""
    confusion = confusion.double()
    per_class = per_class_accuracy(confusion)
    present = [accuracy for accuracy in per_class if accuracy is not None]
    total = confusion.sum().item()
    return {
        "overall_accuracy": confusion.trace().item() / total if total else 0.0,
        "average_accuracy": sum(present) / len(present) if present else 0.0,
        "kappa": cohen_kappa(confusion),
        "per_class_accuracy": per_class,
    }


class HyperspectralTask(ClassificationTask):
    """Cross-entropy, with OA (``accuracy``), AA and kappa from a confusion matrix summed over batches.

    Args:
        num_classes: classes of the scene.
        label_smoothing: as in :class:`ClassificationTask` (0 in the paper).
    """

    name = "hyperspectral"

    def __init__(self, num_classes: int, label_smoothing: float = 0.0) -> None:
        super().__init__(num_classes, label_smoothing)

    def batch_sums(
        self, output: torch.Tensor, targets: torch.Tensor, detailed: bool = False
    ) -> dict[str, torch.Tensor]:
        """The confusion matrix of the batch (every batch: AA and kappa need it)."""
        predicted = main_logits(output).detach().argmax(dim=1)
        pairs = targets * self.num_classes + predicted
        counts = torch.bincount(pairs, minlength=self.num_classes**2).float()
        return {"confusion": counts.view(self.num_classes, self.num_classes)}  # rows: true, columns: predicted

    def summarize(self, sums: dict[str, torch.Tensor], count: int) -> dict[str, float]:
        scores = scene_scores(sums["confusion"].cpu())
        return {
            "accuracy": scores["overall_accuracy"],  # OA, under the name every classifier reports
            "average_accuracy": scores["average_accuracy"],
            "kappa": scores["kappa"],
        }


@torch.no_grad()
def predict_pixels(
    model: nn.Module, patches: Dataset, *, batch_size: int = 256, device: torch.device | str = "cpu"
) -> np.ndarray:
    """The predicted class of each pixel of a patch dataset, ``(N,)``, in the dataset's order.

    ``patches`` cuts a batch of patches at a time (``PatchDataset.patches``); the model
    runs in eval mode a batch at a time, so memory stays bounded whatever the scene size.
    """
    was_training = model.training
    model.eval()
    predictions = [torch.zeros(0, dtype=torch.long)]
    try:
        for start in range(0, len(patches), batch_size):
            indices = list(range(start, min(start + batch_size, len(patches))))
            inputs = patches.patches(indices).to(device)  # (B, C, window, window)
            predictions.append(main_logits(model(inputs)).argmax(dim=1).cpu())
    finally:
        model.train(was_training)
    return torch.cat(predictions).numpy()


def predict_scene(
    model: nn.Module, splits: HyperspectralSplits, pixels: str = "all", *, batch_size: int = 256,
    device: torch.device | str = "cpu",
) -> np.ndarray:
    """The classification map ``(H, W)``: the predicted class of every pixel (``pixels="all"``) or of the
    labelled ones only (``"labelled"``, -1 elsewhere)."""
    if pixels not in SCENE_MAPS[:2]:
        raise ConvzooError(f"unknown scene map {pixels!r}; expected all or labelled")
    shape = splits.labels.shape
    if pixels == "all":
        return predict_pixels(model, splits.scene, batch_size=batch_size, device=device).reshape(shape)
    labelled = np.flatnonzero(splits.labels.reshape(-1) > 0)
    index = torch.from_numpy(labelled)
    scene = splits.scene
    dataset = PatchDataset(scene.padded, scene.positions[index], scene.labels[index], scene.window)
    flat = np.full(splits.labels.size, -1, dtype=np.int64)
    flat[labelled] = predict_pixels(model, dataset, batch_size=batch_size, device=device)
    return flat.reshape(shape)


def _class_colours(num_classes: int) -> np.ndarray:
    """RGB colours, black for unlabelled (index 0), then one distinct colour per class."""
    import matplotlib

    palette = matplotlib.colormaps["tab20"].colors if num_classes <= 20 else None
    if palette is None:
        palette = matplotlib.colormaps["gist_ncar"](np.linspace(0.05, 0.95, num_classes))[:, :3]
    return np.concatenate([np.zeros((1, 3)), np.asarray(palette)[:num_classes]])


def classification_map_figure(
    labels: np.ndarray, predicted: np.ndarray, class_names: list[str], title: str = ""
) -> Figure:
    """Ground truth, the whole-scene prediction and the prediction on the labelled pixels, side by side.

    Black is an unlabelled pixel (no ground truth, so no score) or, in a map of the
    labelled pixels only, a pixel not classified; the legend names it with the classes.

    Args:
        labels: ground truth ``(H, W)``, 0 = unlabelled, k = class ``k - 1``.
        predicted: predicted class index ``(H, W)``, 0 to K - 1, or -1 where not predicted.
        class_names: class ``k`` is ``class_names[k]``.
        title: a line above the panels (e.g. the scores and the split they are of).
    """
    from matplotlib.colors import ListedColormap
    from matplotlib.figure import Figure
    from matplotlib.patches import Patch

    colours = _class_colours(len(class_names))
    cmap = ListedColormap(colours)
    shown = predicted + 1
    panels = [
        ("ground truth", labels),
        ("prediction, every pixel", shown),
        ("prediction, labelled pixels", np.where(labels > 0, shown, 0)),
    ]
    height, width = labels.shape
    figure = Figure(figsize=(3 * 3.6 * max(width / height, 0.5) + 2.5, 4.2), layout="constrained")
    for axis, (name, image) in zip(figure.subplots(1, 3), panels):
        axis.imshow(image, cmap=cmap, vmin=0, vmax=len(class_names), interpolation="nearest")
        axis.set_title(name)
        axis.set_axis_off()
    black = "unlabelled" + (", or not classified" if (predicted < 0).any() else "")
    handles = [Patch(facecolor=colours[0], edgecolor="0.6", label=black)]  # an edge, so black shows on white
    handles += [Patch(color=colours[k + 1], label=name) for k, name in enumerate(class_names)]
    figure.legend(handles=handles, loc="outside right center", fontsize=7, frameon=False)
    if title:
        figure.suptitle(title)
    return figure


def plot_classification_map(
    labels: np.ndarray, predicted: np.ndarray, class_names: list[str], path: str | Path, title: str = ""
) -> None:
    """Save :func:`classification_map_figure` (same arguments) as the PNG ``path``."""
    classification_map_figure(labels, predicted, class_names, title).savefig(path, dpi=100)
