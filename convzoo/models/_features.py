"""Encoders from the zoo: any classifier's stage feature maps, as timm's ``features_only``.

A segmentation or detection network needs a backbone's intermediate maps, not its logits.
Every convzoo classifier declares its stages in ``feature_info`` (channels, reduction and
the submodule whose output is the stage's map), so one wrapper serves them all:
:class:`FeatureExtractor` runs the classifier's ``forward_features`` with forward hooks on
the chosen stage modules and returns their outputs as a list, shallowest first. It is
what ``create_model(name, features_only=True, out_indices=...)`` returns.

Two things keep it from paying for what it does not return:

- the forward pass stops as soon as the last chosen stage has produced its map, so later
  stages are never computed;
- submodules that run only after that point (later stages, the pooling, the classifier
  and any hidden fully connected layers) are replaced by ``nn.Identity`` when the wrapper
  is built, so they hold no parameters. Which ones run is found by a dry run on the meta
  device (no memory, no arithmetic), in training and in eval mode.

timm does the same with ``FeatureListNet`` (rebuilds the model from its children up to the
last stage, for models whose forward is that sequence) and ``FeatureHookNet`` (hooks on
the whole model); hooks work for every convzoo model without that assumption.

Deviations:
    - The weights live under ``body.`` (as in timm's ``FeatureHookNet``); a classifier
      checkpoint in convzoo, torchvision or timm layout still loads with
      :func:`convzoo.load_weights`, its head keys dropped (:meth:`FeatureExtractor.remap_state_dict`).
    - Stopping early raises (and catches) an exception inside the forward pass, so the
      wrapper is not scriptable with TorchScript. Under ``torch.fx`` (the receptive-field
      analysis of a network built on an encoder) the whole ``forward_features`` is traced,
      and each stage's map is the tracer's result for the stage module's call, since fx
      runs no forward hooks of the modules it records as one call (an ``nn.ReLU`` stage).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from itertools import chain
from typing import Any

import torch
import torch.fx
from torch import nn

from convzoo.errors import ConvzooError
from convzoo.models._classifier import check_image_input

__all__ = ["FeatureExtractor", "FeatureInfo", "resolve_out_indices"]


def resolve_out_indices(
    stages: Sequence[Mapping[str, Any]], out_indices: Sequence[int] | None, model: str
) -> tuple[int, ...]:
    """Check ``out_indices`` against the ``feature_info`` ``stages``; negative ones count from the end.

    ``None`` selects every stage. Returns the indices sorted and non-negative; raises
    :class:`ConvzooError` listing the valid ones and their stages.
    """
    count = len(stages)
    listing = ", ".join(f"{i}: {s['module']} ({s['num_chs']} ch, /{s['reduction']})" for i, s in enumerate(stages))
    valid = f"valid indices of {model}'s {count} stages are 0..{count - 1} or -{count}..-1 ({listing})"
    if out_indices is None:
        return tuple(range(count))
    if isinstance(out_indices, int) or not out_indices or not all(isinstance(i, int) for i in out_indices):
        raise ConvzooError(f"out_indices must be a non-empty sequence of ints, got {out_indices!r}; {valid}")
    bad = [i for i in out_indices if not -count <= i < count]
    if bad:
        raise ConvzooError(f"out_indices {tuple(out_indices)} holds {bad}, out of range; {valid}")
    resolved = [i % count for i in out_indices]
    if len(set(resolved)) != len(resolved):
        raise ConvzooError(f"out_indices {tuple(out_indices)} names a stage twice; {valid}")
    return tuple(sorted(resolved))


class FeatureInfo(Sequence):
    """The chosen stages of a feature extractor: one ``dict(num_chs, reduction, module, index)`` each.

    ``channels()``, ``reduction()`` and ``module_name()`` list one field over the stages, as
    timm's ``FeatureInfo`` does.
    """

    def __init__(self, stages: Sequence[Mapping[str, Any]], out_indices: Sequence[int]) -> None:
        self._stages = [dict(stages[i], index=i) for i in out_indices]

    def __getitem__(self, index):
        return self._stages[index]

    def __len__(self) -> int:
        return len(self._stages)

    def __repr__(self) -> str:
        return f"FeatureInfo({self._stages!r})"

    def channels(self) -> list[int]:
        return [stage["num_chs"] for stage in self._stages]

    def reduction(self) -> list[int]:
        return [stage["reduction"] for stage in self._stages]

    def module_name(self) -> list[str]:
        return [stage["module"] for stage in self._stages]


# One opaque node when a network on this encoder is traced with torch.fx (receptive fields).
torch.fx.wrap("check_image_input")


class _Stop(Exception):
    """Raised by the hook of the last needed stage to end the forward pass there."""


def _trace_to(model: nn.Module, x: torch.fx.Proxy, modules: Sequence[str]) -> dict[str, torch.fx.Proxy]:
    """:func:`_run_to` while ``torch.fx`` traces: the tracer's result for each named submodule's call.

    The whole ``forward_features`` is traced, since an exception raised inside a module
    that fx traces through would leave the tracer's module stack unbalanced.
    """
    tracer = x.tracer
    names = {id(model.get_submodule(name)): name for name in modules}
    outputs: dict[str, torch.fx.Proxy] = {}
    trace_call = tracer.call_module

    def call_module(module: nn.Module, forward, args: tuple, kwargs: dict):
        output = trace_call(module, forward, args, kwargs)
        if id(module) in names:
            outputs.setdefault(names[id(module)], output)
        return output

    shadowed = vars(tracer).get("call_module")  # set when an encoder runs inside another one's trace
    tracer.call_module = call_module
    try:
        model.forward_features(x)
    finally:
        if shadowed is None:
            del tracer.call_module  # the class's method again
        else:
            tracer.call_module = shadowed
    return outputs


def _run_to(model: nn.Module, x: torch.Tensor, modules: Sequence[str]) -> dict[str, torch.Tensor]:
    """The outputs of the named submodules in ``model.forward_features(x)``, which stops once it has them all."""
    if isinstance(x, torch.fx.Proxy):
        return _check_ran(model, modules, _trace_to(model, x, modules))
    outputs: dict[str, torch.Tensor] = {}

    def keep(name: str):
        def hook(_module: nn.Module, _inputs: tuple, output: torch.Tensor) -> None:
            outputs.setdefault(name, output)
            if len(outputs) == len(modules):
                raise _Stop

        return hook

    # Registered per call rather than once, so that copies and pickles of the model carry no hooks.
    handles = [model.get_submodule(name).register_forward_hook(keep(name)) for name in modules]
    try:
        model.forward_features(x)
    except _Stop:
        pass
    finally:
        for handle in handles:
            handle.remove()
    return _check_ran(model, modules, outputs)


def _check_ran(model: nn.Module, modules: Sequence[str], outputs: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    missing = [name for name in modules if name not in outputs]
    if missing:
        raise RuntimeError(f"feature_info modules {missing} of {type(model).__name__} did not run in forward_features")
    return outputs


class _RunTo(nn.Module):
    """:func:`_run_to` as a module's forward, so that :func:`torch.func.functional_call` can run it."""

    def __init__(self, model: nn.Module, modules: Sequence[str]) -> None:
        super().__init__()
        self.model = model
        self.modules_out = list(modules)

    def forward(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
        return _run_to(self.model, x, self.modules_out)


def _called_submodules(model: nn.Module, modules: Sequence[str], x: torch.Tensor) -> set[str]:
    """Names of the submodules called before ``modules`` have all produced their output.

    Runs on meta copies of the weights (through :func:`torch.func.functional_call`), so the
    model's own tensors are neither read nor changed, whatever device they are on.
    """
    called: set[str] = set()
    handles = [
        module.register_forward_pre_hook(lambda _m, _i, name=name: called.add(name))
        for name, module in model.named_modules()
        if name
    ]
    wrapper = _RunTo(model, modules)
    tensors = chain(wrapper.named_parameters(remove_duplicate=False), wrapper.named_buffers(remove_duplicate=False))
    meta = {name: torch.empty_like(tensor, device="meta") for name, tensor in tensors}
    modes = {module: module.training for module in model.modules()}
    try:
        with torch.no_grad():
            for training in (True, False):  # a module may run in one mode only
                wrapper.train(training)
                torch.func.functional_call(wrapper, meta, (x,))
    finally:
        for handle in handles:
            handle.remove()
        for module, training in modes.items():
            module.training = training
    return called


def _prune(model: nn.Module, called: set[str]) -> None:
    """Replace by ``nn.Identity`` every submodule that neither was called nor holds a called one.

    Containers that are iterated rather than called (an ``nn.ModuleList`` of branches)
    stay, since their children are called.
    """
    keep = {""} | {prefix for name in called for prefix in _ancestors(name)}
    for name, _ in list(model.named_modules()):
        parent, _, child = name.rpartition(".")
        if name not in keep and parent in keep:
            setattr(model.get_submodule(parent), child, nn.Identity())


def _ancestors(name: str) -> list[str]:
    """``"a.b.c"`` -> ``["a", "a.b", "a.b.c"]``."""
    parts = name.split(".")
    return [".".join(parts[:i]) for i in range(1, len(parts) + 1)]


class FeatureExtractor(nn.Module):
    """A classifier cut down to the feature maps of chosen stages.

    Args:
        model: a convzoo classifier (``forward_features`` and ``feature_info``); it is
            changed in place (the modules after the last chosen stage are removed).
        out_indices: indices into ``model.feature_info`` of the stages to return
            (negative ones count from the end); ``None`` for all.

    Attributes:
        feature_info: :class:`FeatureInfo` of the chosen stages (``channels()``,
            ``reduction()``).
        out_indices: the chosen indices, sorted and non-negative.

    Shape:
        - Input: ``(B, in_chans, H, W)``, as the classifier takes
        - Output: a list with one ``(B, C_i, ~H / r_i, ~W / r_i)`` map per chosen stage,
          ``C_i`` and ``r_i`` its channels and reduction
    """

    def __init__(self, model: nn.Module, out_indices: Sequence[int] | None = None) -> None:
        super().__init__()
        name = type(model).__name__
        stages = getattr(model, "feature_info", None)
        if not stages or not hasattr(model, "forward_features"):
            raise ConvzooError(
                f"{name} has no feature_info stages to extract; features_only needs a classifier backbone"
            )
        self.out_indices = resolve_out_indices(stages, out_indices, name)
        self.feature_info = FeatureInfo(stages, self.out_indices)
        self.in_chans: int = model.in_chans
        self.min_input_size: int = getattr(model, "min_input_size", 1)
        self.fixed_input_size: int | None = getattr(model, "fixed_input_size", None)
        self._stage_modules = self.feature_info.module_name()
        self._hooked = list(dict.fromkeys(self._stage_modules))  # a module two stages name is hooked once

        # A batch of two, since batch norm in training mode needs more than one value per channel.
        side = self.fixed_input_size or max(self.min_input_size, 64)
        # A video classifier says what a clip looks like (``input_shape``); images are (C, side, side).
        shape = model.input_shape(side) if hasattr(model, "input_shape") else (self.in_chans, side, side)
        probe = torch.empty(2, *shape, device="meta")
        _prune(model, _called_submodules(model, self._hooked, probe))
        self.body = model

    def forward(self, x: torch.Tensor) -> list[torch.Tensor]:
        if hasattr(self.body, "check_input"):  # a video classifier checks its clips
            self.body.check_input(x)
        else:
            check_image_input(x, self.in_chans, self.min_input_size, self.fixed_input_size, type(self.body).__name__)
        outputs = _run_to(self.body, x, self._hooked)
        return [outputs[name] for name in self._stage_modules]  # shallowest first

    def remap_state_dict(self, state_dict: Mapping[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        """Map a checkpoint of the whole classifier (convzoo, torchvision or timm layout) to this extractor.

        The classifier's own ``remap_state_dict`` brings foreign layouts to convzoo's; the
        keys gain the ``body.`` prefix, and those of the removed modules (the head and
        any later stages) are dropped.
        """
        own = self.state_dict().keys()
        body_keys = {key.removeprefix("body.") for key in own}
        state_dict = dict(state_dict)
        remap = getattr(self.body, "remap_state_dict", None)
        foreign = not body_keys <= state_dict.keys() and not all(k.startswith("body.") for k in state_dict)
        if remap is not None and foreign:
            state_dict = remap(state_dict)
        prefixed = (key if key.startswith("body.") else f"body.{key}" for key in state_dict)
        return {new: value for new, value in zip(prefixed, state_dict.values()) if new in own}

    def extra_repr(self) -> str:
        return f"out_indices={self.out_indices}"
