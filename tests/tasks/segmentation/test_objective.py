"""Segmentation losses and scores: cross-entropy with an ignore value, soft Dice, the output forms, and the
confusion-matrix scores against torchmetrics."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from torchmetrics.classification import MulticlassAccuracy, MulticlassF1Score, MulticlassJaccardIndex
from torchmetrics.segmentation import DiceScore, MeanIoU

from convzoo.errors import ConvzooError
from convzoo.models.unetplusplus import unetplusplus
from convzoo.tasks.segmentation.losses import cross_entropy_loss, segmentation_loss, soft_dice_loss
from convzoo.tasks.segmentation.metrics import confusion_matrix, segmentation_scores
from convzoo.tasks.segmentation.objective import SegmentationTask, main_map

IGNORE = 255


def random_batch(seed: int, classes: int = 5, shape=(3, 12, 10), ignored: float = 0.2):
    generator = torch.Generator().manual_seed(seed)
    logits = torch.randn(shape[0], classes, *shape[1:], generator=generator)
    target = torch.randint(0, classes, shape, generator=generator)
    target[torch.rand(shape, generator=generator) < ignored] = IGNORE
    return logits, target


def test_ignored_pixels_do_not_change_the_loss():
    logits, target = random_batch(0)
    loss = segmentation_loss(logits, target, IGNORE)
    scrambled = logits.clone()
    ignored = (target == IGNORE).unsqueeze(1).expand_as(logits)
    scrambled[ignored] = torch.randn(int(ignored.sum())) * 50
    torch.testing.assert_close(segmentation_loss(scrambled, target, IGNORE), loss)
    counted = target != IGNORE
    expected = F.cross_entropy(logits.movedim(1, -1)[counted], target[counted])  # the counted pixels alone
    torch.testing.assert_close(cross_entropy_loss(logits, target, IGNORE), expected)


def test_every_pixel_ignored_gives_zero_not_nan():
    logits = torch.randn(2, 3, 4, 4, requires_grad=True)
    target = torch.full((2, 4, 4), IGNORE)
    loss = segmentation_loss(logits, target, IGNORE)
    assert loss.item() == 0.0
    loss.backward()
    assert torch.isfinite(logits.grad).all()


def test_dice_of_a_perfect_prediction_is_about_zero_and_of_a_wrong_one_about_one():
    _, target = random_batch(1, ignored=0.1)
    perfect = 50.0 * F.one_hot(target.where(target != IGNORE, 0), 5).movedim(-1, 1).float()
    assert soft_dice_loss(perfect, target, IGNORE).item() < 1e-3
    wrong = 50.0 * F.one_hot((target.where(target != IGNORE, 0) + 1) % 5, 5).movedim(-1, 1).float()
    assert soft_dice_loss(wrong, target, IGNORE).item() > 0.95


def test_gradient_reaches_every_logit_that_counts():
    logits, target = random_batch(2)
    logits.requires_grad_(True)
    segmentation_loss(logits, target, IGNORE, dice_weight=1.0).backward()
    counted = (target != IGNORE).unsqueeze(1).expand_as(logits)
    assert (logits.grad[counted] != 0).all()
    assert (logits.grad[~counted] == 0).all()  # an ignored pixel gets no gradient from either term


def test_torchmetrics_agree_on_random_predictions_with_ignored_pixels():
    classes = 6
    confusion = torch.zeros(classes, classes, dtype=torch.long)
    metrics = {
        "iou": MulticlassJaccardIndex(classes, average=None, ignore_index=IGNORE),
        "miou": MulticlassJaccardIndex(classes, average="macro", ignore_index=IGNORE),
        "dice": MulticlassF1Score(classes, average=None, ignore_index=IGNORE),
        "mean_dice": MulticlassF1Score(classes, average="macro", ignore_index=IGNORE),
        "pixel_accuracy": MulticlassAccuracy(classes, average="micro", ignore_index=IGNORE),
    }
    for seed in range(3):
        logits, target = random_batch(seed, classes, shape=(2, 9, 7))
        target[target == 5] = 4  # class 5 is never a target ...
        predicted = logits.argmax(dim=1)
        predicted[predicted == 5] = 0  # ... nor predicted: no IoU, left out of the means
        confusion += confusion_matrix(predicted, target, classes, IGNORE)
        for metric in metrics.values():
            metric.update(predicted, target)
    scores = segmentation_scores(confusion)
    assert scores.iou[5] is None and scores.dice[5] is None
    expected = {name: metric.compute() for name, metric in metrics.items()}
    torch.testing.assert_close(torch.tensor(scores.iou[:5]), expected["iou"][:5])
    torch.testing.assert_close(torch.tensor(scores.dice[:5]), expected["dice"][:5])
    for name in ("miou", "mean_dice", "pixel_accuracy"):
        assert getattr(scores, name) == pytest.approx(expected[name].item(), abs=1e-6)


def test_torchmetrics_segmentation_metrics_agree_without_ignored_pixels():
    """MeanIoU and DiceScore (torchmetrics.segmentation) on index masks, pooled over the whole batch."""
    classes = 4
    logits, target = random_batch(5, classes, shape=(1, 16, 16), ignored=0.0)
    predicted = logits.argmax(dim=1)
    scores = segmentation_scores(confusion_matrix(predicted, target, classes, IGNORE))
    iou = MeanIoU(classes, per_class=True, input_format="index")(predicted, target)  # one image: per image = pooled
    torch.testing.assert_close(torch.tensor(scores.iou), iou.float())
    dice = DiceScore(classes, average="none", input_format="index", aggregation_level="global")(predicted, target)
    torch.testing.assert_close(torch.tensor(scores.dice), dice.float())


def test_confusion_summed_over_batches_equals_the_whole():
    logits, target = random_batch(3, shape=(6, 8, 8))
    predicted = logits.argmax(dim=1)
    whole = confusion_matrix(predicted, target, 5, IGNORE)
    parts = sum(confusion_matrix(predicted[i:i + 2], target[i:i + 2], 5, IGNORE) for i in range(0, 6, 2))
    assert torch.equal(whole, parts)
    assert whole.sum() == (target != IGNORE).sum() and whole.dtype == torch.int64


def test_a_mask_value_outside_the_classes_is_one_line():
    with pytest.raises(ConvzooError, match="mask value 7 is not a class of the 5"):
        confusion_matrix(torch.zeros(4, dtype=torch.long), torch.tensor([0, 7, 1, IGNORE]), 5, IGNORE)


def test_the_task_reads_every_output_form():
    logits, target = random_batch(4)
    aux = torch.randn_like(logits)
    task = SegmentationTask(5, IGNORE, dice_weight=1.0, aux_weight=0.4)
    single = task.loss(logits, target)
    torch.testing.assert_close(task.loss({"out": logits}, target), single)
    torch.testing.assert_close(task.loss({"out": logits, "aux": aux}, target), single + 0.4 * task.loss(aux, target))
    heads = [logits, aux]
    torch.testing.assert_close(task.loss(heads, target), (single + task.loss(aux, target)) / 2)
    torch.testing.assert_close(main_map(heads), (logits + aux) / 2)  # scored as the accurate mode's average
    sums = task.batch_sums({"out": logits, "aux": aux}, target)
    assert torch.equal(sums["confusion"], confusion_matrix(logits.argmax(1), target, 5, IGNORE))
    assert set(task.summarize(sums, 3)) == {"miou", "pixel_accuracy", "mean_dice"}
    with pytest.raises(ConvzooError, match=r"does not fit masks .* expected \(B, 5, 12, 10\)"):
        task.loss(logits[..., :8], target)


def test_unetplusplus_deep_supervision_loss_uses_every_head():
    torch.manual_seed(0)
    model = unetplusplus(base_width=2, in_chans=3, num_classes=3).train()
    x, target = torch.rand(2, 3, 16, 16), torch.randint(0, 3, (2, 16, 16))
    output = model(x)
    assert isinstance(output, list) and len(output) == 4  # training mode: X^{0,1..4}'s maps
    task = SegmentationTask(3)
    loss = task.loss(output, target)
    torch.testing.assert_close(loss, torch.stack([task.loss(head, target) for head in output]).mean())
    loss.backward()
    assert all(head.weight.grad is not None and head.weight.grad.abs().sum() > 0 for head in model.heads)
    assert isinstance(model.eval()(x), torch.Tensor)  # eval mode: the accurate mode's one map
