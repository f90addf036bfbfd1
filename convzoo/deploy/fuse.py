"""Folding batch norm into the layer before it, after re-parameterising multi-branch blocks.

Papers:
    Batch Normalization: Accelerating Deep Network Training by Reducing Internal Covariate Shift
    (Sergey Ioffe, Christian Szegedy, ICML 2015) https://arxiv.org/abs/1502.03167
    Quantization and Training of Neural Networks for Efficient Integer-Arithmetic-Only Inference
    (Benoit Jacob et al., CVPR 2018) https://arxiv.org/abs/1712.05877
    RepVGG: Making VGG-style ConvNets Great Again
    (Xiaohan Ding, Xiangyu Zhang, Ningning Ma, Jungong Han, Guiguang Ding, Jian Sun, CVPR 2021)
    https://arxiv.org/abs/2101.03697

In eval mode a batch norm is a fixed affine map per channel (Ioffe & Szegedy, Alg. 2):

    BN(z) = gamma (z - mu) / sqrt(var + eps) + beta = s z + (beta - s mu),   s = gamma / sqrt(var + eps)

When ``z = W * x + b`` is the output of a conv or linear layer and nothing else reads
``z``, the two maps compose into one layer (Jacob et al., Sec. 3.2, fold BN this way
before quantising):

    W' = s W  (the kernel of each output channel scaled),   b' = s (b - mu) + beta

A transposed conv stores its kernel as ``(C_in, C_out / groups, ...)``, so there the
scale runs along the second axis, group by group. Scale and bias are computed in float64;
the kernel is multiplied in place by the scale rounded to its dtype.

Re-parameterisation goes further (RepVGG): a block whose branches are all linear in eval
mode merges them into one conv through its own ``reparameterize()`` method (SLaK's
large-kernel strips, :class:`convzoo.ops.LargeKernelConv2d`). :func:`fuse` calls it on
every module that has one, children before parents, and then folds the batch norms,
including one that follows a merged conv.

Finding the pairs. A BN may fold only if it reads the layer's output and nothing else
does. :mod:`torch.fx` shows exactly that, through any Python code between the two (a conv
in one block feeding a BN in another, a custom module around the merged conv): the model
is traced with the conv, linear and BN layers as leaves, and a BN folds when every call of
it reads the same layers' outputs and no call of those layers feeds anything else. The
output may pass through ``nn.Identity`` (a separable conv without its activation), and may
be a channel concatenation of several layers (MixConv's kernel groups: each layer takes
its slice of the BN). A module fx cannot trace (a Python branch on a tensor's value, an
argument fx cannot stand in for) is searched one level down: each child is traced on its
own, and in an ``nn.Sequential`` (whose forward is the plain one) the order of the
children is the data flow, so a layer followed directly by a BN is a pair. Pairs that
cross the children of an untraceable module that is not a Sequential stay unfolded. Of the
registered models, the Siamese and triplet networks (a branch on which inputs are given)
and ``lenet5_1998`` (an item assignment) do not trace whole; their backbones and heads do,
one by one. Layers or BNs installed at two places, whose
parameters another module shares, or that the graph reads directly
(``F.conv2d(x, self.conv.weight)``) are left alone.

Deviations:
    * A folded BN is replaced by ``nn.Identity``, not deleted, so Sequential indices, the
      other layers' state-dict keys and key maps (timm's names) stay valid: the fused
      model has fewer modules that compute, the same number of module objects.
    * fx follows the path ``forward`` takes in eval mode with every input given; a module
      used only on another path (a training-only auxiliary head) is not folded.
    * Linear -> BatchNorm1d folds when ``out_features == num_features``, which assumes the
      ``(B, C)`` input BatchNorm1d normalises over dimension 1 (as ``torch.nn.utils.fusion``
      assumes).
    * A BN without running statistics (``track_running_stats=False``) normalises by the
      batch even in eval mode and is not folded; neither are layer or BN subclasses that
      override ``forward`` (a weight-standardised conv, a BN with an activation).
"""

from __future__ import annotations

import copy
import itertools
import logging
from collections import Counter, defaultdict
from dataclasses import dataclass
from typing import Any, Callable, Iterator

import torch
import torch.fx
from torch import nn
from torch.nn.modules.batchnorm import _BatchNorm

from convzoo.errors import ConvzooError

__all__ = ["FoldPair", "fold_norm", "foldable_pairs", "fuse"]

logger = logging.getLogger(__name__)

