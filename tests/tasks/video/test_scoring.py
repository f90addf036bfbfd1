"""Clip- and video-level scores: a video's clips' softmax scores averaged, top-1 and top-5, checked by hand."""

from __future__ import annotations

import math

import pytest
import torch

from convzoo.tasks.video.scoring import clip_logits, report_lines, video_indices, video_report, video_scores


def test_video_scores_average_each_videos_softmax():
    logits = torch.tensor([[2.0, 0.0], [0.0, 1.0], [3.0, 3.0]])
    scores = video_scores(logits, torch.tensor([0, 0, 1]))
    first = (logits[0].softmax(0) + logits[1].softmax(0)) / 2
    torch.testing.assert_close(scores, torch.stack([first, torch.tensor([0.5, 0.5])]))


def test_a_video_is_right_where_most_of_its_clips_are_wrong():
    """Two clips mildly for class 1, one clip firmly for class 0: every clip votes, the mean scores decide."""
    logits = torch.tensor([[0.0, 0.2, -9.0], [0.0, 0.2, -9.0], [8.0, 0.0, -9.0]])
    labels = torch.tensor([0, 0, 0])
    report = video_report(logits, labels, torch.tensor([0, 0, 0]), ["a", "b", "c"])
    assert report["clip_accuracy"] == pytest.approx(1 / 3)
    assert report["video_accuracy"] == 1.0
    assert (report["clips"], report["videos"]) == (3, 1)
    assert report["loss"] == pytest.approx(torch.nn.functional.cross_entropy(logits, labels).item())
    assert "clip_top5" not in report  # fewer than 5 classes


def test_top5_and_confusion_of_videos():
    torch.manual_seed(0)
    logits = torch.randn(12, 6)
    labels = torch.tensor([0, 0, 1, 1, 2, 2, 3, 3, 4, 4, 5, 5])
    videos = torch.arange(12) // 2
    report = video_report(logits, labels, videos, list("abcdef"))
    scores = video_scores(logits, videos)
    video_labels = labels[::2]
    assert report["video_accuracy"] == pytest.approx((scores.argmax(1) == video_labels).float().mean().item())
    top5 = scores.topk(5, dim=1).indices
    assert report["video_top5"] == pytest.approx((top5 == video_labels[:, None]).any(1).float().mean().item())
    assert report["clip_top5"] == pytest.approx(
        (logits.topk(5, dim=1).indices == labels[:, None]).any(1).float().mean().item())
    confusion = torch.tensor(report["confusion"])
    assert confusion.sum() == 6 and confusion.diagonal().sum() == round(report["video_accuracy"] * 6)
    for name, accuracy in report["per_class_accuracy"].items():
        index = "abcdef".index(name)
        assert accuracy == confusion[index, index].item()  # one video per class


def test_lines_say_how_many_clips_a_video_averaged():
    report = video_report(torch.randn(6, 3), torch.zeros(6, dtype=torch.long), torch.arange(6) // 3, list("abc"))
    clips, videos = report_lines(report)
    assert clips.startswith("test clips") and "(6 clips" in clips
    assert "2 videos, 3 clips each, scores averaged" in videos


class TwoClips(torch.utils.data.Dataset):
    """Five items, two clips per video but the last."""

    def __len__(self) -> int:
        return 5

    def __getitem__(self, item: int):
        return torch.full((1, 2, 4, 4), float(item)), item % 3

    def video_of(self, item: int) -> int:
        return item // 2


def test_clip_logits_keep_the_datasets_order():
    class MeanLogit(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.scale = torch.nn.Parameter(torch.ones(()))

        def forward(self, x):
            mean = x.mean((1, 2, 3, 4)) * self.scale
            return torch.stack([mean, -mean, mean / 2], dim=1)

    logits, labels = clip_logits(MeanLogit(), TwoClips(), 3, batch_size=2)
    torch.testing.assert_close(logits[:, 0], torch.arange(5.0))
    assert labels.tolist() == [0, 1, 2, 0, 1]
    assert video_indices(TwoClips()).tolist() == [0, 0, 1, 1, 2]
    assert video_indices(torch.utils.data.TensorDataset(torch.zeros(3))).tolist() == [0, 1, 2]
    assert not math.isnan(video_report(logits, labels, video_indices(TwoClips()), ["a", "b", "c"])["loss"])
