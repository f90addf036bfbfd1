"""Saving a nested training state (weights, optimiser, scheduler, RNG, progress) as one file.

The state is a tree of dicts, lists, numbers, strings and tensors. Its tensors go into a
safetensors file; the rest of the tree, with each tensor replaced by a reference, goes
into the same file's JSON header. One file, written to a temporary name and renamed, so a
run killed at any moment leaves either the previous state or the new one, never a mix;
and reading it runs no code, unlike a pickle.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import torch
from safetensors import SafetensorError, safe_open
from safetensors.torch import save_file

from convzoo.errors import CheckpointError
from convzoo.train.checkpoint import atomic_path

__all__ = ["save_state", "load_state"]

_TENSOR = "__tensor__"
_TUPLE = "__tuple__"


def _split(tree: Any, tensors: dict[str, torch.Tensor], path: str) -> Any:
    """The tree with its tensors moved into ``tensors`` under their dotted paths."""
    if isinstance(tree, torch.Tensor):
        tensors[path] = tree.detach().cpu().contiguous().clone()
        return {_TENSOR: path}
    if isinstance(tree, dict):
        return {str(key): _split(value, tensors, f"{path}.{key}") for key, value in tree.items()}
    if isinstance(tree, tuple):
        return {_TUPLE: [_split(value, tensors, f"{path}.{i}") for i, value in enumerate(tree)]}
    if isinstance(tree, list):
        return [_split(value, tensors, f"{path}.{i}") for i, value in enumerate(tree)]
    return tree


def _join(tree: Any, tensors: dict[str, torch.Tensor]) -> Any:
    if isinstance(tree, dict):
        if set(tree) == {_TENSOR}:
            return tensors[tree[_TENSOR]]
        if set(tree) == {_TUPLE}:
            return tuple(_join(value, tensors) for value in tree[_TUPLE])
        return {key: _join(value, tensors) for key, value in tree.items()}
    if isinstance(tree, list):
        return [_join(value, tensors) for value in tree]
    return tree


def save_state(path: str | os.PathLike, state: dict[str, Any]) -> Path:
    """Write ``state`` atomically to ``path`` (a ``.safetensors`` file)."""
    path = Path(path)
    tensors: dict[str, torch.Tensor] = {}
    skeleton = _split(state, tensors, "state")
    with atomic_path(path) as temporary:
        save_file(tensors, str(temporary), metadata={"convzoo_state": json.dumps(skeleton)})
    return path


def load_state(path: str | os.PathLike) -> dict[str, Any]:
    """Read a state written by :func:`save_state`; integer dict keys come back as strings."""
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"training state {path} does not exist")
    try:
        with safe_open(str(path), framework="pt", device="cpu") as handle:
            skeleton = json.loads((handle.metadata() or {})["convzoo_state"])
            tensors = {key: handle.get_tensor(key) for key in handle.keys()}
    except (SafetensorError, OSError, ValueError, KeyError) as error:
        raise CheckpointError(f"training state {path} is corrupt or truncated: {error}") from None
    return _join(skeleton, tensors)
