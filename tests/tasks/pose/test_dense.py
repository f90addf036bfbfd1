"""Dense pose: the IUV loss, the part IoU / accuracy / (u, v) error on hand-made maps, the IUV image,
a tiny overfit of DensePoseNet and the picture."""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F
from PIL import Image

from convzoo.errors import ConvzooError
from convzoo.models.densepose import DensePoseNet, split_iuv
from convzoo.tasks.pose.dense import (
    DensePoseMeter, dense_pose_loss, dense_pose_metrics, iuv_map, part_iou, predicted_parts,
)
from convzoo.tasks.pose.dense_picture import draw_iuv

# Hand-made 4x4 maps with 3 parts, part 3 in neither: truth and prediction differ at (0, 1), (2, 1), (3, 3).
TRUTH = torch.tensor([[0, 0, 1, 1], [0, 0, 1, 1], [2, 2, 0, 0], [2, 2, 0, 0]])
GUESS = torch.tensor([[0, 1, 1, 1], [0, 0, 1, 1], [2, 1, 0, 0], [2, 2, 0, 2]])


def output_for(parts: torch.Tensor, uv: torch.Tensor, num_parts: int, margin: float = 30.0,
               seed: int = 0) -> torch.Tensor:
    """A ``(B, 3P + 1, H, W)`` output predicting ``parts`` by ``margin`` and ``uv`` on each pixel's predicted part;
    random (u, v) in every other part's channels."""
    generator = torch.Generator().manual_seed(seed)
    batch, height, width = parts.shape
    logits = margin * F.one_hot(parts, num_parts + 1).movedim(-1, 1).float()
    u, v = torch.rand(2, batch, num_parts, height, width, generator=generator)
    chosen = F.one_hot((parts - 1).clamp(min=0), num_parts).movedim(-1, 1).bool() & (parts > 0).unsqueeze(1)
    u = torch.where(chosen, uv[:, :1], u)
    v = torch.where(chosen, uv[:, 1:], v)
    return torch.cat([logits, u, v], dim=1)


def random_labels(num_parts=3, shape=(2, 8, 8), seed=0):
    generator = torch.Generator().manual_seed(seed)
    parts = torch.randint(0, num_parts + 1, shape, generator=generator)
    uv = torch.rand(shape[0], 2, *shape[1:], generator=generator)
    return parts, uv


# ------------------------------------------------------------------ the loss


def test_loss_is_zero_for_a_perfect_prediction_and_positive_otherwise():
    parts, uv = random_labels()
    perfect = output_for(parts, uv, 3)
    assert float(dense_pose_loss(perfect, parts, uv)) < 1e-6
    assert float(dense_pose_loss(perfect[0], parts[0], uv[0])) < 1e-6  # one example, no batch axis
    wrong_uv = output_for(parts, uv.flip(-1), 3)
    wrong_parts = output_for((parts + 1) % 4, uv, 3)
    assert float(dense_pose_loss(wrong_uv, parts, uv)) > 1e-3
    assert float(dense_pose_loss(wrong_parts, parts, uv)) > 1.0


def test_uv_counts_only_at_body_pixels_and_only_in_the_true_parts_channels():
    parts, uv = random_labels()
    output = output_for(parts, uv, 3).requires_grad_()
    other_uv = torch.where((parts > 0).unsqueeze(1), uv, torch.rand_like(uv))  # changed on the background only
    base = dense_pose_loss(output, parts, uv)
    torch.testing.assert_close(dense_pose_loss(output, parts, other_uv), base)
    noisy = output + 0.2  # every u, v moved
    (dense_pose_loss(noisy, parts, uv, part_weight=0.0)).backward()
    _, grad_u, grad_v = split_iuv(output.grad)
    true_channel = F.one_hot((parts - 1).clamp(min=0), 3).movedim(-1, 1).bool() & (parts > 0).unsqueeze(1)
    assert (grad_u[true_channel] != 0).all() and (grad_v[true_channel] != 0).all()
    assert (grad_u[~true_channel] == 0).all() and (grad_v[~true_channel] == 0).all()


