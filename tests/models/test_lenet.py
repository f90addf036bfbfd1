"""LeNet-5: the paper's parameter counts, Table I, the squashing function and the RBF output."""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F

from convzoo.errors import InputShapeError
from helpers import count_parameters
from convzoo.models.lenet import (
    C3_CONNECTIONS,
    ConnectionTableConv2d,
    ScaledTanh,
    Subsampling2d,
    lenet5,
    lenet5_1998,
)


def test_lenet5_parameter_count():
    assert count_parameters(lenet5()) == 61_706


def test_lenet5_1998_parameter_counts_match_the_paper():
    model = lenet5_1998()
    layers = ("c1", "s2", "c3", "s4", "c5", "f6", "output")
    per_layer = {name: count_parameters(getattr(model, name)) for name in layers}
    assert per_layer == {"c1": 156, "s2": 12, "c3": 1_516, "s4": 32, "c5": 48_120, "f6": 10_164, "output": 0}
    assert count_parameters(model) == 60_000
    assert all(p.requires_grad for p in model.parameters())


def test_rbf_prototypes_are_a_fixed_buffer_of_signs():
    model = lenet5_1998()
    prototypes = model.output.prototypes
    assert "output.prototypes" in model.state_dict()
    assert prototypes.shape == (10, 84)
    assert set(prototypes.unique().tolist()) == {-1.0, 1.0}
    assert torch.equal(prototypes, lenet5_1998().output.prototypes)  # seeded: the same on every build


@pytest.mark.parametrize("builder", [lenet5, lenet5_1998])
@pytest.mark.parametrize(("in_chans", "num_classes"), [(1, 10), (3, 5)])
def test_forward_shapes(builder, in_chans, num_classes):
    model = builder(in_chans=in_chans, num_classes=num_classes).eval()
    x = torch.randn(2, in_chans, 32, 32)
    with torch.no_grad():
        features = model.forward_features(x)
        assert features.shape == (2, 120, 1, 1)
        assert model.forward_head(features, pre_logits=True).shape == (2, 84)
        assert model(x).shape == (2, num_classes)
        model.reset_classifier(0)
        assert model.num_features == 84
        assert model(x).shape == (2, 84)


@pytest.mark.parametrize("builder", [lenet5, lenet5_1998])
def test_feature_info_describes_the_stages(builder):
    model = builder().eval()
    modules = dict(model.named_modules())
    outputs = {}
    for info in model.feature_info:
        name = info["module"]
        modules[name].register_forward_hook(lambda _m, _i, out, name=name: outputs.update({name: out}))
    with torch.no_grad():
        features = model.forward_features(torch.randn(2, 1, 32, 32))
    for info in model.feature_info:
        out = outputs[info["module"]]
        assert out.shape[1] == info["num_chs"]
        assert 32 / out.shape[-1] == pytest.approx(info["reduction"])
    assert features.shape[1] == model.feature_info[-1]["num_chs"]


@pytest.mark.parametrize("builder", [lenet5, lenet5_1998])
def test_other_input_sizes_are_refused(builder):
    with pytest.raises(InputShapeError, match="32x32"):
        builder()(torch.randn(2, 1, 28, 28))


def test_squashing_function():
    f = ScaledTanh()
    assert f(torch.tensor(1.0)).item() == pytest.approx(1.7159 * math.tanh(2 / 3))
    assert f(torch.tensor(1.0)).item() == pytest.approx(1.0, abs=1e-3)  # why A and S were chosen


def test_subsampling_sums_blocks_then_scales_and_shifts():
    layer = Subsampling2d(3)
    x = torch.randn(2, 3, 6, 6)
    block_sums = x.view(2, 3, 3, 2, 3, 2).sum(dim=(3, 5))
    expected = block_sums * layer.weight.view(1, 3, 1, 1) + layer.bias.view(1, 3, 1, 1)
    torch.testing.assert_close(layer(x), expected)


def _is_cyclic_run(maps: tuple[int, ...]) -> bool:
    return any(set(maps) == {(start + k) % 6 for k in range(len(maps))} for start in range(6))


def test_c3_connection_table_is_table_1():
    sizes = [len(inputs) for inputs in C3_CONNECTIONS]
    assert sizes == [3] * 6 + [4] * 9 + [6]
    assert sum(sizes) == 60  # 60 kernels of 25 weights + 16 biases = 1,516 parameters
    assert all(_is_cyclic_run(inputs) for inputs in C3_CONNECTIONS[:12])
    assert not any(_is_cyclic_run(inputs) for inputs in C3_CONNECTIONS[12:15])
    assert len(set(map(frozenset, C3_CONNECTIONS))) == 16
    # Each row of Table I (an S2 map) has 10 crosses.
    assert [sum(i in inputs for inputs in C3_CONNECTIONS) for i in range(6)] == [10] * 6
    assert lenet5_1998().c3.weight.shape == (60, 5, 5)


def test_c3_equals_per_map_convolutions_over_the_listed_s2_maps():
    torch.manual_seed(0)
    layer = ConnectionTableConv2d(6, 16, kernel_size=5, connections=C3_CONNECTIONS)
    x = torch.randn(2, 6, 14, 14)
    expected, start = [], 0
    for out_map, inputs in enumerate(C3_CONNECTIONS):
        kernels = layer.weight[start : start + len(inputs)].unsqueeze(0)  # (1, len(inputs), 5, 5)
        expected.append(F.conv2d(x[:, list(inputs)], kernels, layer.bias[out_map : out_map + 1]))
        start += len(inputs)
    torch.testing.assert_close(layer(x), torch.cat(expected, dim=1))


def test_paper_initialisation_bounds():
    model = lenet5_1998()
    assert model.c1.weight.abs().max() <= 2.4 / 25
    assert model.c5.weight.abs().max() <= 2.4 / 400
    assert model.f6.weight.abs().max() <= 2.4 / 120
    assert model.s2.weight.abs().max() <= 2.4 / 4
    start = 0
    for inputs in C3_CONNECTIONS:
        kernels = model.c3.weight[start : start + len(inputs)]
        assert kernels.abs().max() <= 2.4 / (25 * len(inputs))
        start += len(inputs)


def test_rbf_output_is_the_squared_euclidean_distance():
    torch.manual_seed(0)
    model = lenet5_1998().eval()
    x = torch.randn(2, 1, 32, 32)
    with torch.no_grad():
        f6 = model.forward_head(model.forward_features(x), pre_logits=True)
        distances = torch.cdist(f6, model.output.prototypes) ** 2
        torch.testing.assert_close(model.output(f6), distances, rtol=1e-5, atol=1e-4)
        # The logits are the negative distances.
        torch.testing.assert_close(model(x), -distances, rtol=1e-5, atol=1e-4)


def test_builds_on_the_meta_device():
    with torch.device("meta"):
        model = lenet5_1998(in_chans=3)
    assert model.output.prototypes.is_meta
    assert model(torch.empty(2, 3, 32, 32, device="meta")).shape == (2, 10)
