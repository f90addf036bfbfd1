"""Transfer learning: start from pretrained weights, then freeze as much as the data asks.

Paper: How transferable are features in deep neural networks? (Jason Yosinski, Jeff
Clune, Yoshua Bengio, Hod Lipson, NeurIPS 2014) https://arxiv.org/abs/1411.1792

A network trained on a large dataset such as ImageNet has learnt features that are
useful far beyond it. The first stages find edges, colour blobs and textures, which
almost every image task needs; later stages combine them into parts and objects that
are ever more specific to the original classes; the classifier is specific to them
alone. Yosinski et al. measured this: features transfer well from the early layers and
less well from the late ones, and even transferred features that are then fine-tuned
give better results than a random initialisation.

So a new image task starts from pretrained weights (:func:`load_pretrained`), with a
fresh classifier for its own classes, and the amount of data decides how much of the
network to train (:func:`freeze`):

* little data: train only the classifier (``--head-only``). The pretrained network is a
  fixed feature extractor; with few images, training more would overfit them.
* more data: freeze fewer layers. Keep the first, generic stages fixed and fine-tune
  the later, task-specific ones with the head (``stages:N``), or fine-tune the whole
  head on fixed features (``features``; for VGG and AlexNet this trains the hidden fully
  connected layers too).
* a lot of data: fine-tune everything (``none``). The pretrained weights are still a
  better start than random ones: training converges faster and often ends better.
  Fine-tune with a smaller learning rate than training from scratch, so the useful
  features are adjusted rather than destroyed.

The further the new images are from the pretraining data (X-rays, spectrograms), the
fewer stages transfer, and the more of the network should be trained.

Batch norm needs care. Its running mean and variance are part of the pretrained weights;
in training mode a norm would replace them with statistics of the new, small batches,
which no longer match its frozen scale and shift. Norms inside frozen parts therefore
stay in eval mode: call :meth:`FrozenParts.train_mode` instead of ``model.train()``
(timm reaches the same end by swapping them for ``FrozenBatchNorm2d``). Frozen
parameters get ``requires_grad=False``, lose any gradient they held and should be left
out of the optimizer (:func:`trainable_parameters`), so that neither momentum nor weight
decay can move them.

Where the stages are. A model's ``feature_info`` names the module whose output is each
stage's feature map. Stages and head are read from the model's structure, with one
assumption: the model registers its submodules in the order its forward pass runs them
(true of every convzoo model, and checked for each in the tests). Then, walking
``model.named_modules()`` in registration order, stage ``i`` is every module after the
end of stage ``i - 1`` up to and including the ``feature_info[i]`` module and its
submodules; the *features* are all the stages; the *head* is what follows, i.e. what
``forward_head`` runs (pooling, hidden fully connected layers and the classifier).
Parameters registered on the model itself, not on a submodule, count as features.
"""

from __future__ import annotations

import logging
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Literal

import torch
from torch import nn
from torch.nn.modules.batchnorm import _BatchNorm

from convzoo.errors import ConvzooError
from convzoo.train.checkpoint import pruned_widths
from convzoo.train.widths import narrow_to_widths
from convzoo.weights import check_state_dict, normalise_state_dict, read_state_dict

__all__ = [
    "LoadReport",
    "load_pretrained",
    "FreezeSpec",
    "FrozenParts",
    "FREEZE_FORMS",
    "parse_freeze",
    "module_stages",
    "freeze",
    "trainable_parameters",
]

logger = logging.getLogger(__name__)

FREEZE_FORMS = "none, features, stages:N (N >= 0 frozen stages), head-only"


# --------------------------------------------------------------------------- loading


