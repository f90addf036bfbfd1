"""Batch-norm folding and re-parameterisation: exact on single layers of every kind, found through
torch.fx or Sequential order, refused where the BN reads anything else, and registry-wide the same
outputs with fewer modules and parameters."""

from __future__ import annotations

import pytest
import torch
from torch import nn
from torch.nn.modules.batchnorm import _BatchNorm

import convzoo
from convzoo.deploy.fuse import fold_norm, foldable_pairs, fuse
from convzoo.errors import ConvzooError
from convzoo.ops import LargeKernelConv2d, MixConv2d
from convzoo.registry import count_parameters, get_entry, meta_model

MODELS = convzoo.list_models()
TOLERANCE = 1e-5

# Their smallest valid inputs (188 and 92^3 for the paper's valid convs) are costly at full width.
SMALLER = {"unet": {"base_width": 8}, "unet3d": {"base_width": 4}}
VALID_SIDE = {"unet": 188, "unet3d": 92}
# Deep networks whose float32 outputs move by more than half the tolerance under the rounding of
# the folded weights alone (measured here: up to 0.07 for inception_v3; float64 agrees to 1e-10):
# compared in float64.
FLOAT64 = {"fcn_resnet101", "hourglass_s8", "inception_v3", "resnet101", "resnet152", "se_inception_v3", "seresnet152"}


def random_norms(model: nn.Module, generator: torch.Generator) -> None:
    for norm in model.modules():
        if isinstance(norm, _BatchNorm) and norm.track_running_stats:
            norm.running_mean.copy_(torch.rand(norm.num_features, generator=generator) - 0.5)
            norm.running_var.copy_(torch.rand(norm.num_features, generator=generator) + 0.5)
            if norm.affine:
                norm.weight.data.copy_(torch.rand(norm.num_features, generator=generator) + 0.5)
                norm.bias.data.copy_(torch.rand(norm.num_features, generator=generator) - 0.5)


def outputs_with_calibrated_norms(model: nn.Module, x: torch.Tensor):
    """The eval-mode output of ``model`` on ``x``, each BN given random gamma, beta and the statistics of its input.

    Statistics of the data keep the activations of a random deep network near unit scale;
    the variance is raised by 1 so that no BN amplifies a channel that barely varies in a
    batch of one (which would amplify rounding by up to ``1 / sqrt(eps)`` per layer).
    """
    generator = torch.Generator().manual_seed(0)
    random_norms(model, generator)

    def take_input_statistics(norm: _BatchNorm, inputs: tuple[torch.Tensor, ...]) -> None:
        dims = [0, *range(2, inputs[0].dim())]
        norm.running_mean.copy_(inputs[0].mean(dims))
        norm.running_var.copy_(inputs[0].var(dims, unbiased=False) + 1)

    norms = [m for m in model.modules() if isinstance(m, _BatchNorm) and m.track_running_stats]
    handles = [norm.register_forward_pre_hook(take_input_statistics) for norm in norms]
    try:
        with torch.no_grad():
            return model(x)
    finally:
        for handle in handles:
            handle.remove()


def tensors(output) -> list[torch.Tensor]:
    """Every tensor in a model's output (a tensor, or nested tuples, lists and dicts of them)."""
    if isinstance(output, torch.Tensor):
        return [output]
    items = output.values() if isinstance(output, dict) else output
    return [tensor for item in items for tensor in tensors(item)]


def assert_same_outputs(expected, actual) -> None:
    expected, actual = tensors(expected), tensors(actual)
    assert len(expected) == len(actual)
    for e, a in zip(expected, actual):
        assert e.shape == a.shape
        assert (e - a).abs().max().item() <= TOLERANCE


def norm_count(model: nn.Module) -> int:
    return sum(isinstance(m, _BatchNorm) for m in model.modules())


def computing_modules(model: nn.Module) -> int:
    """Modules other than the ``nn.Identity`` placeholders of folded BNs."""
    return sum(not isinstance(m, nn.Identity) for m in model.modules())


