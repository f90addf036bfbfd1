"""LearnedGroupConv2d: condensing stages, the group lasso, and exact conversion to a grouped conv."""

from __future__ import annotations

from fractions import Fraction

import pytest
import torch
import torch.fx
import torch.nn.functional as F
from torch import nn

from convzoo.analysis import profile
from convzoo.ops.learned_group_conv import CondensedConv2d, LearnedGroupConv2d, group_lasso

# (in_channels, out_channels, kernel_size, groups, condense_factor, bias, stride)
SHAPES = [
    (8, 8, 1, 4, 4, False, 1),
    (12, 16, 1, 4, 3, True, 1),
    (16, 6, 1, 2, 4, False, 2),
    (6, 12, 3, 3, 2, True, 1),
    (8, 8, 3, 1, 4, False, 2),
]


def condensed(in_channels, out_channels, kernel_size, groups, condense_factor, bias, stride, steps=None):
    torch.manual_seed(0)
    layer = LearnedGroupConv2d(in_channels, out_channels, kernel_size, stride=stride, groups=groups,
                               condense_factor=condense_factor, bias=bias).double()
    for _ in range(layer.num_stages if steps is None else steps):
        layer.condense_step()
    return layer


@pytest.mark.parametrize("shape", SHAPES)
def test_after_all_stages_each_group_keeps_in_over_c_inputs(shape):
    in_channels, out_channels, _, groups, condense_factor, *_ = shape
    layer = condensed(*shape, steps=0)
    for stage in range(1, condense_factor):
        layer.condense_step()
        assert layer.group_mask().sum(dim=1).tolist() == [in_channels - stage * in_channels // condense_factor] * groups
    assert layer.group_mask().sum(dim=1).tolist() == [in_channels // condense_factor] * groups
    assert layer.kept_inputs == in_channels // condense_factor
    # every filter of a group carries its group's mask; output o is in group o % G
    mask = layer.mask[:, :, 0, 0]
    for o in range(out_channels):
        assert torch.equal(mask[o].bool(), layer.group_mask()[o % groups])
    with pytest.raises(RuntimeError, match="stages are done"):
        layer.condense_step()
    assert int(layer.state_dict()["stage"]) == condense_factor - 1


def test_each_stage_drops_the_least_important_columns():
    layer = LearnedGroupConv2d(4, 4, groups=2, condense_factor=4).double()
    # Group 0 = outputs 0, 2; group 1 = outputs 1, 3. L1 column norms per group, by hand:
    weight = torch.tensor([
        [1.0, -3.0, 0.5, 2.0],   # group 0
        [0.1, 4.0, -1.0, 0.2],   # group 1
        [-1.0, 1.0, 0.25, 0.5],  # group 0 -> columns |.|: [2, 4, 0.75, 2.5]
        [0.3, 1.0, 2.0, -0.5],   # group 1 -> columns |.|: [0.4, 5, 3, 0.7]
    ], dtype=torch.float64)
    layer.weight.data.copy_(weight[..., None, None])
    torch.testing.assert_close(layer.group_importance(), torch.tensor([[2, 4, 0.75, 2.5], [0.4, 5, 3, 0.7]],
                                                                      dtype=torch.float64))
    layer.condense_step()
    assert layer.group_mask().tolist() == [[True, True, False, True], [False, True, True, True]]
    layer.condense_step()  # pruned inputs (importance 0 now) are never counted twice
    assert layer.group_mask().tolist() == [[False, True, False, True], [False, True, True, False]]
    layer.condense_step()
    assert layer.group_mask().tolist() == [[False, True, False, False], [False, True, False, False]]


@pytest.mark.parametrize("shape", SHAPES)
@pytest.mark.parametrize("steps", [0, 1, None])
def test_to_grouped_equals_the_masked_conv(shape, steps):
    layer = condensed(*shape, steps=steps)
    x = torch.randn(2, shape[0], 7, 7, dtype=torch.float64)
    expected = F.conv2d(x, layer.weight * layer.mask, layer.bias, layer.stride, layer.padding)
    converted = layer.to_grouped()
    assert isinstance(converted, CondensedConv2d) and converted.conv.groups == shape[3]
    torch.testing.assert_close(layer(x), expected, rtol=0, atol=0)
    torch.testing.assert_close(converted(x), expected, rtol=0, atol=1e-10)


@pytest.mark.parametrize("shape", SHAPES)
def test_converted_parameters_and_macs_are_1_over_c(shape):
    """params = O * I / C * k^2 (+ O bias); MACs = H' W' O (I / C) k^2 = dense MACs / C."""
    in_channels, out_channels, kernel_size, groups, condense_factor, bias, stride = shape
    layer = condensed(*shape)
    converted = layer.to_grouped()
    weights = out_channels * in_channels // condense_factor * kernel_size**2
    assert converted.conv.weight.numel() == weights
    size = 8
    out_size = (size + 2 * (kernel_size // 2) - kernel_size) // stride + 1
    dense_macs = out_size**2 * out_channels * in_channels * kernel_size**2
    result = profile(converted, (in_channels, size, size), dtype=torch.float64)
    assert result.params == weights + out_channels * bias
    assert result.macs == dense_macs // condense_factor
    training = profile(layer, (in_channels, size, size), dtype=torch.float64)
    assert Fraction(result.macs, training.macs) == Fraction(1, condense_factor)
    assert training.macs == dense_macs  # training form: the dense conv, masked


def test_group_lasso_value_and_gradient():
    torch.manual_seed(0)
    weight = torch.randn(6, 4, 3, 3, dtype=torch.float64, requires_grad=True)
    columns = weight.detach().view(3, 2, 4, 9)  # (O/G, G, I, k^2), output o = j * G + g
    expected = columns.square().sum(dim=(0, 3)).sqrt().sum()
    torch.testing.assert_close(group_lasso(weight, 2), expected)
    assert torch.autograd.gradcheck(lambda w: group_lasso(w, 2), (weight,), eps=1e-6, atol=1e-6)
    # d/dW_{o,j} = W_{o,j} / ||column||: the method sees the masked weight
    layer = LearnedGroupConv2d(4, 6, 3, groups=2, condense_factor=2).double()
    layer.weight.data.copy_(weight.detach())
    layer.condense_step()
    layer.group_lasso().backward()
    norms = (weight.detach() * layer.mask).view(3, 2, 4, 9).square().sum(dim=(0, 3)).sqrt()  # (G, I)
    per_weight = norms.repeat(3, 1)[..., None, None]  # (O, I, 1, 1)
    grad = torch.where(layer.mask.bool(), weight.detach() / per_weight, torch.zeros(()).double())
    torch.testing.assert_close(layer.weight.grad, grad)


def test_gradcheck_forward_and_converted():
    layer = condensed(6, 4, 3, 2, 3, True, 1, steps=1)
    x = torch.randn(1, 6, 4, 4, dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(layer, (x,), eps=1e-6, atol=1e-6)
    assert torch.autograd.gradcheck(layer.to_grouped(), (x,), eps=1e-6, atol=1e-6)
    layer(x).sum().backward()
    assert torch.count_nonzero(layer.weight.grad * (1 - layer.mask)) == 0  # pruned weights get no gradient


def test_training_with_the_lasso_runs_the_stages_and_converts_exactly():
    """C - 1 condensing stages with the group lasso, an optimisation stage, then identical logits."""
    torch.manual_seed(0)
    condense_factor = 4
    lgc = LearnedGroupConv2d(16, 16, groups=4, condense_factor=condense_factor, bias=True)
    model = nn.Sequential(nn.Conv2d(3, 16, 3, padding=1), nn.ReLU(), lgc, nn.ReLU(),
                          nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(16, 5)).double()
    x = torch.randn(32, 3, 6, 6, dtype=torch.float64)
    y = torch.randint(0, 5, (32,))
    optimiser = torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
    steps_per_stage = 5
    for stage in range(condense_factor):  # C - 1 condensing stages, then the optimisation stage
        for _ in range(steps_per_stage):
            loss = F.cross_entropy(model(x), y)
            if stage < lgc.num_stages:
                loss = loss + 1e-3 * lgc.group_lasso()
            optimiser.zero_grad()
            loss.backward()
            optimiser.step()
        if stage < lgc.num_stages:
            lgc.condense_step()
    assert lgc.group_mask().sum(dim=1).tolist() == [4] * 4
    model.eval()
    test = torch.randn(8, 3, 6, 6, dtype=torch.float64)
    with torch.no_grad():
        logits = model(test)
        model[2] = lgc.to_grouped()
        torch.testing.assert_close(model(test), logits, rtol=0, atol=1e-10)


def test_channels_last_and_fx():
    layer = condensed(8, 8, 3, 4, 4, True, 1).float()
    converted = layer.to_grouped()
    x = torch.randn(2, 8, 9, 9)
    x_cl = x.contiguous(memory_format=torch.channels_last)
    with torch.no_grad():
        for module in (layer, converted):
            torch.testing.assert_close(module(x_cl), module(x))
            torch.testing.assert_close(torch.fx.symbolic_trace(module)(x), module(x))


def test_bad_arguments_fail():
    with pytest.raises(ValueError, match="divisible by groups"):
        LearnedGroupConv2d(8, 6, groups=4)
    with pytest.raises(ValueError, match="divisible by condense_factor"):
        LearnedGroupConv2d(6, 8, groups=4)
    layer = LearnedGroupConv2d(8, 8, groups=4)
    layer.mask[0, 0] = 0  # one filter of group 0 only
    with pytest.raises(ValueError, match="every filter of a group"):
        layer.to_grouped()