@dataclass(frozen=True)
class LoadReport:
    """What :func:`load_pretrained` did.

    Attributes:
        loaded: model keys filled from the checkpoint.
        skipped: checkpoint keys of the classifier that were not loaded, because their
            shape differs from the model's (another number of classes) or the model has
            no such key (``num_classes=0``).
        initialised: model keys of the classifier that keep their fresh initialisation.
    """

    loaded: tuple[str, ...]
    skipped: tuple[str, ...]
    initialised: tuple[str, ...]

    def summary(self) -> str:
        text = f"loaded {len(self.loaded)} tensors"
        if self.skipped or self.initialised:
            text += (
                f"; classifier left at its fresh initialisation ({', '.join(self.initialised) or 'no tensors'}), "
                f"skipped from the checkpoint: {', '.join(self.skipped) or 'nothing'}"
            )
        return text


def _classifier_name(model: nn.Module) -> str:
    get_classifier = getattr(model, "get_classifier", None)
    if get_classifier is None:
        raise ConvzooError(f"{type(model).__name__} has no get_classifier(), so its classifier cannot be found")
    head = get_classifier()
    for name, module in model.named_modules():
        if module is head:
            return name
    raise ValueError(f"{type(model).__name__}.get_classifier() returned a module that is not part of the model")


def _under(key: str, prefix: str) -> bool:
    return prefix == "" or key == prefix or key.startswith(prefix + ".")


def _head_names(model: nn.Module) -> tuple[str, ...]:
    """The classifier and any auxiliary heads (``aux_head_names``: GoogLeNet, Inception-v3)."""
    return (_classifier_name(model), *getattr(model, "aux_head_names", ()))


def _in_head(key: str, heads: tuple[str, ...]) -> bool:
    return any(_under(key, head) for head in heads)


def load_pretrained(
    model: nn.Module,
    source: str | os.PathLike | Mapping[str, torch.Tensor],
) -> LoadReport:
    """Load pretrained weights into ``model``, whose classifier may have another number of classes.

    The checkpoint may be in convzoo, torchvision or timm key format, read and mapped as
    :func:`convzoo.load_weights` does. The entries of the classifier
    (``model.get_classifier()``) and of any auxiliary heads are loaded where their shapes
    agree and skipped where they differ, so the classifier keeps its fresh
    initialisation, sized for the new dataset's classes. Every other key must be
    present and fit exactly. A convzoo checkpoint of a structurally pruned model first
    narrows ``model`` in place to the pruned layer widths (the classifier keeps its number
    of classes): :func:`convzoo.train.widths.narrow_to_widths`.

    Args:
        model: the model to fill, built with the new dataset's ``num_classes``.
        source: a checkpoint path or a state dict.

    Returns:
        A :class:`LoadReport` of the keys loaded and the classifier keys skipped.

    Raises:
        WeightMismatchError: when a key outside the classifier is missing, unexpected or
            of another shape.
        CheckpointError: when the file is missing, corrupt or unsafe.
    """
    from_file = not isinstance(source, Mapping)
    state_dict = normalise_state_dict(model, read_state_dict(source) if from_file else source)
    heads = _head_names(model)
    widths = pruned_widths(source) if from_file else {}
    if widths:  # a structurally pruned convzoo checkpoint: narrow the model to its widths first
        shapes = {key: value.shape for key, value in state_dict.items()}
        narrow_to_widths(model, widths, shapes, keep_outputs=heads)
    own = model.state_dict()

    # The checkpoint without its heads, then the model's own head entries, replaced by
    # the checkpoint's where they fit.
    fitted = {key: value for key, value in state_dict.items() if not _in_head(key, heads)}
    skipped, initialised = [], []
    for key, value in state_dict.items():
        if _in_head(key, heads) and (key not in own or own[key].shape != value.shape):
            skipped.append(key)
    for key, value in own.items():
        if not _in_head(key, heads):
            continue
        if key in state_dict and state_dict[key].shape == value.shape:
            fitted[key] = state_dict[key]
        else:
            fitted[key] = value
            initialised.append(key)

    check_state_dict(model, fitted, strict=True, source=source if from_file else None)
    model.load_state_dict(fitted, strict=True)
    report = LoadReport(
        loaded=tuple(key for key in own if key not in initialised),
        skipped=tuple(skipped),
        initialised=tuple(initialised),
    )
    logger.info("%s: %s", type(model).__name__, report.summary())
    return report


