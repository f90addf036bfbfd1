"""Structured pruning to a MAC budget (torch-pruning), the checkpoints of pruned models, unstructured
sparsity, and ``convzoo prune`` on the bundled digits."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import pytest
import torch

from convzoo.analysis.profile import profile
from convzoo.deploy.export import export_onnx
from convzoo.deploy.prune import prune_structured, prune_unstructured
from convzoo.deploy.commands import add_prune_command
from convzoo.errors import ConvzooError
from convzoo.registry import create_model
from convzoo.train.checkpoint import CheckpointMeta, load_checkpoint, save_checkpoint
from convzoo.train.config import TrainConfig
from convzoo.train.runner import train
from convzoo.train.transfer import load_pretrained
from helpers import state_shapes

TEN = [str(i) for i in range(10)]


def _meta(model: str, **model_args) -> CheckpointMeta:
    return CheckpointMeta(model=model, model_args=model_args, dataset="digits", class_names=TEN, mean=[0.5],
                          std=[0.5], input_size=[1, 32, 32])


def _run_prune(*argv: str) -> None:
    parser = argparse.ArgumentParser()
    add_prune_command(parser.add_subparsers())
    args = parser.parse_args(["prune", *argv])
    args.out.mkdir(parents=True, exist_ok=True)  # what convzoo.cli prepares from outputs={"out": "folder"}
    args.run(args)


def _one_line(error: pytest.ExceptionInfo, *fragments: str) -> None:
    message = str(error.value)
    assert "\n" not in message, message
    for fragment in fragments:
        assert fragment in message, message


@pytest.fixture(scope="module")
def lenet_pruned():
    torch.manual_seed(0)
    model = create_model("lenet5", num_classes=10).eval()
    return model, prune_structured(model, (1, 32, 32), target_macs=0.5)


def test_resnet18_pruned_to_half_its_macs_saves_and_loads(tmp_path: Path) -> None:
    torch.manual_seed(0)
    model = create_model("resnet18", num_classes=10).eval()
    shapes = state_shapes(model)
    result = prune_structured(model, (3, 32, 32), target_macs=0.5)
    assert abs(result.macs_fraction / 0.5 - 1) <= 0.05  # within 5% of the target
    assert result.macs_after == profile(result.model, (3, 32, 32)).macs
    assert result.params_after < result.params_before
    assert state_shapes(model) == shapes  # the input model is untouched
    assert result.model.fc.out_features == 10  # the classifier keeps its classes
    assert result.model.layer1[0].conv1.out_channels < 64  # a plain, narrower dense model

    save_checkpoint(tmp_path / "model", result.model, _meta("resnet18", num_classes=10))
    assert json.loads((tmp_path / "model.json").read_text())["pruned"]["layer1.0.conv1"]["out_channels"] < 64
    loaded, meta = load_checkpoint(tmp_path / "model")
    x = torch.randn(2, 3, 32, 32)
    with torch.no_grad():
        torch.testing.assert_close(loaded(x), result.model(x), rtol=0, atol=0)
    assert meta.pruned and state_shapes(loaded) == state_shapes(result.model)
    assert loaded.num_features == loaded.fc.in_features < 512  # reset_classifier builds on the pruned width
    save_checkpoint(tmp_path / "again", loaded, meta)  # a loaded pruned model saves its widths again
    assert json.loads((tmp_path / "again.json").read_text())["pruned"] == meta.pruned
    exported = export_onnx(loaded, tmp_path / "pruned.onnx", input_size=(3, 32, 32))  # checked in onnxruntime
    assert exported.max_abs_difference <= 1e-4


def test_pretrained_pruned_checkpoint_builds_the_pruned_widths(tmp_path: Path, lenet_pruned) -> None:
    _, result = lenet_pruned
    save_checkpoint(tmp_path / "model", result.model, _meta("lenet5", num_classes=10))
    same = create_model("lenet5", num_classes=10).eval()
    load_pretrained(same, tmp_path / "model.safetensors")
    x = torch.randn(2, 1, 32, 32)
    with torch.no_grad():
        torch.testing.assert_close(same(x), result.model(x), rtol=0, atol=0)
    other = create_model("lenet5", num_classes=3).eval()  # another dataset: the head keeps its 3 classes
    report = load_pretrained(other, tmp_path / "model.safetensors")
    head = other.get_classifier()
    assert head.out_features == 3 and head.in_features == result.model.get_classifier().in_features
    assert report.initialised and other(x).shape == (2, 3)


def test_global_taylor_pruning_reaches_the_target() -> None:
    torch.manual_seed(0)
    model = create_model("resnet18", num_classes=10).eval()
    calibration = [(torch.randn(8, 3, 32, 32), torch.randint(0, 10, (8,))) for _ in range(2)]
    result = prune_structured(model, (3, 32, 32), target_macs=0.5, importance="taylor", global_pruning=True,
                              calibration=calibration)
    assert abs(result.macs_fraction / 0.5 - 1) <= 0.05
    assert all(p.grad is None for p in result.model.parameters())
    assert all(p.grad is None for p in model.parameters())


def test_round_to_keeps_channel_counts_multiples_of_it() -> None:
    torch.manual_seed(0)
    model = create_model("resnet18", num_classes=10).eval()
    result = prune_structured(model, (3, 32, 32), target_macs=0.5, round_to=8)
    convs = [module for module in result.model.modules() if isinstance(module, torch.nn.Conv2d)]
    assert all(conv.out_channels % 8 == 0 for conv in convs)
    assert any(conv.out_channels < 64 for conv in convs)
    assert abs(result.macs_fraction / 0.5 - 1) <= 0.05


@pytest.mark.parametrize("global_pruning", [True, False])
def test_unstructured_sparsity_is_exact(global_pruning: bool) -> None:
    torch.manual_seed(0)
    model = create_model("lenet5", num_classes=10)
    pruned, report = prune_unstructured(model, 0.37, global_pruning=global_pruning)
    assert all((module.weight != 0).all() for module in model.modules() if hasattr(module, "weight"))
    assert set(pruned.state_dict()) == set(model.state_dict())  # permanent: no masks or weight_orig
    assert len(report.layers) == 5  # c1, c3, c5 (conv), f6, output (linear)
    if global_pruning:
        assert report.zeros == round(0.37 * report.total)
    else:
        assert all(layer.zeros == round(0.37 * layer.total) for layer in report.layers)
    assert report.lines()[-1].startswith("overall")


def test_prune_command_prunes_and_finetunes_on_digits(tmp_path: Path, capsys) -> None:
    run = train(TrainConfig(epochs=1, out=str(tmp_path / "run")))
    capsys.readouterr()
    _run_prune(str(tmp_path / "run"), "--target-macs", "0.5", "--importance", "taylor",
               "--finetune-epochs", "1", "--out", str(tmp_path / "pruned"))
    out = capsys.readouterr().out
    for fragment in ("test accuracy before pruning", "MACs", "parameters", "test accuracy after pruning",
                     "test accuracy after fine-tuning"):
        assert fragment in out
    pruned, _ = load_checkpoint(tmp_path / "pruned" / "pruned")
    finetuned, meta = load_checkpoint(tmp_path / "pruned")
    original, _ = load_checkpoint(run.checkpoint)
    assert meta.pruned and state_shapes(finetuned) == state_shapes(pruned) != state_shapes(original)
    assert profile(finetuned, (1, 32, 32)).macs <= 0.5 * profile(original, (1, 32, 32)).macs
    assert meta.metrics["test_accuracy"] > 0.5


def test_prune_command_unstructured_on_a_model_name(tmp_path: Path, capsys) -> None:
    _run_prune("lenet5", "--unstructured", "0.5", "--out", str(tmp_path))
    out = capsys.readouterr().out
    assert "overall" in out and "50.00%" in out and "ms dense" in out
    assert (tmp_path / "pruned.safetensors").is_file()


def test_models_torch_pruning_cannot_handle_name_the_layer() -> None:
    with pytest.raises(ConvzooError) as error:
        prune_structured(create_model("shufflenet_v2_x0_5", num_classes=10), (3, 32, 32))
    _one_line(error, "ChannelShuffle", "stage")
    with pytest.raises(ConvzooError) as error:
        prune_structured(create_model("lenet5_1998"), (1, 32, 32))
    _one_line(error, "at layer s2 (Subsampling2d)")


def test_bad_input_is_one_line(tmp_path: Path) -> None:
    model = create_model("lenet5", num_classes=10)
    with pytest.raises(ConvzooError) as error:
        prune_structured(model, (1, 32, 32), target_macs=1.5)
    _one_line(error, "1.5", "between 0 and 1")
    with pytest.raises(ConvzooError) as error:
        prune_structured(model, (1, 32, 32), importance="random")
    _one_line(error, "'random'", "magnitude, taylor")
    with pytest.raises(ConvzooError) as error:
        prune_structured(model, (1, 32, 32), importance="taylor")
    _one_line(error, "calibration")
    with pytest.raises(ConvzooError) as error:
        prune_unstructured(model, 1.0)
    _one_line(error, "sparsity 1.0")
    with pytest.raises(ConvzooError) as error:
        _run_prune("lenet5", "--unstructured", "0.5", "--finetune-epochs", "1", "--out", str(tmp_path))
    _one_line(error, "refill")
    with pytest.raises(ConvzooError) as error:
        _run_prune("resnet05", "--out", str(tmp_path))
    _one_line(error, "resnet05")
    (tmp_path / "denoise").mkdir()
    save_checkpoint(tmp_path / "denoise" / "model", create_model("dncnn_s"), CheckpointMeta(
        model="dncnn_s", model_args={}, dataset="natural", class_names=[], mean=[0.0], std=[1.0],
        input_size=[1, 40, 40], task="denoise"))
    with pytest.raises(ConvzooError) as error:
        _run_prune(str(tmp_path / "denoise"), "--out", str(tmp_path / "out"))
    _one_line(error, "denoise checkpoint", "classification")
