"""The denoising task: the residual loss, noise, metrics, baselines and tiled inference."""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from skimage.metrics import peak_signal_noise_ratio, structural_similarity

from convzoo.models.dncnn import DnCNN
from convzoo.tasks.denoise.baselines import baseline, baseline_available
from convzoo.tasks.denoise.metrics import image_metrics, psnr
from convzoo.tasks.denoise.noise import NoiseAugment, add_fixed_noise
from convzoo.tasks.denoise.objective import DenoiseTask
from convzoo.tasks.denoise.panels import denoise_figure
from convzoo.tasks.denoise.scoring import score_images
from convzoo.tasks.denoise.tiling import denoise_tiled


def smooth_image(height: int = 48, width: int = 56, channels: int = 1) -> torch.Tensor:
    """A smooth (C, H, W) image in [0.2, 0.8], which blurring and non-local means can recover."""
    y = torch.linspace(0, 3, height).view(-1, 1)
    x = torch.linspace(0, 2, width).view(1, -1)
    base = 0.5 + 0.3 * torch.sin(y) * torch.cos(x)
    return torch.stack([base * (1 - 0.1 * c) for c in range(channels)])


def test_loss_of_the_denoised_image_is_the_papers_residual_loss():
    torch.manual_seed(0)
    model = DnCNN(depth=4, width=8, zero_init_last=False)
    clean = torch.rand(3, 1, 12, 12)
    noisy = clean + 0.1 * torch.randn_like(clean)
    loss = DenoiseTask().loss(model(noisy), clean)
    residual = F.mse_loss(model.predict_noise(noisy), noisy - clean)  # R(y) against the true noise v
    torch.testing.assert_close(loss, residual)


def test_noise_has_the_asked_level_and_follows_the_global_generator():
    clean = torch.full((64, 1, 32, 32), 0.5)
    torch.manual_seed(0)
    noisy = NoiseAugment(25)(clean)
    assert abs((noisy - clean).std().item() * 255 - 25) < 0.3
    torch.manual_seed(0)
    assert torch.equal(NoiseAugment(25)(clean), noisy)


def test_blind_noise_draws_one_level_per_image_up_to_55():
    torch.manual_seed(0)
    clean = torch.zeros(256, 1, 24, 24)
    levels = NoiseAugment(None)(clean).flatten(1).std(dim=1) * 255
    assert levels.min() < 10 and 45 < levels.max() < 60
    assert levels.std() > 10  # spread over the range, not one level


def test_fixed_noise_is_seeded():
    clean = torch.zeros(2, 1, 8, 8)
    assert torch.equal(add_fixed_noise(clean, 25, 7), add_fixed_noise(clean, 25, 7))
    assert not torch.equal(add_fixed_noise(clean, 25, 7), add_fixed_noise(clean, 25, 8))
    per_image = add_fixed_noise(clean, torch.tensor([0.0, 50.0]), 7)
    assert per_image[0].abs().max() == 0 and per_image[1].std() > 0.1


def test_psnr_and_batch_metrics():
    clean = torch.full((2, 1, 10, 10), 0.5)
    estimate = clean + 0.1  # MSE 0.01 -> 20 dB
    torch.testing.assert_close(psnr(estimate, clean), torch.tensor([20.0, 20.0]))
    task = DenoiseTask()
    sums = task.batch_sums(estimate, clean)
    assert task.summarize(sums, 2) == {"psnr": pytest.approx(20.0)}


def test_image_metrics_are_scikit_images():
    rng = np.random.default_rng(0)
    clean = rng.random((32, 40, 3))
    estimate = clean + 0.05 * rng.standard_normal(clean.shape)
    value, similarity = image_metrics(clean, estimate)
    clipped = np.clip(estimate, 0, 1)
    assert value == peak_signal_noise_ratio(clean, clipped, data_range=1.0)
    assert similarity == structural_similarity(clean, clipped, data_range=1.0, channel_axis=-1)


@pytest.mark.parametrize("channels", [1, 3])
def test_baselines_beat_the_noisy_input(channels):
    clean = smooth_image(channels=channels)
    noisy = add_fixed_noise(clean, 25, 0)
    clean_np, noisy_np = (t.permute(1, 2, 0).double().numpy() for t in (clean, noisy))
    noisy_score = image_metrics(clean_np, noisy_np)[0]
    for name in ("blur", "nlmeans", "bm3d"):
        if baseline_available(name) is not None:
            continue
        estimate = baseline(name, noisy_np, clean_np, 25)
        assert estimate.shape == clean_np.shape
        assert image_metrics(clean_np, estimate)[0] > noisy_score + 3, name


