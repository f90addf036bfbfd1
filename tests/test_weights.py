"""Reading checkpoints safely and loading state dicts with clear errors."""

from __future__ import annotations

import pickle

import pytest
import torch
from safetensors.torch import save_file
from torch import nn

from convzoo import CheckpointError, WeightMismatchError, load_weights, read_state_dict


def tiny() -> nn.Module:
    return nn.Sequential(nn.Conv2d(1, 2, 3), nn.BatchNorm2d(2), nn.Flatten(), nn.Linear(2, 3))


def random_state(model: nn.Module) -> dict[str, torch.Tensor]:
    return {k: torch.randn_like(v.float()).to(v.dtype) for k, v in model.state_dict().items()}


def assert_same_state(model: nn.Module, state: dict[str, torch.Tensor]) -> None:
    for key, value in model.state_dict().items():
        assert torch.equal(value, state[key]), key


@pytest.mark.parametrize("suffix", [".safetensors", ".pth", ".pt"])
def test_round_trip_through_every_format(tmp_path, suffix):
    state = random_state(tiny())
    path = tmp_path / f"weights{suffix}"
    if suffix == ".safetensors":
        save_file(state, path)
    else:
        torch.save(state, path)
    model = load_weights(tiny(), path)
    assert_same_state(model, state)


@pytest.mark.parametrize("nesting", ["state_dict", "model"])
def test_nested_and_wrapped_state_dicts(tmp_path, nesting):
    state = random_state(tiny())
    wrapped = {f"module.{k}": v for k, v in state.items()}
    torch.save({nesting: wrapped, "epoch": 3}, tmp_path / "ckpt.pth")
    assert_same_state(load_weights(tiny(), tmp_path / "ckpt.pth"), state)


def test_compiled_prefix_is_stripped():
    state = random_state(tiny())
    assert_same_state(load_weights(tiny(), {f"_orig_mod.{k}": v for k, v in state.items()}), state)


def test_mismatch_names_missing_unexpected_and_shapes():
    state = random_state(tiny())
    del state["1.weight"]
    state["extra.bias"] = torch.zeros(1)
    state["3.weight"] = torch.zeros(5, 2)
    with pytest.raises(WeightMismatchError) as caught:
        load_weights(tiny(), state)
    message = str(caught.value)
    assert "missing keys: 1.weight" in message
    assert "unexpected keys: extra.bias" in message
    assert "3.weight (5, 2) != (3, 2)" in message


def test_non_strict_skips_missing_but_not_shapes():
    state = random_state(tiny())
    del state["3.bias"]
    model = load_weights(tiny(), state, strict=False)
    assert torch.equal(model[3].weight, state["3.weight"])
    state["3.weight"] = torch.zeros(5, 2)
    with pytest.raises(WeightMismatchError, match="shape"):
        load_weights(tiny(), state, strict=False)


class _Exploit:
    """A pickle that would create a file when unpickled."""

    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return (open, (str(self.marker), "w"))


def test_malicious_pickle_is_refused_and_never_runs(tmp_path):
    marker = tmp_path / "pwned"
    path = tmp_path / "evil.pth"
    with open(path, "wb") as handle:
        torch.save({"weight": _Exploit(marker)}, handle, pickle_module=pickle)
    with pytest.raises(CheckpointError, match=r"refused to load .*evil\.pth"):
        read_state_dict(path)
    assert not marker.exists()


@pytest.mark.parametrize("suffix", [".safetensors", ".pth"])
def test_truncated_file_names_the_file(tmp_path, suffix):
    state = random_state(tiny())
    path = tmp_path / f"cut{suffix}"
    save_file(state, path) if suffix == ".safetensors" else torch.save(state, path)
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    with pytest.raises(CheckpointError, match=rf"cut\{suffix} is corrupt"):
        read_state_dict(path)


def test_garbage_and_missing_files(tmp_path):
    garbage = tmp_path / "noise.pth"
    garbage.write_bytes(b"not a checkpoint at all")
    with pytest.raises(CheckpointError, match="noise.pth"):
        read_state_dict(garbage)
    with pytest.raises(CheckpointError, match="does not exist"):
        read_state_dict(tmp_path / "absent.safetensors")


def test_non_tensor_payload_is_rejected(tmp_path):
    torch.save({"epoch": 3, "lr": 0.1}, tmp_path / "meta.pth")
    with pytest.raises(CheckpointError, match="no state dict"):
        read_state_dict(tmp_path / "meta.pth")
