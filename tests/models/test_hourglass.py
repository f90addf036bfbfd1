"""Stacked Hourglass: bearpaw pytorch-pose's layout loads with identical outputs, shapes, sizes, counts."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from torch import nn

import convzoo
from convzoo.analysis import receptive_field
from convzoo.errors import InputShapeError
from convzoo.registry import count_parameters, meta_model
from convzoo.weights import load_weights
from helpers import randomise_norms

# ------------------------------------------------------------------ reference layout
# A minimal model with the module names of bearpaw/pytorch-pose's HourglassNet (pose/models/hourglass.py),
# written here from its layout: pre-activation bottlenecks with biased convs (bn1, conv1, ..., conv3,
# downsample.0), hourglass levels hg[n - 1] = [skip, down, up(, bottom)], stem conv1-bn1-layer1-pool-
# layer2-layer3, then per stack hg, res, fc (conv, bn, relu), score, and fc_ / score_ between stacks.


class RefBottleneck(nn.Module):
    def __init__(self, cin: int, planes: int):
        super().__init__()
        cout = 2 * planes
        self.bn1, self.conv1 = nn.BatchNorm2d(cin), nn.Conv2d(cin, planes, 1)
        self.bn2, self.conv2 = nn.BatchNorm2d(planes), nn.Conv2d(planes, planes, 3, padding=1)
        self.bn3, self.conv3 = nn.BatchNorm2d(planes), nn.Conv2d(planes, cout, 1)
        self.downsample = nn.Sequential(nn.Conv2d(cin, cout, 1)) if cin != cout else None

    def forward(self, x):
        out = x
        for bn, conv in ((self.bn1, self.conv1), (self.bn2, self.conv2), (self.bn3, self.conv3)):
            out = conv(F.relu(bn(out)))
        return out + (x if self.downsample is None else self.downsample(x))


def ref_residuals(planes: int, blocks: int) -> nn.Sequential:
    return nn.Sequential(*[RefBottleneck(2 * planes, planes) for _ in range(blocks)])


class RefHourglass(nn.Module):
    def __init__(self, blocks: int, planes: int, depth: int):
        super().__init__()
        self.hg = nn.ModuleList(
            nn.ModuleList(ref_residuals(planes, blocks) for _ in range(4 if n == 0 else 3)) for n in range(depth)
        )

    def forward(self, x):
        # Iteratively: go down collecting the skip branches, then come back up.
        skips = []
        for level in reversed(self.hg):
            skips.append(level[0](x))
            x = level[1](F.max_pool2d(x, 2, stride=2))
        x = self.hg[0][3](x)
        for level, skip in zip(self.hg, reversed(skips)):
            x = skip + F.interpolate(level[2](x), scale_factor=2, mode="nearest")
        return x


class RefHourglassNet(nn.Module):
    def __init__(self, stacks: int, blocks: int, joints: int = 16, feats: int = 128):
        super().__init__()
        ch = 2 * feats
        self.conv1, self.bn1 = nn.Conv2d(3, 64, 7, stride=2, padding=3), nn.BatchNorm2d(64)
        self.layer1 = nn.Sequential(RefBottleneck(64, 64))
        self.layer2 = nn.Sequential(RefBottleneck(128, 64))
        self.layer3 = nn.Sequential(RefBottleneck(128, feats))
        self.hg = nn.ModuleList(RefHourglass(blocks, feats, 4) for _ in range(stacks))
        self.res = nn.ModuleList(ref_residuals(feats, blocks) for _ in range(stacks))
        self.fc = nn.ModuleList(nn.Sequential(nn.Conv2d(ch, ch, 1), nn.BatchNorm2d(ch), nn.ReLU()) for _ in range(stacks))
        self.score = nn.ModuleList(nn.Conv2d(ch, joints, 1) for _ in range(stacks))
        self.fc_ = nn.ModuleList(nn.Conv2d(ch, ch, 1) for _ in range(stacks - 1))
        self.score_ = nn.ModuleList(nn.Conv2d(joints, ch, 1) for _ in range(stacks - 1))

    def forward(self, x):
        x = F.relu(self.bn1(self.conv1(x)))
        x = self.layer3(self.layer2(F.max_pool2d(self.layer1(x), 2, stride=2)))
        outputs = []
        for i in range(len(self.hg)):
            y = self.fc[i](self.res[i](self.hg[i](x)))
            outputs.append(self.score[i](y))
            if i < len(self.fc_):
                x = x + self.fc_[i](y) + self.score_[i](outputs[-1])
        return outputs


def random_reference(stacks: int, blocks: int = 1, **kwargs) -> RefHourglassNet:
    torch.manual_seed(0)
    model = RefHourglassNet(stacks, blocks, **kwargs).eval()
    randomise_norms(model)
    return model


def assert_same_heatmaps(ours: nn.Module, reference: RefHourglassNet, side: int) -> None:
    x = torch.randn(2, 3, side, side)
    with torch.no_grad():
        expected = reference(x)
        got = ours.eval()(x)
    assert got.shape == (2, len(expected), *expected[0].shape[1:])
    for stack, heatmaps in enumerate(expected):  # every stack's output, not only the last
        torch.testing.assert_close(got[:, stack], heatmaps, rtol=1e-4, atol=1e-5)


# ------------------------------------------------------------------ equivalence


@pytest.mark.parametrize("name, stacks, side", [("hourglass_s2", 2, 64), ("hourglass_s1", 1, 64), ("hourglass_s2", 2, 128)])
def test_bearpaw_state_dict_loads_strictly_with_identical_outputs(name, stacks, side):
    reference = random_reference(stacks)
    model = convzoo.create_model(name)
    assert model.state_dict().keys() == reference.state_dict().keys()
    model.load_state_dict(reference.state_dict(), strict=True)
    assert_same_heatmaps(model, reference, side)


def test_bearpaw_checkpoint_file_loads_with_more_blocks_and_joints(tmp_path):
    """A model_best.pth.tar as bearpaw's training writes it: DataParallel keys under "state_dict"."""
    reference = random_reference(2, blocks=2, joints=5, feats=32)
    state = {f"module.{key}": value for key, value in reference.state_dict().items()}
    torch.save({"epoch": 3, "arch": "hg", "state_dict": state, "best_acc": 0.5}, tmp_path / "model_best.pth.tar")
    model = convzoo.create_model("hourglass_s2", num_classes=5, num_blocks=2, num_features=32)
    load_weights(model, tmp_path / "model_best.pth.tar")
    assert_same_heatmaps(model, reference, 64)


