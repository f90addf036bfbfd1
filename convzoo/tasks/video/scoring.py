"""Scoring a video classifier at clip level and at video level.

A network sees one clip (16 frames of C3D and torchvision's video models) at a time, a
short piece of a video. Clip accuracy scores every clip alone; video accuracy averages
the softmax scores of a video's clips (its ``--eval-clips`` evenly spaced clips) and scores
the average, as C3D reports UCF101 (Tran et al., ICCV 2015, Sec. 3.2: clip and video
accuracy) and torchvision's video reference evaluates Kinetics. Both with top-1 and top-5.
The confusion matrix and per-class accuracy are the videos'.
"""

from __future__ import annotations

import contextlib
from typing import Any, Callable

import torch
import torch.nn.functional as F
from torch import nn
from torch.utils.data import Dataset

from convzoo.tasks.classification.objective import per_class_accuracy
from convzoo.train.distributed import DistContext
from convzoo.train.engine import make_loader
from convzoo.train.sampler import EpochBatchSampler

__all__ = ["clip_logits", "report_lines", "video_indices", "video_report", "video_scores"]


@torch.no_grad()
def clip_logits(
    model: nn.Module, data: Dataset, num_classes: int, *, batch_size: int = 64, workers: int = 0,
    ctx: DistContext | None = None,
    autocast: Callable[[], contextlib.AbstractContextManager] = contextlib.nullcontext,
) -> tuple[torch.Tensor, torch.Tensor]:
    """The logits ``(N, num_classes)`` and labels ``(N,)`` of every clip of ``data``, in order, in eval mode.

    Under data parallelism each process scores its share of the clips into a zero table
    and the tables are summed, so every process ends with all of them.
    """
    ctx = ctx or DistContext(device=next(model.parameters()).device)
    sampler = EpochBatchSampler(len(data), batch_size, shuffle=False, rank=ctx.rank, world_size=ctx.world_size)
    logits = torch.zeros(len(data), num_classes, device=ctx.device)
    labels = torch.zeros(len(data), dtype=torch.long, device=ctx.device)
    model.eval()
    for indices, (clips, targets) in zip(sampler, make_loader(data, sampler, workers)):
        if not indices:
            continue
        with autocast():
            logits[indices] = model(clips.to(ctx.device)).float()  # (B, num_classes)
        labels[indices] = targets.to(ctx.device)
    return ctx.all_reduce_sum(logits).cpu(), ctx.all_reduce_sum(labels).cpu()


def video_indices(data: Dataset) -> torch.Tensor:
    """The video each item of ``data`` is a clip of; every item its own video where the dataset has no videos."""
    video_of = getattr(data, "video_of", None)
    if video_of is None:
        return torch.arange(len(data))
    return torch.tensor([video_of(item) for item in range(len(data))])


def video_scores(logits: torch.Tensor, videos: torch.Tensor) -> torch.Tensor:
    """The mean softmax scores ``(V, K)`` of each video's clips; ``videos`` ``(N,)`` numbers clips' videos 0..V-1."""
    count = int(videos.max()) + 1
    sums = torch.zeros(count, logits.shape[1]).index_add_(0, videos, logits.softmax(dim=1))
    return sums / torch.bincount(videos, minlength=count).clamp(min=1).unsqueeze(1)


def _top_k_share(scores: torch.Tensor, labels: torch.Tensor, k: int) -> float:
    ranked = scores.topk(min(k, scores.shape[1]), dim=1).indices  # (N, k)
    return (ranked == labels.unsqueeze(1)).any(dim=1).float().mean().item()


def video_report(
    logits: torch.Tensor, labels: torch.Tensor, videos: torch.Tensor, class_names: list[str], split: str = "test"
) -> dict[str, Any]:
    """Clip- and video-level top-1 (and top-5, with at least 5 classes) accuracy, the clips' mean cross-entropy,
    and the videos' confusion matrix and per-class accuracy, JSON-ready."""
    num_classes = len(class_names)
    scores = video_scores(logits, videos)  # (V, K)
    video_labels = torch.zeros(len(scores), dtype=torch.long).scatter_(0, videos, labels)
    report: dict[str, Any] = {
        "split": split, "loss": F.cross_entropy(logits, labels).item(),
        "clip_accuracy": _top_k_share(logits, labels, 1), "video_accuracy": _top_k_share(scores, video_labels, 1),
    }
    if num_classes >= 5:
        report["clip_top5"] = _top_k_share(logits, labels, 5)
        report["video_top5"] = _top_k_share(scores, video_labels, 5)
    pairs = video_labels * num_classes + scores.argmax(dim=1)
    confusion = torch.bincount(pairs, minlength=num_classes**2).view(num_classes, num_classes)
    report.update(
        clips=len(labels), videos=len(scores),
        per_class_accuracy=dict(zip(class_names, per_class_accuracy(confusion.float()))),
        confusion=confusion.tolist(),
    )
    return report


def report_lines(report: dict[str, Any]) -> list[str]:
    """Two lines: the clips' accuracy and the videos'."""
    split = report["split"]
    clips, videos = report["clips"], report["videos"]

    def top5(level: str) -> str:
        return f"  top-5 {report[f'{level}_top5']:.2%}" if f"{level}_top5" in report else ""

    each = "one clip each" if clips == videos else f"{clips / videos:g} clips each, scores averaged"
    return [
        f"{split} clips   accuracy {report['clip_accuracy']:.2%}{top5('clip')}  ({clips} clips, loss "
        f"{report['loss']:.4f})",
        f"{split} videos  accuracy {report['video_accuracy']:.2%}{top5('video')}  ({videos} videos, {each})",
    ]
