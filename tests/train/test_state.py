"""The one-file training state: round trip, atomicity, corruption."""

from __future__ import annotations

import pytest
import torch

from convzoo.errors import CheckpointError
from convzoo.train.state import load_state, save_state


def test_round_trip_keeps_tensors_numbers_tuples_and_none(tmp_path):
    model = torch.nn.Linear(3, 2)
    optimizer = torch.optim.Adam(model.parameters())
    model(torch.randn(4, 3)).sum().backward()
    optimizer.step()
    state = {
        "model": model.state_dict(),
        "optimizer": optimizer.state_dict(),
        "python": (3, tuple(range(5)), None),
        "rows": [{"epoch": 1, "loss": 0.5}],
        "scalar": torch.tensor(7),
    }
    save_state(tmp_path / "state.safetensors", state)
    loaded = load_state(tmp_path / "state.safetensors")
    assert torch.equal(loaded["model"]["weight"], model.weight)
    assert loaded["python"] == (3, (0, 1, 2, 3, 4), None)
    assert loaded["rows"] == [{"epoch": 1, "loss": 0.5}]
    assert torch.equal(loaded["optimizer"]["state"]["0"]["exp_avg"], optimizer.state_dict()["state"][0]["exp_avg"])
    assert loaded["optimizer"]["param_groups"][0]["betas"] == (0.9, 0.999)
    assert loaded["scalar"].item() == 7


def test_truncated_and_missing(tmp_path):
    path = tmp_path / "state.safetensors"
    save_state(path, {"w": torch.randn(100)})
    path.write_bytes(path.read_bytes()[:50])
    with pytest.raises(CheckpointError, match=r"state\.safetensors is corrupt"):
        load_state(path)
    with pytest.raises(CheckpointError, match="does not exist"):
        load_state(tmp_path / "absent.safetensors")
