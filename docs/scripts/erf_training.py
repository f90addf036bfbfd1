"""The effective receptive field of ResNet-18 before and after training on Fashion-MNIST.

    .venv/bin/python docs/scripts/erf_training.py [RUN_FOLDER]

RUN_FOLDER is the output folder of the ResNet-18 run of ``benchmarks/fashion_mnist.py``
(default ``runs/fashion-mnist/resnet18``). The network "before" is the very one that run
started from: its saved settings are rebuilt and seeded as ``convzoo train`` seeds them,
so the initial weights are the run's own. Both networks are measured on the same inputs,
476x476 (ResNet-18's last map is then 15x15 and its central unit's 435-pixel RF fits):
a mosaic of 17 x 17 Fashion-MNIST test images (the statistics the trained network knows)
and standard Gaussian noise (Luo et al.'s inputs). Prints the radii for layer2..layer4
and writes docs/images/erf_resnet18_fashion_training.png.
"""

from __future__ import annotations

import sys
from pathlib import Path

import torch
from matplotlib.figure import Figure
from matplotlib.patches import Rectangle

from convzoo.analysis import effective_receptive_field
from convzoo.analysis.erf import ERFResult
from convzoo.data import load_dataset
from convzoo.train.checkpoint import load_checkpoint
from convzoo.train.distributed import init_distributed
from convzoo.train.runner import RESUME_FILE, build_pipeline, resumed_config
from convzoo.train.seed import seed_everything
from convzoo.train.state import load_state

IMAGES = Path(__file__).resolve().parents[1] / "images"
TILES = 17  # a 17 x 17 mosaic of 28x28 images: 476x476
STAGES = {2: ("layer2", 99), 3: ("layer3", 211), 4: ("layer4", 435)}  # feature_info index: name, RF side


def networks(run: Path) -> tuple[dict[str, torch.nn.Module], int]:
    """The run's network at initialisation (rebuilt and seeded as the run was) and trained; its channels."""
    config = resumed_config(load_state(run / RESUME_FILE))
    seed_everything(config.seed)
    initial = build_pipeline(config, init_distributed("cpu")).trainer.module
    trained, meta = load_checkpoint(run)
    return {"initialisation": initial, "trained": trained}, meta.input_size[0]


def mosaic(samples: int, channels: int) -> torch.Tensor:
    """``samples`` mosaics of 17 x 17 normalised Fashion-MNIST test images, ``(samples, channels, 476, 476)``."""
    test = load_dataset("fashion-mnist", in_chans=channels, augment="none").test
    images = torch.stack([test[index][0] for index in range(samples * TILES * TILES)])
    tiles = images.reshape(samples, TILES, TILES, channels, 28, 28).permute(0, 3, 1, 4, 2, 5)
    return tiles.reshape(samples, channels, TILES * 28, TILES * 28)


def measure(model: torch.nn.Module, inputs: torch.Tensor | None, stage: int, channels: int) -> ERFResult:
    return effective_receptive_field(
        model, (channels, TILES * 28, TILES * 28), inputs=inputs, samples=4, stage=stage, batch_size=2,
        theoretical_size=STAGES[stage][1],
    )


def plot(results: dict[str, ERFResult], path: Path) -> None:
    """The last map's ERF on the mosaic, before and after training, each on its own colour scale."""
    figure = Figure(figsize=(8, 4.2))
    for axes, (name, result) in zip(figure.subplots(1, 2), results.items()):
        axes.imshow(result.contributions.numpy(), cmap="magma", vmin=0)
        row, col = result.center
        for radius, colour in ((result.radius_50, "cyan"), (result.radius_95, "lime")):
            axes.add_patch(Rectangle((col - radius, row - radius), 2 * radius, 2 * radius, fill=False, color=colour))
        axes.set_title(f"{name}: r50 {result.radius_50:.0f} px, r95 {result.radius_95:.0f} px", fontsize=9)
        axes.set_axis_off()
    figure.suptitle("ResNet-18 on Fashion-MNIST, ERF of layer4's central unit (mosaic of test images)", fontsize=10)
    figure.tight_layout()
    figure.savefig(path, dpi=70)


def main() -> None:
    torch.set_num_threads(2)
    run = Path(sys.argv[1] if len(sys.argv) > 1 else "runs/fashion-mnist/resnet18")
    models, channels = networks(run)
    inputs = {"test-image mosaic": mosaic(4, channels), "Gaussian noise": None}
    print("| inputs | stage | RF | r50 before | r50 after | r95 before | r95 after |")
    print("|---|---|---:|---:|---:|---:|---:|")
    last: dict[str, ERFResult] = {}
    for kind, batch in inputs.items():
        for stage, (name, rf) in STAGES.items():
            before, after = (measure(model, batch, stage, channels) for model in models.values())
            print(f"| {kind} | {name} | {rf} | {before.radius_50:.1f} | {after.radius_50:.1f} | "
                  f"{before.radius_95:.1f} | {after.radius_95:.1f} |", flush=True)
            if batch is not None and stage == 4:
                last = {"initialisation": before, "trained": after}
    plot(last, IMAGES / "erf_resnet18_fashion_training.png")


if __name__ == "__main__":
    main()
