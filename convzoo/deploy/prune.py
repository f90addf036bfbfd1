"""Pruning: structured channel pruning to a MAC budget, and unstructured magnitude pruning.

Structured pruning removes whole channels, so the network stays a plain dense network, only
narrower, and every backend runs it faster. Removing output channel ``c`` of a convolution
also removes input ``c`` of every layer that reads it, entry ``c`` of the batch norm after
it, and, through a residual addition, channel ``c`` of every branch added to it. torch-pruning
finds these coupled layers by tracing the network into a dependency graph and prunes each
group of coupled channels together.

Papers:
    DepGraph: Towards Any Structural Pruning (Gongfan Fang, Xinyin Ma, Mingli Song, Michael Bi Mi,
    Xinchao Wang, CVPR 2023) https://arxiv.org/abs/2301.12900 (torch-pruning).
    Pruning Filters for Efficient ConvNets (Hao Li, Asim Kadav, Igor Durdanovic, Hanan Samet,
    Hans Peter Graf, ICLR 2017) https://arxiv.org/abs/1608.08710 (magnitude importance).
    Importance Estimation for Neural Network Pruning (Pavlo Molchanov, Arun Mallya, Stephen Tyree,
    Iuri Frosio, Jan Kautz, CVPR 2019) https://arxiv.org/abs/1906.10771 (Taylor importance).
    Learning both Weights and Connections for Efficient Neural Networks (Song Han, Jeff Pool,
    John Tran, William J. Dally, NeurIPS 2015) https://arxiv.org/abs/1506.02626 (unstructured).

:func:`prune_structured` ranks channel groups by magnitude (the L2 norm of a group's weights)
or by Taylor importance (``|weight x gradient|`` summed over the group, gradients of the
cross-entropy on calibration batches), per layer (every layer loses the same share of its
channels) or globally (one ranking over all layers, so some lose more than others). It
prunes in small steps of channel ratio and measures the MACs with
:func:`convzoo.analysis.profile.profile` after each, stopping at the first step at or below
the target, so it lands at most one step (1-2% of the MACs) under it. The classifier
keeps its outputs. The result is marked pruned, so its checkpoint records the new widths
(:mod:`convzoo.train.checkpoint`).

:func:`prune_unstructured` zeroes the individual weights of smallest magnitude in every
convolution and linear layer (``torch.nn.utils.prune``, per layer or one global threshold)
and makes the zeros permanent. The tensors keep their shapes, and dense kernels multiply by
zero as fast as by anything else: ResNet-18 at 224x224, batch 1, one thread, ran in 121.6 ms
dense and 119.1 ms with 90% of its conv and linear weights zero (medians of 15 interleaved
runs on the project's shared 2-core CPU, PyTorch 2.14: a ratio of 0.98, within the noise). The gain is in storage (compressed files, sparse formats) and on
hardware or kernels that skip zeros, not in PyTorch's dense convolutions.

What torch-pruning 1.6 cannot prune is refused in one line naming the layer: a channel shuffle
(ShuffleNet V1/V2, whose grouping never ends), and layers whose channel bookkeeping it does not
know, found when the pruned network no longer runs (LeNet-5 1998's connection table,
selective-kernel and split-attention blocks, MixConv's channel splits). ResNets, ResNeXt,
VGG, AlexNet 2012, GoogLeNet, Inception-v3, Xception, DenseNet, MobileNet V1/V2, MnasNet,
EfficientNet and SE-ResNet reach half their MACs.

Deviations: the papers fine-tune between pruning steps; here all steps run first and
fine-tuning follows once (``convzoo prune --finetune-epochs N``). Taylor importance is
measured in eval mode, so batch-norm statistics stay those of the trained model.
"""

from __future__ import annotations

import copy
import importlib
import itertools
import warnings
from dataclasses import dataclass
from types import ModuleType
from typing import Iterable, Iterator, Sequence

import torch
import torch.nn.functional as F
from torch import nn
from torch.nn.utils import prune as torch_prune

from convzoo.analysis.profile import profile, tensors_in
from convzoo.deploy.commands import IMPORTANCES
from convzoo.errors import ConvzooError
from convzoo.ops.channel_shuffle import ChannelShuffle
from convzoo.train.widths import mark_pruned

