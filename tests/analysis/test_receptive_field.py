"""Theoretical receptive fields: unit cases, pinned numbers, and a check by gradients.

The gradient method is independent of the recurrence: give every conv positive weights,
turn max-pooling into average pooling (a max sends its gradient to one input only) and
the input positive, so no ReLU is ever off; then the input pixels with a nonzero
gradient of one output unit are exactly that unit's receptive field. The check runs on
a one-channel copy of the model: channels do not change a receptive field, and the copy
costs nothing at inputs larger than the field.
"""

from __future__ import annotations

import json

import pytest
import torch
from helpers import classifier_names
from torch import nn

from convzoo.analysis import format_receptive_field, receptive_field
from convzoo.errors import ConvzooError, InputShapeError
from convzoo.registry import create_model, get_entry, list_models


def output_rf(model: nn.Module, input_size=(1, 32, 32)):
    return receptive_field(model, input_size).output


# ------------------------------------------------------------------------------------
# Gradient method


class _Stop(Exception):
    def __init__(self, output: torch.Tensor) -> None:
        self.output = output


def _thin_copy(model: nn.Module) -> nn.Module:
    """The same spatial layers with one channel, weights 1/k^2, BN off, max pools as average pools."""
    for name, module in list(model.named_modules()):
        if not name:
            continue
        parent = model.get_submodule(name.rpartition(".")[0]) if "." in name else model
        leaf = name.rpartition(".")[2]
        if isinstance(module, nn.Conv2d):
            conv = nn.Conv2d(1, 1, module.kernel_size, module.stride, module.padding, module.dilation, bias=False)
            nn.init.constant_(conv.weight, 1.0 / conv.weight.numel())
            setattr(parent, leaf, conv)
        elif isinstance(module, nn.BatchNorm2d):
            setattr(parent, leaf, nn.Identity())
        elif isinstance(module, nn.MaxPool2d):
            assert module.dilation in (1, (1, 1))
            setattr(parent, leaf, nn.AvgPool2d(module.kernel_size, module.stride, module.padding, module.ceil_mode))
    return model.double().eval()


def gradient_rf(model: nn.Module, stage: str, side: int) -> tuple[int, float, int]:
    """(size, centre, unit index) along H of the field of the central unit of ``stage``'s output, by gradients."""
    module = model.get_submodule(stage)

    def stop(_m, _i, output):
        raise _Stop(output)

    handle = module.register_forward_hook(stop)
    x = torch.ones(1, 1, side, side, dtype=torch.float64, requires_grad=True)
    try:
        model(x)
    except _Stop as s:
        out = s.output
    finally:
        handle.remove()
    row, col = out.shape[-2] // 2, out.shape[-1] // 2
    out[0, 0, row, col].backward()
    rows = torch.nonzero(x.grad[0, 0].abs().sum(dim=1)).flatten()
    cols = torch.nonzero(x.grad[0, 0].abs().sum(dim=0)).flatten()
    assert 0 < rows.min() and rows.max() < side - 1, "input too small: the field reaches the border"
    assert (rows.min(), rows.max()) == (cols.min(), cols.max())
    size = int(rows.max() - rows.min() + 1)
    return size, float(rows.min() + rows.max()) / 2, row


# Pinned (model, stage module, size, stride, input side for the gradient check).
PINS = [
    # Araujo et al., Distill 2019, Table: VGG-16 conv5/pool5: 212, stride 32.
    ("vgg16", "features.30", 212, 32, 288),
    # torchvision's AlexNet (conv1 padding 2) and the 2012 paper's (no padding) have the
    # same field, 195, stride 32 = Araujo's AlexNet number; padding moves only the offset.
    ("alexnet", "features.12", 195, 32, 288),
    ("alexnet_2012", "features.pool5", 195, 32, 291),
    # ResNet-50 in torchvision's layout (stride on the 3x3 of a stage's first unit): 427.
    # Araujo's table gives 483 for TF-slim's ResNet-50 v1, which strides on the 1x1 at
    # the end of each stage instead, so more 3x3s run at the finer stride.
    ("resnet50", "layer4", 427, 32, 480),
    ("resnet18", "layer4", 435, 32, 480),
    # Araujo et al.'s MobileNet-v1 (any width): 315, stride 32.
    ("mobilenetv1_100", "blocks.4", 315, 32, 384),
]