# Each foldable layer class -> the batch norm of the same dimensionality.
_NORM_AFTER: dict[type[nn.Module], type[nn.Module]] = {
    nn.Linear: nn.BatchNorm1d,
    nn.Conv1d: nn.BatchNorm1d,
    nn.Conv2d: nn.BatchNorm2d,
    nn.Conv3d: nn.BatchNorm3d,
    nn.ConvTranspose1d: nn.BatchNorm1d,
    nn.ConvTranspose2d: nn.BatchNorm2d,
    nn.ConvTranspose3d: nn.BatchNorm3d,
}
_TRANSPOSED = (nn.ConvTranspose1d, nn.ConvTranspose2d, nn.ConvTranspose3d)


@dataclass(frozen=True)
class FoldPair:
    """A layer and the batch norm that folds into it, by their names in the model.

    ``first_channel`` is the BN channel that meets the layer's first output: 0 for a BN
    right after the layer, the offset of the layer's part for a BN after a channel
    concatenation of several layers (MixConv's kernel groups). ``found_by`` says what
    proved that the BN reads only the layers' outputs: ``"torch.fx"`` (the traced graph)
    or ``"nn.Sequential"`` (the order of its children).
    """

    layer: str
    norm: str
    first_channel: int
    found_by: str


def fuse(model: nn.Module) -> nn.Module:
    """A copy of ``model`` in eval mode with its blocks re-parameterised and its batch norms folded.

    ``reparameterize()`` runs on every module that has one (children first); then every
    batch norm that reads only the output of a conv (1d/2d/3d, transposed too) or linear
    layer, or of several concatenated over channels, is folded into them and becomes
    ``nn.Identity``. Outputs in eval mode stay the same up to rounding; ``model`` itself
    is not changed.
    """
    if not isinstance(model, nn.Module):
        raise ConvzooError(f"fuse expects a torch.nn.Module, got {type(model).__name__}")
    try:
        fused = copy.deepcopy(model).eval()
    except (TypeError, RuntimeError, copy.Error) as exc:
        raise ConvzooError(f"fuse: cannot copy {type(model).__name__}: {exc}") from exc
    _reparameterize(fused)
    pairs = foldable_pairs(fused)
    for pair in pairs:
        fold_norm(fused.get_submodule(pair.layer), fused.get_submodule(pair.norm), pair.first_channel)
    norms = [fused.get_submodule(name) for name in dict.fromkeys(pair.norm for pair in pairs)]
    for norm in norms:
        _replace_module(fused, norm, nn.Identity())
    logger.debug("fused %s: %d batch norms folded into %d layers", type(model).__name__, len(norms), len(pairs))
    return fused


def foldable_pairs(model: nn.Module) -> list[FoldPair]:
    """Every (layer, batch norm) pair of ``model`` that :func:`fold_norm` may merge, in module order.

    The model is traced as it is (its training flag decides the path fx follows);
    nothing in it changes.
    """
    names = {module: name for name, module in model.named_modules()}
    excluded = _shared_modules(model) | _registered_twice(model)
    groups: dict[nn.Module, tuple[tuple[nn.Module, ...], str]] = {}
    for norm, layers, found_by in _search(model, set()):
        if norm not in excluded and not excluded.intersection(layers) and _covers(layers, norm):
            groups.setdefault(norm, (layers, found_by))
    position = {module: index for index, module in enumerate(names)}
    pairs = []
    for norm in sorted(groups, key=position.__getitem__):
        layers, found_by = groups[norm]
        offsets = itertools.accumulate((_outputs(layer) for layer in layers), initial=0)
        pairs += [FoldPair(names[layer], names[norm], offset, found_by) for layer, offset in zip(layers, offsets)]
    return pairs


@torch.no_grad()
def fold_norm(layer: nn.Module, norm: _BatchNorm, first_channel: int = 0) -> None:
    """Merge eval-mode ``norm`` into ``layer`` in place: ``W' = s W``, ``b' = s (b - mu) + beta``.

    ``layer`` is a conv (transposed too) or linear layer whose output channels are
    ``norm``'s channels ``first_channel, first_channel + 1, ...``; it gains a bias if it
    had none. ``norm`` itself is left as it was.
    """
    if not _compatible(layer, norm) or first_channel < 0 or first_channel + _outputs(layer) > norm.num_features:
        raise ConvzooError(f"cannot fold {type(norm).__name__}({norm.num_features}) from channel {first_channel} "
                           f"into {layer}: expected a conv or linear layer whose outputs fit in the norm's channels, "
                           "and a batch norm with running statistics")
    weight = layer.weight
    wide = torch.float32 if weight.device.type == "mps" else torch.float64  # MPS has no float64
    channels = slice(first_channel, first_channel + _outputs(layer))
    inverse_std = torch.rsqrt(norm.running_var[channels].to(wide) + norm.eps)
    scale = inverse_std * norm.weight[channels].to(wide) if norm.affine else inverse_std  # s = gamma / sqrt(var + eps)
    shift = norm.bias[channels].to(wide) if norm.affine else torch.zeros_like(scale)
    bias = layer.bias.to(wide) if layer.bias is not None else torch.zeros_like(scale)
    folded_bias = scale * (bias - norm.running_mean[channels].to(wide)) + shift  # b' = s (b - mu) + beta
    weight.mul_(_per_output(layer, scale.to(weight.dtype)))  # W' = s W
    if layer.bias is None:
        layer.bias = nn.Parameter(folded_bias.to(weight.dtype), requires_grad=weight.requires_grad)
    else:
        layer.bias.copy_(folded_bias)


