"""Regenerate the figures and numbers of docs/effective-receptive-field.md.

    .venv/bin/python docs/scripts/erf_figures.py

Every network is at random initialisation (seeded); nothing is trained. Runs in about
two minutes on two CPU cores and writes docs/images/erf_*.png; the numbers quoted on
the page are printed.
"""

from __future__ import annotations

import math
from pathlib import Path

import torch
from matplotlib.figure import Figure
from matplotlib.ticker import NullFormatter
from torch import nn

from convzoo.analysis import effective_receptive_field, plot_erf
from convzoo.registry import create_model

IMAGES = Path(__file__).resolve().parents[1] / "images"
DEPTHS = [2, 4, 8, 16, 32]
WIDTH = 16  # channels of the conv stacks
INITS = 3  # random initialisations averaged per depth
# Theoretical RF side of each feature_info stage, from r_out = r_in + (k - 1) * jump:
# act1 7, layer1 43 (after the 3x3/2 max pool), then layer2..4 99, 211, 435.
RESNET18_RF = [7, 43, 99, 211, 435]
VGG11_RF = 150  # last feature map, after the fifth max pool (134 before it)


def conv_stack(depth: int, width: int = WIDTH) -> nn.Sequential:
    """``depth`` 3x3 convs + ReLU without padding (PyTorch's default init), 1 input channel."""
    layers: list[nn.Module] = []
    for index in range(depth):
        layers += [nn.Conv2d(1 if index == 0 else width, width, 3), nn.ReLU()]
    return nn.Sequential(*layers)


def depth_sweep() -> list[dict]:
    rows = []
    for depth in DEPTHS:
        size = 2 * depth + 1  # the output is one unit whose RF is the whole input
        r50, r95, sigma = [], [], []
        for init in range(INITS):
            torch.manual_seed(init)
            result = effective_receptive_field(
                conv_stack(depth), (1, size, size), samples=32, batch_size=32, seed=init, theoretical_size=size
            )
            r50.append(result.radius_50)
            r95.append(result.radius_95)
            sigma.append(result.sigma)
        rows.append(dict(
            depth=depth, rf=size, radius_50=sum(r50) / INITS, radius_95=sum(r95) / INITS,
            sigma=sum(sigma) / INITS, uniform_sigma=math.sqrt(2 * depth / 3),
        ))
        row = rows[-1]
        print(
            f"n={depth:2d} RF={size:2d}  r50={row['radius_50']:5.2f} r95={row['radius_95']:5.2f} "
            f"sigma={row['sigma']:5.2f} (uniform linear {row['uniform_sigma']:5.2f})  "
            f"r95/(RF/2)={row['radius_95'] / (size / 2):.2f}"
        )
    return rows


def plot_depth(rows: list[dict], path: Path) -> None:
    depths = [row["depth"] for row in rows]
    figure = Figure(figsize=(5.2, 3.8))
    axes = figure.subplots()
    axes.loglog(depths, [row["rf"] / 2 for row in rows], "k--", label="theoretical RF / 2  (~ n)")
    axes.loglog(depths, [row["radius_95"] for row in rows], "o-", label="ERF 95% radius")
    axes.loglog(depths, [row["radius_50"] for row in rows], "s-", label="ERF 50% radius")
    axes.loglog(depths, [row["sigma"] for row in rows], "^-", label="ERF sigma")
    reference = rows[0]["radius_95"] / math.sqrt(depths[0])
    axes.loglog(depths, [reference * math.sqrt(d) for d in depths], ":", color="grey", label="~ sqrt(n)")
    axes.set_xlabel("number of 3x3 conv + ReLU layers, n")
    axes.set_ylabel("pixels")
    axes.set_xticks(depths, [str(d) for d in depths])
    axes.set_yticks([2, 4, 8, 16, 32], ["2", "4", "8", "16", "32"])
    axes.xaxis.set_minor_formatter(NullFormatter())
    axes.yaxis.set_minor_formatter(NullFormatter())
    axes.set_title(f"ERF vs depth (random init, {WIDTH} channels, {INITS} inits x 32 inputs)", fontsize=9)
    axes.legend(fontsize=7)
    figure.tight_layout()
    figure.savefig(path, dpi=80)


def slope(rows: list[dict], key: str) -> float:
    """Least-squares exponent of ``key`` ~ n**slope."""
    xs = [math.log(row["depth"]) for row in rows]
    ys = [math.log(row[key]) for row in rows]
    mean_x, mean_y = sum(xs) / len(xs), sum(ys) / len(ys)
    return sum((x - mean_x) * (y - mean_y) for x, y in zip(xs, ys)) / sum((x - mean_x) ** 2 for x in xs)


def main() -> None:
    torch.set_num_threads(2)
    IMAGES.mkdir(parents=True, exist_ok=True)

    rows = depth_sweep()
    print(f"log-log slope: r95 {slope(rows, 'radius_95'):.2f}, r50 {slope(rows, 'radius_50'):.2f}, "
          f"sigma {slope(rows, 'sigma'):.2f} (sqrt(n) = 0.5, RF = 1)")
    plot_depth(rows, IMAGES / "erf_depth.png")

    # ResNet-18 at 480x480: the last map is 15x15, the central unit's 435-pixel RF fits.
    torch.manual_seed(0)
    resnet = create_model("resnet18")
    for stage, rf in enumerate(RESNET18_RF):
        samples = 4 if stage == len(RESNET18_RF) - 1 else 8
        result = effective_receptive_field(
            resnet, (3, 480, 480), samples=samples, stage=stage, batch_size=4, theoretical_size=rf
        )
        print(f"resnet18 stage {stage} RF={rf:3d}: r50={result.radius_50:6.1f} r95={result.radius_95:6.1f} "
              f"r50/(RF/2)={result.ratio_50:.2f} r95/(RF/2)={result.ratio_95:.2f}")
    plot_erf(result, IMAGES / "erf_resnet18.png", log=True,
             title="ResNet-18, random init, last map, 480x480 (log)", dpi=70)

    # VGG-11 at 160x160: the last map (after pool5) is 5x5, its RF is 150.
    torch.manual_seed(0)
    result = effective_receptive_field(
        create_model("vgg11"), (3, 160, 160), samples=8, batch_size=4, theoretical_size=VGG11_RF
    )
    print(f"vgg11 last RF={VGG11_RF}: r50={result.radius_50:.1f} r95={result.radius_95:.1f} "
          f"r50/(RF/2)={result.ratio_50:.2f} r95/(RF/2)={result.ratio_95:.2f}")
    plot_erf(result, IMAGES / "erf_vgg11.png", title="VGG-11, random init, last map, 160x160", dpi=70)


if __name__ == "__main__":
    main()
