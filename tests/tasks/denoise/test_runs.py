"""The denoising pipeline end to end: `convzoo train --task denoise`, eval, denoise, resume, errors."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from PIL import Image

from helpers import assert_one_line_error, run_cli as run

from convzoo.cli import main
from convzoo.tasks.denoise.panels import denoise_figure
from convzoo.train.config import resolve_config
from convzoo.train.distributed import DistContext
from convzoo.train.runner import build_pipeline
from convzoo.train.seed import seed_everything
from convzoo.train.state import load_state, save_state

TINY = ["--model-kwargs", "depth=3", "width=8", "--epochs", "1", "--patches-per-epoch", "8", "--batch-size", "4",
        "--patch-size", "16", "--patch-stride", "8"]


def smooth(height: int, width: int, channels: int, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:height, 0:width]
    base = 0.5 + 0.3 * np.sin(y / (5 + seed)) * np.cos(x / 7)
    pixels = np.stack([base + 0.05 * rng.standard_normal(base.shape) for _ in range(channels)], axis=-1)
    return (np.clip(pixels, 0, 1) * 255).astype(np.uint8)


def write(path, pixels: np.ndarray) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(pixels[..., 0] if pixels.shape[2] == 1 else pixels).save(path)


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory):
    """A BSD400 / Set12 layout in miniature: gray and colour PNGs."""
    root = tmp_path_factory.mktemp("bsd")
    write(root / "train" / "a.png", smooth(40, 48, 1, 0))
    write(root / "train" / "b.png", smooth(36, 36, 3, 1))
    write(root / "test" / "01.png", smooth(30, 34, 1, 2))
    write(root / "test" / "02.png", smooth(28, 28, 3, 3))
    return root


@pytest.fixture(scope="module")
def trained(data_dir, tmp_path_factory):
    out = tmp_path_factory.mktemp("run")
    code = main(["train", "dncnn_s", "--task", "denoise", "--sigma", "25", "--dataset", "folder",
                 "--data-dir", str(data_dir), "--out", str(out), *TINY])
    assert code == 0
    return out


def test_train_writes_checkpoint_report_and_sample(trained):
    meta = json.loads((trained / "model.json").read_text())
    assert meta["task"] == "denoise" and meta["task_args"]["sigma"] == 25.0
    assert meta["model_args"] == {"depth": 3, "width": 8, "in_chans": 1}
    assert "test_psnr" in meta["metrics"] and "val_psnr" in meta["metrics"]
    report = json.loads((trained / "test_metrics.json").read_text())
    assert [row["image"] for row in report["images"]] == ["01.png", "02.png"]
    assert {"dncnn_psnr", "dncnn_ssim", "noisy_psnr", "noisy_ssim"} <= set(report["images"][0])
    assert report["psnr"] == pytest.approx(np.mean([row["dncnn_psnr"] for row in report["images"]]))
    assert 19 < report["noisy_psnr"] < 22  # sigma 25 on [0, 1] images: about 20.2 dB
    with Image.open(trained / "denoise_sample.png") as sample:
        assert sample.format == "PNG" and sample.width > 3 * sample.height  # four panels side by side


def test_the_sample_panels_carry_the_first_images_scores(data_dir, tmp_path, monkeypatch):
    import convzoo.tasks.denoise.panels as denoiser

    drawn = {}

    def record(noisy, denoised, **kwargs):
        drawn.update(kwargs)
        return denoise_figure(noisy, denoised, **kwargs)

    monkeypatch.setattr(denoiser, "denoise_figure", record)
    built = pipeline(data_dir, tmp_path)
    report = built.report(built.trainer, tmp_path, True)
    first = report["images"][0]
    assert drawn["sigma"] == 25.0 and drawn["clean"].shape == (30, 34, 1)
    assert drawn["scores"] == {"noisy_psnr": first["noisy_psnr"], "noisy_ssim": first["noisy_ssim"],
                               "psnr": first["dncnn_psnr"], "ssim": first["dncnn_ssim"]}
    assert (tmp_path / "denoise_sample.png").is_file()


def test_train_prints_psnr(capsys, data_dir, tmp_path):
    code, out, _ = run(capsys, "train", "dncnn_s", "--task", "denoise", "--sigma", "15", "--dataset", "folder",
                       "--data-dir", str(data_dir), "--out", str(tmp_path), *TINY)
    assert code == 0
    assert "test sigma  15: PSNR" in out and "noisy input" in out and "denoise_sample.png" in out


def test_eval_prints_test_psnr_and_ssim(capsys, trained):
    code, out, _ = run(capsys, "eval", str(trained))
    assert code == 0
    report = json.loads((trained / "test_metrics.json").read_text())
    assert f"PSNR {report['psnr']:.2f} dB  SSIM {report['ssim']:.4f}" in out
    code, out, _ = run(capsys, "eval", str(trained), "--sigma", "15", "50")
    assert "test sigma  15:" in out and "test sigma  50:" in out


def test_denoise_command(capsys, trained, data_dir, tmp_path):
    image = data_dir / "test" / "01.png"
    out = tmp_path / "clean_test.png"
    code, stdout, _ = run(capsys, "denoise", str(trained), str(image), "--sigma", "25", "--out", str(out))
    assert code == 0 and "denoised PSNR" in stdout and "noisy    PSNR" in stdout
    assert f"image    {out}" in stdout and f"panels   {tmp_path / 'clean_test_panels.png'}" in stdout
    with Image.open(out) as denoised:
        assert denoised.size == (34, 30) and denoised.mode == "L"  # the denoised image itself
    tiled = tmp_path / "tiled.png"
    code, stdout_tiled, _ = run(capsys, "denoise", str(trained), str(image), "--sigma", "25", "--out", str(tiled),
                                "--tile", "8")
    assert code == 0
    assert np.array_equal(np.asarray(Image.open(out)), np.asarray(Image.open(tiled)))
    assert np.array_equal(np.asarray(Image.open(tmp_path / "clean_test_panels.png")),
                          np.asarray(Image.open(tmp_path / "tiled_panels.png")))
    out = tmp_path / "denoised.png"
    code, stdout, _ = run(capsys, "denoise", str(trained), str(image), "--out", str(out))  # a real noisy image
    assert code == 0 and "PSNR" not in stdout and "note:" not in stdout
    with Image.open(out) as denoised:
        assert denoised.size == (34, 30)  # the denoised image, not a strip of panels
    with Image.open(tmp_path / "denoised_panels.png") as panels:
        assert panels.width > 2 * panels.height  # input, denoised, noise
    assert f"image    {out}" in stdout and f"panels   {tmp_path / 'denoised_panels.png'}" in stdout


def test_denoise_command_says_when_it_drops_colour(capsys, trained, data_dir, tmp_path):
    note = "note: colour image converted to grayscale for a 1-channel model"
    colour = data_dir / "test" / "02.png"  # three different channels
    code, stdout, _ = run(capsys, "denoise", str(trained), str(colour), "--out", str(tmp_path / "a.png"))
    assert code == 0 and note in stdout
    gray_rgb = tmp_path / "gray_rgb.png"  # an RGB file of gray content loses nothing
    write(gray_rgb, np.repeat(smooth(20, 24, 1, 5), 3, axis=2))
    code, stdout, _ = run(capsys, "denoise", str(trained), str(gray_rgb), "--out", str(tmp_path / "b.png"))
    assert code == 0 and "note:" not in stdout


def test_blind_training_scores_the_three_paper_levels(data_dir, tmp_path):
    assert main(["train", "dncnn_b", "--task", "denoise", "--dataset", "folder", "--data-dir", str(data_dir),
                 "--out", str(tmp_path), *TINY]) == 0
    meta = json.loads((tmp_path / "model.json").read_text())
    assert meta["task_args"]["sigma"] is None and meta["task_args"]["blind_sigma_max"] == 55.0
    report = json.loads((tmp_path / "test_metrics.json").read_text())
    assert list(report["by_sigma"]) == ["15", "25", "50"] and report["sigma"] == 15.0


def test_colour_model(data_dir, tmp_path):
    assert main(["train", "cdncnn_b", "--task", "denoise", "--sigma", "25", "--dataset", "folder",
                 "--data-dir", str(data_dir), "--out", str(tmp_path), *TINY]) == 0
    assert json.loads((tmp_path / "model.json").read_text())["input_size"] == [3, 16, 16]


def pipeline(data_dir, out):
    config = resolve_config(
        model="dncnn_s", task="denoise", sigma=25.0, dataset="folder", data_dir=str(data_dir), epochs=2,
        patches_per_epoch=8, batch_size=4, patch_size=16, patch_stride=8, model_kwargs={"depth": 3, "width": 8},
        out=str(out),
    )
    seed_everything(config.seed)
    return build_pipeline(config, DistContext(device=torch.device("cpu")))


def test_resume_draws_the_same_noise(data_dir, tmp_path):
    """The noise comes from the global generator saved in the resume state: a resumed run ends identical."""
    straight = pipeline(data_dir, tmp_path).trainer
    straight.train_epoch()
    straight.train_epoch()
    first = pipeline(data_dir, tmp_path).trainer
    first.train_epoch()
    save_state(tmp_path / "state.safetensors", {"trainer": first.state_dict()})
    torch.manual_seed(123)  # anything the resumed process would have drawn before
    resumed = pipeline(data_dir, tmp_path).trainer
    resumed.load_state_dict(load_state(tmp_path / "state.safetensors")["trainer"])
    resumed.train_epoch()
    for key, value in straight.module.state_dict().items():
        assert torch.equal(value, resumed.module.state_dict()[key]), key


def test_errors(capsys, data_dir, tmp_path):
    assert_one_line_error(*run(capsys, "train", "lenet5", "--task", "denoise", "--out", str(tmp_path))[::2],
                          "lenet5 is a classification model", "dncnn_s")
    assert_one_line_error(*run(capsys, "train", "dncnn_s", "--task", "denoise", "--dataset", "folder",
                               "--out", str(tmp_path))[::2], "--data-dir")
    assert_one_line_error(*run(capsys, "train", "dncnn_s", "--task", "denoise", "--dataset", "folder",
                               "--data-dir", str(tmp_path / "nope"), "--out", str(tmp_path))[::2], "does not exist")
    assert_one_line_error(*run(capsys, "train", "dncnn_s", "--task", "denoise", "--sigma", "300",
                               "--out", str(tmp_path))[::2], "0-255")


def test_denoise_command_errors(capsys, trained, tmp_path):
    assert_one_line_error(*run(capsys, "denoise", str(trained), str(tmp_path / "missing.png"))[::2], "does not exist")
    broken = tmp_path / "broken.png"
    broken.write_bytes(b"not a png")
    assert_one_line_error(*run(capsys, "denoise", str(trained), str(broken))[::2], "cannot read image")
    assert_one_line_error(*run(capsys, "denoise", str(tmp_path), str(broken))[::2], "does not exist")
