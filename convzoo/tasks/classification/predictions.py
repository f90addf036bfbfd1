"""Sample predictions as a picture: the first test images with the class predicted and the true one."""

from __future__ import annotations

from pathlib import Path
from typing import Sequence

import torch
from torch import nn
from torch.utils.data import Dataset

__all__ = ["PREDICTIONS_FILE", "plot_predictions", "predict_samples"]

PREDICTIONS_FILE = "predictions.png"
SAMPLES = 16  # a 4 x 4 grid


@torch.no_grad()
def predict_samples(model: nn.Module, data: Dataset, device: torch.device,
                    count: int = SAMPLES) -> tuple[torch.Tensor, list[int], list[int]]:
    """The first ``count`` images of ``data`` ``(N, C, H, W)``, their labels and ``model``'s predictions."""
    items = [data[index] for index in range(min(count, len(data)))]
    images = torch.stack([image for image, _ in items])
    model.eval()
    predicted = model(images.to(device)).argmax(dim=1).tolist()
    return images, [int(label) for _, label in items], predicted


def plot_predictions(images: torch.Tensor, labels: Sequence[int], predicted: Sequence[int], class_names: list[str],
                     mean: Sequence[float], std: Sequence[float], path: Path) -> None:
    """A grid of the images, unnormalised, each titled ``predicted (true)``; mistakes in red."""
    import matplotlib  # slow to import: only when a plot is drawn

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    shown = images * torch.tensor(std).view(1, -1, 1, 1) + torch.tensor(mean).view(1, -1, 1, 1)
    shown = shown.clamp(0, 1).permute(0, 2, 3, 1)  # (N, H, W, C)
    columns = 4
    rows = -(-len(images) // columns)
    figure, axes = plt.subplots(rows, columns, figsize=(2.2 * columns, 2.4 * rows), squeeze=False)
    for axis in axes.flat:
        axis.axis("off")
    for axis, image, label, guess in zip(axes.flat, shown, labels, predicted):
        axis.imshow(image.squeeze(-1).numpy(), cmap="gray" if image.shape[-1] == 1 else None)
        axis.set_title(f"{class_names[guess]} ({class_names[label]})", fontsize=9,
                       color="black" if guess == label else "red")
    figure.suptitle("test predictions: predicted (true)")
    figure.tight_layout()
    figure.savefig(path, dpi=100)
    plt.close(figure)
