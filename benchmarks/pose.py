"""Pose estimation on the synthetic people: a top-down and a bottom-up network trained here, one table.

Trains, with ``--task pose`` on the embedded default (seeded synthetic people, scored on
the held-out test images), each configuration of :data:`RUNS`: a reduced-width
``hourglass_s2`` (top-down: PCK@0.2 and COCO's keypoint AP with the people's boxes, flip
test) and ``openpose_small`` (bottom-up: the share of images whose people it counts right,
and COCO's AP of the people it groups). Budget, machine and date go into the section.

Usage::

    python benchmarks/pose.py [--runs hourglass openpose] [--epochs-hourglass 12] [--epochs-openpose 20]
        [--out runs/pose-benchmark] [--write BENCHMARKS.md]

The issue's aims: PCK@0.2 >= 85% for hourglass_s2 at reduced width within 15 minutes of
CPU training, and the right number of people in >= 80% of the held-out images.
"""

from __future__ import annotations

import argparse
import datetime
import platform
import time
from pathlib import Path

import torch
from sections import write_section

from convzoo.registry import create_model
from convzoo.train.config import resolve_config
from convzoo.train.runner import train

TITLE = "## Pose estimation on the synthetic people"
RUNS = {  # name -> the run's settings besides its epochs
    "hourglass": dict(model="hourglass_s2", model_kwargs={"num_features": 32}, image_size=64, batch_size=16,
                      lr=2e-3),
    "openpose": dict(model="openpose_small", bottom_up=True, image_size=128, batch_size=16, lr=2e-3),
}


def run(name: str, epochs: int, images: int, out: Path) -> dict:
    settings = RUNS[name]
    config = resolve_config(task="pose", epochs=epochs, pose_images=images, out=str(out / name), **settings)
    start = time.perf_counter()
    report = train(config).test_metrics
    with torch.device("meta"):
        model = create_model(settings["model"], **settings.get("model_kwargs", {}),
                             **({"num_classes": 17} if name == "hourglass" else {}))
    return {"name": name, "model": settings["model"], "minutes": (time.perf_counter() - start) / 60,
            "epochs": epochs, "images": images, "side": settings["image_size"],
            "params": sum(p.numel() for p in model.parameters()), **report}


def _cell(row: dict, key: str, percent: bool = False) -> str:
    if key not in row:
        return "-"
    return f"{row[key]:.1%}" if percent else f"{row[key]:.3f}"


def section(rows: list[dict]) -> str:
    lines = [
        TITLE,
        "",
        f"`python benchmarks/pose.py`: each network trained here with `--task pose` on the synthetic people "
        f"(Adam, cosine schedule, seed 0; a quarter of the training count as held-out test images, drawn with "
        f"their own data seed), scored on the test images. {datetime.date.today()}, {platform.machine()}, "
        f"{torch.get_num_threads()} threads, torch {torch.__version__}.",
        "",
        "| network | input | parameters | training | PCK@0.2 | right count | AP | AP50 | AR | minutes |",
        "|---|---|---:|---|---:|---:|---:|---:|---:|---:|",
    ]
    for row in rows:
        kwargs = RUNS[row["name"]].get("model_kwargs", {})
        label = f"`{row['model']}`" + (f" ({', '.join(f'{k}={v}' for k, v in kwargs.items())})" if kwargs else "")
        lines.append(
            f"| {label} | {row['side']}x{row['side']} | {row['params']:,} | {row['epochs']} epochs x "
            f"{row['images']:,} images | {_cell(row, 'pck@0.2', True)} | {_cell(row, 'people_count_accuracy', True)} "
            f"| {row['AP']:.3f} | {row['AP50']:.3f} | {row['AR']:.3f} | {row['minutes']:.1f} |"
        )
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", nargs="+", choices=sorted(RUNS), default=list(RUNS))
    parser.add_argument("--epochs-hourglass", type=int, default=12)
    parser.add_argument("--epochs-openpose", type=int, default=20)
    parser.add_argument("--images", type=int, default=1024, help="synthetic training images per run")
    parser.add_argument("--out", default="runs/pose-benchmark")
    parser.add_argument("--write", help="write the markdown section into this file")
    args = parser.parse_args()
    rows = []
    for name in args.runs:
        rows.append(run(name, getattr(args, f"epochs_{name}"), args.images, Path(args.out)))
        print(f"{name}: {rows[-1]['minutes']:.1f} min", flush=True)
    text = section(rows)
    print(text)
    if args.write:
        write_section(Path(args.write), TITLE, text)


if __name__ == "__main__":
    main()
