"""int8 quantisation: a tiny trained digits model keeps its accuracy through onnxruntime's static quantiser (every
calibration method) and through PT2E; ``convzoo quantize`` prints accuracy before and after and refuses bad input."""

from __future__ import annotations

import argparse
import json
import shutil
import warnings

import numpy as np
import onnx
import pytest
import torch
from onnx import numpy_helper
from torch import nn

from convzoo.data import load_dataset
from convzoo.deploy.quantize import CALIBRATION_METHODS, calibration_batches, onnx_accuracy, quantize_onnx, quantize_pt2e
from convzoo.deploy.commands import METHODS, add_quantize_command
from convzoo.errors import ConvzooError
from convzoo.train.checkpoint import load_checkpoint
from convzoo.train.config import TrainConfig
from convzoo.train.runner import train


def export_fp32(model: nn.Module, path, input_size, batch: int | None = None) -> None:
    """A float32 ONNX file written by torch's TorchScript exporter (independent of convzoo.deploy.export)."""
    dynamic = None if batch else {"input": {0: "batch"}}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(model, (torch.zeros(batch or 1, *input_size),), str(path), dynamo=False,
                          input_names=["input"], dynamic_axes=dynamic, opset_version=17)


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    """lenet5 trained for 3 epochs on the bundled digits (about 87% test accuracy), its data and float32 ONNX."""
    folder = tmp_path_factory.mktemp("quantize")
    train(TrainConfig(epochs=3, out=str(folder / "run")))
    model, meta = load_checkpoint(folder / "run")
    splits = load_dataset("digits", image_size=meta.input_size[1], in_chans=1, augment="none")
    export_fp32(model, folder / "fp32.onnx", meta.input_size)
    return {"folder": folder, "model": model, "meta": meta, "splits": splits, "fp32": folder / "fp32.onnx"}


def quantized_weights(path) -> dict[str, np.ndarray]:
    """The int8 matrices and kernels of an ONNX file (the quantised weights; zero points are int8 vectors)."""
    return {tensor.name: numpy_helper.to_array(tensor) for tensor in onnx.load(str(path)).graph.initializer
            if tensor.data_type == onnx.TensorProto.INT8 and len(tensor.dims) >= 2}


def test_the_command_offers_every_calibration_method():
    assert sorted(METHODS) == sorted(CALIBRATION_METHODS)


@pytest.mark.parametrize("method", METHODS)
def test_int8_onnx_loses_at_most_one_point(run, method, tmp_path):
    out = quantize_onnx(run["fp32"], tmp_path / "model.int8.onnx", calibration_batches(run["splits"].train, 4, 32),
                        method=method)
    before, after = (onnx_accuracy(path, run["splits"].test) for path in (run["fp32"], out))
    assert before > 0.8 and after >= before - 0.01
    graph = onnx.load(str(out)).graph
    ops = {node.op_type for node in graph.node}
    assert {"QuantizeLinear", "DequantizeLinear", "Conv", "Gemm"} <= ops
    assert len(quantized_weights(out)) == 5  # lenet5's 2 convs and 3 linear layers
    assert out.stat().st_size < run["fp32"].stat().st_size / 2


def activation_scales(path) -> dict[str, float]:
    """Each quantised activation's scale: the scale initializer of the QuantizeLinear node that reads it."""
    graph = onnx.load(str(path)).graph
    arrays = {tensor.name: numpy_helper.to_array(tensor) for tensor in graph.initializer}
    return {node.input[0]: float(arrays[node.input[1]]) for node in graph.node if node.op_type == "QuantizeLinear"}


def test_entropy_clips_ranges_that_minmax_keeps_whole(run, tmp_path):
    calibration = calibration_batches(run["splits"].train, 4, 32)
    minmax, entropy = (quantize_onnx(run["fp32"], tmp_path / f"{method}.onnx", calibration, method=method)
                       for method in ("minmax", "entropy"))
    wide, clipped = activation_scales(minmax), activation_scales(entropy)
    assert clipped.keys() == wide.keys() and len(wide) >= 5
    assert all(clipped[name] <= wide[name] * (1 + 1e-6) for name in wide)  # KL picks a range inside min..max
    assert any(clipped[name] < wide[name] * 0.99 for name in wide)  # and clips at least one activation
    before, after = (onnx_accuracy(path, run["splits"].test) for path in (run["fp32"], entropy))
    assert after >= before - 0.01


def test_per_channel_and_per_tensor_scales(run, tmp_path):
    calibration = calibration_batches(run["splits"].train, 1, 16)

    def weight_scales(per_channel: bool) -> list[int]:
        path = quantize_onnx(run["fp32"], tmp_path / f"{per_channel}.onnx", calibration, per_channel=per_channel)
        graph = onnx.load(str(path)).graph
        arrays = {tensor.name: numpy_helper.to_array(tensor) for tensor in graph.initializer}
        return sorted(arrays[node.input[1]].size for node in graph.node
                      if node.op_type == "DequantizeLinear" and node.input[0] in quantized_weights(path))

    assert weight_scales(True) == [6, 10, 16, 84, 120]  # one per output channel (lenet5: 6, 16, 120, 84, 10)
    assert weight_scales(False) == [1, 1, 1, 1, 1]


def test_a_fixed_batch_model_takes_calibration_cut_to_its_batch(run, tmp_path):
    export_fp32(run["model"], tmp_path / "fixed.onnx", run["meta"].input_size, batch=8)
    out = quantize_onnx(tmp_path / "fixed.onnx", tmp_path / "fixed.int8.onnx", calibration_batches(run["splits"].train, 2, 20))
    assert quantized_weights(out)
    with pytest.raises(ConvzooError, match="fixed batch size 8"):
        quantize_onnx(tmp_path / "fixed.onnx", tmp_path / "none.onnx", [np.zeros((4, 1, 32, 32), np.float32)])
    assert not (tmp_path / "none.onnx").exists()