@pytest.mark.filterwarnings("ignore:TF32 acceleration on top of oneDNN")
def test_tiled_inference_equals_the_whole_image_pass():
    """With the overlap at the receptive field's radius (17 for 17 layers) the tiles give the same image.

    Bit for bit with PyTorch's native CPU conv (oneDNN off), whose sums do not depend on the
    image size; to float rounding with oneDNN, whose blocking does.
    """
    torch.manual_seed(0)
    model = DnCNN(depth=17, width=8, zero_init_last=False).eval()
    for module in model.modules():  # non-trivial batch-norm statistics
        if isinstance(module, torch.nn.BatchNorm2d):
            module.running_mean.uniform_(-0.2, 0.2)
            module.running_var.uniform_(0.5, 1.5)
    noisy = torch.rand(1, 1, 53, 70)
    with torch.backends.mkldnn.flags(enabled=False), torch.no_grad():
        whole = model(noisy)
        for tile in (16, 24):
            assert torch.equal(denoise_tiled(model, noisy, tile=tile, overlap=17), whole)
            assert torch.equal(denoise_tiled(model, noisy, tile=tile), whole)  # default: the model's radius, 17
        assert (denoise_tiled(model, noisy, tile=16, overlap=16) - whole).abs().max() > 1e-4  # one pixel short
    with torch.no_grad():
        torch.testing.assert_close(denoise_tiled(model, noisy, tile=24), model(noisy), rtol=0, atol=1e-5)


def test_score_images_report():
    torch.manual_seed(0)
    model = DnCNN(depth=3, width=4, zero_init_last=False)
    images = [("a", smooth_image(24, 30)), ("b", smooth_image(20, 20))]
    report, kept = score_images(model, images, (15.0, 50.0), baselines=("noisy", "blur"), keep=True)
    assert [(row["image"], row["sigma"]) for row in report["images"]] == [
        ("a", 15.0), ("b", 15.0), ("a", 50.0), ("b", 50.0)
    ]
    assert set(report["by_sigma"]) == {"15", "50"}
    assert report["psnr"] == report["by_sigma"]["15"]["dncnn_psnr"]
    assert report["noisy_psnr"] > report["by_sigma"]["50"]["noisy_psnr"] + 5  # less noise, higher PSNR
    assert len(kept) == 4 and kept[0].noisy.shape == (24, 30, 1)
    again, _ = score_images(model, images, (15.0, 50.0), baselines=("noisy",))
    assert again["noisy_psnr"] == report["noisy_psnr"]  # the same noise every time


def titles(figure) -> list[str]:
    return [axis.get_title() for axis in figure.axes]


def test_denoise_figure_titles_every_panel_with_its_scores():
    clean = np.full((10, 8, 1), 0.5)
    noisy = clean + 0.1 * np.random.default_rng(0).standard_normal(clean.shape)
    denoised = clean + 0.02
    scores = {"noisy_psnr": 20.004, "noisy_ssim": 0.5, "psnr": 33.3, "ssim": 0.9123}
    figure = denoise_figure(noisy, denoised, clean=clean, sigma=25.0, scores=scores)
    magnitude = f"{np.abs(noisy - denoised).max() * 255:.0f}"
    assert titles(figure) == [
        "clean",
        "noisy, sigma=25\nPSNR 20.00 dB, SSIM 0.500",
        "denoised\nPSNR 33.30 dB, SSIM 0.912",
        f"predicted noise: noisy - denoised\n(mid-grey 0, black -{magnitude}, white +{magnitude} of 255)",
    ]
    residual = figure.axes[3].get_images()[0].get_array()
    assert float(np.abs(residual - 0.5).max()) == pytest.approx(0.5)  # the largest magnitude reaches black or white


def test_denoise_figure_of_an_image_taken_as_noisy_has_no_scores():
    noisy = np.random.default_rng(0).random((6, 9, 3))
    figure = denoise_figure(noisy, noisy * 0.9)
    assert [title.split("\n")[0] for title in titles(figure)] == [
        "input (taken as noisy)", "denoised", "predicted noise: input - denoised",
    ]
    assert not any("PSNR" in title for title in titles(figure))