# ------------------------------------------------------------------ shapes and input checks


@pytest.mark.parametrize("height, width", [(64, 64), (128, 128), (128, 64)])
def test_shapes_follow_stacks_joints_and_channels(height, width):
    model = convzoo.create_model("hourglass_s2", num_classes=5, in_chans=1, num_features=8).eval()
    with torch.no_grad():
        assert model(torch.randn(2, 1, height, width)).shape == (2, 2, 5, height // 4, width // 4)
    assert (model.num_joints, model.num_pafs, model.output_stride, model.in_chans) == (5, 0, 4, 1)
    assert model.min_input_size == 64


def test_every_parameter_gets_a_gradient():
    """Every stack is supervised, and the remaps between stacks feed the next one."""
    model = convzoo.create_model("hourglass_s2", num_features=8, num_classes=3).train()
    model(torch.randn(2, 3, 64, 64)).square().mean().backward()
    assert all(p.grad is not None and p.grad.isfinite().all() for p in model.parameters())


@pytest.mark.parametrize(
    "shape, message",
    [
        ((1, 3, 100, 64), "H is 100, the nearest valid sides are 64 and 128"),
        ((1, 3, 64, 32), "W is 32, the nearest valid sides are 64"),
        ((1, 3, 192, 200), "W is 200, the nearest valid sides are 192 and 256"),
        ((1, 1, 64, 64), r"expects input of shape \(B, 3, H, W\)"),
        ((3, 64, 64), r"expects input of shape \(B, 3, H, W\)"),
    ],
)
def test_bad_input_names_the_nearest_valid_sides(shape, message):
    model = convzoo.create_model("hourglass_s1", num_features=8)
    with pytest.raises(InputShapeError, match=message):
        model(torch.zeros(shape))


# ------------------------------------------------------------------ counts and cards

PARAMS = {"hourglass_s1": 3_426_448, "hourglass_s2": 6_570_400, "hourglass_s8": 25_434_112}


@pytest.mark.parametrize("name", sorted(PARAMS))
def test_parameter_counts_are_pinned_and_equal_the_reference(name):
    stacks = int(name.rpartition("s")[2])
    with torch.device("meta"):
        reference = RefHourglassNet(stacks, 1)
    assert count_parameters(meta_model(name)) == count_parameters(reference) == PARAMS[name]
    assert convzoo.model_card(name)["notes"]["parameters (3 channels, 16 joints)"] == PARAMS[name]


def test_cards():
    card = convzoo.model_card("hourglass_s8")
    assert (card["task"], card["family"], card["num_classes"], card["input_size"]) == ("pose", "hourglass", 16, [3, 256, 256])
    assert card["notes"]["MPII test PCKh@0.5, 8 stacks (paper, Table 2)"]["total"] == 90.9
    assert card["paper"]["year"] == 2016
    assert set(convzoo.list_models(family="hourglass")) == {"hourglass_s1", "hourglass_s2", "hourglass_s8"}
    with torch.device("meta"):
        assert convzoo.create_model("hourglass_s8")(torch.empty(1, 3, 256, 256)).shape == (1, 8, 16, 64, 64)


def test_one_stack_already_sees_more_than_the_input():
    """The module docstring's receptive field: 705 px at stride 4 for one stack, wider than the 256 px input."""
    field = receptive_field(meta_model("hourglass_s1"), (3, 256, 256)).output
    assert [(axis.size, axis.jump) for axis in field.axes] == [(705, 4), (705, 4)]
