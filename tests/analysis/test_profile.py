"""The complexity profiler: exact MACs of single layers, the registry cross-checked
against PyTorch's FlopCounterMode, and torchvision's published GFLOPS pinned."""

from __future__ import annotations

import json

import pytest
import torch
from torch import nn
from torch.utils.flop_counter import FlopCounterMode

import convzoo
from convzoo.analysis import format_profile, profile
from helpers import empty_model

MODELS = convzoo.list_models()


def meta(module_fn):
    with torch.device("meta"):
        return module_fn()


def macs_of(layer: nn.Module, shape) -> int:
    return profile(layer, shape[1:], batch_size=shape[0]).macs


# ------------------------------------------------------------------ single layers


@pytest.mark.parametrize(
    "layer, shape, expected",
    [
        # out elements x in/groups x prod(kernel)
        (lambda: nn.Conv2d(8, 16, 3, padding=1), (2, 8, 10, 10), 2 * 16 * 10 * 10 * 8 * 9),
        (lambda: nn.Conv2d(8, 16, 3, groups=4), (1, 8, 10, 10), 16 * 8 * 8 * 2 * 9),  # grouped
        (lambda: nn.Conv2d(8, 8, 3, padding=1, groups=8), (1, 8, 10, 10), 8 * 10 * 10 * 9),  # depthwise
        (lambda: nn.Conv2d(4, 6, 3, dilation=2), (1, 4, 11, 11), 6 * 7 * 7 * 4 * 9),  # dilated: 11 - 4 = 7
        (lambda: nn.Conv1d(4, 6, 5, stride=2), (1, 4, 21), 6 * 9 * 4 * 5),
        (lambda: nn.Conv3d(2, 4, 3, padding=1, groups=2), (1, 2, 4, 5, 6), 4 * 4 * 5 * 6 * 1 * 27),
        # transposed: input elements x out/groups x prod(kernel)
        (lambda: nn.ConvTranspose2d(6, 4, 4, stride=2, padding=1), (1, 6, 5, 5), 6 * 5 * 5 * 4 * 16),
        (lambda: nn.ConvTranspose2d(6, 4, 3, groups=2), (1, 6, 5, 5), 6 * 5 * 5 * 2 * 9),
        (lambda: nn.ConvTranspose3d(3, 2, 2, stride=2), (1, 3, 2, 3, 4), 3 * 2 * 3 * 4 * 2 * 8),
        (lambda: nn.Linear(10, 7), (3, 10), 3 * 10 * 7),
        (lambda: nn.Linear(10, 7), (3, 5, 10), 3 * 5 * 10 * 7),  # extra leading dims
    ],
)
def test_single_layer_macs(layer, shape, expected):
    module = meta(layer)
    assert macs_of(module, shape) == expected
    # and PyTorch's own counter agrees (FLOPs = 2 x MACs)
    with FlopCounterMode(display=False) as counter, torch.no_grad():
        module(torch.empty(shape, device="meta"))
    assert counter.get_total_flops() == 2 * expected


def test_bottleneck_saves_over_plain_3x3():
    """A 256->256 3x3 conv on a 1x1 map vs a 1x1 256->32 bottleneck then 3x3 32->256."""
    plain = meta(lambda: nn.Conv2d(256, 256, 3, padding=1, bias=False))
    bottleneck = meta(
        lambda: nn.Sequential(nn.Conv2d(256, 32, 1, bias=False), nn.Conv2d(32, 256, 3, padding=1, bias=False))
    )
    p, b = profile(plain, (256, 1, 1)), profile(bottleneck, (256, 1, 1))
    assert p.params == p.macs == 589_824
    assert b.params == b.macs == 81_920 == 8_192 + 73_728
    assert [layer.macs for layer in b.layers] == [8_192, 73_728]


def test_functional_matmul_is_counted_once():
    class Attention(nn.Module):
        def __init__(self):
            super().__init__()
            self.qkv = nn.Linear(16, 48)
            self.proj = nn.Linear(16, 16)

        def forward(self, x):  # (B, N, 16)
            q, k, v = self.qkv(x).chunk(3, dim=-1)
            attn = (q @ k.transpose(-2, -1)).softmax(dim=-1)  # (B, N, N)
            return self.proj(torch.bmm(attn, v))

    model = meta(Attention)
    result = profile(model, (10, 16), batch_size=2)
    linear = 2 * 10 * 16 * 48 + 2 * 10 * 16 * 16
    matmul = 2 * 10 * 10 * 16 * 2  # q k^T and attn v
    assert result.macs == linear + matmul
    assert result.flops == 2 * result.macs
    with FlopCounterMode(display=False) as counter, torch.no_grad():
        model(torch.empty(2, 10, 16, device="meta"))
    assert counter.get_total_flops() == result.flops


