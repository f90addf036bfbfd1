"""Reading state dicts safely and loading them across convzoo, torchvision and timm.

Files are read without running code: ``.safetensors`` through safetensors, ``.pth`` and
``.pt`` through ``torch.load(weights_only=True)``, which refuses a pickle that holds
anything but tensors and plain containers. Foreign key layouts are mapped by the model
class itself: a family whose keys differ from torchvision's or timm's defines
``remap_state_dict(state_dict)``, and :func:`load_weights` calls it when the keys do not
already fit. :func:`normalise_state_dict` and :func:`check_state_dict` are the two steps
of :func:`load_weights`, for loaders that need to change the state dict in between (such
as :func:`convzoo.train.transfer.load_pretrained`, which skips a resized head).
"""

from __future__ import annotations

import os
import pickle
from collections.abc import Mapping
from pathlib import Path

import torch
from safetensors import SafetensorError
from safetensors.torch import load_file
from torch import nn

from convzoo.errors import CheckpointError, WeightMismatchError

__all__ = ["read_state_dict", "normalise_state_dict", "check_state_dict", "load_weights"]

# Keys under which training scripts (timm's, torchvision's references, Lightning) nest the weights.
_NESTED_KEYS = ("state_dict", "model", "model_state_dict")
# Prefixes added by DataParallel/DistributedDataParallel and torch.compile.
_WRAPPER_PREFIXES = ("module.", "_orig_mod.")
_LISTED = 8


def read_state_dict(path: str | os.PathLike) -> dict[str, torch.Tensor]:
    """Read the tensors of a checkpoint file without executing anything in it."""
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"checkpoint {path} does not exist or is not a file")
    if path.suffix == ".safetensors":
        try:
            return load_file(path, device="cpu")
        except (SafetensorError, OSError, ValueError) as error:
            raise CheckpointError(f"checkpoint {path} is corrupt or truncated: {error}") from None
    try:
        loaded = torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as error:
        raise CheckpointError(
            f"refused to load {path}: it holds objects other than tensors, which could run code "
            f"({str(error).splitlines()[0]}); save a plain state dict or use .safetensors"
        ) from None
    except (RuntimeError, EOFError, OSError, ValueError) as error:
        raise CheckpointError(f"checkpoint {path} is corrupt or truncated: {error}") from None
    return _unnest(loaded, path)


def _unnest(loaded: object, path: Path) -> dict[str, torch.Tensor]:
    if isinstance(loaded, Mapping):
        for key in _NESTED_KEYS:
            if isinstance(loaded.get(key), Mapping):
                loaded = loaded[key]
                break
    if not isinstance(loaded, Mapping) or not all(isinstance(v, torch.Tensor) for v in loaded.values()):
        raise CheckpointError(f"checkpoint {path} holds no state dict of tensors")
    return dict(loaded)


def _strip_wrappers(state_dict: Mapping[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    stripped = {}
    for key, value in state_dict.items():
        for prefix in _WRAPPER_PREFIXES:
            if key.startswith(prefix):
                key = key[len(prefix):]
        stripped[key] = value
    return stripped


def _listing(keys: list[str]) -> str:
    shown = ", ".join(keys[:_LISTED])
    return shown + (f" and {len(keys) - _LISTED} more" if len(keys) > _LISTED else "")


def _mismatch_report(model: nn.Module, state_dict: Mapping[str, torch.Tensor], strict: bool) -> str | None:
    expected = model.state_dict()
    missing = [k for k in expected if k not in state_dict]
    unexpected = [k for k in state_dict if k not in expected]
    shapes = [
        f"{k} {tuple(state_dict[k].shape)} != {tuple(v.shape)}"
        for k, v in expected.items()
        if k in state_dict and state_dict[k].shape != v.shape
    ]
    problems = []
    if strict and missing:
        problems.append(f"missing keys: {_listing(missing)}")
    if strict and unexpected:
        problems.append(f"unexpected keys: {_listing(unexpected)}")
    if shapes:
        problems.append(f"shape differences (checkpoint != model): {_listing(shapes)}")
    return "; ".join(problems) or None


def normalise_state_dict(model: nn.Module, state_dict: Mapping[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """Bring a state dict to ``model``'s key layout, as far as the keys say how.

    Strips the prefixes of DataParallel and ``torch.compile`` and, when the keys still
    differ from the model's, applies the model's ``remap_state_dict`` (torchvision or timm
    layouts). Shapes are not checked.
    """
    state_dict = _strip_wrappers(state_dict)
    remap = getattr(model, "remap_state_dict", None)
    if remap is not None and set(state_dict) != set(model.state_dict()):
        state_dict = remap(state_dict)
    return state_dict


def check_state_dict(
    model: nn.Module,
    state_dict: Mapping[str, torch.Tensor],
    *,
    strict: bool = True,
    source: str | os.PathLike | None = None,
) -> None:
    """Raise :class:`WeightMismatchError` unless ``state_dict`` fits ``model``.

    Args:
        model: the model to fill.
        state_dict: the (normalised) state dict.
        strict: when true, every key of the model must be given and no other; shapes
            must always agree.
        source: the file the weights came from, named in the message.
    """
    report = _mismatch_report(model, state_dict, strict)
    if report is not None:
        name = f" from {source}" if source is not None else ""
        raise WeightMismatchError(f"weights{name} do not fit {type(model).__name__}: {report}")


def load_weights(
    model: nn.Module,
    source: str | os.PathLike | Mapping[str, torch.Tensor],
    *,
    strict: bool = True,
) -> nn.Module:
    """Load weights in convzoo, torchvision or timm key format into ``model``.

    Args:
        model: the model to fill.
        source: a checkpoint path or a state dict.
        strict: when true, every key of the model must be given and no other; when
            false, missing and unexpected keys are skipped. Shapes must always agree.

    Raises:
        WeightMismatchError: naming the missing and unexpected keys and shape differences.
        CheckpointError: when the file is missing, corrupt or unsafe.
    """
    from_file = not isinstance(source, Mapping)
    state_dict = read_state_dict(source) if from_file else source
    state_dict = normalise_state_dict(model, state_dict)
    check_state_dict(model, state_dict, strict=strict, source=source if from_file else None)
    model.load_state_dict(state_dict, strict=strict)
    return model
