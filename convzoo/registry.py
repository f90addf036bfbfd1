"""The model registry: every architecture by name, with the facts a user asks about it.

A family file registers each variant with :func:`register_model`; users reach them with
:func:`create_model`, :func:`list_models` and :func:`model_card`, the interface timm made
familiar. Names follow torchvision where it has the architecture, else timm, else a clear
lowercase name.
"""

from __future__ import annotations

import fnmatch
import importlib
import os
from dataclasses import dataclass, field
from typing import Any, Callable, Mapping, Sequence

import torch
from torch import nn
from torch.overrides import TorchFunctionMode

from convzoo.errors import ConvzooError, UnknownModelError

__all__ = [
    "Paper",
    "ModelEntry",
    "register_model",
    "get_entry",
    "create_model",
    "list_models",
    "model_card",
    "count_parameters",
    "meta_model",
]


@dataclass(frozen=True)
class Paper:
    """The publication an architecture comes from."""

    title: str
    authors: str
    venue: str
    year: int
    url: str

    def cite(self) -> str:
        return f"{self.title} ({self.authors}, {self.venue} {self.year}) {self.url}"


@dataclass(frozen=True)
class ModelEntry:
    """What the registry knows about one named architecture.

    Attributes:
        name: registry name, the builder function's name.
        builder: function that builds the model from keyword arguments.
        family: the architecture's lineage, what ``list_models(family=...)`` selects
            (``"resnet"``, ``"vgg"``, ...); usually its family file's name, but
            ``"inception"`` spans GoogLeNet (Inception v1) to Inception-ResNet-v2.
        task: what the model is for (``"classification"``, ...).
        paper: the paper the architecture follows.
        input_size: default input as ``(C, H, W)``, or ``(C, D, H, W)`` for a volumetric model (3D U-Net).
        num_classes: default number of outputs.
        torchvision_name: name of the same architecture in torchvision, if any.
        timm_name: name of the same architecture in timm, if any.
        deviations: where convzoo differs from the paper, and why.
        notes: further facts for the model card, name -> value: the paper's reported
            results, scaling multipliers, how the architecture was found, ...
    """

    name: str
    builder: Callable[..., nn.Module]
    family: str
    task: str
    paper: Paper
    input_size: tuple[int, ...]
    num_classes: int
    torchvision_name: str | None = None
    timm_name: str | None = None
    deviations: str = ""
    notes: Mapping[str, Any] = field(default_factory=dict)


_REGISTRY: dict[str, ModelEntry] = {}


def register_model(
    *,
    family: str,
    paper: Paper,
    input_size: tuple[int, ...] = (3, 224, 224),
    num_classes: int = 1000,
    task: str = "classification",
    torchvision: str | None = None,
    timm: str | None = None,
    deviations: str = "",
    notes: Mapping[str, Any] | None = None,
) -> Callable[[Callable[..., nn.Module]], Callable[..., nn.Module]]:
    """Decorator that registers a model builder under its function name."""

    def decorate(builder: Callable[..., nn.Module]) -> Callable[..., nn.Module]:
        name = builder.__name__
        if name in _REGISTRY:
            raise ValueError(f"model {name!r} is registered twice")
        _REGISTRY[name] = ModelEntry(
            name=name,
            builder=builder,
            family=family,
            task=task,
            paper=paper,
            input_size=input_size,
            num_classes=num_classes,
            torchvision_name=torchvision,
            timm_name=timm,
            deviations=deviations,
            notes=dict(notes or {}),
        )
        return builder

    return decorate


def _populate() -> None:
    """Import the model families so that their builders register themselves."""
    importlib.import_module("convzoo.models")


def get_entry(name: str) -> ModelEntry:
    """The registry entry of ``name``; an unknown name suggests the closest ones."""
    _populate()
    if name in _REGISTRY:
        return _REGISTRY[name]
    raise UnknownModelError.suggesting(name, _REGISTRY)


def list_models(pattern: str = "*", *, task: str | None = None, family: str | None = None) -> list[str]:
    """Sorted names of the registered models matching an fnmatch ``pattern``."""
    _populate()
    return sorted(
        name
        for name, entry in _REGISTRY.items()
        if fnmatch.fnmatchcase(name, pattern)
        and (task is None or entry.task == task)
        and (family is None or entry.family == family)
    )


