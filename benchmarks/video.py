"""Video: a 3D network against its frame-averaged 2D twin on the moving digits, clip decoding speed, MACs per clip.

Three measurements, one section of BENCHMARKS.md:

1. Training (``--task video`` on the embedded moving digits: 16 frames of 32x32, gray, 12
   motion classes, scored on the held-out test clips): ``c3d_small`` (C3D's Sec. 3.2
   network, 3x3x3 kernels) and ``c2d_small`` (the same layers on each frame alone, logits
   averaged over the frames) with the same widths, epochs, batch and optimiser.
2. Decoding: clips per second read from the real videos that Debian's ``opencv-doc``
   ships (16 random frames each, decoded by :class:`~convzoo.data.video.clips.VideoClipDataset`
   after a seek, resized to 128 and cropped to 112), against decoding each file from its
   start to the clip's last frame (what a reader without seeking does), in one process.
3. MACs per 16x112x112 clip of the video networks, measured by ``convzoo.analysis.profile``,
   beside the GFLOPS torchvision publishes for its weights (its ``_ops``, which are MACs).

Usage::

    python benchmarks/video.py [--parts train decode macs] [--epochs 7] [--clips 4800]
        [--out runs/video-benchmark] [--write BENCHMARKS.md]

The issue's aim: the 3D network >= 95% clip accuracy on held-out clips within 15 minutes
of CPU training, beside the 2D network of similar cost at the same budget.
"""

from __future__ import annotations

import argparse
import datetime
import platform
import statistics
import time
from pathlib import Path

import numpy as np
import torch
from sections import write_section

from convzoo.analysis.profile import profile
from convzoo.data.video.clips import VideoClipDataset, VideoSample
from convzoo.data.video.decode import VideoReader
from convzoo.registry import create_model, get_entry
from convzoo.train.config import resolve_config
from convzoo.train.runner import train

TITLE = "## Video: 3D against frame-averaged 2D convolution, decoding, MACs per clip"
NETWORK = dict(widths=[32, 64, 128, 128, 128], fc_features=512, norm_layer="batchnorm")
RUNS = ("c3d_small", "c2d_small")
OPENCV_VIDEOS = Path("/usr/share/doc/opencv-doc/examples/data")
VIDEO_FILES = ("tree.avi", "Megamind.avi", "vtest.avi")
TORCHVISION_GFLOPS = {"r3d_18": 40.697, "mc3_18": 43.343, "r2plus1d_18": 40.519}  # MACs, torchvision's _ops
MAC_MODELS = ("c3d", "r3d_18", "mc3_18", "r2plus1d_18", "c3d_small", "c2d_small")


def train_run(model: str, epochs: int, clips: int, out: Path) -> dict:
    config = resolve_config(task="video", model=model, model_kwargs=dict(NETWORK), epochs=epochs, video_clips=clips,
                            batch_size=32, lr=1e-3, out=str(out / model))
    start = time.perf_counter()
    report = train(config).test_metrics
    macs = profile(_built(model, in_chans=1, num_classes=12, **NETWORK), (1, 16, 32, 32)).macs
    return {**report, "model": model, "minutes": (time.perf_counter() - start) / 60, "epochs": epochs,
            "training_clips": clips, "macs": macs}


def _built(name: str, **kwargs) -> torch.nn.Module:
    with torch.device("meta"):
        return create_model(name, **kwargs)


def _decode_without_seeking(path: str, indices: list[int]) -> torch.Tensor:
    """The clip's frames decoded from the start of the file: the same reader, without its seek."""
    with VideoReader(path) as reader:
        decoded = reader._decode_from_start(set(indices))
    return torch.from_numpy(np.stack([decoded[index] for index in indices]))


def decode_speed(clips_per_file: int = 20) -> list[dict]:
    rows = []
    for name in VIDEO_FILES:
        path = str(OPENCV_VIDEOS / name)
        dataset = VideoClipDataset([VideoSample(path, 0)], ["video"], mode="random")
        torch.manual_seed(0)
        starts = [int(torch.randint(0, VideoReader(path).info.num_frames - 16, ())) for _ in range(clips_per_file)]
        ours, reference = [], []
        for start in starts:
            indices = list(range(start, start + 16))
            begin = time.perf_counter()
            with VideoReader(path) as reader:
                dataset.transform(reader.read(indices))
            ours.append(time.perf_counter() - begin)
            begin = time.perf_counter()
            dataset.transform(_decode_without_seeking(path, indices))
            reference.append(time.perf_counter() - begin)
        info = VideoReader(path).info
        rows.append({"file": name, "frames": info.num_frames, "size": f"{info.width}x{info.height}",
                     "ours": 1 / statistics.median(ours), "reference": 1 / statistics.median(reference)})
    return rows