def test_params_and_activation_bytes():
    conv = nn.Conv2d(3, 5, 3, padding=1)  # a CPU model works too
    result = profile(conv, (3, 8, 8), batch_size=2)
    assert result.params == sum(p.numel() for p in conv.parameters()) == 5 * 3 * 9 + 5
    assert result.activation_bytes == 2 * 5 * 8 * 8 * 4  # float32 output
    assert result.layers[0].output_shape == (2, 5, 8, 8)
    assert result.device == "cpu"
    half = profile(meta(lambda: nn.Conv2d(3, 5, 3, padding=1, dtype=torch.float16)), (3, 8, 8), dtype=torch.float16)
    assert half.activation_bytes == 5 * 8 * 8 * 2


def test_params_equal_sum_of_parameters():
    model = meta(lambda: convzoo.create_model("resnet18"))
    assert profile(model, (3, 64, 64)).params == sum(p.numel() for p in model.parameters())


def test_coverage_lists_uncounted_module_type():
    class Cumulative(nn.Module):
        def forward(self, x):
            return x.cumsum(dim=-1)

    model = meta(lambda: nn.Sequential(nn.Conv2d(3, 4, 3), Cumulative(), nn.ReLU()))
    result = profile(model, (3, 8, 8))
    assert result.coverage.uncounted_types == {"Cumulative": 1}
    assert result.coverage.uncounted_share == pytest.approx(1 / 3)
    assert "cumsum" in result.coverage.uncounted_ops
    assert "Cumulative" in result.coverage.summary()
    assert not result.layers[1].counted


def test_model_mode_restored_and_eval_used():
    model = meta(lambda: nn.Sequential(nn.Conv2d(3, 4, 3), nn.BatchNorm2d(4)))
    model.train()
    result = profile(model, (3, 8, 8))
    assert model.training
    assert result.layers[1].other_ops == 2 * 4 * 6 * 6  # folded scale and shift


def test_format_and_json():
    result = profile("resnet18", (3, 64, 64))
    text = format_profile(result, layers=True)
    assert "FLOPs = 2 x MACs" in text
    assert "layer1.0.conv1" in text and "fc" in text
    short = format_profile(result, layers=False)
    assert "FLOPs = 2 x MACs" in short and "layer1.0.conv1" not in short
    data = json.loads(json.dumps(result.to_dict()))
    assert data["flops"] == 2 * data["macs"] == 2 * result.macs
    assert data["flops_convention"] == "FLOPs = 2 x MACs"
    assert len(data["layers"]) == len(result.layers)


# ------------------------------------------------------------------ the registry


@pytest.mark.parametrize("name", MODELS)
def test_matches_flop_counter(name):
    """conv + linear + matmul MACs x 2 equal PyTorch's FlopCounterMode, forward only."""
    input_size = tuple(convzoo.model_card(name)["input_size"])
    model = meta(lambda: convzoo.create_model(name)).eval()
    result = profile(model, input_size)
    with FlopCounterMode(display=False) as counter, torch.no_grad():
        model(torch.empty(1, *input_size, device="meta"))
    assert result.device == "meta"
    assert 2 * result.macs == result.flops == counter.get_total_flops()
    assert result.params == sum(p.numel() for p in model.parameters())
    assert result.activation_bytes > 0


PUBLISHED_GMACS = {  # torchvision's "GFLOPS", which are multiply-accumulates
    "resnet18": 1.81,
    "resnet34": 3.66,
    "resnet50": 4.09,
    "resnet101": 7.8,
    "resnet152": 11.51,
    "vgg11": 7.61,
    "vgg11_bn": 7.61,
    "vgg13": 11.31,
    "vgg16": 15.47,
    "vgg19": 19.63,
    "alexnet": 0.71,
}


def torchvision_weights_meta(name: str) -> tuple[float, int] | None:
    """The ``_ops`` figure in torchvision's weight metadata and the crop it was measured at (nothing downloaded)."""
    from torchvision.models import get_model_weights

    try:
        weights = get_model_weights(name).DEFAULT
        return weights.meta["_ops"], weights.transforms.keywords["crop_size"]
    except (ValueError, KeyError):
        return None