def check_fuse(model: nn.Module, x: torch.Tensor, check_input_kept: bool = True) -> nn.Module:
    """``fuse(model)`` gives the same outputs and loses only folded BNs; ``model`` stays as it was
    (checked on a copy of its state unless ``check_input_kept`` is false, which saves memory)."""
    expected = outputs_with_calibrated_norms(model.eval(), x)
    state = {key: value.clone() for key, value in model.state_dict().items()} if check_input_kept else None
    fused = fuse(model)
    with torch.no_grad():
        assert_same_outputs(expected, fused(x))
    assert not fused.training
    if state is not None:
        assert model.state_dict().keys() == state.keys()
        assert all(torch.equal(value, state[key]) for key, value in model.state_dict().items())
    folded = norm_count(model) - norm_count(fused)
    assert computing_modules(fused) <= computing_modules(model) - folded  # fewer still after re-parameterisation
    assert count_parameters(fused) <= count_parameters(model)
    return fused


# ------------------------------------------------------------------ single layers


@pytest.mark.parametrize("layer, norm, shape", [
    (lambda: nn.Conv1d(4, 6, 3, padding=1), nn.BatchNorm1d, (2, 4, 9)),
    (lambda: nn.Conv2d(4, 6, 3, stride=2, bias=False), nn.BatchNorm2d, (2, 4, 9, 9)),
    (lambda: nn.Conv2d(4, 8, 3, padding=1, groups=4, bias=False), nn.BatchNorm2d, (2, 4, 7, 7)),  # depthwise x2
    (lambda: nn.Conv2d(4, 6, 3, padding=1, padding_mode="reflect"), nn.BatchNorm2d, (2, 4, 7, 7)),
    (lambda: nn.Conv3d(4, 6, 3, padding=1, groups=2), nn.BatchNorm3d, (2, 4, 5, 5, 5)),
    (lambda: nn.ConvTranspose1d(4, 6, 4, stride=2), nn.BatchNorm1d, (2, 4, 6)),
    (lambda: nn.ConvTranspose2d(4, 6, 4, stride=2, padding=1, groups=2, bias=False), nn.BatchNorm2d, (2, 4, 5, 5)),
    (lambda: nn.ConvTranspose3d(6, 9, 2, stride=2, groups=3), nn.BatchNorm3d, (2, 6, 3, 3, 3)),
    (lambda: nn.Linear(5, 7), nn.BatchNorm1d, (3, 5)),
])
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_each_layer_kind_folds_exactly(layer, norm, shape, dtype):
    torch.manual_seed(0)
    first = layer()
    outputs = first.out_features if isinstance(first, nn.Linear) else first.out_channels
    model = nn.Sequential(first, norm(outputs)).to(dtype)
    random_norms(model, torch.Generator().manual_seed(1))
    x = torch.randn(shape, dtype=dtype)
    expected = model.eval()(x)
    fused = fuse(model)
    assert isinstance(fused[1], nn.Identity) and fused[0].bias is not None
    assert fused[0].weight.dtype == dtype
    tolerance = 1e-6 if dtype == torch.float32 else 1e-12
    torch.testing.assert_close(fused(x), expected, rtol=0, atol=tolerance)
    assert count_parameters(fused) < count_parameters(model)


def test_batch_norm_without_affine_or_running_statistics():
    torch.manual_seed(0)
    model = nn.Sequential(nn.Conv2d(3, 4, 3), nn.BatchNorm2d(4, affine=False), nn.ReLU(),
                          nn.Conv2d(4, 4, 3), nn.BatchNorm2d(4, track_running_stats=False))
    fused = check_fuse(model, torch.randn(2, 3, 9, 9))
    assert isinstance(fused[1], nn.Identity)
    assert isinstance(fused[4], nn.BatchNorm2d)  # batch statistics even in eval mode: nothing to fold


