"""Video networks: torchvision equivalence of R3D/MC3/R(2+1)D, C3D's parameter counts, shapes and descriptor;
C3D's small Sec. 3.2 network and its per-frame 2D twin."""

from __future__ import annotations

import pytest
import torch
import torchvision.models.video as tv_video

import convzoo
from convzoo.analysis import profile
from convzoo.errors import ConvzooError, InputShapeError
from convzoo.models.video import C3D, C3D_PAPER, C2DSmall, C3DSmall, c3d
from convzoo.ops import Conv2Plus1d
from convzoo.registry import get_entry, meta_model
from helpers import count_parameters, randomise_norms

RESNETS = {"r3d_18": 33_371_472, "mc3_18": 11_695_440, "r2plus1d_18": 31_505_325}


@pytest.mark.parametrize("name", list(RESNETS))
def test_torchvision_weights_give_torchvision_outputs(name):
    torch.manual_seed(0)
    theirs = getattr(tv_video, get_entry(name).torchvision_name)().eval()
    randomise_norms(theirs)
    ours = convzoo.create_model(name).eval()
    ours.load_state_dict(theirs.state_dict(), strict=True)
    assert count_parameters(ours) == count_parameters(theirs) == RESNETS[name]
    x = torch.randn(1, 3, 8, 32, 32)
    with torch.no_grad():
        torch.testing.assert_close(ours(x), theirs(x))


def test_r2plus1d_is_built_on_conv2plus1d_with_the_blocks_first_mid_channels():
    model = meta_model("r2plus1d_18")
    convs = [m for m in model.modules() if isinstance(m, Conv2Plus1d)]
    assert len(convs) == 16
    block = model.layer2[0]  # 64 -> 128: M = 27 * 64 * 128 // (9 * 64 + 3 * 128) = 230, in both convs
    assert block.conv1[0].mid_channels == block.conv2[0].mid_channels == 230


@pytest.mark.parametrize(("num_classes", "expected"), [(487, 79_991_015), (101, 78_409_573)])
def test_c3d_parameter_counts(num_classes, expected):
    with torch.device("meta"):
        assert count_parameters(c3d(num_classes=num_classes)) == expected


def test_c3d_shapes_and_fc6_descriptor():
    torch.manual_seed(0)
    model = C3D(num_classes=101).eval()
    x = torch.randn(1, 3, 16, 112, 112)
    with torch.no_grad():
        features = model.forward_features(x)
        assert features.shape == (1, 512, 1, 4, 4)  # 8192 fc6 inputs, pool5 padded spatially
        assert model.forward_head(features).shape == (1, 101)
        assert model.forward_head(features, pre_logits=True).shape == (1, 4096)  # fc7
        descriptor = model.forward_descriptor(x)
        expected = torch.relu(model.classifier.fc6(features.flatten(1)))
    assert descriptor.shape == (1, 4096)
    torch.testing.assert_close(descriptor, expected)


def test_c3d_takes_only_16x112x112_clips():
    with torch.device("meta"):
        model = c3d()
        with pytest.raises(InputShapeError, match="16x112x112"):
            model(torch.empty(1, 3, 8, 112, 112))
        with pytest.raises(InputShapeError, match=r"expects input of shape \(B, 3, 16, 112, 112\)"):
            model(torch.empty(1, 3, 112, 112))


@pytest.mark.parametrize("name", list(RESNETS))
def test_video_resnets_take_any_channels_classes_and_clip_size(name):
    with torch.device("meta"):
        model = convzoo.create_model(name, in_chans=1, num_classes=5).eval()
        assert model(torch.empty(2, 1, 3, 20, 28)).shape == (2, 5)
        with pytest.raises(InputShapeError, match=r"expects input of shape \(B, 1, T, H, W\)"):
            model(torch.empty(2, 1, 20, 28))
        model.reset_classifier(0)
        assert model(torch.empty(2, 1, 3, 20, 28)).shape == (2, 512)


def test_registry_entries():
    for name in (*RESNETS, "c3d"):
        entry = get_entry(name)
        assert entry.family == "video" and entry.input_size == (3, 16, 112, 112)
    assert get_entry("c3d").num_classes == 487 and get_entry("r3d_18").num_classes == 400
    assert get_entry("r2plus1d_18").paper.year == 2018 and get_entry("c3d").paper.venue == "ICCV"


# ---------------------------------------------------------------- c3d_small, c2d_small