def measured_input(name: str, crop: int | tuple[int, int]) -> tuple[int, ...]:
    """The input torchvision measured at: its crop (a side, or (H, W) for video), a video's frames the registry's."""
    height, width = crop if isinstance(crop, tuple) else (crop, crop)
    default = tuple(convzoo.model_card(name)["input_size"])
    return (*default[:-2], height, width)


@pytest.mark.parametrize("name", sorted(PUBLISHED_GMACS))
def test_torchvision_published_gflops(name):
    gmacs = profile(name, (3, 224, 224)).macs / 1e9
    assert gmacs == pytest.approx(PUBLISHED_GMACS[name], rel=0.02)
    assert torchvision_weights_meta(name) == (pytest.approx(gmacs, rel=0.02), 224)


def test_every_torchvision_named_model_matches_its_metadata():
    """Within 2%, or half a unit of the published figure's last digit (0.005 G) for the smallest models."""
    checked = 0
    for name in MODELS:
        tv_name = convzoo.model_card(name)["torchvision_name"]
        meta = torchvision_weights_meta(tv_name) if tv_name else None
        if meta is None:
            continue
        published, crop = meta
        gmacs = profile(name, measured_input(name, crop)).macs / 1e9
        assert gmacs == pytest.approx(published, rel=0.02, abs=0.005), name
        checked += 1
    assert checked >= 11


def test_falls_back_to_cpu_when_meta_fails():
    class DataDependent(nn.Module):
        def __init__(self):
            super().__init__()
            self.conv = nn.Conv2d(3, 4, 3)

        def forward(self, x):
            if x.abs().sum().item() >= 0:  # .item() has no meaning on the meta device
                return self.conv(x)
            return x

    result = profile(meta(DataDependent), (3, 8, 8))
    assert result.device == "cpu"
    assert result.macs == 4 * 6 * 6 * 3 * 9


# ------------------------------------------------------------------ activation memory


def distinct_output_bytes(model: nn.Module, input_size) -> int:
    """Bytes of the distinct storages the leaf layers' outputs hold, the input's left out.

    Independent of the profiler: the model runs on a real tensor, and storages are told
    apart by address (every output is kept alive, so no address is reused).
    """
    x = torch.zeros(1, *input_size)
    kept, seen, total = [x], {x.untyped_storage().data_ptr()}, 0

    def hook(_module, _inputs, output):
        nonlocal total
        for t in output if isinstance(output, (tuple, list)) else (output,):
            kept.append(t)
            if t.untyped_storage().data_ptr() not in seen:
                seen.add(t.untyped_storage().data_ptr())
                total += t.untyped_storage().nbytes()

    leaves = [m for m in model.modules() if next(m.children(), None) is None]
    handles = [m.register_forward_hook(hook) for m in leaves]
    with torch.no_grad():
        model.eval()(x)
    for handle in handles:
        handle.remove()
    return total


def test_outputs_that_alias_their_input_allocate_nothing():
    model = nn.Sequential(nn.Conv2d(3, 4, 3, padding=1), nn.ReLU(inplace=True), nn.Identity(), nn.Flatten())
    result = profile(model, (3, 8, 8))
    assert result.activation_bytes == 4 * 8 * 8 * 4  # the conv's output, once
    assert [layer.activation_bytes for layer in result.layers] == [4 * 8 * 8 * 4, 0, 0, 0]


@pytest.mark.parametrize("name", ["resnet50", "seresnet50", "mobilenetv1_100", "mobilenet_v2"])  # v1, v2: in-place ReLUs
def test_activation_memory_equals_the_distinct_storages_of_a_real_run(name):
    model = empty_model(convzoo.create_model, name=name)  # values do not matter, only storages
    expected = distinct_output_bytes(model, (3, 64, 64))
    assert profile(meta(lambda: convzoo.create_model(name)), (3, 64, 64)).activation_bytes == expected
    assert profile(model, (3, 64, 64)).activation_bytes == expected


def test_resnet50_holds_fewer_activations_than_seresnet50():
    """SE-ResNet-50 is ResNet-50 plus SE gates: its extra outputs can only add memory."""
    plain, gated = (profile(name).activation_bytes for name in ("resnet50", "seresnet50"))
    assert plain < gated