# --------------------------------------------------------------------------- freezing


@dataclass(frozen=True)
class FreezeSpec:
    """Which part of a model to freeze.

    Attributes:
        kind: ``"none"``, ``"features"`` (everything before the head), ``"stages"``
            (the first ``stages`` stages) or ``"head-only"`` (everything but the
            classifier).
        stages: the number of frozen stages, for ``kind="stages"``.
    """

    kind: Literal["none", "features", "stages", "head-only"] = "none"
    stages: int = 0

    def __post_init__(self) -> None:
        if self.kind not in ("none", "features", "stages", "head-only"):
            raise ConvzooError(f"unknown freeze kind {self.kind!r}; expected one of {FREEZE_FORMS}")
        if self.stages < 0:
            raise ConvzooError(f"cannot freeze {self.stages} stages; expected N >= 0")

    def __str__(self) -> str:
        return f"stages:{self.stages}" if self.kind == "stages" else self.kind


def parse_freeze(text: str) -> FreezeSpec:
    """Parse ``"none"``, ``"features"``, ``"stages:N"`` or ``"head-only"`` into a :class:`FreezeSpec`.

    The number of stages is checked against the model later, by :func:`freeze`.

    Raises:
        ConvzooError: naming the accepted forms.
    """
    normalised = text.strip().lower()
    if normalised in ("none", "features", "head-only"):
        return FreezeSpec(normalised)  # type: ignore[arg-type]
    match = re.fullmatch(r"stages:\s*(\d+)", normalised)
    if match is None:
        raise ConvzooError(f"cannot read freeze setting {text!r}; expected one of {FREEZE_FORMS}")
    return FreezeSpec("stages", int(match.group(1)))


def module_stages(model: nn.Module) -> dict[str, int | None]:
    """The stage of every submodule of ``model``: ``feature_info`` index, or ``None`` for the head.

    Auxiliary heads (``aux_head_names``) belong to the head wherever they are registered.
    Modules are walked in registration order (``named_modules``); stage ``i`` ends with
    the last submodule of the ``feature_info[i]`` module (see the module docstring for
    the assumption this rests on). The model itself (key ``""``) comes first: stage 0.
    """
    feature_info = getattr(model, "feature_info", None)
    if not feature_info:
        raise ConvzooError(f"{type(model).__name__} has no feature_info, so its stages are unknown")
    names = [name for name, _ in model.named_modules()]
    # named_modules walks depth first, so a module's submodules follow it contiguously.
    ends = []
    for info in feature_info:
        stage_module = info["module"]
        if stage_module not in names:
            raise ValueError(f"feature_info names {stage_module!r}, which is not a submodule of {type(model).__name__}")
        ends.append(max(i for i, name in enumerate(names) if _under(name, stage_module)))
    if any(later <= earlier for earlier, later in zip(ends, ends[1:])):
        raise ValueError(f"the feature_info modules of {type(model).__name__} are not registered in stage order")
    aux_heads = tuple(getattr(model, "aux_head_names", ()))
    stages: dict[str, int | None] = {}
    stage = 0
    for index, name in enumerate(names):
        while stage < len(ends) and index > ends[stage]:
            stage += 1
        in_head = stage == len(ends) or _in_head(name, aux_heads)
        stages[name] = None if in_head else stage
    return stages


