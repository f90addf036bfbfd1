"""CondConv2d and DynamicConv2d: per-sample equality, the one-expert case, routing, temperature, cost."""

from __future__ import annotations

import pytest
import torch
import torch.fx
import torch.nn.functional as F
from torch import nn

from convzoo.analysis import profile
from convzoo.ops.dynamic_conv import (
    CondConv2d, DynamicConv2d, annealed_temperature, per_example_conv2d, set_dynamic_temperature,
)

CONFIGS = [  # in, out, kernel, stride, dilation, groups, bias
    (4, 6, 3, 1, 1, 1, True),
    (4, 6, 3, 2, 1, 2, False),
    (6, 3, (3, 1), 1, 2, 3, True),
    (4, 8, 1, 1, 1, 4, True),
]


def coefficients(layer: nn.Module, x: torch.Tensor) -> torch.Tensor:
    if isinstance(layer, CondConv2d):
        return layer.routing_weights(x)
    return layer.attention_weights(x)


def per_sample_reference(layer: nn.Module, x: torch.Tensor) -> torch.Tensor:
    """The definition, one example at a time: mix the experts with that example's weights, convolve."""
    outputs = []
    for b in range(x.shape[0]):
        a = coefficients(layer, x[b:b + 1])[0]  # (K,)
        weight = sum(a[k] * layer.weight[k] for k in range(layer.num_experts))
        bias = None if layer.bias is None else sum(a[k] * layer.bias[k] for k in range(layer.num_experts))
        outputs.append(F.conv2d(x[b:b + 1], weight, bias, layer.stride, layer.padding, layer.dilation, layer.groups))
    return torch.cat(outputs)


def build(cls: type, config: tuple, num_experts: int = 3) -> nn.Module:
    in_channels, out_channels, kernel_size, stride, dilation, groups, bias = config
    if cls is CondConv2d:
        return CondConv2d(in_channels, out_channels, kernel_size, stride, None, dilation, groups, num_experts, bias)
    return DynamicConv2d(in_channels, out_channels, kernel_size, stride, None, dilation, groups, num_experts,
                         reduction=2, temperature=2.0, bias=bias)


class _CountConvs(torch.overrides.TorchFunctionMode):
    def __init__(self, calls: list[int]) -> None:
        super().__init__()
        self.calls = calls

    def __torch_function__(self, func, types, args=(), kwargs=None):
        if func is F.conv2d:
            self.calls.append(args[6])
        return func(*args, **(kwargs or {}))


def test_per_example_conv_is_one_grouped_conv_of_per_sample_convs():
    torch.manual_seed(0)
    x, weight, bias = torch.randn(5, 4, 7, 7), torch.randn(5, 6, 2, 3, 3), torch.randn(5, 6)
    expected = torch.cat([F.conv2d(x[b:b + 1], weight[b], bias[b], 2, 1, 1, 2) for b in range(5)])
    torch.testing.assert_close(per_example_conv2d(x, weight, bias, 2, 1, 1, 2), expected, rtol=0, atol=1e-5)
    calls = []
    with _CountConvs(calls):
        per_example_conv2d(x, weight, bias, 2, 1, 1, 2)
    assert calls == [2 * 5]  # one conv call, with groups = groups x batch


@pytest.mark.parametrize("cls", [CondConv2d, DynamicConv2d])
@pytest.mark.parametrize("config", CONFIGS)
def test_equals_the_per_sample_loop(cls, config):
    torch.manual_seed(0)
    layer = build(cls, config)
    x = torch.randn(5, config[0], 9, 8)
    with torch.no_grad():
        torch.testing.assert_close(layer(x), per_sample_reference(layer, x), rtol=0, atol=1e-5)


@pytest.mark.parametrize("cls", [CondConv2d, DynamicConv2d])
def test_equals_the_mixture_of_expert_convs(cls):
    """Eq. (1): conv with the mixed kernel = the mixture of the K experts' conv outputs (linearity)."""
    torch.manual_seed(0)
    layer = build(cls, CONFIGS[0], num_experts=4)
    x = torch.randn(3, 4, 6, 6)
    with torch.no_grad():
        a = coefficients(layer, x)  # (B, K)
        experts = torch.stack([
            F.conv2d(x, layer.weight[k], layer.bias[k], padding=1) for k in range(4)
        ], dim=1)  # (B, K, O, H, W)
        expected = (a[:, :, None, None, None] * experts).sum(1)
        torch.testing.assert_close(layer(x), expected, rtol=0, atol=1e-5)


