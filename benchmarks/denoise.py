"""DnCNN against the classical denoisers on the held-out bundled images, in one run.

Trains a denoiser on the embedded default (the bundled natural images), or with
``--dataset photos`` on the packaged photographs (or takes a checkpoint), then adds noise
of one level (seeded: the same noisy images for every method) to each held-out test
image of that set (for ``natural``: cameraman, coffee, flower) and scores DnCNN, the
noisy input, the best Gaussian blur (an oracle: the width that maximises each image's
PSNR), scikit-image's non-local means and BM3D, all given the true sigma: PSNR and SSIM
(scikit-image) per image and averaged, and the seconds each method takes per image.

    python benchmarks/denoise.py [--checkpoint DIR] [--model dncnn_s] [--dataset photos] [--sigma 25]
        [--epochs 16] [--patches-per-epoch 2048] [--batch-size 16] [--lr 1e-3]
        [--out runs/dncnn-benchmark] [--write BENCHMARKS.md]

Training runs in bfloat16 autocast with channels-last tensors (about twice as fast on
this CPU); the test images are denoised in float32.
"""

from __future__ import annotations

import argparse
import datetime
import os
import platform
import time

import torch

from convzoo.data.natural_images import load_denoise_images
from convzoo.tasks.denoise.files import load_denoiser
from convzoo.tasks.denoise.scoring import test_report
from convzoo.train.config import resolve_config
from convzoo.train.runner import train

METHODS = {  # report key -> table name
    "dncnn": "DnCNN (this run)",
    "noisy": "noisy input",
    "blur": "best Gaussian blur (oracle width)",
    "nlmeans": "non-local means (skimage, true sigma)",
    "bm3d": "BM3D (bm3d package, true sigma)",
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--checkpoint", help="score this checkpoint instead of training one")
    parser.add_argument("--model", default="dncnn_s")
    parser.add_argument("--dataset", default="natural", help="natural (bundled) or photos (packaged photographs)")
    parser.add_argument("--sigma", type=float, default=25.0)
    parser.add_argument("--epochs", type=int, default=16)
    parser.add_argument("--patches-per-epoch", type=int, default=2048)
    parser.add_argument("--batch-size", type=int, default=16)
    parser.add_argument("--lr", type=float, default=1e-3)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", default="runs/dncnn-benchmark")
    parser.add_argument("--write", help="append the results as a markdown section to this file")
    args = parser.parse_args()

    load = os.getloadavg()[0]
    training = ""
    if args.checkpoint is None:
        config = resolve_config(
            model=args.model, task="denoise", dataset=args.dataset, sigma=args.sigma, epochs=args.epochs,
            patches_per_epoch=args.patches_per_epoch, batch_size=args.batch_size, lr=args.lr, seed=args.seed,
            amp=True, channels_last=True, out=args.out,
        )
        start = time.perf_counter()
        train(config)
        minutes = (time.perf_counter() - start) / 60
        training = (
            f"{args.model} trained here for {minutes:.1f} min: {args.epochs} epochs x {args.patches_per_epoch} "
            f"patches of 40x40 (batch {args.batch_size}, Adam, lr {args.lr:g} cosine, bf16 autocast, seed "
            f"{args.seed}) on the training images of `{args.dataset}`, {args.epochs * args.patches_per_epoch:,} patches in all (the paper: 50 epochs x "
            f"204,800). "
        )
        args.checkpoint = args.out
    model, meta = load_denoiser(args.checkpoint)
    images = load_denoise_images(meta.dataset, meta.input_size[0], meta.task_args.get("data_dir"))
    report, _ = test_report(
        model, images.test, meta.task_args.get("sigma"), baselines=tuple(m for m in METHODS if m != "dncnn"),
        sigmas=(args.sigma,),
    )
    rows = report["images"]
    names = [row["image"] for row in rows]
    methods = [m for m in METHODS if f"{m}_psnr" in rows[0]]
    lines = [
        f"### DnCNN denoising, {datetime.date.today()}",
        "",
        f"{platform.processor() or platform.machine()}, {torch.get_num_threads()} threads, torch "
        f"{torch.__version__}; load average {load:.1f} at the start. {training}Test: the held-out "
        f"images of `{meta.dataset}` ({', '.join(names)}) at sigma {args.sigma:g}, one seeded noise draw "
        f"shared by every method; PSNR (dB) / SSIM from scikit-image; seconds per image on this CPU.",
        "",
        "| method | " + " | ".join(f"{name} PSNR / SSIM" for name in names) + " | mean PSNR | mean SSIM | s / image |",
        "|---|" + "---|" * (len(names) + 3),
    ]
    average = report["by_sigma"][f"{args.sigma:g}"]
    for method in methods:
        cells = " | ".join(f"{row[f'{method}_psnr']:.2f} / {row[f'{method}_ssim']:.4f}" for row in rows)
        lines.append(
            f"| {METHODS[method]} | {cells} | {average[f'{method}_psnr']:.2f} | {average[f'{method}_ssim']:.4f} "
            f"| {average[f'{method}_seconds']:.2f} |"
        )
    for method, why in report["skipped"].items():
        lines.append(f"\n{METHODS[method]}: not measured, {why}.")
    text = "\n".join(lines) + "\n"
    print(text)
    if args.write:
        with open(args.write, "a") as handle:
            handle.write("\n" + text)


if __name__ == "__main__":
    main()
