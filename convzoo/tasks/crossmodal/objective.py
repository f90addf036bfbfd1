"""DSCMR for the training engine: the objective on a batch of pairs, and the shared classifier's accuracy.

The engine hands :class:`CrossModalTask` the network's :class:`~convzoo.models.dscmr.DSCMROutput`
for a batch of image-text pairs and the pairs' label vectors (both modalities of a pair
share its labels, as in the released code). ``--crossmodal-ablate`` drops one of the three
losses, the paper's ablation: ``label`` (J1), ``common`` (J2) or ``invariance`` (J3).

The per-epoch scores are the label accuracies of the shared classifier on each modality
(a prediction is right when its top class is one of the pair's); the retrieval mAPs come
at the end of the run (:mod:`~convzoo.tasks.crossmodal.scoring`).
"""

from __future__ import annotations

import torch

from convzoo.errors import ConvzooError
from convzoo.models.dscmr import DSCMROutput
from convzoo.tasks.crossmodal.flags import ABLATIONS
from convzoo.tasks.crossmodal.losses import ALPHA, BETA, dscmr_loss

__all__ = ["CrossModalTask"]


class CrossModalTask:
    """DSCMR's objective ``J1 + alpha J2 + beta J3``, with ``ablate`` naming a term to drop."""

    name = "crossmodal"

    def __init__(self, alpha: float = ALPHA, beta: float = BETA, ablate: str = "none") -> None:
        if ablate not in ABLATIONS:
            raise ConvzooError(f"unknown ablation {ablate!r}; expected one of {', '.join(ABLATIONS)}")
        self.alpha = 0.0 if ablate == "common" else alpha
        self.beta = 0.0 if ablate == "invariance" else beta
        self.label_weight = 0.0 if ablate == "label" else 1.0

    def loss(self, output: DSCMROutput, target: torch.Tensor) -> torch.Tensor:
        output = DSCMROutput(*(part.float() for part in output))
        return dscmr_loss(*output, target, target, self.alpha, self.beta, label_weight=self.label_weight)

    def batch_sums(self, output: DSCMROutput, target: torch.Tensor, detailed: bool = False) -> dict[str, torch.Tensor]:
        """Pairs whose image, and whose text, the shared classifier puts in one of their classes."""
        rows = torch.arange(len(target), device=target.device)
        return {
            f"{modality}_hits": (target[rows, logits.detach().argmax(dim=1)] > 0).sum()
            for modality, logits in (("image", output.image_logits), ("text", output.text_logits))
        }

    def summarize(self, sums: dict[str, torch.Tensor], count: int) -> dict[str, float]:
        return {f"{modality}_acc": sums[f"{modality}_hits"].item() / max(count, 1) for modality in ("image", "text")}