def test_loss_is_the_weighted_sum_of_cross_entropy_and_smooth_l1():
    parts, uv = random_labels(seed=1)
    output = torch.randn(2, 10, 8, 8).sigmoid()
    logits, u, v = split_iuv(output)
    body = parts > 0
    index = (parts - 1).clamp(min=0).unsqueeze(1)
    predicted = torch.stack([u.gather(1, index)[:, 0][body], v.gather(1, index)[:, 0][body]])
    truth = torch.stack([uv[:, 0][body], uv[:, 1][body]])
    expected = 0.5 * F.cross_entropy(logits, parts) + 3.0 * F.smooth_l1_loss(predicted, truth, beta=0.2)
    got = dense_pose_loss(output, parts, uv, part_weight=0.5, uv_weight=3.0, beta=0.2)
    torch.testing.assert_close(got, expected)


def test_an_image_without_body_pixels_gives_the_cross_entropy_alone():
    parts, uv = torch.zeros(1, 4, 4, dtype=torch.long), torch.rand(1, 2, 4, 4)
    output = torch.randn(1, 7, 4, 4, requires_grad=True)
    loss = dense_pose_loss(output, parts, uv)
    torch.testing.assert_close(loss, F.cross_entropy(output[:, :3], parts))
    loss.backward()


@pytest.mark.parametrize(
    "change, message",
    [(lambda p, uv: (p + 4, uv), "part index 4 is neither the background 0 nor one of the 3 parts"),
     (lambda p, uv: (p - 1, uv), "part index -1"),
     (lambda p, uv: (p.float(), uv), "integer part indices"),
     (lambda p, uv: (p[:, :4], uv), r"parts \(2, 8, 8\) and uv \(2, 2, 8, 8\)"),
     (lambda p, uv: (p, uv[:, :1]), r"got parts \(2, 8, 8\) and uv \(2, 1, 8, 8\)")],
)
def test_bad_labels_name_what_was_expected(change, message):
    parts, uv = random_labels()
    output = output_for(parts, uv, 3)
    with pytest.raises(ConvzooError, match=message):
        dense_pose_loss(output, *change(parts, uv))
    with pytest.raises(ConvzooError, match=message):
        dense_pose_metrics(output, *change(parts, uv))


# ------------------------------------------------------------------ the scores


def hand_made():
    uv = torch.rand(1, 2, 4, 4, generator=torch.Generator().manual_seed(0))
    predicted_uv = uv.clone()
    predicted_uv[0, :, 0, 2] += torch.tensor([0.3, 0.4])  # a right part, (u, v) off by 0.5
    predicted_uv[0, :, 2, 1] += 0.9  # a wrong part: its (u, v) error is not counted
    output = output_for(GUESS[None], predicted_uv, 3)
    return output, TRUTH[None], uv


def test_scores_on_hand_made_maps():
    output, parts, uv = hand_made()
    scores = dense_pose_metrics(output, parts, uv)
    # part 1: 4 true pixels, 6 predicted, 4 right -> 4 / 6; part 2: 4 true, 4 predicted, 3 right -> 3 / 5;
    # part 3 is in neither map and is left out; the background is not averaged in.
    assert scores["part_miou"] == pytest.approx((4 / 6 + 3 / 5) / 2)
    assert scores["pixel_accuracy"] == pytest.approx(13 / 16)  # 6 background + 4 part 1 + 3 part 2
    assert scores["uv_error"] == pytest.approx(0.5 / 7, rel=1e-5)  # 7 body pixels of the right part
    confusion = DensePoseMeter(3)
    confusion.update(output, parts, uv)
    iou = part_iou(confusion.confusion)
    assert iou[:2].tolist() == pytest.approx([4 / 6, 3 / 5]) and math.isnan(iou[2])


def test_a_part_predicted_but_absent_counts_with_iou_zero():
    output, parts, uv = hand_made()
    guess = GUESS.clone()
    guess[3, 3] = 3  # predicted, never true
    scores = dense_pose_metrics(output_for(guess[None], uv, 3), parts, uv)
    assert scores["part_miou"] == pytest.approx((4 / 6 + 3 / 4 + 0) / 3)
    assert scores["uv_error"] == pytest.approx(0.0, abs=1e-7)


def test_meter_adds_batches_as_one():
    parts, uv = random_labels(shape=(4, 8, 8), seed=2)
    output = torch.randn(4, 10, 8, 8)
    output[:, 4:] = output[:, 4:].sigmoid()
    meter = DensePoseMeter(3)
    meter.update(output[:1], parts[:1], uv[:1])
    meter.update(output[1:], parts[1:], uv[1:])
    whole = dense_pose_metrics(output, parts, uv)
    assert meter.compute() == pytest.approx(whole)
    with pytest.raises(ConvzooError, match="scores 3 parts"):
        meter.update(torch.zeros(1, 7, 8, 8), parts[:1].clamp(max=2), uv[:1])