SMALL_WIDTHS = (64, 128, 256, 256, 256)
# Products in x out of conv1..conv5 at 3 input channels: 3*64 + 64*128 + 128*256 + 2 * 256*256 = 172,224.
CONV_IN_OUT = 3 * 64 + sum(a * b for a, b in zip(SMALL_WIDTHS, SMALL_WIDTHS[1:]))
TINY = dict(widths=(4, 8, 8, 8, 8), fc_features=16)  # cheap nets for the behaviour tests


def test_c3d_small_parameter_count_and_temporal_depth():
    # convs, d = 3: 27 * 172,224 weights + 960 biases = 4,651,008;
    # fc6 4096 * 2048 + 2048, fc7 2048 * 2048 + 2048, fc8 2048 * 101 + 101: 12,793,957.
    assert CONV_IN_OUT == 172_224
    with torch.device("meta"):
        assert count_parameters(convzoo.create_model("c3d_small")) == 4_651_008 + 12_793_957 == 17_444_965
        deeper = convzoo.create_model("c3d_small", temporal_depth=5)
        varying = C3DSmall(temporal_depth=(3, 3, 5, 5, 7))
    assert count_parameters(deeper) == 17_444_965 + (5 - 3) * 9 * CONV_IN_OUT == 20_544_997  # 2 more taps a weight
    kernels = [m.kernel_size for m in varying.modules() if isinstance(m, torch.nn.Conv3d)]
    assert kernels == [(3, 3, 3), (3, 3, 3), (5, 3, 3), (5, 3, 3), (7, 3, 3)]
    assert [m.padding for m in varying.modules() if isinstance(m, torch.nn.Conv3d)][-1] == (3, 1, 1)
    for bad in (4, (3, 3, 3), 0):
        with pytest.raises(ConvzooError, match="temporal_depth must be an odd positive int or 5 of them"):
            C3DSmall(temporal_depth=bad)


def test_c2d_small_is_c3d_small_with_depth_1_and_batch_norm_is_optional():
    with torch.device("meta"):
        flat = convzoo.create_model("c2d_small")
        depth_1 = C3DSmall(temporal_depth=1)
        normed = C3DSmall(norm_layer=torch.nn.BatchNorm3d)
    assert count_parameters(flat) == count_parameters(depth_1) == 17_444_965 - 2 * 9 * CONV_IN_OUT
    assert [m.kernel_size for m in flat.modules() if isinstance(m, torch.nn.MaxPool3d)] == [(1, 2, 2)] * 5
    assert [m.kernel_size for m in depth_1.modules() if isinstance(m, torch.nn.MaxPool3d)] == [(1, 2, 2)] + [(2, 2, 2)] * 4
    norms = [m for m in normed.features if isinstance(m, torch.nn.BatchNorm3d)]
    assert [n.num_features for n in norms] == list(SMALL_WIDTHS)
    assert all(m.bias is None for m in normed.features if isinstance(m, torch.nn.Conv3d))  # BN's shift replaces it
    assert count_parameters(normed) == 17_444_965 - 960 + 2 * 960
    with torch.device("meta"):
        by_name = convzoo.create_model("c2d_small", norm_layer="batchnorm")  # --model-kwargs norm_layer=batchnorm
    assert sum(isinstance(m, torch.nn.BatchNorm3d) for m in by_name.features) == 5
    with pytest.raises(ConvzooError, match="unknown norm_layer 'groupnorm'; expected one of batchnorm"):
        C3DSmall(norm_layer="groupnorm")


def test_c2d_small_works_on_each_frame_alone():
    torch.manual_seed(0)
    flat = C2DSmall(num_classes=5, in_chans=1, **TINY).eval()
    deep = C3DSmall(num_classes=5, in_chans=1, **TINY).eval()
    clip = torch.randn(2, 1, 16, 16, 16)
    shuffled = clip[:, :, torch.randperm(16)]
    with torch.no_grad():
        logits = flat(clip)
        torch.testing.assert_close(flat(shuffled), logits)  # the order of the frames does not matter
        frames = torch.stack([flat(clip[:, :, t : t + 1]) for t in range(16)])  # 1-frame clips
        torch.testing.assert_close(logits, frames.mean(0))  # late fusion: the frames' mean logits
        assert not torch.allclose(deep(shuffled), deep(clip), rtol=1e-3, atol=0)  # c3d_small sees the order


