"""Sets of silhouettes: a gait sequence as a tensor of frames with its subject's label.

Paper: GaitSet: Regarding Gait as a Set for Cross-View Gait Recognition (Chao, He, Zhang, Feng,
AAAI 2019) https://arxiv.org/abs/1811.06186, Sec. 4.1

Training draws a fixed number of frames from each sequence (the paper's 30), with replacement,
so every set of a batch has the same size whatever the sequence's length, and in no order:
GaitSet's set pooling ignores it. Evaluation takes every frame of the sequence, in order.
"""

from __future__ import annotations

import numpy as np
import torch
from torch.utils.data import Dataset

from convzoo.data.gait.sequences import GaitSource
from convzoo.errors import ConvzooError

__all__ = ["SilhouetteSets"]


class SilhouetteSets(Dataset):
    """Sequences ``indices`` of ``source`` as sets of frames, labelled ``labels``.

    Item ``i``: ``(frames, labels[i])``, frames float32 ``(T, 64, 44)`` in [0, 1] of sequence
    ``source.sequences[indices[i]]``. With ``frames_per_set=k``, ``T = k`` frames drawn with
    replacement by torch's global random generator (which the training engine saves and
    restores, so a resumed run draws the same sets); with None, every frame in order.

    Args:
        source: the gait source.
        indices: positions in ``source.sequences``.
        labels: one integer per index.
        frames_per_set: frames drawn per item, or None for all of them.
    """

    def __init__(self, source: GaitSource, indices: list[int], labels: list[int], frames_per_set: int | None) -> None:
        if len(indices) != len(labels):
            raise ConvzooError(f"SilhouetteSets: {len(indices)} indices but {len(labels)} labels")
        if frames_per_set is not None and frames_per_set < 1:
            raise ConvzooError(f"frames_per_set must be at least 1 (or None for every frame), got {frames_per_set}")
        bad = [i for i in indices if not 0 <= i < len(source.sequences)]
        if bad:
            raise ConvzooError(f"SilhouetteSets: index {bad[0]} is not one of the {len(source.sequences)} sequences "
                               f"of {source.name}")
        self.source, self.indices, self.labels = source, list(indices), list(labels)
        self.frames_per_set = frames_per_set

    def __len__(self) -> int:
        return len(self.indices)

    def __getitem__(self, i: int) -> tuple[torch.Tensor, int]:
        frames = self.source.frames(self.indices[i])  # (T, 64, 44) uint8, the source's read-only copy
        if self.frames_per_set is None:
            chosen = np.array(frames)
        else:
            chosen = frames[torch.randint(frames.shape[0], (self.frames_per_set,)).numpy()]  # (k, 64, 44), a copy
        return torch.from_numpy(chosen).float().div_(255.0), self.labels[i]