def create_model(
    name: str,
    *,
    num_classes: int | None = None,
    in_chans: int | None = None,
    pretrained: str | os.PathLike | None = None,
    features_only: bool = False,
    out_indices: Sequence[int] | None = None,
    **kwargs: Any,
) -> nn.Module:
    """Build a registered model.

    Args:
        name: registry name, e.g. ``"resnet50"``.
        num_classes: number of outputs; the entry's default when ``None``.
        in_chans: number of input channels; the entry's default when ``None``.
        pretrained: path to a checkpoint in convzoo, torchvision or timm format
            (``.safetensors`` or a ``.pth``/``.pt`` state dict) to load; with
            ``features_only``, a checkpoint of the whole classifier.
        features_only: return an encoder instead of the classifier: a
            :class:`~convzoo.models._features.FeatureExtractor` whose forward gives the
            list of the chosen stages' feature maps, with ``feature_info.channels()`` and
            ``feature_info.reduction()``, as timm's ``features_only``.
        out_indices: with ``features_only``, indices into the classifier's
            ``feature_info`` of the stages to return; all when ``None``.
        **kwargs: passed to the model's builder.
    """
    entry = get_entry(name)
    if out_indices is not None and not features_only:
        raise ConvzooError(f"out_indices={tuple(out_indices)} selects feature maps; pass features_only=True too")
    if num_classes is not None:
        kwargs["num_classes"] = num_classes
    if in_chans is not None:
        kwargs["in_chans"] = in_chans
    model = entry.builder(**kwargs)
    if pretrained is not None:
        from convzoo.weights import load_weights

        load_weights(model, pretrained)
    if features_only:
        from convzoo.models._features import FeatureExtractor

        model = FeatureExtractor(model, out_indices)
    return model


# In-place ops that only set values, which a meta tensor does not have.
_VALUE_ONLY_OPS = frozenset({
    "normal_", "uniform_", "zero_", "fill_", "erfinv_", "mul_", "add_", "sub_", "div_", "clamp_", "copy_",
    "exponential_", "bernoulli_", "random_", "log_normal_", "cauchy_", "geometric_", "abs_", "sqrt_",
})


class _SkipValuesOnMeta(TorchFunctionMode):
    """Skips weight initialisation on meta tensors.

    On the meta device initialisation computes nothing, yet PyTorch's meta kernels for the
    random ops import torch._dynamo on first use, which costs seconds; skipping them keeps
    ``model_card`` and ``convzoo info`` fast.
    """

    def __torch_function__(self, func, types, args=(), kwargs=None):
        kwargs = kwargs or {}
        if getattr(func, "__name__", "") in _VALUE_ONLY_OPS:
            # torch.nn.init functions arrive with every argument as a keyword (tensor=...)
            target = args[0] if args else kwargs.get("tensor")
            if isinstance(target, torch.Tensor) and target.is_meta:
                return target
        return func(*args, **kwargs)


def meta_model(name: str, **kwargs: Any) -> nn.Module:
    """``create_model(name, **kwargs)`` on the meta device: shapes without memory or initialisation."""
    with torch.device("meta"), _SkipValuesOnMeta():
        return create_model(name, **kwargs)


def count_parameters(model: nn.Module) -> int:
    """Number of parameters (learnable or frozen; buffers excluded)."""
    return sum(p.numel() for p in model.parameters())


def model_card(name: str) -> dict[str, Any]:
    """What a user wants to know about a model before building it.

    The parameter count is measured on a model built on the meta device, so no memory
    is spent on weights.
    """
    entry = get_entry(name)
    params = count_parameters(meta_model(name))
    return {
        "name": entry.name,
        "family": entry.family,
        "task": entry.task,
        "paper": {
            "title": entry.paper.title,
            "authors": entry.paper.authors,
            "venue": entry.paper.venue,
            "year": entry.paper.year,
            "url": entry.paper.url,
        },
        "input_size": list(entry.input_size),
        "num_classes": entry.num_classes,
        "params": params,
        "torchvision_name": entry.torchvision_name,
        "timm_name": entry.timm_name,
        "deviations": entry.deviations,
        "notes": dict(entry.notes),
    }