def test_only_a_norm_that_reads_the_layer_alone_folds():
    class Blocks(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.conv_a, self.bn_a = nn.Conv2d(3, 4, 3, padding=1), nn.BatchNorm2d(4)
            self.conv_b, self.bn_b = nn.Conv2d(4, 4, 3, padding=1), nn.BatchNorm2d(4)
            self.act, self.bn_c = nn.ReLU(), nn.BatchNorm2d(4)

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            a = self.bn_a(self.conv_a(x))  # a pair
            b = self.conv_b(a)
            return self.bn_b(b) + b + self.bn_c(self.act(a))  # conv_b's output read twice; bn_c after an activation

    fused = check_fuse(Blocks(), torch.randn(2, 3, 8, 8))
    assert isinstance(fused.bn_a, nn.Identity)
    assert isinstance(fused.bn_b, nn.BatchNorm2d) and isinstance(fused.bn_c, nn.BatchNorm2d)
    assert [(p.layer, p.norm, p.found_by) for p in foldable_pairs(Blocks().eval())] == [("conv_a", "bn_a", "torch.fx")]


def test_fx_follows_the_data_across_modules_and_identities():
    class Stem(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.conv = nn.Conv2d(3, 6, 3, padding=1, bias=False)
            self.act = nn.Identity()  # an activation left out, as in a separable conv

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return self.act(self.conv(x))

    class Model(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.stem, self.norms = Stem(), nn.ModuleDict({"stem": nn.BatchNorm2d(6)})

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return torch.relu(self.norms["stem"](self.stem(x)))

    assert [(p.layer, p.norm) for p in foldable_pairs(Model().eval())] == [("stem.conv", "norms.stem")]
    fused = check_fuse(Model(), torch.randn(2, 3, 8, 8))
    assert isinstance(fused.norms["stem"], nn.Identity)


def test_a_norm_after_concatenated_layers_folds_into_each():
    torch.manual_seed(0)
    model = nn.Sequential(MixConv2d(12, 12, [3, 5, 7]), nn.BatchNorm2d(12))
    pairs = foldable_pairs(model.eval())
    assert [(p.layer, p.first_channel) for p in pairs] == [("0.0", 0), ("0.1", 4), ("0.2", 8)]
    fused = check_fuse(model, torch.randn(2, 12, 9, 9))
    assert isinstance(fused[1], nn.Identity)


def test_untraceable_model_folds_its_sequential_pairs_and_traceable_children():
    class ClampWhenLarge(nn.Module):
        def forward(self, x: torch.Tensor) -> torch.Tensor:
            if x.abs().max() > 1e3:  # a branch on a value: fx cannot trace it
                x = x.clamp(-1e3, 1e3)
            return x

    class Block(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.conv, self.bn = nn.Conv2d(8, 8, 3, padding=1), nn.BatchNorm2d(8)

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return torch.relu(self.bn(self.conv(x)))

    class Model(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.stem = nn.Sequential(nn.Conv2d(3, 8, 3, padding=1, bias=False), nn.BatchNorm2d(8), ClampWhenLarge())
            self.block = Block()
            self.conv, self.bn = nn.Conv2d(8, 4, 1), nn.BatchNorm2d(4)

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            x = self.block(self.stem(x))
            if x.mean() > 1e3:
                raise ValueError("unreachable on these inputs")
            return self.bn(self.conv(x))

    pairs = [(p.layer, p.norm, p.found_by) for p in foldable_pairs(Model().eval())]
    assert pairs == [("stem.0", "stem.1", "nn.Sequential"), ("block.conv", "block.bn", "torch.fx")]
    fused = check_fuse(Model(), torch.randn(2, 3, 8, 8))
    assert isinstance(fused.bn, nn.BatchNorm2d)  # its conv feeds it only in the untraced forward


def test_shared_weights_and_custom_layers_are_left_alone():
    class ActNorm(nn.BatchNorm2d):  # a BN with its activation: folding would drop the ReLU
        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return torch.relu(super().forward(x))

    tied_a, tied_b = nn.Conv2d(3, 3, 3, padding=1), nn.Conv2d(3, 3, 3, padding=1)
    tied_b.weight = tied_a.weight
    model = nn.Sequential(tied_a, nn.BatchNorm2d(3), tied_b, nn.BatchNorm2d(3), nn.Conv2d(3, 4, 1), ActNorm(4))
    fused = check_fuse(model, torch.randn(2, 3, 8, 8))
    assert [type(m) for m in fused] == [nn.Conv2d, nn.BatchNorm2d, nn.Conv2d, nn.BatchNorm2d, nn.Conv2d, ActNorm]


def test_reparameterize_runs_before_folding():
    torch.manual_seed(0)
    model = nn.Sequential(LargeKernelConv2d(6, kernel_size=7, strip_width=3, small_kernel_size=3), nn.BatchNorm2d(6))
    random_norms(model, torch.Generator().manual_seed(2))
    fused = check_fuse(model, torch.randn(2, 6, 12, 12))
    assert fused[0].reparam is not None and fused[0].tall is None
    assert isinstance(fused[1], nn.Identity)  # folded into the merged conv, which fx found inside the block
    assert model[0].reparam is None  # the input model keeps its branches
    assert count_parameters(fused) == 6 * 7 * 7 + 6


def test_input_model_keeps_its_mode_and_layers():
    model = nn.Sequential(nn.Conv2d(3, 4, 3), nn.BatchNorm2d(4)).train()
    fused = fuse(model)
    assert model.training and isinstance(model[1], nn.BatchNorm2d) and model[0].bias is not None
    assert not fused.training and isinstance(fused[1], nn.Identity)
    assert fuse(fused)[0].weight.equal(fused[0].weight)  # nothing left to fold


def test_finding_pairs_leaves_the_model_as_it_was():
    class WithConstant(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.conv, self.bn = nn.Conv2d(3, 4, 1), nn.BatchNorm2d(4)

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return self.bn(self.conv(x)) + torch.ones(1)  # fx stores the constant on the module it traces

    model = WithConstant().eval()
    attributes = set(vars(model))
    assert len(foldable_pairs(model)) == 1
    assert set(vars(model)) == attributes


def test_bad_input_is_one_line():
    with pytest.raises(ConvzooError, match="fuse expects a torch.nn.Module, got str"):
        fuse("resnet18")
    with pytest.raises(ConvzooError, match=r"cannot fold BatchNorm2d\(4\)") as error:
        fold_norm(nn.Conv2d(3, 8, 3), nn.BatchNorm2d(4))
    assert "\n" not in str(error.value)


@pytest.mark.parametrize("name, norms, folded, layers", [
    ("resnet50", 53, 53, 53),
    ("mobilenet_v2", 52, 52, 52),
    ("legacy_xception", 40, 40, 40),  # separable convs: BN after the pointwise conv, through an Identity
    ("mixnet_s", 49, 49, 97),  # MixConv: one BN after the concatenated kernel groups
    ("densenet121", 121, 59, 59),  # pre-activation: norm1 reads the concatenated features
    ("inception_v3", 96, 94, 94),  # the auxiliary head runs in training mode only
    ("siamese_resnet18", 20, 20, 20),  # untraceable as a whole: its backbone is traced on its own
])
def test_what_folds_in_known_models(name, norms, folded, layers):
    model = meta_model(name).eval()
    pairs = foldable_pairs(model)
    assert norm_count(model) == norms
    assert len({p.norm for p in pairs}) == folded and len(pairs) == layers
    assert {p.found_by for p in pairs} == {"torch.fx"}


# ------------------------------------------------------------------ the registry


def small_input(name: str, model: nn.Module, dtype: torch.dtype) -> torch.Tensor:
    """One input at a cheap size the model takes (as tests/test_models_common.py's ``small_side``)."""
    entry = get_entry(name)
    side = VALID_SIDE.get(name) or getattr(model, "fixed_input_size", None) or max(getattr(model, "min_input_size", 1), 32)
    if hasattr(model, "input_shape"):  # a video classifier: its fixed clip, else a few frames of side x side
        return torch.randn(1, *model.input_shape(side), dtype=dtype)
    return torch.randn(1, entry.input_size[0], *[side] * (len(entry.input_size) - 1), dtype=dtype)


@pytest.mark.parametrize("name", MODELS)
def test_registry_model_fuses_to_the_same_outputs(name):
    torch.manual_seed(0)
    dtype = torch.float64 if name in FLOAT64 else torch.float32
    model = convzoo.create_model(name, **SMALLER.get(name, {})).eval().to(dtype)
    fused = check_fuse(model, small_input(name, model, dtype), check_input_kept=False)  # the small tests check it
    if norm_count(model):  # every BN of the registry is affine: each fold saves parameters
        assert norm_count(fused) < norm_count(model) and count_parameters(fused) < count_parameters(model)
    else:
        assert count_parameters(fused) == count_parameters(model)