@pytest.mark.parametrize("name,stage,size,stride,side", PINS, ids=[p[0] for p in PINS])
def test_pinned_and_gradient(name, stage, size, stride, side):
    with torch.device("meta"):
        meta = create_model(name)
    rf = receptive_field(meta, get_entry(name).input_size)[stage]
    assert (rf.size, rf.jump) == (size, stride)
    thin = _thin_copy(create_model(name, in_chans=1))
    rf_thin = receptive_field(meta, (3, side, side))[stage]  # the thin copy's head cannot run
    grad_size, grad_centre, unit = gradient_rf(thin, stage, side)
    assert grad_size == rf_thin.size == size
    assert grad_centre == rf_thin.offset + unit * rf_thin.jump


# Araujo et al.'s table (TF-slim models; google-research/receptive_field), which these
# architectures share layer for layer: BN-Inception is TF-slim's inception_v2.
PUBLISHED = [("bninception", 699), ("inception_v3", 1311), ("inception_v4", 2071), ("inception_resnet_v2", 3039)]


@pytest.mark.parametrize("name,size", PUBLISHED, ids=[p[0] for p in PUBLISHED])
def test_published_fields_of_the_inception_family(name, size):
    with torch.device("meta"):
        model = create_model(name)
    last = receptive_field(model, get_entry(name).input_size).stages[-1]
    assert (last.size, last.jump) == (size, 32)


def test_squeeze_excitation_makes_the_field_global():
    """An SE gate scales every position by a function of the whole map (EfficientNet, MixNet)."""
    with torch.device("meta"):
        model = create_model("efficientnet_b0")
    assert all(stage.is_global for stage in receptive_field(model, (3, 224, 224)).stages)
    local = receptive_field(model, (3, 224, 224), ignore_gates=True)
    # The same field as the gate-free MobileNetV2 body it shares the strides with, stage by stage.
    assert [(s.size, s.jump) for s in local.stages][:2] == [(7, 2), (19, 4)]
    assert local.stages[-1].jump == 32 and not local.stages[-1].is_global and local.output.is_global


def test_every_registered_model_is_fast_and_finite():
    classifiers = set(classifier_names())
    for name in list_models():
        if len(get_entry(name).input_size) < 2:  # a network over feature vectors (dscmr) has no spatial field
            continue
        with torch.device("meta"):
            model = create_model(name)
        result = receptive_field(model, get_entry(name).input_size)
        if name in classifiers:
            assert result.output.is_global  # classifiers end in a linear layer
            assert len(result.stages) == len(model.feature_info)
        json.dumps(result.to_dict())
        assert "output" in format_receptive_field(result)


def test_lenet_custom_layers():
    # lenet5_1998's Subsampling2d (stride inferred = kernel) and ConnectionTableConv2d.
    a = receptive_field(create_model("lenet5"), (1, 32, 32))
    b = receptive_field(create_model("lenet5_1998"), (1, 32, 32))
    assert [(s.size, s.jump) for s in a.stages] == [(6, 2), (16, 4), (32, 4)]
    assert [(s.size, s.jump, s.offset) for s in a.stages] == [(s.size, s.jump, s.offset) for s in b.stages]


# ------------------------------------------------------------------------------------
# Unit cases


def test_three_3x3_convs_are_7():
    model = nn.Sequential(*[nn.Conv2d(1, 1, 3, padding=1) for _ in range(3)])
    rf = output_rf(model)
    assert (rf.size, rf.jump, rf.offset) == (7, 1, 0)


def test_dilated_conv():
    rf = output_rf(nn.Conv2d(1, 1, 3, dilation=2))
    assert (rf.size, rf.jump, rf.offset) == (5, 1, 2)


