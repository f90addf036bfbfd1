"""Checkpoints: safetensors weights plus a JSON file that says how to rebuild and use them.

A checkpoint named ``model`` is two files, ``model.safetensors`` (the state dict) and
``model.json`` (model name and constructor arguments, dataset, class names,
normalisation, metrics). Each is written to a temporary file in the same folder and
renamed over the old one, so a run killed mid-write leaves the previous checkpoint whole.

A structurally pruned model (:mod:`convzoo.deploy.prune`) has narrower layers than its
builder makes: its checkpoint records their widths (``pruned`` in the JSON), and loading
narrows the freshly built model to them before the weights go in (:mod:`convzoo.train.widths`).
"""

from __future__ import annotations

import json
import os
import tempfile
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Iterator

import torch
from safetensors import safe_open
from safetensors.torch import save_file
from torch import nn

from convzoo.errors import CheckpointError
from convzoo.registry import create_model
from convzoo.train.widths import is_pruned, layer_widths, narrow_to_widths
from convzoo.weights import load_weights

__all__ = [
    "CheckpointMeta", "atomic_path", "save_checkpoint", "load_checkpoint", "checkpoint_paths", "pruned_widths",
]

FORMAT_VERSION = 1


@dataclass
class CheckpointMeta:
    """What a checkpoint records besides its weights."""

    model: str
    model_args: dict[str, Any]
    dataset: str
    class_names: list[str]
    mean: list[float]
    std: list[float]
    input_size: list[int]
    metrics: dict[str, float] = field(default_factory=dict)
    eval_crop_fraction: float | None = None  # see ImageSplits: how evaluation resized the images
    task: str = "classification"  # the task that trained it (a key of convzoo.tasks.TASKS)
    task_args: dict[str, Any] = field(default_factory=dict)  # what the task needs to reuse it, e.g. a noise level
    pruned: dict[str, dict[str, Any]] = field(default_factory=dict)  # layer widths of a pruned model (else empty)
    format_version: int = FORMAT_VERSION

    def data_settings(self, dataset: str | None = None, data_dir: str | os.PathLike | None = None) -> dict[str, Any]:
        """The task's settings, with the data an evaluation asks for in place of the trained data's.

        Another ``dataset`` drops the trained one's folder (it is not the new dataset's); ``data_dir``
        replaces the folder. The tasks that read their data from ``task_args`` (segmentation, metric
        learning, pose) evaluate on what this returns.
        """
        settings = dict(self.task_args)
        if dataset is not None and dataset != settings["dataset"]:
            settings.update(dataset=dataset, data_dir=None)
        if data_dir is not None:
            settings["data_dir"] = str(data_dir)
        return settings


@contextmanager
def atomic_path(path: Path) -> Iterator[Path]:
    """A temporary path next to ``path`` that is renamed onto it when the block succeeds."""
    descriptor, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    os.close(descriptor)
    try:
        yield Path(temporary)
        os.replace(temporary, path)
    finally:
        if os.path.exists(temporary):
            os.unlink(temporary)


def checkpoint_paths(path: str | os.PathLike) -> tuple[Path, Path]:
    """The ``.safetensors`` and ``.json`` files of a checkpoint given by either file or stem."""
    path = Path(path)
    if path.is_dir():
        path = path / "model"
    if path.suffix in (".safetensors", ".json"):
        path = path.with_suffix("")
    return path.with_name(path.name + ".safetensors"), path.with_name(path.name + ".json")


def save_checkpoint(path: str | os.PathLike, model: nn.Module, meta: CheckpointMeta) -> Path:
    """Write ``model``'s weights and ``meta`` atomically; returns the weights file.

    The layer widths of a model marked as pruned (:func:`mark_pruned`) are recorded in the
    metadata's ``pruned`` entry, whatever ``meta.pruned`` holds; any other model's metadata
    has no such entry, as before pruning existed.
    """
    weights_path, meta_path = checkpoint_paths(path)
    tensors = {key: value.detach().cpu().contiguous() for key, value in model.state_dict().items()}
    record = {key: value for key, value in asdict(meta).items() if key != "pruned"}
    if is_pruned(model):
        record["pruned"] = layer_widths(model)
    with atomic_path(weights_path) as temporary:
        save_file(tensors, str(temporary), metadata={"format": "pt"})
    with atomic_path(meta_path) as temporary:
        temporary.write_text(json.dumps(record, indent=2) + "\n")
    return weights_path


def _missing(given: Path, weights_path: Path, meta_path: Path) -> str:
    """Why ``given`` names no checkpoint, in the terms the user gave it: a folder, a file or a stem."""
    if given.is_dir():
        return f"folder {given} holds no checkpoint: {meta_path.name} does not exist in it"
    if given.exists() or weights_path.exists():
        return f"checkpoint metadata {meta_path} does not exist"
    return f"{given} does not exist; expected a run folder or a checkpoint (.safetensors beside its .json)"


def _read_meta(meta_path: Path) -> CheckpointMeta:
    try:
        return CheckpointMeta(**json.loads(meta_path.read_text()))
    except (json.JSONDecodeError, TypeError, UnicodeDecodeError) as error:
        raise CheckpointError(f"checkpoint metadata {meta_path} is corrupt: {error}") from None


def load_checkpoint(path: str | os.PathLike, device: str | torch.device = "cpu") -> tuple[nn.Module, CheckpointMeta]:
    """Rebuild the model a checkpoint describes and load its weights; eval mode."""
    weights_path, meta_path = checkpoint_paths(path)
    if not meta_path.is_file():
        raise CheckpointError(_missing(Path(path), weights_path, meta_path))
    meta = _read_meta(meta_path)
    model = create_model(meta.model, **meta.model_args)
    if meta.pruned:
        narrow_to_widths(model, meta.pruned, _tensor_shapes(weights_path))
    load_weights(model, weights_path)
    return model.to(device).eval(), meta


def _tensor_shapes(weights_path: Path) -> dict[str, list[int]]:
    """The shape of every tensor of a safetensors file, read from its header alone."""
    try:
        with safe_open(str(weights_path), framework="pt") as weights:
            return {key: weights.get_slice(key).get_shape() for key in weights.keys()}
    except (OSError, ValueError, RuntimeError) as error:  # safetensors' header errors
        raise CheckpointError(f"checkpoint weights {weights_path} cannot be read: {error}") from None


def pruned_widths(weights_path: str | os.PathLike) -> dict[str, dict[str, Any]]:
    """The ``pruned`` record of the convzoo checkpoint whose weights file this is; empty when it has
    none (an unpruned model, or a file of another library without convzoo's JSON beside it)."""
    _, meta_path = checkpoint_paths(weights_path)
    if Path(weights_path).suffix != ".safetensors" or not meta_path.is_file():
        return {}
    return _read_meta(meta_path).pruned