def test_condconv_with_one_expert_and_routing_at_one_is_a_plain_conv():
    torch.manual_seed(0)
    layer = CondConv2d(4, 6, 3, stride=2, num_experts=1)
    plain = nn.Conv2d(4, 6, 3, stride=2, padding=1)
    plain.weight.data.copy_(layer.weight[0])
    plain.bias.data.copy_(layer.bias[0])
    x = torch.randn(3, 4, 8, 8)
    with torch.no_grad():
        r = layer.routing_weights(x)  # (B, 1): in general r W, a rescaled plain conv
        rescaled = torch.cat([F.conv2d(x[b:b + 1], r[b] * plain.weight, r[b] * plain.bias, 2, 1) for b in range(3)])
        torch.testing.assert_close(layer(x), rescaled, rtol=0, atol=1e-5)
        layer.routing[2].weight.zero_()
        layer.routing[2].bias.fill_(100.0)  # sigmoid(100) == 1 in float32: routing set to 1
        assert torch.equal(layer.routing_weights(x), torch.ones(3, 1))
        torch.testing.assert_close(layer(x), plain(x), rtol=0, atol=1e-5)


@pytest.mark.parametrize("temperature", [1.0, 30.0])
def test_dynamic_conv_with_one_kernel_is_a_plain_conv(temperature):
    torch.manual_seed(0)
    layer = DynamicConv2d(4, 6, 3, num_kernels=1, temperature=temperature)
    plain = nn.Conv2d(4, 6, 3, padding=1)
    plain.weight.data.copy_(layer.weight[0])
    plain.bias.data.copy_(layer.bias[0])
    x = torch.randn(3, 4, 8, 8)
    with torch.no_grad():
        torch.testing.assert_close(layer(x), plain(x), rtol=0, atol=1e-5)  # softmax over one kernel is 1


def test_routing_is_independent_sigmoids_and_attention_a_tempered_softmax():
    torch.manual_seed(0)
    x = torch.randn(4, 8, 5, 5)
    cond = CondConv2d(8, 8, num_experts=6)
    with torch.no_grad():
        r = cond.routing_weights(x)
        torch.testing.assert_close(r, torch.sigmoid(cond.routing[2](x.mean((2, 3)))))  # Eq. (2)
    assert r.shape == (4, 6) and ((0 < r) & (r < 1)).all()
    assert not torch.allclose(r.sum(1), torch.ones(4))  # not normalised: experts are not competing

    dyn = DynamicConv2d(8, 8, num_kernels=4, temperature=1.0)
    assert dyn.attention[2].out_features == 2  # reduction 4
    with torch.no_grad():
        logits = dyn.attention(x)
        torch.testing.assert_close(dyn.attention_weights(x), torch.softmax(logits, 1))
        torch.testing.assert_close(dyn.attention_weights(x).sum(1), torch.ones(4))
        dyn.set_temperature(30.0)
        torch.testing.assert_close(dyn.attention_weights(x), torch.softmax(logits / 30, 1))
        flat = dyn.attention_weights(x)
        dyn.set_temperature(0.01)
        sharp = dyn.attention_weights(x)
    assert (flat.max(1).values - flat.min(1).values).max() < (sharp.max(1).values - sharp.min(1).values).min()


def test_temperature_schedule_setter_and_checkpoint():
    assert annealed_temperature(0) == 30.0
    assert annealed_temperature(5) == 15.5
    assert annealed_temperature(10) == annealed_temperature(50) == 1.0
    model = nn.Sequential(DynamicConv2d(4, 4), nn.ReLU(), DynamicConv2d(4, 4), CondConv2d(4, 4))
    assert float(model[0].temperature) == 30.0  # the paper's starting point
    assert set_dynamic_temperature(model, 3.0) == 2
    assert float(model[2].temperature) == 3.0
    fresh = nn.Sequential(DynamicConv2d(4, 4), nn.ReLU(), DynamicConv2d(4, 4), CondConv2d(4, 4))
    fresh.load_state_dict(model.state_dict())
    assert float(fresh[0].temperature) == 3.0  # the temperature travels with the weights
    with pytest.raises(ValueError, match="positive"):
        model[0].set_temperature(0.0)


