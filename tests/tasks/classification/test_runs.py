"""End-to-end runs through the command line: a recipe on CIFAR files, transfer learning."""

from __future__ import annotations

import json

import torch
import torchvision
from safetensors.torch import load_file

from convzoo.cli import main
from helpers import write_cifar10, write_folder


def test_resnet18_cifar10_with_the_mobilenet_recipe(tmp_path, capsys):
    write_cifar10(tmp_path)
    out = tmp_path / "run"
    code = main(["train", "resnet18", "--dataset", "cifar10", "--data-dir", str(tmp_path),
                 "--recipe", "mobilenet_cifar", "--out", str(out)])
    printed = capsys.readouterr().out
    assert code == 0, printed
    rows = [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines()]
    assert len(rows) == 10 and rows[0]["lr"] == 1e-3 and rows[-1]["lr"] == 1e-3  # the recipe's constant rate
    meta = json.loads((out / "model.json").read_text())
    assert meta["input_size"] == [3, 32, 32] and meta["class_names"][0] == "airplane"
    assert "top-5" in printed and (out / "confusion.png").stat().st_size > 0
    assert main(["eval", str(out), "--data-dir", str(tmp_path)]) == 0
    assert "resnet18 on cifar10 (test, 20 images)" in capsys.readouterr().out


def test_head_only_fine_tuning_from_torchvision_weights(tmp_path, capsys):
    torch.manual_seed(0)
    source = torchvision.models.resnet18()
    torch.save(source.state_dict(), tmp_path / "resnet18.pth")
    out = tmp_path / "run"
    code = main(["train", "resnet18", "--pretrained", str(tmp_path / "resnet18.pth"), "--head-only",
                 "--image-size", "32", "--epochs", "1", "--optimizer", "sgd", "--weight-decay", "1e-4",
                 "--out", str(out)])
    assert code == 0, capsys.readouterr().err
    tuned, original = load_file(out / "model.safetensors"), source.state_dict()
    changed = sorted(key for key in tuned if not torch.equal(tuned[key], original[key]))
    assert changed == ["fc.bias", "fc.weight"]  # frozen BN statistics did not move either


def test_freezing_everything_is_refused(tmp_path, capsys):
    code = main(["train", "lenet5_1998", "--head-only", "--epochs", "1", "--out", str(tmp_path)])
    assert code == 2 and "every parameter of the model is frozen" in capsys.readouterr().err


def test_image_folder_run_with_workers_then_predict(tmp_path, capsys):
    root = write_folder(tmp_path / "images", splits=("train", "val"))
    out = tmp_path / "run"
    code = main(["train", "lenet5", "--dataset", "folder", "--data-dir", str(root), "--workers", "2",
                 "--epochs", "2", "--batch-size", "4", "--out", str(out)])
    assert code == 0, capsys.readouterr().err
    assert json.loads((out / "model.json").read_text())["eval_crop_fraction"] == 0.875
    image = next((root / "val" / "cat").glob("*.png"))
    assert main(["predict", str(out), str(image), "--top-k", "2"]) == 0
    assert capsys.readouterr().out.splitlines()[-1].startswith(str(image))


def test_an_image_folder_without_test_names_the_split_it_scored(tmp_path, capsys):
    root = write_folder(tmp_path / "images", splits=("train", "val"))
    out = tmp_path / "run"
    code = main(["train", "lenet5", "--dataset", "folder", "--data-dir", str(root), "--epochs", "1",
                 "--batch-size", "4", "--out", str(out)])
    printed = capsys.readouterr().out
    assert code == 0
    assert "val accuracy" in printed and "test accuracy" not in printed
    assert json.loads((out / "test_metrics.json").read_text())["split"] == "val"
    assert main(["eval", str(out)]) == 0
    assert "lenet5 on folder (val, 6 images)" in capsys.readouterr().out

    write_folder(root, splits=("test",))
    assert main(["train", "lenet5", "--dataset", "folder", "--data-dir", str(root), "--epochs", "1",
                 "--batch-size", "4", "--out", str(out)]) == 0
    assert "test accuracy" in capsys.readouterr().out
    assert json.loads((out / "test_metrics.json").read_text())["split"] == "test"
