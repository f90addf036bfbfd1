"""ONNX and torch.export: every registered model exports at a small input and onnxruntime reproduces PyTorch,
except the documented ones, which fail naming their operator; ``convzoo export`` writes checked files with a
checkpoint's preprocessing in the ONNX metadata and refuses bad input in one line."""

from __future__ import annotations

import argparse
import json
import re
from fnmatch import fnmatch
from pathlib import Path

import numpy as np
import onnx
import pytest
import torch
from torch import nn

import convzoo
from convzoo.deploy.export import (
    ONNX_EXCEPTIONS,
    TOLERANCE,
    export_onnx,
    export_onnx_bytes,
    export_pt2,
    onnx_session,
)
from convzoo.deploy.commands import add_export_command
from convzoo.errors import ConvzooError
from convzoo.registry import meta_model, model_card
from convzoo.train.checkpoint import CheckpointMeta, save_checkpoint

MODELS = convzoo.list_models()
SIDES = (32, 64, 92, 128, 188)  # 92: Inception's unpadded stem; 188: the smallest size the original U-Net takes
# The TorchScript exporter writes adaptive average pooling as a fixed AveragePool, so the feature map must be a
# whole multiple of the pooled 6x6 (AlexNet), 7x7 (VGG) or 4x4 (c3d_small, c2d_small): these export at their own
# default input (224 pixels; 16x112x112 clips).
AT_DEFAULT_INPUT = ("alexnet*", "vgg*", "c3d_small", "c2d_small")


def small_input(name: str) -> tuple[int, ...]:
    """The smallest of SIDES the model runs at (its fixed size, its default for AT_DEFAULT_INPUT)."""
    default = tuple(model_card(name)["input_size"])
    if any(fnmatch(name, pattern) for pattern in AT_DEFAULT_INPUT):
        return default
    model = meta_model(name).eval()
    for side in SIDES:
        size = (default[0],) + (side,) * (len(default) - 1)
        try:
            with torch.no_grad():
                model(torch.empty(1, *size, device="meta"))
        except Exception:  # too small for this network: try the next side
            continue
        return size
    return default


def one_line(error: pytest.ExceptionInfo) -> str:
    message = str(error.value)
    assert "\n" not in message and "Traceback" not in message, message
    return message


@pytest.mark.parametrize("name", MODELS)
def test_every_model_exports_and_matches_onnxruntime(name):
    torch.manual_seed(0)
    model = convzoo.create_model(name).eval()
    input_size = small_input(name)
    if name in ONNX_EXCEPTIONS:
        with pytest.raises(ConvzooError) as error:
            export_onnx_bytes(model, input_size=input_size)
        assert ONNX_EXCEPTIONS[name].op in one_line(error)
        return
    exported = export_onnx_bytes(model, input_size=input_size)
    assert exported.max_abs_difference <= exported.tolerance
    assert exported.tolerance >= TOLERANCE
    assert exported.input_shape == (1, *input_size)


def test_exceptions_are_registered_models_with_reasons_and_in_the_docs():
    docs = (Path(__file__).parents[2] / "docs" / "deployment.md").read_text()
    for name, (op, reason) in ONNX_EXCEPTIONS.items():
        assert name in MODELS
        assert op and len(reason) > 20
        assert re.search(rf"\|\s*`{re.escape(name)}`\s*\|\s*`{re.escape(op)}`\s*\|", docs), name


