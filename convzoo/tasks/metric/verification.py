"""Verification: are the two images of a pair the same identity? Scored from pair distances.

A Siamese or triplet network is judged as a verifier by thresholding the distance between
the two embeddings of a pair: a pair at distance ``d <= t`` is accepted as "same". Over
all thresholds ``t`` this traces the ROC curve of

* TAR(t), the true accept rate: the share of genuine pairs (same identity) accepted;
* FAR(t), the false accept rate: the share of impostor pairs (different identities) accepted.

Read off the curve are the area under it (AUC: the chance that a random genuine pair is
closer than a random impostor pair, ties counting one half), the equal error rate (EER:
where FAR equals the false reject rate ``1 - TAR``), and the TAR at a fixed FAR (the
operating points face verification reports, e.g. TAR at FAR = 1e-3 in the IJB and
MegaFace protocols; LFW's protocol reports the accuracy at the best threshold).

A score in the usual sense is ``-distance``: the curve is scikit-learn's
``roc_curve(same, -distances, drop_intermediate=False)`` with thresholds ``-t``, and the
AUC is ``roc_auc_score(same, -distances)``. With ``n`` impostor pairs the FAR moves in
steps of ``1 / n``; a TAR at a FAR below that is the TAR at FAR = 0.

The threshold of a verifier is a choice made on data, so it is made on the validation
split (:func:`best_threshold`) and only applied to the test split
(:func:`threshold_accuracy`, or ``verification_scores(..., threshold=t)``), never tuned on
test.

Inputs are torch tensors (anything ``torch.as_tensor`` takes, numpy included): 1-D
distances and a 1-D boolean (or 0/1) ``same`` of the same length. Scores are computed in
float64 on the CPU.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import TYPE_CHECKING, Sequence

import torch

from convzoo.errors import ConvzooError

if TYPE_CHECKING:
    from matplotlib.figure import Figure

__all__ = [
    "FAR_TARGETS", "best_threshold", "equal_error_rate", "plot_roc", "roc_auc", "roc_curve", "roc_figure",
    "tar_at_far", "threshold_accuracy", "verification_scores",
]

FAR_TARGETS = {"tar@far=1e-3": 1e-3, "tar@far=1e-2": 1e-2}  # the false accept rates whose TAR is reported


def _pairs(distances: Sequence[float] | torch.Tensor, same: Sequence[bool] | torch.Tensor,
           both_kinds: bool = True) -> tuple[torch.Tensor, torch.Tensor]:
    """Checked float64 distances and boolean labels, on the CPU."""
    distances = torch.as_tensor(distances, dtype=torch.float64).detach().cpu()
    same = torch.as_tensor(same).detach().cpu()
    if distances.dim() != 1 or same.shape != distances.shape:
        raise ConvzooError(f"verification expects 1-D distances and 'same' of one length, "
                           f"got shapes {tuple(distances.shape)} and {tuple(same.shape)}")
    if not torch.isfinite(distances).all():
        raise ConvzooError("verification distances must be finite; got NaN or infinity")
    if same.dtype != torch.bool:
        if not ((same == 0) | (same == 1)).all():
            raise ConvzooError("verification 'same' must be boolean or 0/1")
        same = same.bool()
    genuine = int(same.sum())
    if len(same) == 0:
        raise ConvzooError("verification needs at least one pair; got none")
    if both_kinds and (genuine == 0 or genuine == len(same)):
        raise ConvzooError(f"verification needs genuine and impostor pairs; got {genuine} genuine "
                           f"of {len(same)} pairs")
    return distances, same


def _accepted_counts(distances: torch.Tensor, same: torch.Tensor) -> tuple[torch.Tensor, ...]:
    """Distinct distances ascending, and the genuine and impostor pairs at or below each."""
    order = torch.argsort(distances, stable=True)
    sorted_distances, sorted_same = distances[order], same[order].to(torch.float64)
    genuine = torch.cumsum(sorted_same, 0)
    impostor = torch.cumsum(1.0 - sorted_same, 0)
    last_of_run = torch.ones_like(sorted_same, dtype=torch.bool)  # the last pair of every run of equal distances
    last_of_run[:-1] = sorted_distances[1:] != sorted_distances[:-1]
    return sorted_distances[last_of_run], genuine[last_of_run], impostor[last_of_run]


def roc_curve(distances: Sequence[float] | torch.Tensor,
              same: Sequence[bool] | torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """The ROC curve of "accept a pair when its distance is at most ``t``", at every distinct ``t``.

    Returns:
        ``(far, tar, thresholds)``, float64 tensors of one length, ``thresholds`` increasing
        from ``-inf`` (accept nothing: FAR = TAR = 0) to the largest distance (accept all:
        FAR = TAR = 1); FAR and TAR never decrease. Equal to scikit-learn's
        ``roc_curve(same, -distances, drop_intermediate=False)`` with thresholds negated.
    """
    distances, same = _pairs(distances, same)
    thresholds, genuine, impostor = _accepted_counts(distances, same)
    tar = torch.cat([genuine.new_zeros(1), genuine / genuine[-1]])
    far = torch.cat([impostor.new_zeros(1), impostor / impostor[-1]])
    return far, tar, torch.cat([thresholds.new_full((1,), -math.inf), thresholds])


def roc_auc(far: torch.Tensor, tar: torch.Tensor) -> float:
    """Area under a ROC curve by the trapezoidal rule (a tie of a genuine and an impostor pair counts one half)."""
    return float(torch.trapezoid(tar, far))


def equal_error_rate(far: torch.Tensor, tar: torch.Tensor) -> float:
    """The rate where FAR equals the false reject rate ``1 - TAR``, on the ROC curve drawn as straight segments.

    The false reject rate falls from 1 and the FAR rises to 1, so they cross once: between
    the last point with ``FRR > FAR`` and the next, where the segment meets the line
    ``TAR = 1 - FAR``.
    """
    gap = (1.0 - tar) - far  # FRR - FAR: positive at the start (1), negative or zero at the end (-1)
    after = int(torch.nonzero(gap <= 0)[0])
    before = after - 1
    share = gap[before] / (gap[before] - gap[after])  # where the gap is zero along the segment
    return float(far[before] + share * (far[after] - far[before]))


def tar_at_far(far: torch.Tensor, tar: torch.Tensor, target: float) -> float:
    """The highest TAR among the curve's thresholds whose FAR is at most ``target`` (no interpolation)."""
    return float(tar[far <= target].max())


