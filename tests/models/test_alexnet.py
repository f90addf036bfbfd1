"""AlexNet: torchvision equivalence, the paper's parameter count, LRN, grouping, input sizes."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from convzoo.errors import InputShapeError
from helpers import count_parameters
from convzoo.models.alexnet import LRN_ALPHA, LRN_BETA, LRN_K, LRN_SIZE, alexnet, alexnet_2012


@pytest.fixture(scope="module")
def paper_model():
    torch.manual_seed(0)
    return alexnet_2012().eval()


@pytest.mark.parametrize(("builder", "expected"), [(alexnet, 61_100_840), (alexnet_2012, 60_965_224)])
def test_parameter_counts(builder, expected):
    with torch.device("meta"):
        assert count_parameters(builder()) == expected


def test_alexnet_other_channels_and_classes():
    model = alexnet(in_chans=1, num_classes=7).eval()
    x = torch.randn(2, 1, 64, 64)
    with torch.no_grad():
        assert model(x).shape == (2, 7)
        model.reset_classifier(0)
        assert model(x).shape == (2, 4096)


def test_alexnet_2012_output_at_227(paper_model):
    with torch.no_grad():
        features = paper_model.forward_features(torch.randn(2, 3, 227, 227))
        assert features.shape == (2, 256, 6, 6)  # the paper's 6x6x256 input to fc6
        assert paper_model.forward_head(features).shape == (2, 1000)
        assert paper_model.forward_head(features, pre_logits=True).shape == (2, 4096)


def test_alexnet_2012_initialisation(paper_model):
    layers = {**dict(paper_model.features.named_children()), **dict(paper_model.classifier.named_children())}
    for name in ("conv1", "conv2", "conv3", "conv4", "conv5", "fc6", "fc7", "fc8"):
        assert layers[name].weight.std().item() == pytest.approx(0.01, rel=0.1)
        expected_bias = 1.0 if name in {"conv2", "conv4", "conv5", "fc6", "fc7"} else 0.0
        assert torch.all(layers[name].bias == expected_bias), name


def _paper_lrn(a: torch.Tensor, n: int, alpha: float, beta: float, k: float) -> torch.Tensor:
    """Section 3.3 as written: b_i = a_i / (k + alpha * sum_j a_j^2)^beta,

    the sum running over maps j from max(0, i - n/2) to min(N - 1, i + n/2).
    """
    maps = a.shape[1]
    out = torch.empty_like(a)
    for i in range(maps):
        lo, hi = max(0, i - n // 2), min(maps - 1, i + n // 2)
        out[:, i] = a[:, i] / (k + alpha * a[:, lo : hi + 1].square().sum(dim=1)) ** beta
    return out


def test_lrn_computes_the_paper_formula(paper_model):
    torch.manual_seed(0)
    a = torch.rand(2, 12, 4, 4) * 30  # ReLU outputs, large enough for the sum to matter
    expected = _paper_lrn(a, LRN_SIZE, LRN_ALPHA, LRN_BETA, LRN_K)
    for norm in (paper_model.features.norm1, paper_model.features.norm2):
        torch.testing.assert_close(norm(a), expected)
    assert (expected - a / LRN_K**LRN_BETA).abs().max() > 1e-2  # the neighbour term is not negligible


def test_two_gpu_split_is_grouped_convolution(paper_model):
    features = paper_model.features
    assert [features.conv1.groups, features.conv2.groups, features.conv3.groups] == [1, 2, 1]
    assert [features.conv4.groups, features.conv5.groups] == [2, 2]
    conv2 = features.conv2
    x = torch.randn(2, 96, 9, 9)
    halves = [
        F.conv2d(x[:, :48], conv2.weight[:128], conv2.bias[:128], padding=2),  # GPU 1 sees its 48 maps
        F.conv2d(x[:, 48:], conv2.weight[128:], conv2.bias[128:], padding=2),  # GPU 2 sees the other 48
    ]
    with torch.no_grad():
        torch.testing.assert_close(conv2(x), torch.cat(halves, dim=1))


@pytest.mark.parametrize(("builder", "side"), [(alexnet, 63), (alexnet_2012, 67)])
def test_min_input_size_is_exact(builder, side):
    model = builder().eval()
    assert model.min_input_size == side
    with torch.no_grad():
        assert model(torch.randn(2, 3, side, side)).shape == (2, 1000)
        with pytest.raises(InputShapeError, match=str(side)):
            model(torch.randn(2, 3, side - 1, side - 1))
        with pytest.raises(RuntimeError):  # the layers themselves cannot take one pixel less
            model.forward_features(torch.randn(2, 3, side - 1, side - 1))


@pytest.mark.parametrize(("builder", "side"), [(alexnet, 224), (alexnet_2012, 227)])
def test_feature_info_describes_the_stages(builder, side):
    with torch.device("meta"):
        model = builder().eval()
    modules = dict(model.named_modules())
    outputs = {}
    for info in model.feature_info:
        name = info["module"]
        modules[name].register_forward_hook(lambda _m, _i, out, name=name: outputs.update({name: out}))
    features = model.forward_features(torch.empty(2, 3, side, side, device="meta"))
    for info in model.feature_info:
        assert outputs[info["module"]].shape[1] == info["num_chs"]
    assert features.shape[1] == model.feature_info[-1]["num_chs"]