__all__ = [
    "IMPORTANCES", "StructuredPruning", "prune_structured", "LayerSparsity", "SparsityReport", "prune_unstructured",
    "sparsity_report",
]

# The channel ratio pruned after the last step: at 0.9 even the per-layer ranking reaches about
# 1% of the MACs, and no layer loses all its channels.
MAX_CHANNEL_RATIO = 0.9


# --------------------------------------------------------------------------- structured


@dataclass
class StructuredPruning:
    """What :func:`prune_structured` did.

    Attributes:
        model: the pruned copy (eval mode, marked pruned).
        input_size: the input (without batch) the MACs were measured at.
        target_macs: the MAC fraction asked for.
        macs_before, macs_after: MACs of one input before and after.
        params_before, params_after: parameters before and after.
        steps: pruning steps taken.
    """

    model: nn.Module
    input_size: tuple[int, ...]
    target_macs: float
    macs_before: int
    macs_after: int
    params_before: int
    params_after: int
    steps: int

    @property
    def macs_fraction(self) -> float:
        return self.macs_after / self.macs_before

    @property
    def params_fraction(self) -> float:
        return self.params_after / self.params_before


def _torch_pruning() -> ModuleType:
    """torch-pruning, imported when structured pruning is asked for (the ``deploy`` extra)."""
    try:
        return importlib.import_module("torch_pruning")
    except ImportError:
        raise ConvzooError("structured pruning needs torch-pruning: pip install 'convzoo[deploy]'") from None


def _importance(name: str) -> object:
    tp = _torch_pruning()
    if name == "magnitude":
        return tp.importance.MagnitudeImportance(p=2)
    return tp.importance.TaylorImportance()


def _output_layers(model: nn.Module) -> list[nn.Module]:
    """The layers whose outputs are the model's: the classifier and auxiliary heads, else the last conv or linear."""
    get_classifier = getattr(model, "get_classifier", None)
    heads = [get_classifier()] if get_classifier is not None else []
    heads += [model.get_submodule(name) for name in getattr(model, "aux_head_names", ())]
    heads = [head for head in heads if any(True for _ in head.parameters())]
    if heads:
        return heads
    layers = [module for module in model.modules() if isinstance(module, (nn.modules.conv._ConvNd, nn.Linear))]
    return layers[-1:]


def _failing_layer(model: nn.Module, x: torch.Tensor) -> str | None:
    """The innermost layer that raises when ``model`` runs on ``x``, as ``name (Type)``; None if it runs."""
    running: list[str] = []
    names = {module: name for name, module in model.named_modules()}

    def enter(module: nn.Module, _inputs: tuple) -> None:
        running.append(names[module])

    def leave(module: nn.Module, _inputs: tuple, _output: object) -> None:  # None: the output stays
        running.pop()

    handles = [module.register_forward_pre_hook(enter) for module in names]
    handles += [module.register_forward_hook(leave) for module in names]
    try:
        with torch.no_grad():
            model(x)
    except Exception:  # noqa: BLE001 - any failure inside the pruned model names its layer
        name = running[-1] if running else ""
        return f"{name or 'the model'} ({type(model.get_submodule(name)).__name__})"
    finally:
        for handle in handles:
            handle.remove()
    return None


def _cannot_prune(model: nn.Module, x: torch.Tensor, error: Exception, stage: str) -> ConvzooError:
    layer = _failing_layer(model, x)
    where = f" at layer {layer}" if layer else ""
    reason = (str(error).strip().splitlines() or [type(error).__name__])[0]
    return ConvzooError(f"torch-pruning cannot prune {type(model).__name__}{where} ({stage}): {reason}")


def _refuse_untraceable(model: nn.Module) -> None:
    """Refuse layers whose channel dependencies torch-pruning 1.6 cannot group: on a channel shuffle's
    reshape-transpose-reshape its grouping of ShuffleNet V2 ran for over 10 minutes without ending."""
    for name, module in model.named_modules():
        if isinstance(module, ChannelShuffle):
            raise ConvzooError(f"torch-pruning cannot prune {type(model).__name__} at layer {name} (ChannelShuffle): "
                               "a channel shuffle interleaves its groups' channels, which its dependency graph "
                               "cannot follow")