def best_threshold(distances: Sequence[float] | torch.Tensor, same: Sequence[bool] | torch.Tensor) -> float:
    """The threshold that maximises verification accuracy on these pairs (the validation split's).

    Every way of cutting the sorted distances is tried, from accepting nothing to accepting
    all. Of the cuts with the best accuracy the one that accepts fewest pairs (the lowest
    FAR) wins. The threshold returned lies halfway between the largest accepted distance and
    the smallest rejected one, a margin on both sides for the pairs of another split;
    accepting all returns the largest distance, accepting nothing a value just below the
    smallest.
    """
    distances, same = _pairs(distances, same, both_kinds=False)
    thresholds, genuine, impostor = _accepted_counts(distances, same)
    impostors = len(same) - int(same.sum())
    correct = genuine + (impostors - impostor)  # accepted genuine pairs + rejected impostor pairs
    correct = torch.cat([correct.new_full((1,), impostors), correct])  # cut 0: accept nothing
    cut = int(torch.argmax(correct))  # the first maximum: fewest pairs accepted
    if cut == 0:
        return math.nextafter(float(thresholds[0]), -math.inf)
    if cut == len(thresholds):
        return float(thresholds[-1])
    return float((thresholds[cut - 1] + thresholds[cut]) / 2)


def threshold_accuracy(distances: Sequence[float] | torch.Tensor, same: Sequence[bool] | torch.Tensor,
                       threshold: float) -> float:
    """Share of pairs judged right when a pair at distance ``<= threshold`` is accepted as "same"."""
    distances, same = _pairs(distances, same, both_kinds=False)
    return float(((distances <= threshold) == same).to(torch.float64).mean())


