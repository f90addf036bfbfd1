"""Metric-learning losses: hand computations, pytorch-metric-learning where it agrees, safe gradients."""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F

from convzoo.errors import ConvzooError, InputShapeError
from convzoo.tasks.metric.flags import MINING_MODES
from convzoo.tasks.metric.losses import ContrastiveLoss, KochLoss, TripletLoss, batch_pairs

# Four 2-D points, two classes: |x0 x1| = 3, |x0 x2| = 4, |x0 x3| = sqrt(52), |x1 x2| = 5, |x1 x3| = 5, |x2 x3| = 6.
POINTS = torch.tensor([[0.0, 0.0], [0.0, 3.0], [4.0, 0.0], [4.0, 6.0]])
POINT_LABELS = torch.tensor([0, 0, 1, 1])
SQRT52 = math.sqrt(52)


def softplus(x: float) -> float:
    return math.log1p(math.exp(x))


def test_contrastive_loss_by_hand():
    a = torch.tensor([[0.0, 0.0], [0.0, 0.0], [1.0, 1.0]])
    b = torch.tensor([[3.0, 4.0], [0.3, 0.4], [1.0, 1.0]])
    same = torch.tensor([1, 0, 0])
    # matching pair at d = 5: 25 / 2; others at d = 0.5 and 0: (1 - 0.5)^2 / 2 and 1^2 / 2
    expected = (12.5 + 0.125 + 0.5) / 3
    torch.testing.assert_close(ContrastiveLoss(margin=1.0)(a, b, same), torch.tensor(expected))
    torch.testing.assert_close(ContrastiveLoss(margin=1.0)(a, b, same.bool()), torch.tensor(expected))


@pytest.mark.parametrize(
    ("mining", "squared", "soft", "expected"),
    [
        # hardest (positive, negative) per anchor: (3, 4), (3, 5), (6, 4), (6, 5); margin 1.5
        ("batch_hard", False, False, (0.5 + 0.0 + 3.5 + 2.5) / 4),
        # squared: (9, 16), (9, 25), (36, 16), (36, 25)
        ("batch_hard", True, False, (0.0 + 0.0 + 21.5 + 12.5) / 4),
        ("batch_hard", False, True, (softplus(-1) + softplus(-2) + softplus(2) + softplus(1)) / 4),
        # the positive triplet losses: (a0 p1 n2) 0.5, (a2 p3 n0) 3.5, (a2 p3 n1) 2.5, (a3 p2 n0) 7.5 - sqrt52, (a3 p2 n1) 2.5
        ("batch_all", False, False, (0.5 + 3.5 + 2.5 + 7.5 - SQRT52 + 2.5) / 5),
        # pairs (0,1): closest farther negative 4; (1,0): 5; (2,3): none farther than 6, farthest 5; (3,2): sqrt52
        ("semihard", False, False, (0.5 + 0.0 + 2.5 + (7.5 - SQRT52)) / 4),
    ],
)
def test_triplet_loss_by_hand(mining, squared, soft, expected):
    loss = TripletLoss(margin=1.5, mining=mining, squared=squared, soft=soft)(POINTS, POINT_LABELS)
    torch.testing.assert_close(loss, torch.tensor(expected))


def test_given_triplets_by_hand():
    rows = POINTS[[0, 1, 2, 3, 2, 1]]  # (x0, x1, x2): 1.5 + 3 - 4; (x3, x2, x1): 1.5 + 6 - 5
    loss = TripletLoss(margin=1.5, mining="none")
    torch.testing.assert_close(loss(rows), torch.tensor((0.5 + 2.5) / 2))
    torch.testing.assert_close(loss(rows, torch.tensor([0, 0, 1, 1, 1, 0])), torch.tensor(1.5))


def test_koch_loss_by_hand():
    logits, same = torch.tensor([[0.0], [2.0]]), torch.tensor([1.0, 0.0])
    expected = (math.log(2) + math.log1p(math.exp(2))) / 2  # -log sigmoid(0), -log(1 - sigmoid(2))
    torch.testing.assert_close(KochLoss()(logits, same), torch.tensor(expected))
    torch.testing.assert_close(KochLoss()(logits[:, 0], same.bool()), torch.tensor(expected))


