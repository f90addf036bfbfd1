"""DARTS's supernet, derivation and first-order bilevel search, resumable step by step."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from torch.utils.data import TensorDataset

import convzoo
from convzoo.data.splits import ImageSplits
from convzoo.errors import ConvzooError
from convzoo.models.darts import PRIMITIVES
from convzoo.nas.darts_search import DartsSearch, DartsSupernet, MixedOp, derive_cell
from convzoo.nas.darts_space import DartsSpace


def tiny_splits(count: int = 24, side: int = 8) -> ImageSplits:
    generator = torch.Generator().manual_seed(0)
    labels = torch.arange(count) % 3
    images = torch.randn(count, 1, side, side, generator=generator) + labels.view(-1, 1, 1, 1).float()
    data = TensorDataset(images, labels)
    return ImageSplits(name="toy", train=data, val=data, test=data, class_names=["a", "b", "c"],
                       mean=[0.0], std=[1.0])


def test_mixed_op_is_the_softmax_weighted_sum_of_the_ops():
    torch.manual_seed(0)
    for stride in (1, 2):
        mixed = MixedOp(4, stride).eval()
        x = torch.randn(2, 4, 6, 6)
        weights = F.softmax(torch.randn(len(PRIMITIVES)), dim=0)
        direct = sum(weights[k] * mixed.ops[k](x) for k in range(len(PRIMITIVES)))
        assert torch.allclose(mixed(x, weights), direct, atol=1e-6)
        one_hot = torch.zeros(len(PRIMITIVES))
        one_hot[PRIMITIVES.index("max_pool_3x3")] = 1.0
        pooled = F.max_pool2d(x, 3, stride, padding=1)
        assert torch.allclose(mixed(x, one_hot), mixed.ops[1][1](pooled))  # pooling, then BN without affine
        assert not mixed.ops[1][1].affine


def test_derivation_on_hand_set_weights():
    weights = torch.full((14, 8), 0.01)
    idx = PRIMITIVES.index
    # node 0 (edges 0, 1): both inputs; edge 1 stronger, listed first
    weights[0, idx("sep_conv_3x3")] = 0.5
    weights[1, idx("dil_conv_5x5")] = 0.6
    # node 1 (edges 2, 3, 4): 'none' strongest on edge 2 but excluded; edges 4 and 3 win
    weights[2, idx("none")] = 0.99
    weights[3, idx("max_pool_3x3")] = 0.3
    weights[4, idx("skip_connect")] = 0.4
    # node 2 (edges 5..8): inputs 0 and 3 (node 1)
    weights[5, idx("avg_pool_3x3")] = 0.7
    weights[8, idx("sep_conv_5x5")] = 0.2
    # node 3 (edges 9..13): inputs 4 and 2 (nodes 2 and 0)
    weights[13, idx("dil_conv_3x3")] = 0.8
    weights[11, idx("sep_conv_3x3")] = 0.5
    weights[11, idx("none")] = 0.9
    assert derive_cell(weights) == [
        ["dil_conv_5x5", 1], ["sep_conv_3x3", 0],
        ["skip_connect", 2], ["max_pool_3x3", 1],
        ["avg_pool_3x3", 0], ["sep_conv_5x5", 3],
        ["dil_conv_3x3", 4], ["sep_conv_3x3", 2],
    ]


def test_supernet_derives_a_buildable_genotype():
    torch.manual_seed(0)
    model = DartsSupernet(init_channels=4, layers=3, num_classes=3, in_chans=1)
    assert [tuple(a.shape) for a in model.arch_parameters()] == [(14, 8), (14, 8)]
    arch = {id(p) for p in model.arch_parameters()}
    assert not arch & {id(p) for p in model.weight_parameters()}
    assert len(model.weight_parameters()) + 2 == len(list(model.parameters()))
    with torch.no_grad():
        model.alphas_normal.zero_()
        model.alphas_normal[:, PRIMITIVES.index("sep_conv_3x3")] = 2.0
        model.alphas_normal[0, PRIMITIVES.index("none")] = 5.0
    g = model.derive_genotype()
    # 'none' is never chosen, but its weight takes softmax mass from edge 0, so edge 1 is the stronger one.
    assert g["normal"][:2] == [["sep_conv_3x3", 1], ["sep_conv_3x3", 0]]
    assert all(op == "sep_conv_3x3" for op, _ in g["normal"])
    assert DartsSpace().decode(DartsSpace().encode(g)) == g
    net = convzoo.create_model("darts_net", genotype=g, init_channels=4, layers=3, num_classes=3, in_chans=1,
                               auxiliary=False)
    assert net(torch.randn(2, 1, 8, 8)).shape == (2, 3)
    assert model(torch.randn(2, 1, 8, 8)).shape == (2, 3)


def test_each_step_updates_only_its_own_parameters():
    search = DartsSearch(tiny_splits(), seed=0, epochs=1, init_channels=4, layers=3, batch_size=4)
    model = search.model
    x, y = search._load_batch(search.arch_indices, 0)
    weights = [p.detach().clone() for p in model.weight_parameters()]
    alphas = [p.detach().clone() for p in model.arch_parameters()]
    search.arch_step(x, y)
    assert all(torch.equal(a, p) for a, p in zip(weights, model.weight_parameters()))
    assert not all(torch.equal(a, p) for a, p in zip(alphas, model.arch_parameters()))
    alphas = [p.detach().clone() for p in model.arch_parameters()]
    search.weight_step(x, y)
    assert all(torch.equal(a, p) for a, p in zip(alphas, model.arch_parameters()))
    assert not all(torch.equal(a, p) for a, p in zip(weights, model.weight_parameters()))


class Interrupt(Exception):
    pass


def test_killed_search_resumes_to_the_same_alphas(tmp_path):
    splits = tiny_splits()
    options = dict(seed=3, epochs=2, init_channels=4, layers=3, batch_size=4, checkpoint_every=2)
    straight = DartsSearch(splits, **options, state_path=tmp_path / "a.safetensors")
    records = []
    genotype = straight.run(on_epoch=records.append)
    assert straight.steps_per_epoch() == 3 and straight.global_step == 6
    assert [r["epoch"] for r in records] == [1, 2] and straight.history == records
    assert records[1]["lr"] < records[0]["lr"] == 0.025
    assert abs(sum(records[0]["alphas_normal"][0]) - 1) < 1e-6 and len(records[0]["alphas_reduce"]) == 14

    def stop_after(k):
        def callback(step):
            if step == k:
                raise Interrupt
        return callback

    path = tmp_path / "b.safetensors"
    for k in (3, 5):  # a kill right after an epoch's save, and one 1 step after a mid-epoch save
        with pytest.raises(Interrupt):
            DartsSearch(splits, **options, state_path=path).run(on_step=stop_after(k))
    resumed = DartsSearch(splits, **options, state_path=path)
    assert (resumed.epoch, resumed.step) == (1, 1)  # the save at global step 4
    assert resumed.run() == genotype
    for a, b in zip(resumed.model.arch_parameters(), straight.model.arch_parameters()):
        assert torch.equal(a, b)
    for (name, a), b in zip(resumed.model.state_dict().items(), straight.model.state_dict().values()):
        assert torch.equal(a, b), name
    assert resumed.history == straight.history
    # A finished search loaded again does nothing more.
    assert DartsSearch(splits, **options, state_path=path).run() == genotype


def test_other_arguments_on_a_saved_state_are_refused(tmp_path):
    splits = tiny_splits(8)
    path = tmp_path / "s.safetensors"
    DartsSearch(splits, seed=0, epochs=1, init_channels=4, layers=3, batch_size=4, state_path=path).run()
    with pytest.raises(ConvzooError, match="arch_lr"):
        DartsSearch(splits, seed=0, epochs=1, init_channels=4, layers=3, batch_size=4, arch_lr=0.1, state_path=path)
