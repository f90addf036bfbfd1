"""Dense layer, dense block and transition: torchvision's blocks, and the memory-efficient mode."""

from __future__ import annotations

import pytest
import torch
import torch.fx
from torch import nn
from torchvision.models import densenet as tv_densenet

from convzoo.blocks.dense import DenseBlock, DenseLayer, Transition
from helpers import randomise_norms


def randomised(module: nn.Module) -> nn.Module:
    torch.manual_seed(0)
    randomise_norms(module)
    return module


def test_dense_layer_equals_torchvision():
    theirs = randomised(tv_densenet._DenseLayer(20, growth_rate=8, bn_size=4, drop_rate=0)).eval()
    ours = DenseLayer(20, growth_rate=8, bn_size=4).eval()
    ours.load_state_dict(theirs.state_dict())
    features = [torch.randn(2, 12, 6, 6), torch.randn(2, 8, 6, 6)]
    with torch.no_grad():
        torch.testing.assert_close(ours(features), theirs(features), rtol=0, atol=1e-6)
        whole = torch.cat(features, 1)
        torch.testing.assert_close(ours(whole), theirs(whole), rtol=0, atol=1e-6)
    assert ours(features).shape == (2, 8, 6, 6)  # only the k new maps


def test_dense_block_equals_torchvision_and_grows_by_k_per_layer():
    theirs = randomised(tv_densenet._DenseBlock(3, 16, bn_size=4, growth_rate=8, drop_rate=0)).eval()
    ours = DenseBlock(3, 16, growth_rate=8).eval()
    ours.load_state_dict(theirs.state_dict())
    assert list(ours) == ["denselayer1", "denselayer2", "denselayer3"]
    assert [layer.conv1.in_channels for layer in ours.values()] == [16, 24, 32]  # Eq. (2): all maps so far
    x = torch.randn(2, 16, 5, 5)
    with torch.no_grad():
        out = ours(x)
        torch.testing.assert_close(out, theirs(x), rtol=0, atol=1e-6)
    assert out.shape == (2, 16 + 3 * 8, 5, 5) and ours.out_channels == 40
    assert torch.equal(out[:, :16], x)  # the input is passed on unchanged


def test_transition_equals_torchvision():
    theirs = randomised(tv_densenet._Transition(32, 16)).eval()
    ours = Transition(32, 16).eval()
    ours.load_state_dict(theirs.state_dict())
    x = torch.randn(2, 32, 7, 7)
    with torch.no_grad():
        torch.testing.assert_close(ours(x), theirs(x), rtol=0, atol=1e-6)
    assert ours(x).shape == (2, 16, 3, 3)


def twin_blocks(**kwargs) -> tuple[DenseBlock, DenseBlock]:
    torch.manual_seed(0)
    plain = DenseBlock(4, 16, growth_rate=8, **kwargs)
    randomise_norms(plain)
    efficient = DenseBlock(4, 16, growth_rate=8, memory_efficient=True, **kwargs)
    efficient.load_state_dict(plain.state_dict())
    return plain.train(), efficient.train()


def test_memory_efficient_gives_identical_outputs_gradients_and_statistics():
    plain, efficient = twin_blocks()
    x = torch.randn(4, 16, 8, 8)
    x_plain, x_efficient = x.clone().requires_grad_(), x.clone().requires_grad_()
    out_plain, out_efficient = plain(x_plain), efficient(x_efficient)
    assert torch.equal(out_plain, out_efficient)
    grad = torch.randn_like(out_plain)
    out_plain.backward(grad)
    out_efficient.backward(grad)
    torch.testing.assert_close(x_efficient.grad, x_plain.grad, rtol=0, atol=1e-6)
    for (name, p), q in zip(plain.named_parameters(), efficient.parameters()):
        torch.testing.assert_close(q.grad, p.grad, rtol=0, atol=1e-6, msg=name)
    # The recomputation in backward does not update the running statistics a second time.
    for (name, b), c in zip(plain.named_buffers(), efficient.buffers()):
        assert torch.equal(b, c), name


def test_memory_efficient_recomputes_the_bottleneck_and_saves_less():
    plain, efficient = twin_blocks()
    calls = {"plain": 0, "efficient": 0}
    plain.denselayer4.norm1.register_forward_hook(lambda *_: calls.__setitem__("plain", calls["plain"] + 1))
    efficient.denselayer4.norm1.register_forward_hook(lambda *_: calls.__setitem__("efficient", calls["efficient"] + 1))

    def saved_numel(block: DenseBlock) -> tuple[int, torch.Tensor]:
        total = 0

        def pack(tensor: torch.Tensor) -> torch.Tensor:
            nonlocal total
            total += tensor.numel()
            return tensor

        with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
            out = block(torch.randn(4, 16, 8, 8, requires_grad=True))
        return total, out

    saved_plain, out = saved_numel(plain)
    out.sum().backward()
    saved_efficient, out = saved_numel(efficient)
    out.sum().backward()
    # The norm runs again in backward (the checkpoint stops recomputing once it has what backward needs).
    assert calls == {"plain": 1, "efficient": 2}
    assert saved_efficient < 0.7 * saved_plain


def test_memory_efficient_is_plain_in_eval_and_without_grad():
    plain, efficient = twin_blocks()
    calls = []
    efficient.denselayer1.conv1.register_forward_hook(lambda *_: calls.append(1))
    x = torch.randn(2, 16, 6, 6)
    efficient.eval()
    plain.eval()
    assert torch.equal(efficient(x.requires_grad_()), plain(x))
    efficient.train()
    with torch.no_grad():
        efficient(x)
    assert len(calls) == 2


def test_dense_block_traces_with_fx():
    _, efficient = twin_blocks()
    traced = torch.fx.symbolic_trace(efficient.eval())
    x = torch.randn(1, 16, 4, 4)
    with torch.no_grad():
        assert torch.equal(traced(x), efficient(x))


def test_drop_rate_only_in_training():
    layer = DenseLayer(8, growth_rate=4, drop_rate=0.5)
    x = torch.randn(2, 8, 5, 5)
    layer.eval()
    assert torch.equal(layer(x), layer(x))
    layer.train()
    torch.manual_seed(0)
    out = layer(x)
    assert (out == 0).float().mean() > 0.3


@pytest.mark.parametrize("norm_layer", [nn.BatchNorm2d, lambda c: nn.GroupNorm(2, c)])
def test_norm_and_activation_are_injectable(norm_layer):
    layer = DenseLayer(8, growth_rate=4, norm_layer=norm_layer, act_layer=nn.SiLU)
    assert isinstance(layer.relu1, nn.SiLU)
    assert layer(torch.randn(2, 8, 4, 4)).shape == (2, 4, 4, 4)