@pytest.mark.parametrize("mining", MINING_MODES)
@pytest.mark.parametrize(("squared", "soft"), [(False, False), (True, False), (False, True)])
def test_gradients_finite_at_identical_embeddings(mining, squared, soft):
    embeddings = torch.ones(6, 3, requires_grad=True)
    labels = torch.tensor([0, 0, 1, 1, 1, 0])  # rows 3t, 3t+1, 3t+2 are triplets too, for mining="none"
    TripletLoss(mining=mining, squared=squared, soft=soft)(embeddings, labels).backward()
    assert torch.isfinite(embeddings.grad).all()


def test_contrastive_gradient_finite_at_zero_distance():
    a = torch.zeros(3, 4, requires_grad=True)
    b = torch.zeros(3, 4, requires_grad=True)
    loss = ContrastiveLoss()(a, b, torch.tensor([1, 0, 0]))
    loss.backward()
    assert torch.isfinite(loss) and torch.isfinite(a.grad).all() and torch.isfinite(b.grad).all()


@pytest.mark.parametrize("mining", ["batch_hard", "batch_all", "semihard"])
def test_a_batch_of_one_class_gives_zero_with_a_gradient_path(mining):
    embeddings = torch.randn(5, 3, generator=torch.Generator().manual_seed(0)).requires_grad_()
    loss = TripletLoss(mining=mining)(embeddings, torch.zeros(5, dtype=torch.long))
    assert loss.item() == 0 and loss.requires_grad
    loss.backward()
    assert torch.equal(embeddings.grad, torch.zeros_like(embeddings))


def test_bad_input_is_refused():
    with pytest.raises(ConvzooError, match="batch_hard, batch_all, semihard, none"):
        TripletLoss(mining="hardest")
    with pytest.raises(InputShapeError, match=r"labels must be \(4,\)"):
        TripletLoss()(POINTS, torch.tensor([0, 0, 1]))
    with pytest.raises(ConvzooError, match="needs the batch's labels"):
        TripletLoss()(POINTS)
    with pytest.raises(InputShapeError, match="not a multiple of 3"):
        TripletLoss(mining="none")(POINTS)
    with pytest.raises(ConvzooError, match=r"triplet 1 \(rows 3-5\)"):
        TripletLoss(mining="none")(POINTS[[0, 1, 2, 0, 1, 2]], torch.tensor([0, 0, 1, 0, 1, 1]))
    with pytest.raises(InputShapeError, match="b must have a's shape"):
        ContrastiveLoss()(POINTS, POINTS[:3], torch.ones(4))
    with pytest.raises(InputShapeError, match=r"same must be \(4,\)"):
        ContrastiveLoss()(POINTS, POINTS, torch.ones(3))
    with pytest.raises(InputShapeError, match="logits must be"):
        KochLoss()(torch.zeros(4, 2), torch.ones(4))


def test_batch_pairs_lists_every_pair_and_balances():
    labels = torch.tensor([0, 0, 1, 1, 1])
    first, second, same = batch_pairs(labels)
    assert len(first) == 10 and (first < second).all()
    assert torch.equal(same, labels[first] == labels[second]) and int(same.sum()) == 4

    balanced = batch_pairs(labels, balanced=True, generator=torch.Generator().manual_seed(1))
    again = batch_pairs(labels, balanced=True, generator=torch.Generator().manual_seed(1))
    assert all(torch.equal(x, y) for x, y in zip(balanced, again))
    first, second, same = balanced
    assert int(same.sum()) == 4 and int((~same).sum()) == 4 and (first < second).all()
    assert torch.equal(same, labels[first] == labels[second])

    _, _, same = batch_pairs(torch.tensor([0, 0, 0, 1]), balanced=True)  # 3 matching, only 3 others
    assert int(same.sum()) == 3 and len(same) == 6


# pytorch-metric-learning (a test dependency) where its definitions coincide with ours.
# Its distances L2-normalise the embeddings by default, so every one is built with
# normalize_embeddings=False; LpDistance(power=2) gives squared distances.


def _pml():
    return pytest.importorskip("pytorch_metric_learning")