def _sync_num_features(model: nn.Module) -> None:
    """A classifier's ``num_features`` (what ``reset_classifier`` builds on) follows its pruned classifier input."""
    get_classifier = getattr(model, "get_classifier", None)
    head = get_classifier() if get_classifier is not None else None
    if isinstance(getattr(model, "num_features", None), int) and isinstance(head, nn.Linear):
        model.num_features = head.in_features


def _output_shapes(model: nn.Module, x: torch.Tensor) -> list[tuple[int, ...]]:
    with torch.no_grad():
        return [tuple(tensor.shape) for tensor in tensors_in(model(x))]


def _taylor_gradients(model: nn.Module, batches: Iterator[tuple[torch.Tensor, torch.Tensor]]) -> None:
    """Gradients of the cross-entropy on the next calibration batch, for Taylor importance."""
    inputs, targets = next(batches)
    device = next(model.parameters()).device
    model.zero_grad(set_to_none=True)
    F.cross_entropy(model(inputs.to(device)), targets.to(device)).backward()


def _check_arguments(target_macs: float, importance: str, calibration: object, steps: int) -> None:
    if not 0 < target_macs < 1:
        raise ConvzooError(f"target MAC fraction {target_macs} is out of range; expected a fraction between 0 and 1, "
                           "such as 0.5")
    if importance not in IMPORTANCES:
        raise ConvzooError(f"unknown importance {importance!r}; expected one of {', '.join(IMPORTANCES)}")
    if importance == "taylor" and calibration is None:
        raise ConvzooError("Taylor importance needs calibration batches of (images, labels) for its gradients")
    if steps < 1:
        raise ConvzooError(f"steps must be at least 1, got {steps}")


def prune_structured(
    model: nn.Module,
    input_size: Sequence[int],
    *,
    target_macs: float = 0.5,
    importance: str = "magnitude",
    global_pruning: bool = False,
    calibration: Iterable[tuple[torch.Tensor, torch.Tensor]] | None = None,
    ignored_layers: Sequence[nn.Module] | None = None,
    steps: int = 100,
    round_to: int | None = None,
) -> StructuredPruning:
    """Prune whole channels of a copy of ``model`` until its MACs are at most ``target_macs`` of the original.

    Args:
        model: the network (left untouched).
        input_size: one input without the batch dimension, e.g. ``(3, 32, 32)``.
        target_macs: the MAC fraction to reach, in (0, 1).
        importance: ``"magnitude"`` or ``"taylor"`` (needs ``calibration``).
        global_pruning: one ranking over all layers instead of the same ratio in each.
        calibration: ``(images, labels)`` batches for Taylor importance, cycled over the steps.
        ignored_layers: layers whose outputs are kept; by default the classifier and auxiliary heads.
        steps: pruning steps from no pruning to a channel ratio of 0.9; more steps land closer.
        round_to: keep every pruned layer's channel count a multiple of this (8 suits onnxruntime's and
            oneDNN's blocked convolution kernels; by default any count).

    Raises:
        ConvzooError: for bad arguments, a network torch-pruning cannot prune (naming the layer),
            or a target below what the steps reach.
    """
    _check_arguments(target_macs, importance, calibration, steps)
    _refuse_untraceable(model)
    pruned = copy.deepcopy(model).eval()
    device = next(pruned.parameters()).device
    input_size = tuple(input_size)
    example = torch.randn(1, *input_size, generator=torch.Generator().manual_seed(0)).to(device)
    output_shapes = _output_shapes(pruned, example)
    before = profile(pruned, input_size)
    batches = itertools.cycle(list(calibration)) if importance == "taylor" else None
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # torch-pruning warns about every layer it leaves alone
            pruner = _torch_pruning().pruner.BasePruner(
                pruned, example, _importance(importance), global_pruning=global_pruning,
                pruning_ratio=MAX_CHANNEL_RATIO, max_pruning_ratio=MAX_CHANNEL_RATIO, iterative_steps=steps,
                ignored_layers=list(ignored_layers) if ignored_layers is not None else _output_layers(pruned),
                round_to=round_to,
            )
    except Exception as error:  # noqa: BLE001 - torch-pruning raises anything on graphs it cannot trace
        raise _cannot_prune(pruned, example, error, "tracing its dependency graph") from None
    macs = before.macs
    for step in range(1, steps + 1):
        try:
            if batches is not None:
                _taylor_gradients(pruned, batches)
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                pruner.step()
            macs = profile(pruned, input_size).macs
        except Exception as error:  # noqa: BLE001 - a pruned graph that no longer runs names its layer
            raise _cannot_prune(pruned, example, error, f"pruning step {step}") from None
        if macs <= target_macs * before.macs:
            break
    else:
        raise ConvzooError(f"pruning {type(model).__name__} reached only {macs / before.macs:.1%} of its MACs, "
                           f"not the {target_macs:.1%} asked for; ask for a larger fraction"
                           + (" or prune per layer" if global_pruning else ""))
    pruned.zero_grad(set_to_none=True)
    _sync_num_features(pruned)
    if _output_shapes(pruned, example) != output_shapes:
        raise ConvzooError(f"pruning changed the output shapes of {type(model).__name__} from {output_shapes}; "
                           "give ignored_layers the layers that make its outputs")
    return StructuredPruning(
        model=mark_pruned(pruned), input_size=input_size, target_macs=target_macs, macs_before=before.macs,
        macs_after=macs, params_before=before.params, params_after=sum(p.numel() for p in pruned.parameters()),
        steps=step,
    )