@pytest.mark.parametrize("cls", [CondConv2d, DynamicConv2d])
def test_gradcheck(cls):
    torch.manual_seed(0)
    layer = build(cls, (2, 2, 3, 1, 1, 1, True), num_experts=2).double()
    x = torch.randn(2, 2, 3, 3, dtype=torch.float64, requires_grad=True)
    names = [name for name, _ in layer.named_parameters()]

    def forward(x, *params):
        return torch.func.functional_call(layer, dict(zip(names, params)), (x,))

    assert torch.autograd.gradcheck(forward, (x, *layer.parameters()))  # the input, experts and routing


@pytest.mark.parametrize("cls", [CondConv2d, DynamicConv2d])
def test_train_and_eval_and_channels_last(cls):
    torch.manual_seed(0)
    layer = build(cls, CONFIGS[1])
    x = torch.randn(3, 4, 8, 8)
    layer.train()
    out = layer(x)
    out.square().sum().backward()
    assert all(p.grad is not None and p.grad.abs().sum() > 0 for p in layer.parameters())
    layer.eval()
    with torch.no_grad():
        torch.testing.assert_close(layer(x), out.detach())  # nothing depends on the mode
        last = layer(x.contiguous(memory_format=torch.channels_last))
    torch.testing.assert_close(last, out.detach(), rtol=0, atol=1e-5)


@pytest.mark.parametrize("cls", [CondConv2d, DynamicConv2d])
def test_fx_traceable(cls):
    torch.manual_seed(0)
    layer = build(cls, CONFIGS[0]).eval()
    traced = torch.fx.symbolic_trace(layer)
    x = torch.randn(3, 4, 6, 6)
    torch.testing.assert_close(traced(x), layer(x), rtol=0, atol=0)
    torch.testing.assert_close(traced(x[:1]), layer(x[:1]), rtol=0, atol=0)  # the batch size is not baked in
    if cls is DynamicConv2d:
        traced.temperature.fill_(7.0)  # the traced module holds the buffer, not its value
        layer.set_temperature(7.0)
        torch.testing.assert_close(traced(x), layer(x), rtol=0, atol=0)  # τ is read at run time
    with pytest.raises(ValueError, match=r"\(B, 4, H, W\)"):
        traced(torch.randn(1, 5, 6, 6))


@pytest.mark.parametrize("batch", [1, 3])
@pytest.mark.parametrize("in_channels, out_channels, kernel_size, stride, groups, experts, size", [
    (16, 32, 3, 1, 1, 4, 8), (16, 16, 3, 2, 16, 8, 9), (12, 24, 5, 1, 3, 2, 6),
])
def test_profiled_params_and_macs(batch, in_channels, out_channels, kernel_size, stride, groups, experts, size):
    with torch.device("meta"):
        cond = CondConv2d(in_channels, out_channels, kernel_size, stride, groups=groups, num_experts=experts)
        dyn = DynamicConv2d(in_channels, out_channels, kernel_size, stride, groups=groups, num_kernels=experts)
    kernel = out_channels * in_channels // groups * kernel_size**2  # one expert's weights
    out_size = (size - 1) // stride + 1
    conv = out_channels * out_size**2 * in_channels // groups * kernel_size**2  # the conv, per example
    mixing = experts * kernel + experts * out_channels  # the kernels and the biases, per example
    hidden = in_channels // 4
    for layer, head_params, head_macs in [
        (cond, in_channels * experts + experts, in_channels * experts),
        (dyn, in_channels * hidden + hidden + hidden * experts + experts, in_channels * hidden + hidden * experts),
    ]:
        result = profile(layer, (in_channels, size, size), batch_size=batch)
        assert result.params == experts * (kernel + out_channels) + head_params
        assert result.macs == batch * (conv + head_macs + mixing)
        assert sum(row.macs for row in result.layers if row.type == "functional") == batch * (conv + mixing)


def test_bad_arguments_fail():
    with pytest.raises(ValueError, match="groups=3"):
        CondConv2d(4, 6, groups=3)
    with pytest.raises(ValueError, match="num_experts"):
        CondConv2d(4, 6, num_experts=0)
    with pytest.raises(ValueError, match=r"\(B, 4, H, W\)"):
        DynamicConv2d(4, 6)(torch.randn(2, 3, 5, 5))
