"""What every catalogued operator must do: exact gradients, channels-last inputs, torch.fx tracing."""

from __future__ import annotations

import pytest
import torch
import torch.fx

from convzoo.ops.catalog import OPERATORS

IDS = [entry.name for entry in OPERATORS]


def build(entry, dtype=torch.float64):
    torch.manual_seed(0)
    try:
        return entry.build(8, 4, 3).to(dtype).eval()
    except ValueError as err:  # the operator cannot map 8 to 4 channels
        pytest.skip(str(err))


@pytest.mark.parametrize("entry", OPERATORS, ids=IDS)
def test_gradcheck(entry):
    operator = build(entry)
    x = torch.randn(1, 8, 5, 5, dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(operator, (x,), eps=1e-6, atol=1e-5, fast_mode=True)
    params = [p for p in operator.parameters() if p.requires_grad]
    if params:
        operator(x).square().sum().backward()
        assert all(p.grad is not None for p in params)


@pytest.mark.parametrize("entry", OPERATORS, ids=IDS)
def test_channels_last_gives_the_same_result(entry):
    operator = build(entry, torch.float32)
    x = torch.randn(2, 8, 9, 9)
    with torch.no_grad():
        torch.testing.assert_close(operator(x.contiguous(memory_format=torch.channels_last)), operator(x))


@pytest.mark.parametrize("entry", OPERATORS, ids=IDS)
def test_fx_traceable(entry):
    operator = build(entry, torch.float32)
    traced = torch.fx.symbolic_trace(operator)
    x = torch.randn(2, 8, 9, 9)
    with torch.no_grad():
        torch.testing.assert_close(traced(x), operator(x))
