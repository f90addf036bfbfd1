"""Every subcommand, given each kind of bad argument: one line, exit status 2, no traceback, nothing written.

The checkpoints of each task (classification, denoise, hyperspectral) go through eval,
predict, denoise and attention too, so that a command meant for another task refuses
them in one line instead of failing deep inside.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from helpers import assert_one_line_error, run_cli

from convzoo.registry import create_model
from convzoo.train.checkpoint import CheckpointMeta, save_checkpoint
from convzoo.train.config import TrainConfig
from convzoo.tasks.hyperspectral.pipeline import scene_settings


def _save(folder: Path, model_name: str, meta: CheckpointMeta, **model_args) -> str:
    model = create_model(model_name, **model_args)
    save_checkpoint(folder / "model", model, meta)
    return str(folder)


@pytest.fixture(scope="module")
def checkpoints(tmp_path_factory) -> dict[str, str]:
    """One untrained checkpoint per task, written as `convzoo train` writes them."""
    root = tmp_path_factory.mktemp("checkpoints")
    for task in ("classification", "denoise", "hyperspectral"):
        (root / task).mkdir()
    lenet = {"in_chans": 1, "num_classes": 10}
    dncnn = {"in_chans": 1}
    settings = scene_settings(TrainConfig(model="hybridsn", task="hyperspectral"))
    hybridsn = {"in_chans": settings.components, "num_classes": 16}
    return {
        "classification": _save(root / "classification", "lenet5", CheckpointMeta(
            model="lenet5", model_args=lenet, dataset="digits", class_names=[str(i) for i in range(10)],
            mean=[0.5], std=[0.5], input_size=[1, 32, 32]), **lenet),
        "denoise": _save(root / "denoise", "dncnn_s", CheckpointMeta(
            model="dncnn_s", model_args=dncnn, dataset="natural", class_names=[], mean=[0.0], std=[1.0],
            input_size=[1, 40, 40], task="denoise", task_args={"sigma": 25.0, "data_dir": None}), **dncnn),
        "hyperspectral": _save(root / "hyperspectral", "hybridsn", CheckpointMeta(
            model="hybridsn", model_args=hybridsn, dataset="synthetic", class_names=[f"c{i}" for i in range(16)],
            mean=[0.0] * settings.components, std=[1.0] * settings.components,
            input_size=[settings.components, settings.window, settings.window], task="hyperspectral",
            task_args=settings.to_dict()), **hybridsn),
    }


@pytest.fixture
def workdir(tmp_path, monkeypatch) -> Path:
    """An empty current folder holding one photograph, one file that is not an image, and one plain file."""
    monkeypatch.chdir(tmp_path)
    Image.fromarray(np.zeros((40, 40, 3), dtype=np.uint8)).save(tmp_path / "photo.png")
    (tmp_path / "notes.txt").write_text("not an image")
    (tmp_path / "file").write_text("")
    return tmp_path


def _files(folder: Path) -> set[Path]:
    return set(folder.rglob("*"))


# (argv, a fragment the message must hold). "CK:task" stands for that task's checkpoint.
BAD_ARGUMENTS = [
    (["list", "--family", "nosuchfamily"], "nosuchfamily"),
    (["list", "zzz*"], "zzz*"),
    (["info", "resnet5"], "resnet50"),
    (["info", "resnet18", "--input", "3x224"], "CxHxW"),
    (["info", "vgg11", "--input", "3x16x16"], "32x32"),
    (["train", "resnet5"], "resnet50"),
    (["train"], "--resume"),
    (["train", "--resume", "nowhere"], "nowhere"),
    (["train", "lenet5", "--lr", "-0.1"], "lr"),
    (["train", "lenet5", "--epochs", "0"], "positive integer"),
    (["train", "lenet5", "--model-kwargs", "nosuch=1"], "nosuch"),
    (["train", "lenet5", "--dataset", "nosuchdata"], "nosuchdata"),
    (["train", "lenet5", "--dataset", "mnist", "--data-dir", "nowhere"], "nowhere"),
    (["train", "lenet5", "--pretrained", "nowhere.pth"], "nowhere.pth"),
    (["train", "lenet5", "--freeze", "bogus"], "bogus"),
    (["train", "lenet5", "--out", "file/run"], "file"),
    (["train", "dncnn_s", "--task", "classification"], "--task denoise"),
    (["eval", "nowhere"], "nowhere"),
    (["eval", "notes.txt"], "notes"),
    (["eval", "CK:classification", "--dataset", "nosuchdata"], "nosuchdata"),
    (["eval", "CK:classification", "--split", "bogus"], "bogus"),
    (["eval", "CK:hyperspectral", "--out", "file/map.png"], "--out"),
    (["eval", "CK:denoise", "--dataset", "nosuchdata"], "nosuchdata"),
    (["predict", "nowhere", "photo.png"], "nowhere"),
    (["predict", "CK:classification", "missing.png"], "missing.png"),
    (["predict", "CK:classification", "notes.txt"], "notes.txt"),
    (["predict", "CK:denoise", "photo.png"], "convzoo denoise"),
    (["predict", "CK:hyperspectral", "photo.png"], "convzoo eval"),
    (["rf", "resnet5"], "resnet50"),
    (["rf", "vgg11", "--input", "3x16x16"], "32x32"),
    (["rf", "inception_v3", "--input", "3x32x32"], "75x75"),
    (["erf"], "MODEL"),
    (["erf", "resnet5"], "resnet50"),
    (["erf", "vgg11", "--input", "3x16x16"], "32x32"),
    (["erf", "lenet5", "--out", "file/erf.png"], "--out"),
    (["erf", "lenet5", "--out", "."], "--out"),
    (["erf", "--checkpoint", "nowhere"], "nowhere"),
    (["compare", "resnet18", "resnet5"], "resnet50"),
    (["compare", "resnet18", "--plot", "c.png"], "--latency"),
    (["compare", "lenet5", "--latency", "--repeats", "1", "--plot", "file/c.png"], "--plot"),
    (["compare", "vgg11", "--input", "3x16x16"], "32x32"),
    (["arith", "--in", "4", "--kernel", "7"], "7"),
    (["arith", "--in", "8", "--kernel", "3", "--padding", "-1"], "padding"),
    (["explain", "nosuchtopic"], "nosuchtopic"),
    (["ops", "--size", "0x5"], "HxW"),
    (["attention", "CK:classification", "photo.png", "--out", "maps"], "attention"),
    (["attention", "CK:classification", "missing.png", "--out", "maps"], "missing.png"),
    (["attention", "CK:classification", "photo.png", "--out", "file"], "--out"),
    (["denoise", "CK:classification", "photo.png"], "denoise"),
    (["denoise", "CK:denoise", "missing.png"], "missing.png"),
    (["denoise", "CK:denoise", "photo.png", "--out", "file/d.png"], "--out"),
    (["frobnicate"], "frobnicate"),
]


@pytest.mark.parametrize("argv, fragment", BAD_ARGUMENTS, ids=[" ".join(argv) for argv, _ in BAD_ARGUMENTS])
def test_bad_arguments_are_one_line_with_exit_status_2(argv, fragment, checkpoints, workdir, capsys):
    argv = [checkpoints[arg[3:]] if arg.startswith("CK:") else arg for arg in argv]
    before = _files(workdir)
    code, _, err = run_cli(capsys, *argv)
    assert code == 2, err
    assert_one_line_error(code, err, fragment)
    assert _files(workdir) == before, "a failed command left files behind"
