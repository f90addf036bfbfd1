"""The whole scene classified, unlabelled pixels included: a batch of patches at a time."""

from __future__ import annotations

import numpy as np
import torch
from torch import nn
from torch.utils.data import Dataset

from convzoo.data.hyperspectral import HyperspectralSplits, PatchDataset
from convzoo.errors import ConvzooError
from convzoo.tasks.classification.objective import main_logits

__all__ = ["SCENE_MAPS", "predict_pixels", "predict_scene"]

SCENE_MAPS = ("all", "labelled", "none")  # which pixels the classification map shows


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