def test_no_body_and_no_right_part_give_nan():
    parts, uv = torch.zeros(1, 4, 4, dtype=torch.long), torch.rand(1, 2, 4, 4)
    scores = dense_pose_metrics(output_for(parts, uv, 2), parts, uv)
    assert math.isnan(scores["part_miou"]) and math.isnan(scores["uv_error"]) and scores["pixel_accuracy"] == 1.0


def test_iuv_map_takes_the_uv_of_the_predicted_part():
    output = torch.randn(2, 13, 5, 6, generator=torch.Generator().manual_seed(3))
    iuv = iuv_map(output)
    assert iuv.shape == (2, 3, 5, 6)
    logits, u, v = split_iuv(output)
    index = logits.argmax(dim=1)
    assert torch.equal(iuv[:, 0].long(), index) and torch.equal(predicted_parts(output), index)
    for b, y, x in [(b, y, x) for b in range(2) for y in range(5) for x in range(6)]:
        k = int(index[b, y, x])
        expected = (0.0, 0.0) if k == 0 else (float(u[b, k - 1, y, x]), float(v[b, k - 1, y, x]))
        assert (float(iuv[b, 1, y, x]), float(iuv[b, 2, y, x])) == expected
    assert torch.equal(iuv_map(output[1]), iuv[1])
    assert 0 < int((index > 0).sum()) < index.numel()  # both cases were checked


# ------------------------------------------------------------------ learning


def test_densepose_net_overfits_one_image():
    """A fixed random part map (blocks of 16 pixels) and smooth random (u, v) on one 64x64 image: the loss falls
    more than 5x in 40 steps (about 10x measured)."""
    torch.manual_seed(0)
    generator = torch.Generator().manual_seed(0)
    parts = torch.randint(0, 5, (1, 4, 4), generator=generator)
    parts = F.interpolate(parts[None].float(), size=(64, 64), mode="nearest")[0].long()  # (1, 64, 64)
    uv = F.interpolate(torch.rand(1, 2, 4, 4, generator=generator), size=(64, 64), mode="bilinear")
    image = torch.rand(1, 3, 64, 64, generator=generator)
    model = DensePoseNet("mobilenet_v2", 4, fpn_channels=32, head_channels=32).train()  # the cheaper encoder
    optimiser = torch.optim.Adam(model.parameters(), lr=1e-2)
    losses = []
    for _ in range(40):
        loss = dense_pose_loss(model(image), parts, uv)
        optimiser.zero_grad()
        loss.backward()
        optimiser.step()
        losses.append(loss.item())
    assert losses[-1] < losses[0] / 5, losses


# ------------------------------------------------------------------ the picture


def assert_png(path, min_width: int) -> None:
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    with Image.open(path) as picture:
        picture.verify()
    with Image.open(path) as picture:
        assert picture.format == "PNG" and picture.width >= min_width


def test_draw_iuv_writes_a_png_from_an_output_or_from_labels(tmp_path):
    parts, uv = random_labels(shape=(1, 24, 32))
    image = torch.rand(3, 24, 32)
    written = draw_iuv(image, output_for(parts, uv, 3)[0], tmp_path / "prediction.png")
    assert written == tmp_path / "prediction.png"
    assert_png(written, 4 * 32)
    labels = tmp_path / "labels.png"
    draw_iuv(image[:1], (parts[0], uv[0, 0], uv[0, 1]), labels, part_names=["head", "arm", "leg"])
    assert_png(labels, 4 * 32)


def test_draw_iuv_refuses_maps_of_another_size(tmp_path):
    parts, uv = random_labels(shape=(1, 24, 32))
    with pytest.raises(ConvzooError, match="maps are 24x32 but the image is 20x32"):
        draw_iuv(torch.rand(3, 20, 32), output_for(parts, uv, 3)[0], tmp_path / "x.png")
    with pytest.raises(ConvzooError, match="triple"):
        draw_iuv(torch.rand(3, 24, 32), (parts[0], uv[0, 0]), tmp_path / "x.png")
    with pytest.raises(ConvzooError, match="cannot write"):
        draw_iuv(torch.rand(3, 24, 32), output_for(parts, uv, 3)[0], tmp_path / "missing" / "x.png")