# --------------------------------------------------------------------------- unstructured


@dataclass(frozen=True)
class LayerSparsity:
    """The zeros of one layer's weight."""

    name: str
    zeros: int
    total: int

    @property
    def sparsity(self) -> float:
        return self.zeros / self.total if self.total else 0.0


@dataclass(frozen=True)
class SparsityReport:
    """The zeros of every convolution and linear weight, per layer and overall."""

    layers: tuple[LayerSparsity, ...]

    @property
    def zeros(self) -> int:
        return sum(layer.zeros for layer in self.layers)

    @property
    def total(self) -> int:
        return sum(layer.total for layer in self.layers)

    @property
    def sparsity(self) -> float:
        return self.zeros / self.total if self.total else 0.0

    def lines(self) -> list[str]:
        """One line per layer, then the overall sparsity."""
        width = max((len(layer.name) for layer in self.layers), default=0)
        rows = [f"{layer.name:<{width}}  {layer.sparsity:7.2%}  ({layer.zeros:,} of {layer.total:,} weights zero)"
                for layer in self.layers]
        return [*rows, f"{'overall':<{width}}  {self.sparsity:7.2%}  ({self.zeros:,} of {self.total:,} weights zero)"]


def _weighted_layers(model: nn.Module) -> list[tuple[str, nn.Module]]:
    return [(name, module) for name, module in model.named_modules()
            if isinstance(module, (nn.modules.conv._ConvNd, nn.Linear)) and isinstance(module.weight, nn.Parameter)]


def sparsity_report(model: nn.Module) -> SparsityReport:
    """The share of zero weights in every convolution and linear layer of ``model``, and overall."""
    return SparsityReport(tuple(
        LayerSparsity(name, int((module.weight == 0).sum()), module.weight.numel())
        for name, module in _weighted_layers(model)
    ))


def prune_unstructured(
    model: nn.Module, sparsity: float, *, global_pruning: bool = False
) -> tuple[nn.Module, SparsityReport]:
    """Zero the smallest-magnitude weights of every convolution and linear layer of a copy of ``model``.

    Args:
        model: the network (left untouched).
        sparsity: the share of weights to zero, in [0, 1): ``round(sparsity x n)`` of the ``n``
            weights of all layers together (``global_pruning``) or of each layer.
        global_pruning: one magnitude threshold over all layers, so layers of small weights lose
            more; else every layer loses the same share.

    Returns:
        The pruned copy, with the zeros made permanent (plain ``weight`` parameters, no masks),
        and its sparsity report.
    """
    if not 0 <= sparsity < 1:
        raise ConvzooError(f"sparsity {sparsity} is out of range; expected a share of weights in [0, 1), such as 0.5")
    pruned = copy.deepcopy(model)
    layers = _weighted_layers(pruned)
    if not layers:
        raise ConvzooError(f"{type(model).__name__} has no convolution or linear layer to prune")
    if global_pruning:
        torch_prune.global_unstructured([(module, "weight") for _, module in layers],
                                        pruning_method=torch_prune.L1Unstructured, amount=sparsity)
    else:
        for _, module in layers:
            torch_prune.l1_unstructured(module, "weight", amount=sparsity)
    for _, module in layers:
        torch_prune.remove(module, "weight")
    return pruned, sparsity_report(pruned)