def _frozen_modules(model: nn.Module, spec: FreezeSpec) -> set[str]:
    """Names of the modules whose own parameters (and norms) the spec freezes."""
    if spec.kind == "none":
        return set()
    if spec.kind == "head-only":
        heads = _head_names(model)
        return {name for name, _ in model.named_modules() if not _in_head(name, heads)}
    stages = module_stages(model)
    if spec.kind == "features":
        return {name for name, stage in stages.items() if stage is not None}
    num_stages = len(model.feature_info)
    if spec.stages > num_stages:
        raise ConvzooError(
            f"cannot freeze {spec.stages} stages of {type(model).__name__}: it has {num_stages} "
            f"(feature_info: {', '.join(info['module'] for info in model.feature_info)})"
        )
    return {name for name, stage in stages.items() if stage is not None and stage < spec.stages}


@dataclass(frozen=True)
class FrozenParts:
    """What :func:`freeze` froze, and how to switch the model between training and evaluation.

    Attributes:
        spec: the freeze setting applied.
        frozen: names of the frozen parameters.
        trainable: names of the parameters that still train.
        frozen_norms: names of the batch norms inside frozen parts, kept in eval mode
            by :meth:`train_mode`.
        num_frozen: number of frozen parameter values.
        num_trainable: number of trainable parameter values.
    """

    spec: FreezeSpec
    frozen: tuple[str, ...]
    trainable: tuple[str, ...]
    frozen_norms: tuple[str, ...]
    num_frozen: int
    num_trainable: int

    def train_mode(self, model: nn.Module, training: bool = True) -> nn.Module:
        """``model.train(training)``, but the frozen batch norms stay in eval mode.

        Call this instead of ``model.train()`` in the training loop.
        """
        model.train(training)
        for name in self.frozen_norms:
            model.get_submodule(name).eval()
        return model

    def summary(self) -> str:
        total = self.num_frozen + self.num_trainable
        share = 100.0 * self.num_trainable / total if total else 0.0
        return (
            f"freeze {self.spec}: training {self.num_trainable:,} of {total:,} parameters ({share:.2f}%), "
            f"{self.num_frozen:,} frozen, {len(self.frozen_norms)} batch norms fixed in eval mode"
        )


def freeze(model: nn.Module, spec: FreezeSpec | str) -> FrozenParts:
    """Freeze the part of ``model`` that ``spec`` names and unfreeze the rest.

    Frozen parameters get ``requires_grad=False`` and their gradients are cleared; all
    other parameters get ``requires_grad=True``, so applying a new spec replaces the
    previous one. Batch norms inside frozen parts are put in eval mode now (if the model
    is training) and by every :meth:`FrozenParts.train_mode`.

    Args:
        model: a classifier with ``feature_info`` and ``get_classifier()``.
        spec: a :class:`FreezeSpec` or its text form (see :func:`parse_freeze`).

    Raises:
        ConvzooError: for a bad spec, or more stages than the model has.
    """
    if isinstance(spec, str):
        spec = parse_freeze(spec)
    frozen_modules = _frozen_modules(model, spec)
    frozen_ids: set[int] = set()
    for name, module in model.named_modules():
        if name in frozen_modules:
            frozen_ids.update(id(p) for p in module.parameters(recurse=False))
    frozen, trainable = [], []
    num_frozen = num_trainable = 0
    for name, parameter in model.named_parameters():
        is_frozen = id(parameter) in frozen_ids
        parameter.requires_grad_(not is_frozen)
        if is_frozen:
            parameter.grad = None
            frozen.append(name)
            num_frozen += parameter.numel()
        else:
            trainable.append(name)
            num_trainable += parameter.numel()
    frozen_norms = tuple(
        name for name, module in model.named_modules() if name in frozen_modules and isinstance(module, _BatchNorm)
    )
    parts = FrozenParts(spec, tuple(frozen), tuple(trainable), frozen_norms, num_frozen, num_trainable)
    parts.train_mode(model, model.training)
    logger.info("%s: %s", type(model).__name__, parts.summary())
    return parts


def trainable_parameters(model: nn.Module) -> list[nn.Parameter]:
    """The parameters that still train (``requires_grad``), to give the optimizer."""
    return [parameter for parameter in model.parameters() if parameter.requires_grad]