def verification_scores(distances: Sequence[float] | torch.Tensor, same: Sequence[bool] | torch.Tensor, *,
                        threshold: float | None = None) -> dict[str, float]:
    """AUC, EER and TAR at FAR = 1e-3 and 1e-2 of one split's pairs.

    Args:
        distances: ``(P,)`` distance between the two embeddings of each pair.
        same: ``(P,)`` whether each pair is genuine (same identity).
        threshold: a threshold chosen on another split (:func:`best_threshold` on
            validation); when given, ``accuracy`` at it and the ``threshold`` itself are added.

    Returns:
        ``{"auc", "eer", "tar@far=1e-3", "tar@far=1e-2", "genuine_pairs", "impostor_pairs"}``
        (and ``"threshold"``, ``"accuracy"``).
    """
    distances, same = _pairs(distances, same)
    far, tar, _ = roc_curve(distances, same)
    scores = {"auc": roc_auc(far, tar), "eer": equal_error_rate(far, tar)}
    scores.update({key: tar_at_far(far, tar, target) for key, target in FAR_TARGETS.items()})
    genuine = int(same.sum())
    scores.update({"genuine_pairs": genuine, "impostor_pairs": len(same) - genuine})
    if threshold is not None:
        scores.update({"threshold": float(threshold), "accuracy": threshold_accuracy(distances, same, threshold)})
    return scores


def roc_figure(curves: dict[str, tuple[torch.Tensor, ...]], *, log_far: bool = False, title: str = "") -> Figure:
    """One or more named ROC curves, TAR against FAR, each labelled with its AUC.

    Args:
        curves: name -> ``(far, tar)`` or ``(far, tar, thresholds)`` as :func:`roc_curve` returns.
        log_far: a logarithmic FAR axis, where the low-FAR operating points show; the
            points at FAR = 0 cannot be drawn on it and are left out, and the axis starts
            at the smallest FAR drawn.
        title: a line above the plot (e.g. the model and split).
    """
    from matplotlib.figure import Figure

    figure = Figure(figsize=(5.2, 4.6), layout="constrained")
    axis = figure.subplots()
    smallest = 1.0
    for name, curve in curves.items():
        far, tar = torch.as_tensor(curve[0]).double(), torch.as_tensor(curve[1]).double()
        shown = far > 0 if log_far else torch.ones_like(far, dtype=torch.bool)
        if shown.any():
            smallest = min(smallest, float(far[shown].min()))
        axis.plot(far[shown].numpy(), tar[shown].numpy(), label=f"{name} (AUC {roc_auc(far, tar):.3f})")
    if log_far:
        axis.set_xscale("log")
        axis.set_xlim(min(smallest, 1e-3), 1.0)
        chance = torch.logspace(math.log10(min(smallest, 1e-3)), 0, 50)
    else:
        axis.set_xlim(0.0, 1.0)
        chance = torch.tensor([0.0, 1.0])
    axis.plot(chance.numpy(), chance.numpy(), ":", color="0.5", label="chance")
    axis.set_ylim(0.0, 1.01)
    axis.set_xlabel("false accept rate (FAR)")
    axis.set_ylabel("true accept rate (TAR)")
    axis.grid(alpha=0.3, which="both" if log_far else "major")
    axis.legend(loc="upper left" if log_far else "lower right")  # away from the curves
    axis.set_title(title or "ROC: verification by embedding distance")
    return figure


def plot_roc(curves: dict[str, tuple[torch.Tensor, ...]], path: str | Path, *, log_far: bool = False,
             title: str = "") -> Path:
    """Save :func:`roc_figure` (same arguments) as the PNG ``path``."""
    path = Path(path)
    try:
        roc_figure(curves, log_far=log_far, title=title).savefig(path, dpi=100)
    except OSError as error:
        raise ConvzooError(f"cannot write {path}: {error}") from None
    return path