def test_strided_padded_conv():
    rf = output_rf(nn.Conv2d(1, 1, 3, stride=2, padding=1))
    assert (rf.size, rf.jump, rf.offset) == (3, 2, 0)
    rf = output_rf(nn.Sequential(nn.Conv2d(1, 1, 4, stride=2, padding=1), nn.Conv2d(1, 1, 3, stride=2)))
    assert (rf.size, rf.jump, rf.offset) == (8, 4, 2.5)


def test_anisotropic_kernel_reports_both_axes():
    rf = output_rf(nn.Conv2d(1, 1, (3, 5), stride=(1, 2)))
    assert rf.size == (3, 5) and rf.jump == (1, 2)
    assert [a["size"] for a in rf.to_dict()["axes"]] == [3, 5]


class Residual(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.body = nn.Sequential(nn.Conv2d(1, 1, 3, padding=1), nn.ReLU(), nn.Conv2d(1, 1, 3, padding=1))

    def forward(self, x):
        return torch.relu(x + self.body(x))


def test_residual_takes_the_largest_path():
    assert output_rf(Residual()).size == 5


class Concat(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.a = nn.Conv2d(1, 2, 1)
        self.b = nn.Conv2d(1, 2, 3, padding=1)

    def forward(self, x):
        return torch.cat([self.a(x), self.b(x)], dim=1)


def test_concat_of_1x1_and_3x3_is_3():
    assert output_rf(Concat()).size == 3


class SplitMerge(nn.Module):
    """Channel halves through a 3x3 and a 5x5 conv (ShuffleNet V2's split, MixConv's groups)."""

    def __init__(self, how: str) -> None:
        super().__init__()
        self.how = how
        self.a = nn.Conv2d(2, 2, 3, padding=1)
        self.b = nn.Conv2d(2, 2, 5, padding=2)

    def forward(self, x):
        if self.how == "chunk":
            left, right = x.chunk(2, dim=1)
        elif self.how == "split":
            parts = torch.split(x, [2, 2], dim=1)
            left, right = parts[0], parts[1]
        else:
            left, right = x[:, :2].chunk(2, dim=-1)
        return torch.cat([self.a(left), self.b(right)], dim=1)


@pytest.mark.parametrize("how", ["chunk", "split"])
def test_channel_split_keeps_each_branch_field(how):
    assert output_rf(SplitMerge(how), (4, 16, 16)).size == 5


def test_spatial_split_is_named():
    with pytest.raises(ConvzooError, match="splits spatial axis -1"):
        output_rf(SplitMerge("spatial"), (4, 16, 16))


def test_transposed_conv():
    # conv 3x3, then ConvTranspose(k=4, s=2, p=1): each output reads 2 neighbouring inputs.
    model = nn.Sequential(nn.Conv2d(1, 1, 3, padding=1), nn.ConvTranspose2d(1, 1, 4, stride=2, padding=1))
    rf = output_rf(model)
    assert (rf.size, rf.jump, rf.offset) == (4, 0.5, -0.25)
    # k = s: every output reads one input.
    assert output_rf(nn.ConvTranspose2d(1, 1, 2, stride=2)).size == 1


def test_transposed_conv_by_gradient():
    model = nn.Sequential(nn.Conv2d(1, 1, 3, padding=1), nn.ConvTranspose2d(1, 1, 4, stride=2, padding=1))
    for m in model:
        nn.init.constant_(m.weight, 1.0)
    x = torch.ones(1, 1, 16, 16, requires_grad=True)
    y = model(x)
    sizes = []
    for col in (15, 16):  # both phases of the stride-2 output
        x.grad = None
        y[0, 0, 16, col].backward(retain_graph=True)
        cols = torch.nonzero(x.grad[0, 0].sum(dim=0)).flatten()
        sizes.append(int(cols.max() - cols.min() + 1))
    assert max(sizes) == output_rf(model, (1, 16, 16)).size


class TinyUNet(nn.Module):
    """The original UNet's pattern on one level: valid 3x3 convs, a 2x2 max-pool, a 2x2 up-conv,
    the skip centre-cropped to the decoder's size (offset computed from the shapes), concatenated."""

    def __init__(self) -> None:
        super().__init__()
        self.encoder = nn.Sequential(nn.Conv2d(1, 1, 3), nn.ReLU(), nn.Conv2d(1, 1, 3), nn.ReLU())
        self.pool = nn.MaxPool2d(2)
        self.bottom = nn.Sequential(nn.Conv2d(1, 1, 3), nn.ReLU(), nn.Conv2d(1, 1, 3), nn.ReLU())
        self.up = nn.ConvTranspose2d(1, 1, 2, stride=2)
        self.decoder = nn.Sequential(nn.Conv2d(2, 1, 3), nn.ReLU(), nn.Conv2d(1, 1, 3))

    def forward(self, x):
        skip = self.encoder(x)
        up = self.up(self.bottom(self.pool(skip)))
        top = (skip.shape[-2] - up.shape[-2]) // 2
        left = (skip.shape[-1] - up.shape[-1]) // 2
        crop = skip[:, :, top:top + up.shape[-2], left:left + up.shape[-1]]
        return self.decoder(torch.cat([crop, up], dim=1))


def test_unet_encoder_decoder_by_graph_and_gradient():
    model = TinyUNet().double().eval()
    for m in model.modules():
        if isinstance(m, (nn.Conv2d, nn.ConvTranspose2d)):
            nn.init.constant_(m.weight, 0.1)
            nn.init.zeros_(m.bias)
    side = 36  # valid: 36 -> 32 -> 16 -> 12 -> 24, skip cropped 32 -> 24, decoder 24 -> 20
    rf = output_rf(model, (1, side, side))
    # Encoder 3 -> 5, pool 6 (jump 2), bottom 6 + 2*2 + 2*2 = 14; the up-conv (k = s: one tap) takes
    # the jump back to 1 and keeps 14; the decoder's two 3x3 convs add 4. The cropped skip (5) is smaller.
    assert (rf.size, rf.jump) == (18, 1)
    model.pool = nn.AvgPool2d(2)  # a max-pool's gradient reaches only one pixel of a window
    x = torch.ones(1, 1, side, side, dtype=torch.float64, requires_grad=True)
    y = model(x)
    sizes, centres = [], []
    for col in (9, 10):  # both phases of the up-conv
        x.grad = None
        y[0, 0, 10, col].backward(retain_graph=True)
        cols = torch.nonzero(x.grad[0, 0].abs().sum(dim=0)).flatten()
        sizes.append(int(cols.max() - cols.min() + 1))
        centres.append(float(cols.min() + cols.max()) / 2)
    assert max(sizes) == rf.size
    # The up-conv's two phases sit half a pixel either side of the continuous placement the
    # graph gives (see the transposed-conv convention in receptive_field.py): they average to it.
    assert sum(centres) / 2 == rf.offset + 9.5 * rf.jump


def test_upsample():
    conv = nn.Conv2d(1, 1, 3, padding=1)
    nearest = output_rf(nn.Sequential(conv, nn.Upsample(scale_factor=2)))
    assert (nearest.size, nearest.jump, nearest.offset) == (3, 0.5, -0.25)
    bilinear = output_rf(nn.Sequential(conv, nn.Upsample(scale_factor=2, mode="bilinear")))
    assert (bilinear.size, bilinear.jump) == (4, 0.5)


class FunctionalNet(nn.Module):
    def forward(self, x):
        x = nn.functional.max_pool2d(x, 2)
        return nn.functional.interpolate(x, scale_factor=2, mode="nearest")


def test_functional_ops():
    rf = output_rf(FunctionalNet())
    assert (rf.size, rf.jump, rf.offset) == (2, 1, 0)


def test_global_pool_is_global_and_adaptive_identity_is_not():
    rf = output_rf(nn.Sequential(nn.Conv2d(1, 1, 3), nn.AdaptiveAvgPool2d(1)))
    assert rf.is_global and rf.size == "global" and rf.to_dict()["global"]
    same = output_rf(nn.Sequential(nn.Conv2d(1, 1, 3, padding=1), nn.AdaptiveAvgPool2d(7)), (1, 7, 7))
    assert (same.size, same.jump) == (3, 1)
    half = output_rf(nn.Sequential(nn.Conv2d(1, 1, 3, padding=1), nn.AdaptiveAvgPool2d(7)), (1, 14, 14))
    assert (half.size, half.jump) == (4, 2)


def test_flatten_is_global():
    assert output_rf(nn.Sequential(nn.Conv2d(1, 1, 3), nn.Flatten(), nn.Linear(900, 2))).is_global


def test_conv1d_and_conv3d():
    rf = receptive_field(nn.Sequential(nn.Conv1d(1, 1, 3), nn.Conv1d(1, 1, 3, stride=2)), (1, 20)).output
    assert (rf.size, rf.jump) == (5, 2)
    rf = receptive_field(nn.Conv3d(1, 1, (1, 3, 3)), (1, 4, 8, 8)).output
    assert rf.size == (1, 3, 3)


class DataDependent(nn.Module):
    def forward(self, x):
        if x.sum() > 0:
            return x
        return -x


def test_untraceable_model_names_the_construct():
    with pytest.raises(ConvzooError, match=r"cannot trace DataDependent.*if x.sum\(\) > 0"):
        receptive_field(DataDependent(), (1, 8, 8))


def test_unknown_module_names_the_node():
    with pytest.raises(ConvzooError, match="Unfold"):
        receptive_field(nn.Sequential(nn.Conv2d(1, 1, 3), nn.Unfold(2)), (1, 8, 8))


def test_a_3d_conv_over_an_unsqueezed_map_keeps_the_spatial_axes():
    """HybridSN's 3D convs slide over the spectral components too; its spatial field is 3, 5, 7, 9."""
    torch.manual_seed(0)
    model = create_model("hybridsn").eval()
    result = receptive_field(model, (30, 25, 25))
    assert [(s.size, s.jump, s.offset) for s in result.stages] == [(3, 1, 1), (5, 1, 2), (7, 1, 3), (9, 1, 4)]
    x = torch.randn(1, 30, 25, 25, requires_grad=True)
    model.forward_features(x)[0, :, 8, 8].sum().backward()  # conv4's centre unit (17x17 map)
    reached = x.grad[0].abs().sum(0).nonzero()
    assert reached.min(0).values.tolist() == [8, 8] and reached.max(0).values.tolist() == [16, 16]  # 9x9 at 4 + 8


@pytest.mark.parametrize("device", ["meta", "cpu"])
def test_an_input_too_small_raises_the_models_own_error_and_prints_nothing(capfd, device):
    """The model's input check (the one ``info`` and ``compare`` hit) runs as a node of the trace."""
    with torch.device(device):
        model = create_model("googlenet")
    with pytest.raises(InputShapeError, match=r"GoogLeNet needs images of at least 15x15 .*, got 8x8"):
        receptive_field(model, (3, 8, 8))
    assert capfd.readouterr() == ("", "")


def test_a_field_made_global_by_gates_says_so():
    with torch.device("meta"):
        gated, plain = create_model("seresnet50"), create_model("resnet50")
    result = receptive_field(gated, (3, 64, 64))
    stages = ("layer1", "layer2", "layer3", "layer4")  # the output is global anyway, by its pooling
    assert result.global_through_gates == stages and result.to_dict()["global_through_gates"] == list(stages)
    last = format_receptive_field(result, ignore_gates_option="--ignore-gates").splitlines()[-1]
    assert last.startswith("global at layer1, layer2, layer3, layer4 only through SE-style gates")
    assert last.endswith("--ignore-gates gives the local field")
    assert "ignore_gates=True" in format_receptive_field(result)
    for local in (receptive_field(gated, (3, 64, 64), ignore_gates=True), receptive_field(plain, (3, 64, 64))):
        assert local.global_through_gates == () and "gate" not in format_receptive_field(local)
