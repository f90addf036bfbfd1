"""The command line: each command's output and every user-error path."""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pytest
from PIL import Image
from sklearn.datasets import load_digits

from helpers import assert_one_line_error, run_cli as run

from convzoo.cli import main
from convzoo.data.digits import split_indices


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    out = tmp_path_factory.mktemp("run")
    code = main(["train", "lenet5", "--epochs", "5", "--out", str(out)])
    assert code == 0
    return out


def digit_png(folder, index: int) -> tuple[str, int]:
    digits = load_digits()
    pixels = (digits.images[index] / 16 * 255).astype(np.uint8)
    path = folder / f"digit{index}.png"
    Image.fromarray(pixels).resize((32, 32), Image.BILINEAR).save(path)
    return str(path), int(digits.target[index])


def test_list(capsys):
    code, out, _ = run(capsys, "list", "vgg1?_bn")
    assert code == 0
    lines = out.splitlines()
    assert lines[0].split() == ["name", "family", "task", "params", "year"]
    assert [line.split()[0] for line in lines[1:]] == ["vgg11_bn", "vgg13_bn", "vgg16_bn", "vgg19_bn"]
    assert "138,365,992" in out


def test_list_nothing_matches(capsys):
    assert_one_line_error(*run(capsys, "list", "nope*")[::2], "no model matches 'nope*'")


def test_info_shows_card_and_stage_shapes(capsys):
    code, out, _ = run(capsys, "info", "resnet18", "--input", "3x64x64")
    assert code == 0
    assert "11,689,512" in out and "Deep Residual Learning" in out
    assert "layer4" in out and "512x2x2" in out and "output" in out


def test_info_shows_the_card_notes(capsys):
    code, out, _ = run(capsys, "info", "efficientnet_b3", "--input", "3x32x32")
    assert code == 0
    assert "notes\n  phi: 3\n" in out
    assert "  released_multipliers: width=1.2, depth=1.4, resolution=300\n" in out
    code, out, _ = run(capsys, "info", "mobilenet_v2_cifar")
    assert "82.13" in out


def test_info_json(capsys):
    import json

    code, out, _ = run(capsys, "info", "lenet5", "--json")
    assert code == 0
    card = json.loads(out)
    assert card["params"] == 61_706 and card["stages"]["output"] == [1, 10]


def test_info_and_rf_of_a_volume_network(capsys):
    """A 3-D network takes CxDxHxW: the paper's 3D U-Net tile, one channel, 116x132x132 -> 28x44x44."""
    code, out, _ = run(capsys, "info", "unet3d", "--input", "1x116x132x132")
    assert code == 0
    assert "shapes for input 1x1x116x132x132" in out and "output               1x3x28x44x44" in out
    code, out, _ = run(capsys, "rf", "unet3d", "--input", "1x116x132x132")
    assert code == 0 and "1x3x28x44x44" in out


@pytest.mark.parametrize("model, shape, expected", [
    ("resnet18", "3x8x64x64", "resnet18 takes CxHxW input such as 3x224x224, got --input 3x8x64x64"),
    ("unet3d", "1x132x132", "unet3d takes CxDxHxW input such as 3x116x132x132, got --input 1x132x132"),
])
def test_input_with_the_wrong_number_of_axes(capsys, model, shape, expected):
    assert_one_line_error(*run(capsys, "info", model, "--input", shape)[::2], expected)


def test_unknown_model(capsys):
    assert_one_line_error(*run(capsys, "info", "resnet05")[::2], "unknown model 'resnet05'", "resnet50")


@pytest.mark.parametrize("shape", ["3x224", "3xax224", "0x32x32", "big", "1x2x3x4x5"])
def test_bad_shape_string(capsys, shape):
    assert_one_line_error(*run(capsys, "info", "resnet18", "--input", shape)[::2], "expected CxHxW")


def test_input_too_small_for_model(capsys):
    assert_one_line_error(*run(capsys, "info", "lenet5", "--input", "1x28x28")[::2], "32x32")


def test_train_eval_predict(capsys, trained, tmp_path):
    for name in ("model.safetensors", "model.json", "resume.safetensors", "metrics.csv", "metrics.jsonl",
                 "curves.png", "confusion.png", "predictions.png", "test_metrics.json"):
        assert (trained / name).is_file(), name
    code, out, _ = run(capsys, "eval", str(trained / "model.safetensors"))
    assert code == 0 and "lenet5 on digits (test, 360 images): accuracy" in out
    test_indices = split_indices(load_digits().target)[2][:10]
    paths = [digit_png(tmp_path, int(index)) for index in test_indices]
    code, out, _ = run(capsys, "predict", str(trained), *(p for p, _ in paths), "--top-k", "3")
    assert code == 0
    lines = out.splitlines()
    assert len(lines) == len(paths)
    correct = 0
    for line, (path, label) in zip(lines, paths):
        assert line.startswith(path) and line.count("%") == 3
        correct += line.split(": ")[1].split()[0] == str(label)
    assert correct >= 8  # the PNG path preprocesses as training did


def test_missing_checkpoint(capsys, tmp_path):
    assert_one_line_error(*run(capsys, "eval", str(tmp_path / "none.safetensors"))[::2], "does not exist")


def test_corrupt_checkpoint(capsys, trained, tmp_path):
    (tmp_path / "model.json").write_text((trained / "model.json").read_text())
    (tmp_path / "model.safetensors").write_bytes((trained / "model.safetensors").read_bytes()[:100])
    assert_one_line_error(*run(capsys, "eval", str(tmp_path / "model"))[::2], "corrupt")


def test_missing_and_unreadable_images(capsys, trained, tmp_path):
    assert_one_line_error(*run(capsys, "predict", str(trained), str(tmp_path / "x.png"))[::2], "does not exist")
    (tmp_path / "bad.png").write_text("not an image")
    assert_one_line_error(*run(capsys, "predict", str(trained), str(tmp_path / "bad.png"))[::2], "cannot read image")


def test_unwritable_output(capsys, tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("")
    assert_one_line_error(*run(capsys, "train", "lenet5", "--epochs", "1", "--out", str(blocker / "run"))[::2],
                          "cannot write to --out folder")


def test_usage_errors_are_one_line(capsys):
    code, _, err = run(capsys, "train", "lenet5", "--epochs", "zero")
    assert code == 2 and err.count("\n") == 1 and "positive integer" in err
    code, _, err = run(capsys, "frobnicate")
    assert code == 2 and err.count("\n") == 1


def test_module_entry_point():
    result = subprocess.run([sys.executable, "-m", "convzoo", "info", "nosuchnet"], capture_output=True, text=True)
    assert result.returncode == 2
    assert result.stderr.startswith("convzoo: error: unknown model") and "Traceback" not in result.stderr


def test_model_kwargs_reach_the_builder_and_the_checkpoint(capsys, tmp_path):
    code, out, _ = run(capsys, "train", "resnet18", "--model-kwargs", "attn_layer=se", "--epochs", "1",
                       "--image-size", "32", "--out", str(tmp_path))
    assert code == 0, out
    meta = json.loads((tmp_path / "model.json").read_text())
    assert meta["model_args"]["attn_layer"] == "se" and meta["task"] == "classification"


def test_bad_model_kwargs_are_one_line_errors(capsys, tmp_path):
    assert_one_line_error(*run(capsys, "train", "lenet5", "--model-kwargs", "bogus=1", "--out", str(tmp_path))[::2],
                          "lenet5 cannot be built with --model-kwargs", "bogus")
    assert_one_line_error(*run(capsys, "train", "lenet5", "--model-kwargs", "no-equals")[::2], "NAME=VALUE")