def _random_batch(seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    generator = torch.Generator().manual_seed(seed)
    labels = torch.tensor([0, 0, 0, 1, 1, 2, 2, 2, 2, 3, 4, 4])  # class 3 has no positive
    return torch.randn(len(labels), 5, generator=generator), labels


def _distance(squared: bool):
    from pytorch_metric_learning.distances import LpDistance

    return LpDistance(normalize_embeddings=False, power=2 if squared else 1)


def test_contrastive_equals_pml_per_pair():
    """pml's ContrastiveLoss(pos_margin=0, neg_margin=m) gives per pair ``d`` (matching) and
    ``max(0, m - d)`` (others), neither squared nor halved, and averages the matching and the
    non-matching pairs separately; with DoNothingReducer it returns the per-pair terms, whose
    squares halved and averaged over all pairs are Hadsell et al.'s loss."""
    _pml()
    from pytorch_metric_learning.losses import ContrastiveLoss as PMLContrastiveLoss
    from pytorch_metric_learning.reducers import DoNothingReducer

    generator = torch.Generator().manual_seed(1)
    a, b = torch.randn(10, 4, generator=generator), torch.randn(10, 4, generator=generator)
    same = torch.tensor([1, 0, 1, 1, 0, 0, 1, 0, 0, 1])
    rows = torch.arange(10)
    match, other = rows[same.bool()], rows[~same.bool()]
    pml = PMLContrastiveLoss(pos_margin=0, neg_margin=2.5, distance=_distance(False), reducer=DoNothingReducer())
    terms = pml(torch.cat([a, b]), indices_tuple=(match, match + 10, other, other + 10))
    expected = (terms["pos_loss"]["losses"].pow(2).sum() + terms["neg_loss"]["losses"].pow(2).sum()) / (2 * 10)
    torch.testing.assert_close(ContrastiveLoss(margin=2.5)(a, b, same), expected)


@pytest.mark.parametrize(("squared", "soft"), [(False, False), (True, False), (False, True)])
def test_batch_hard_equals_pml(squared, soft):
    """BatchHardMiner (an anchor's farthest positive and closest negative, anchors lacking
    either left out) + TripletMarginLoss + MeanReducer (mean over the mined triplets) is batch
    hard; smooth_loss=True is softplus(margin + x), so margin=0 is the soft margin."""
    _pml()
    from pytorch_metric_learning.losses import TripletMarginLoss
    from pytorch_metric_learning.miners import BatchHardMiner
    from pytorch_metric_learning.reducers import MeanReducer

    embeddings, labels = _random_batch()
    margin = 0.0 if soft else 1.0
    miner = BatchHardMiner(distance=_distance(squared))
    pml = TripletMarginLoss(margin=margin, smooth_loss=soft, distance=_distance(squared), reducer=MeanReducer())
    expected = pml(embeddings, labels, miner(embeddings, labels))
    ours = TripletLoss(margin=1.0, mining="batch_hard", squared=squared, soft=soft)(embeddings, labels)
    torch.testing.assert_close(ours, expected)


@pytest.mark.parametrize(("squared", "soft"), [(False, False), (True, False), (False, True)])
def test_batch_all_equals_pml(squared, soft):
    """TripletMarginLoss without a miner takes every valid triplet (triplets_per_anchor="all")
    and its default AvgNonZeroReducer averages those with a positive loss: batch all."""
    _pml()
    from pytorch_metric_learning.losses import TripletMarginLoss

    embeddings, labels = _random_batch(1)
    pml = TripletMarginLoss(margin=0.0 if soft else 1.0, smooth_loss=soft, distance=_distance(squared))
    ours = TripletLoss(margin=1.0, mining="batch_all", squared=squared, soft=soft)(embeddings, labels)
    torch.testing.assert_close(ours, pml(embeddings, labels))


def test_given_triplets_equal_pml():
    """TripletMarginLoss on explicit (anchor, positive, negative) indices with MeanReducer.

    pml has no counterpart of semi-hard mining (its TripletMarginMiner("semihard") keeps
    every semi-hard triplet inside the margin, and BatchEasyHardMiner refuses all positives
    with semi-hard negatives); test_mining.py checks it against a loop instead."""
    _pml()
    from pytorch_metric_learning.losses import TripletMarginLoss
    from pytorch_metric_learning.reducers import MeanReducer

    embeddings, _ = _random_batch(2)
    anchors = torch.arange(0, 12, 3)
    pml = TripletMarginLoss(margin=1.0, distance=_distance(False), reducer=MeanReducer())
    expected = pml(embeddings, indices_tuple=(anchors, anchors + 1, anchors + 2))
    torch.testing.assert_close(TripletLoss(margin=1.0, mining="none")(embeddings), expected)


def test_koch_equals_binary_cross_entropy():
    logits = torch.randn(8, generator=torch.Generator().manual_seed(3))
    same = torch.tensor([1, 0, 0, 1, 1, 0, 1, 0])
    expected = -(same * F.logsigmoid(logits) + (1 - same) * F.logsigmoid(-logits)).mean()
    torch.testing.assert_close(KochLoss()(logits, same), expected)