def test_bad_input_leaves_no_file(run, tmp_path):
    out = tmp_path / "out.onnx"
    calibration = [np.zeros((2, 1, 32, 32), np.float32)]
    with pytest.raises(ConvzooError, match="unknown calibration method 'kl'"):
        quantize_onnx(run["fp32"], out, calibration, method="kl")
    with pytest.raises(ConvzooError, match="no calibration batches"):
        quantize_onnx(run["fp32"], out, [])
    with pytest.raises(ConvzooError, match=r"calibration batch 0 has shape \(1, 32, 32\); the model takes 4-D"):
        quantize_onnx(run["fp32"], out, [np.zeros((1, 32, 32), np.float32)])
    with pytest.raises(ConvzooError, match="onnxruntime cannot quantise .*fp32.onnx: ") as error:
        quantize_onnx(run["fp32"], out, [np.zeros((2, 3, 32, 32), np.float32)])  # 3 channels into lenet5's 1
    assert "\n" not in str(error.value)
    (tmp_path / "corrupt.onnx").write_bytes(b"\x08\x07garbage")
    with pytest.raises(ConvzooError, match="corrupt.onnx is not a readable ONNX model"):
        quantize_onnx(tmp_path / "corrupt.onnx", out, calibration)
    with pytest.raises(ConvzooError, match="missing.onnx does not exist"):
        quantize_onnx(tmp_path / "missing.onnx", out, calibration)
    assert not out.exists() and [path.name for path in tmp_path.iterdir()] == ["corrupt.onnx"]


def test_pt2e_x86_quantizer_keeps_accuracy(run):
    pytest.importorskip("torchao", reason="PT2E lives in torchao since torch 2.14")
    splits = run["splits"]
    calibration = [torch.from_numpy(batch) for batch in calibration_batches(splits.train, 4, 32)]
    quantized = quantize_pt2e(run["model"], calibration)
    images = torch.stack([splits.test[index][0] for index in range(len(splits.test))])
    labels = torch.tensor([int(splits.test[index][1]) for index in range(len(splits.test))])
    with torch.no_grad():
        before = (run["model"](images).argmax(1) == labels).float().mean().item()
        after = (quantized(images).argmax(1) == labels).float().mean().item()
    assert after >= before - 0.01
    targets = {str(node.target) for node in quantized.graph.nodes}
    assert any("quantize_per_channel" in target for target in targets)


def quantize_cli(*argv: str) -> None:
    parser = argparse.ArgumentParser()
    add_quantize_command(parser.add_subparsers())
    args = parser.parse_args(["quantize", *argv])
    args.run(args)


def test_command_prints_accuracy_before_and_after(run, tmp_path, capsys):
    out = tmp_path / "model.int8.onnx"
    quantize_cli(str(run["folder"] / "run"), "--calibration-batches", "2", "--method", "entropy", "--out", str(out))
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].startswith("lenet5 on digits (test, 360 images): int8 QDQ, entropy calibration on 2 training")
    before, after = (float(line.split("accuracy ")[1].split("%")[0]) for line in lines[1:3])
    assert lines[1].startswith("fp32 onnx") and lines[2].startswith("int8 onnx") and after >= before - 1
    assert lines[3] == f"int8 model    {out}" and quantized_weights(out)


def test_command_codebooks_print_sizes_and_accuracy_after_decoding(run, tmp_path, capsys):
    out = tmp_path / "model.codebooks.safetensors"
    quantize_cli(str(run["folder"] / "run"), "--codebook-size", "256", "--block-size", "2", "--out", str(out))
    lines = capsys.readouterr().out.splitlines()
    assert lines[0] == "lenet5 on digits (test, 360 images): 4 weights as codebooks of 256, 1 left in float32"  # c1: rows of 25
    before, after = (float(line.split("accuracy ")[1].split("%")[0]) for line in lines[1:3])
    assert after >= before - 1
    original, compressed = (int(line.split("(")[1].split(" bytes")[0].replace(",", "")) for line in lines[1:3])
    assert original == sum(value.numel() * value.element_size() for value in run["model"].state_dict().values())
    assert compressed < original / 5 and out.is_file()


def test_command_refuses_other_tasks_names_and_mixed_flags(run, tmp_path):
    other = tmp_path / "denoiser"
    shutil.copytree(run["folder"] / "run", other, ignore=shutil.ignore_patterns("*.csv", "*.png"))
    meta = json.loads((other / "model.json").read_text())
    (other / "model.json").write_text(json.dumps({**meta, "task": "denoise"}))
    out = str(tmp_path / "x.onnx")
    with pytest.raises(ConvzooError, match="is a denoise checkpoint; convzoo quantize scores classification"):
        quantize_cli(str(other), "--out", out)
    with pytest.raises(ConvzooError, match="lenet5 does not exist; quantize needs a trained classification"):
        quantize_cli("lenet5", "--out", out)
    with pytest.raises(ConvzooError, match="--calibration-batches applies to int8 ONNX"):
        quantize_cli(str(run["folder"] / "run"), "--codebook-size", "16", "--calibration-batches", "2", "--out", out)
    with pytest.raises(ConvzooError, match="--block-size applies to weight codebooks"):
        quantize_cli(str(run["folder"] / "run"), "--block-size", "4", "--out", out)