def _per_output(layer: nn.Module, scale: torch.Tensor) -> torch.Tensor:
    """``scale`` (one value per output channel) shaped to multiply ``layer.weight``."""
    weight = layer.weight
    if isinstance(layer, _TRANSPOSED):  # (C_in, C_out / groups, *k): each group's input rows meet its outputs
        groups, outputs_per_group = layer.groups, weight.shape[1]
        grouped = scale.reshape(groups, 1, outputs_per_group).expand(groups, weight.shape[0] // groups, -1)
        return grouped.reshape(weight.shape[0], outputs_per_group, *[1] * (weight.dim() - 2))
    return scale.reshape(-1, *[1] * (weight.dim() - 1))  # (C_out, 1, ...)


def _plain_layer_type(module: nn.Module) -> type[nn.Module] | None:
    """The foldable base class ``module`` is an instance of, if its forward is that class's own."""
    for base in _NORM_AFTER:
        if isinstance(module, base) and type(module).forward is base.forward:
            return base
    return None


def _is_plain_norm(module: nn.Module) -> bool:
    return isinstance(module, _BatchNorm) and type(module).forward in (_BatchNorm.forward, nn.SyncBatchNorm.forward)


def _outputs(layer: nn.Module) -> int:
    return layer.out_features if isinstance(layer, nn.Linear) else layer.out_channels


def _compatible(layer: nn.Module, norm: nn.Module) -> bool:
    """Whether ``layer`` folds and ``norm`` is a batch norm with running statistics of its dimensionality."""
    base = _plain_layer_type(layer)
    if base is None or not _is_plain_norm(norm) or norm.running_var is None:
        return False
    return isinstance(norm, (_NORM_AFTER[base], nn.SyncBatchNorm)) and isinstance(layer.weight, nn.Parameter)


def _covers(layers: tuple[nn.Module, ...], norm: nn.Module) -> bool:
    """Whether ``layers`` all fold into ``norm`` and their outputs make up its channels exactly."""
    return (all(_compatible(layer, norm) for layer in layers)
            and sum(_outputs(layer) for layer in layers) == norm.num_features)


def _reparameterize(model: nn.Module) -> None:
    """Call ``reparameterize()`` on every module that has one, each once, children before parents."""
    done: set[nn.Module] = set()

    def visit(module: nn.Module) -> None:
        done.add(module)
        for child in list(module.children()):
            if child not in done:
                visit(child)
        method = getattr(module, "reparameterize", None)
        if callable(method):
            method()

    visit(model)


def _shared_modules(model: nn.Module) -> set[nn.Module]:
    """Modules holding a parameter or buffer that another module holds too (tied weights)."""
    owners: dict[int, set[nn.Module]] = defaultdict(set)
    for module in model.modules():
        for tensor in [*module.parameters(recurse=False), *module.buffers(recurse=False)]:
            owners[id(tensor)].add(module)
    return {module for holders in owners.values() if len(holders) > 1 for module in holders}


def _registered_twice(model: nn.Module) -> set[nn.Module]:
    """Modules installed at more than one place, which code outside a traced graph may call."""
    registrations = Counter(module for _, module in model.named_modules(remove_duplicate=False))
    return {module for module, count in registrations.items() if count > 1}


def _replace_module(model: nn.Module, old: nn.Module, new: nn.Module) -> None:
    """Put ``new`` wherever ``old`` is registered in ``model``."""
    for parent in model.modules():
        for name, child in list(parent.named_children()):
            if child is old:
                setattr(parent, name, new)


# ------------------------------------------------------------------ finding the pairs

_Found = tuple[nn.Module, tuple[nn.Module, ...], str]  # (norm, the layers whose outputs it reads, found by)
_CONCATENATIONS = (torch.cat, torch.concat, torch.concatenate)


def _search(module: nn.Module, visited: set[nn.Module]) -> Iterator[_Found]:
    """Groups by fx where ``module`` traces; else its Sequential order and its children, searched alike."""
    visited.add(module)
    if next(module.children(), None) is None:
        return
    graph = _trace(module)
    if graph is not None:
        yield from _graph_groups(module, graph)
        return
    yield from _sequential_pairs(module)
    for child in module.children():
        if child not in visited:
            yield from _search(child, visited)


class _LayerTracer(torch.fx.Tracer):
    """An fx tracer that keeps foldable layers and batch norms as single call nodes."""

    def is_leaf_module(self, m: nn.Module, module_qualified_name: str) -> bool:
        return (_plain_layer_type(m) is not None or _is_plain_norm(m)
                or super().is_leaf_module(m, module_qualified_name))

    def call_module(self, m: nn.Module, forward: Callable[..., Any], args: tuple, kwargs: dict[str, Any]) -> Any:
        try:
            self.path_of_module(m)
        except NameError:
            if not self.is_leaf_module(m, ""):  # a container built in forward (``self.head[:-1]``): its layers are installed
                return forward(*args, **kwargs)
            raise
        return super().call_module(m, forward, args, kwargs)


def _trace(module: nn.Module) -> torch.fx.Graph | None:
    """The fx graph of ``module``'s forward, or ``None`` where it does not trace; ``module`` is left as it was."""
    attributes = set(vars(module))
    try:
        return _LayerTracer().trace(module)
    except Exception as exc:  # fx raises TraceError, TypeError, RuntimeError, NameError, ...
        logger.debug("%s does not trace with torch.fx (%s: %s); searching its children",
                     type(module).__name__, type(exc).__name__, exc)
        return None
    finally:
        for name in set(vars(module)) - attributes:  # tensor constants the tracer stored on the module
            delattr(module, name)


def _graph_groups(root: nn.Module, graph: torch.fx.Graph) -> Iterator[_Found]:
    """Each BN whose every call reads the same layers' outputs, which feed nothing else."""
    calls: dict[nn.Module, list[torch.fx.Node]] = defaultdict(list)
    read_directly: set[nn.Module] = set()
    for node in graph.nodes:
        if node.op == "call_module":
            calls[root.get_submodule(node.target)].append(node)
        elif node.op == "get_attr":
            read_directly.add(root.get_submodule(node.target.rpartition(".")[0]))
    for norm, norm_calls in calls.items():
        if not _is_plain_norm(norm) or norm in read_directly:
            continue
        sources = [_layer_calls(root, node) for node in norm_calls]
        if any(source is None for source in sources):
            continue
        layer_sets = {tuple(root.get_submodule(node.target) for node in source) for source in sources}
        if len(layer_sets) != 1:
            continue
        layers = layer_sets.pop()
        seen = {node for source in sources for node in source}
        only_here = all(set(calls[layer]) <= seen for layer in layers)  # no call of a layer feeds anything else
        if only_here and len(set(layers)) == len(layers) and not read_directly.intersection(layers):
            yield norm, layers, "torch.fx"


def _layer_calls(root: nn.Module, norm_call: torch.fx.Node) -> list[torch.fx.Node] | None:
    """The module calls whose outputs, concatenated over channels, are a BN call's input, each read by nothing else.

    ``nn.Identity`` calls between them and the BN are passed through (a separable conv
    without its activation); ``None`` when the input is anything else.
    """
    if len(norm_call.args) != 1 or norm_call.kwargs:
        return None
    source = norm_call.args[0]
    while _is_call_of(source, "call_module") and _only_user(source) and _is_identity(root, source):
        source = source.args[0]
    parts = [source]
    if _is_call_of(source, "call_function") and source.target in _CONCATENATIONS and _only_user(source):
        tensors = source.args[0] if source.args else source.kwargs.get("tensors")
        dim = source.args[1] if len(source.args) > 1 else source.kwargs.get("dim", 0)
        parts = list(tensors) if dim == 1 and isinstance(tensors, (list, tuple)) else [None]
    if all(_is_call_of(part, "call_module") and _only_user(part) for part in parts):
        return parts
    return None


def _is_call_of(node: Any, op: str) -> bool:
    return isinstance(node, torch.fx.Node) and node.op == op


def _only_user(node: torch.fx.Node) -> bool:
    return len(node.users) == 1


def _is_identity(root: nn.Module, node: torch.fx.Node) -> bool:
    return type(root.get_submodule(node.target)) is nn.Identity


def _sequential_pairs(module: nn.Module) -> Iterator[_Found]:
    """Adjacent (layer, norm) children of a plain ``nn.Sequential`` that appear in it once each."""
    if not isinstance(module, nn.Sequential) or type(module).forward is not nn.Sequential.forward:
        return
    children = list(module)
    for layer, norm in zip(children, children[1:]):
        if children.count(layer) == 1 and children.count(norm) == 1 and _is_plain_norm(norm):
            yield norm, (layer,), "nn.Sequential"