class TwoHeads(nn.Module):
    """A small network with BN, a branch and a dict output: the shapes of real models at a fraction of the cost."""

    def __init__(self) -> None:
        super().__init__()
        self.stem = nn.Sequential(nn.Conv2d(3, 8, 3, padding=1), nn.BatchNorm2d(8), nn.ReLU())
        self.head = nn.Sequential(nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(8, 5))
        self.mask = nn.Conv2d(8, 2, 1)

    def forward(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
        features = self.stem(x)
        return {"logits": self.head(features), "mask": self.mask(features)}


def small_net() -> nn.Module:
    torch.manual_seed(0)
    model = nn.Sequential(nn.Conv2d(3, 8, 3, padding=1), nn.BatchNorm2d(8), nn.ReLU(), nn.AdaptiveAvgPool2d(1),
                          nn.Flatten(), nn.Linear(8, 4))
    model[1].running_mean.uniform_(-0.5, 0.5)
    model[1].running_var.uniform_(0.5, 1.5)
    return model


def test_export_onnx_writes_a_checked_file_and_keeps_the_model_mode(tmp_path):
    model = TwoHeads().train()
    report = export_onnx(model, tmp_path / "net.onnx", input_size=(3, 16, 16), metadata={"mean": "[0.5]"})
    assert model.training and all(module.training for module in model.modules())
    assert report.path == tmp_path / "net.onnx" and report.size_bytes == report.path.stat().st_size
    assert report.max_abs_difference <= TOLERANCE and report.opset == 20 and report.input_shape == (1, 3, 16, 16)
    proto = onnx.load(str(report.path))
    onnx.checker.check_model(proto)
    assert {prop.key: prop.value for prop in proto.metadata_props} == {"mean": "[0.5]"}
    session = onnx_session(report.path, threads=1)
    x = torch.randn(1, 3, 16, 16)
    logits, mask = session.run(None, {"input": x.numpy()})
    with torch.no_grad():
        expected = model.eval()(x)
    np.testing.assert_allclose(logits, expected["logits"].numpy(), atol=1e-5)
    np.testing.assert_allclose(mask, expected["mask"].numpy(), atol=1e-5)
    assert sorted(path.name for path in tmp_path.iterdir()) == ["net.onnx"]  # no temporary file left


@pytest.mark.parametrize("exporter", ["torchscript", "dynamo"])
def test_dynamic_batch_runs_at_any_batch(tmp_path, exporter):
    model = small_net()
    report = export_onnx(model, tmp_path / "net.onnx", input_size=(3, 8, 8), dynamic_batch=True, exporter=exporter)
    assert report.dynamic_batch and report.exporter == exporter and report.max_abs_difference <= TOLERANCE
    session = onnx_session(report.path)
    assert not isinstance(session.get_inputs()[0].shape[0], int)
    x = torch.randn(5, 3, 8, 8)
    (output,) = session.run(None, {session.get_inputs()[0].name: x.numpy()})
    with torch.no_grad():
        np.testing.assert_allclose(output, model.eval()(x).numpy(), atol=1e-5)


def test_a_static_export_is_batch_one(tmp_path):
    report = export_onnx(small_net(), tmp_path / "net.onnx", input_size=(3, 8, 8), opset=17)
    session = onnx_session(report.path)
    assert session.get_inputs()[0].shape == [1, 3, 8, 8] and report.opset == 17


def test_export_pt2_round_trip(tmp_path):
    model = TwoHeads()
    path = export_pt2(model, tmp_path / "net.pt2", input_size=(3, 16, 16), dynamic_batch=True)
    program = torch.export.load(path).module()
    x = torch.randn(3, 3, 16, 16)
    with torch.no_grad():
        torch.testing.assert_close(program(x), model.eval()(x))


def test_a_wrong_export_names_the_op_and_leaves_no_file(tmp_path):
    with pytest.raises(ConvzooError) as error:
        export_onnx(convzoo.create_model("lenet5_1998"), tmp_path / "lenet.onnx", input_size=(1, 32, 32))
    assert "aten::avg_pool2d(divisor_override)" in one_line(error) and "differs from PyTorch" in str(error.value)
    assert list(tmp_path.iterdir()) == []


def test_an_unexportable_op_is_one_line_naming_it():
    model = nn.Sequential(nn.Conv2d(3, 4, 1), nn.AdaptiveAvgPool2d(7))  # 1x1 -> 7x7: no fixed AveragePool does it
    with pytest.raises(ConvzooError) as error:
        export_onnx_bytes(model, input_size=(3, 1, 1))
    assert "adaptive_avg_pool2d" in one_line(error)


def test_bad_options_are_one_line():
    with pytest.raises(ConvzooError) as error:
        export_onnx_bytes(small_net(), input_size=(3, 8, 8), opset=30)
    assert "opsets 9 to 20" in one_line(error)
    with pytest.raises(ConvzooError) as error:
        export_onnx_bytes(small_net(), input_size=(3, 8, 8), exporter="tensorrt")
    assert "torchscript, dynamo" in one_line(error)


def test_a_corrupt_or_missing_onnx_file_is_one_line(tmp_path):
    (tmp_path / "bad.onnx").write_bytes(b"not a protobuf")
    with pytest.raises(ConvzooError) as error:
        onnx_session(tmp_path / "bad.onnx")
    assert "bad.onnx" in one_line(error)
    with pytest.raises(ConvzooError, match="does not exist"):
        onnx_session(tmp_path / "missing.onnx")


# ---------------------------------------------------------------- the command


def run_export(*argv: str) -> None:
    parser = argparse.ArgumentParser()
    add_export_command(parser.add_subparsers())
    args = parser.parse_args(["export", *argv])
    args.run(args)


@pytest.fixture
def checkpoint(tmp_path):
    torch.manual_seed(0)
    model = convzoo.create_model("lenet5", num_classes=3)
    meta = CheckpointMeta(model="lenet5", model_args={"num_classes": 3}, dataset="digits",
                          class_names=["zero", "one", "two"], mean=[0.25], std=[0.5], input_size=[1, 32, 32])
    (tmp_path / "run").mkdir()
    save_checkpoint(tmp_path / "run" / "model", model, meta)
    return tmp_path / "run", model


def test_command_exports_a_checkpoint_with_its_preprocessing(checkpoint, tmp_path, capsys):
    folder, model = checkpoint
    run_export(str(folder), "--out", str(tmp_path / "lenet.onnx"), "--dynamic-batch")
    out = capsys.readouterr().out
    assert out.count("\n") == 1 and "lenet5:" in out and "preprocessing in metadata" in out
    proto = onnx.load(str(tmp_path / "lenet.onnx"))
    props = {prop.key: prop.value for prop in proto.metadata_props}
    assert props["model"] == "lenet5" and props["task"] == "classification" and props["dataset"] == "digits"
    assert json.loads(props["mean"]) == [0.25] and json.loads(props["std"]) == [0.5]
    assert json.loads(props["class_names"]) == ["zero", "one", "two"] and json.loads(props["input_size"]) == [1, 32, 32]
    session = onnx_session(tmp_path / "lenet.onnx")
    x = torch.randn(2, 1, 32, 32)
    with torch.no_grad():
        np.testing.assert_allclose(session.run(None, {"input": x.numpy()})[0], model.eval()(x).numpy(), atol=1e-5)


def test_command_writes_pt2_by_suffix_or_format(tmp_path, capsys):
    run_export("lenet5", "--out", str(tmp_path / "lenet.pt2"))
    run_export("lenet5", "--out", str(tmp_path / "lenet.bin"), "--format", "pt2", "--input", "1x32x32")
    lines = capsys.readouterr().out.splitlines()
    assert len(lines) == 2 and all("torch.export program" in line for line in lines)
    program = torch.export.load(tmp_path / "lenet.bin").module()
    assert program(torch.randn(1, 1, 32, 32)).shape == (1, 10)


def test_command_exports_a_model_name_at_another_input(tmp_path, capsys):
    run_export("mobilenetv1_025", "--out", str(tmp_path / "m.onnx"), "--input", "1x32x32", "--opset", "18")
    out = capsys.readouterr().out
    assert "opset 18" in out and "input 1x32x32" in out
    assert onnx_session(tmp_path / "m.onnx").get_inputs()[0].shape == [1, 1, 32, 32]


@pytest.mark.parametrize("argv, fragments", [
    (["lenet5", "--format", "pt2", "--opset", "17"], ["--opset", "pt2"]),
    (["lenet05", "--input", "1x32x32"], ["lenet5"]),  # an unknown name suggests the close one
    (["lenet5", "--input", "1x8x32x32"], ["CxHxW"]),
    (["lenet5", "--opset", "21"], ["opsets 9 to 20"]),
])
def test_command_bad_input_is_one_line_and_writes_nothing(tmp_path, argv, fragments):
    argv = [*argv, "--out", str(tmp_path / "model.onnx")]
    with pytest.raises(ConvzooError) as error:
        run_export(*argv)
    message = one_line(error)
    assert all(fragment in message for fragment in fragments), message
    assert list(tmp_path.iterdir()) == []