def mac_rows() -> list[dict]:
    rows = []
    for name in MAC_MODELS:
        model = _built(name)
        result = profile(model, get_entry(name).input_size)
        rows.append({"model": name, "params": result.params, "gmacs": result.macs / 1e9,
                     "torchvision": TORCHVISION_GFLOPS.get(name)})
    return rows


def _percent(row: dict, key: str) -> str:
    return f"{row[key]:.1%}" if key in row else "-"


def train_section(rows: list[dict]) -> list[str]:
    kwargs = ", ".join(f"{key}={value}" for key, value in NETWORK.items())
    lines = [
        "### Moving digits: 3D against frame-averaged 2D",
        "",
        f"`python benchmarks/video.py --parts train`: `--task video` on the generated moving digits (16 frames "
        f"of 32x32, gray, 12 motion classes; {rows[0]['training_clips']:,} training clips, "
        f"{rows[0]['clips']} held-out test clips of other digits), both networks with {kwargs}, Adam at "
        "1e-3, cosine schedule, batch 32, seed 0. Chance is 8.3%.",
        "",
        "| network | MACs per clip | epochs | clip accuracy | top-5 | minutes |",
        "|---|---:|---:|---:|---:|---:|",
    ]
    for row in rows:
        lines.append(f"| `{row['model']}` | {row['macs'] / 1e6:,.0f} M | {row['epochs']} | "
                     f"{_percent(row, 'clip_accuracy')} | {_percent(row, 'clip_top5')} | {row['minutes']:.1f} |")
    return lines


def decode_section(rows: list[dict]) -> list[str]:
    lines = [
        "### Decoding clips from real files",
        "",
        "`python benchmarks/video.py --parts decode`: 20 random 16-frame clips of each of opencv-doc's videos, "
        "decoded after a seek to the clip's key frame, resized to 128 and centre-cropped to 112 (clips per "
        "second, median), against decoding from the file's start to the clip's last frame.",
        "",
        "| file | frames | size | clips/s | reference clips/s | ratio |",
        "|---|---:|---|---:|---:|---:|",
    ]
    for row in rows:
        lines.append(f"| {row['file']} | {row['frames']} | {row['size']} | {row['ours']:.1f} | "
                     f"{row['reference']:.1f} | {row['ours'] / row['reference']:.1f}x |")
    return lines


def mac_section(rows: list[dict]) -> list[str]:
    lines = [
        "### MACs per clip",
        "",
        "`python benchmarks/video.py --parts macs`: one 3x16x112x112 clip, measured by `convzoo.analysis.profile`; "
        "torchvision's column is the GFLOPS its weights' documentation gives (its `_ops`, counted as MACs).",
        "",
        "| network | parameters | GMACs | torchvision |",
        "|---|---:|---:|---:|",
    ]
    for row in rows:
        reference = f"{row['torchvision']:.3f}" if row["torchvision"] else "-"
        lines.append(f"| `{row['model']}` | {row['params']:,} | {row['gmacs']:.3f} | {reference} |")
    return lines


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--parts", nargs="+", choices=("train", "decode", "macs"), default=["train", "decode", "macs"])
    parser.add_argument("--epochs", type=int, default=7)
    parser.add_argument("--clips", type=int, default=4800, help="training clips of the moving digits")
    parser.add_argument("--out", default="runs/video-benchmark")
    parser.add_argument("--write", help="write the markdown section into this file")
    args = parser.parse_args()
    lines = [
        TITLE, "",
        f"{datetime.date.today()}, {platform.machine()}, {torch.get_num_threads()} threads, torch {torch.__version__}.",
    ]
    if "train" in args.parts:
        rows = []
        for model in RUNS:
            rows.append(train_run(model, args.epochs, args.clips, Path(args.out)))
            print(f"{model}: {rows[-1]['clip_accuracy']:.1%} in {rows[-1]['minutes']:.1f} min", flush=True)
        lines += ["", *train_section(rows)]
    if "decode" in args.parts:
        lines += ["", *decode_section(decode_speed())]
    if "macs" in args.parts:
        lines += ["", *mac_section(mac_rows())]
    text = "\n".join(lines) + "\n"
    print(text)
    if args.write:
        write_section(Path(args.write), TITLE, text)


if __name__ == "__main__":
    main()