@pytest.mark.parametrize("model_class", [C3DSmall, C2DSmall])
def test_small_nets_at_16x32x32(model_class):
    torch.manual_seed(0)
    model = model_class(num_classes=12, in_chans=1).eval()
    frames = 1 if model_class is C3DSmall else 16  # C2DSmall keeps every frame
    with torch.no_grad():
        features = model.forward_features(torch.randn(2, 1, 16, 32, 32))
        assert features.shape == (2, 256, frames, 2, 2)  # padded pool5 at 2x2
        assert model.forward_head(features).shape == (2, 12)
        assert model.forward_head(features, pre_logits=True).shape == (2, 2048)
    model.reset_classifier(0)
    assert model.num_features == 2048 and isinstance(model.get_classifier(), torch.nn.Identity)


def test_c3d_small_at_the_papers_16x112x112_reads_4096_fc6_inputs():
    torch.manual_seed(0)
    model = convzoo.create_model("c3d_small").eval()
    assert model.classifier.fc6.in_features == 4096
    with torch.no_grad():
        features = model.forward_features(torch.randn(1, 3, 16, 112, 112))
        assert features.shape == (1, 256, 1, 4, 4)  # pool5 padded: 7x7 -> 4x4, as the released C3D
        assert torch.equal(model.avgpool(features), features)  # the adaptive pool is the identity here
        expected = model.classifier(features.flatten(1))
        torch.testing.assert_close(model.forward_head(features), expected)
    assert expected.shape == (1, 101)


def test_small_nets_smallest_clips_and_bad_input():
    with torch.device("meta"):
        deep, flat = C3DSmall(**TINY).eval(), C2DSmall(**TINY).eval()
        assert deep(torch.empty(1, 3, 16, 16, 16)).shape == flat(torch.empty(1, 3, 1, 16, 16)).shape == (1, 101)
        with pytest.raises(InputShapeError, match=r"C3DSmall needs clips of at least 16 frames of 16x16 pixels, got 8x32x32"):
            deep(torch.empty(1, 3, 8, 32, 32))
        with pytest.raises(InputShapeError, match="C2DSmall needs clips of at least 1 frame of 16x16 pixels, got 4x15x32"):
            flat(torch.empty(1, 3, 4, 15, 32))
        with pytest.raises(InputShapeError, match=r"\(B, 3, T, H, W\) with T >= 16 and H, W >= 16, got \(1, 3, 32, 32\)"):
            deep(torch.empty(1, 3, 32, 32))
        with pytest.raises(InputShapeError, match=r"\(B, 3, T, H, W\) with H, W >= 16, got"):
            flat(torch.empty(1, 3, 32, 32))
    assert deep.input_shape(32) == (3, 16, 32, 32) and flat.input_shape(32) == (3, 4, 32, 32)


# MACs per 1x16x32x32 clip (12 classes): convs C_in C_out d 9 T H W at each conv's map (T given per conv),
# then fc6 and fc7 once per time step left after pool5, and fc8 once.
def _expected_macs(depth: int, frames: tuple[int, ...], steps: int) -> int:
    ins, maps = (1, *SMALL_WIDTHS[:-1]), [t * (32 >> i) ** 2 for i, t in enumerate(frames)]
    convs = sum(a * b * depth * 9 * m for a, b, m in zip(ins, SMALL_WIDTHS, maps))
    return convs + steps * (4096 * 2048 + 2048 * 2048) + 2048 * 12


@pytest.mark.parametrize(("name", "expected"), [
    ("c3d_small", _expected_macs(3, (16, 16, 8, 4, 2), steps=1)),
    ("c2d_small", _expected_macs(1, (16,) * 5, steps=16)),  # fc6, fc7 on each frame
])
def test_small_nets_macs_per_clip(name, expected):
    with torch.device("meta"):
        model = convzoo.create_model(name, num_classes=12, in_chans=1)
    assert profile(model, (1, 16, 32, 32)).macs == expected
    assert expected == {"c3d_small": 1_527_275_520, "c2d_small": 1_003_511_808}[name]


def test_small_nets_registry_entries():
    for name in ("c3d_small", "c2d_small"):
        entry = get_entry(name)
        assert entry.family == "video" and entry.task == "video" and entry.input_size == (3, 16, 112, 112)
        assert entry.num_classes == 101 and entry.paper is C3D_PAPER and entry.deviations
    assert "Karpathy" in get_entry("c2d_small").deviations
