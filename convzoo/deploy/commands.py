"""The deployment commands of ``convzoo``: export, quantize, prune and bench, and the names their flags
offer. Torch-free: each command imports its modules, torch and the optional dependencies (the extra
``deploy``) when it runs, so that building the parser and ``--help`` need none of them. The work of
each is its ``*_command`` module's."""

from __future__ import annotations

import argparse
from pathlib import Path

from convzoo.arguments import deferred, parse_shape, positive_int

__all__ = ["BACKENDS", "CALIBRATION_BATCH", "DEFAULT_CALIBRATION_BATCHES", "FORMATS", "IMPORTANCES", "METHODS",
           "add_bench_command", "add_deploy_commands", "add_export_command", "add_prune_command",
           "add_quantize_command", "parse_batch_sizes"]

FORMATS = ("onnx", "pt2")
# The keys of convzoo.deploy.quantize.CALIBRATION_METHODS, named here so that building the parser does not
# import onnxruntime (a test checks that they agree).
METHODS = ("entropy", "minmax", "percentile")
# Pruning's channel rankings and the benchmark's backends: convzoo.deploy.prune and .bench use these.
IMPORTANCES = ("magnitude", "taylor")
BACKENDS = ("eager", "channels_last", "compile", "fused", "onnxruntime", "onnxruntime-int8")
DEFAULT_CALIBRATION_BATCHES = 8
CALIBRATION_BATCH = 32  # images per Taylor-importance batch of convzoo prune


def add_deploy_commands(commands: argparse._SubParsersAction) -> None:
    for add_command in (add_export_command, add_quantize_command, add_prune_command, add_bench_command):
        add_command(commands)


def add_export_command(commands: argparse._SubParsersAction) -> None:
    export = commands.add_parser("export", help="export a model or checkpoint to ONNX (checked against PyTorch in "
                                 "onnxruntime) or to torch.export's ExportedProgram (.pt2)")
    export.add_argument("model", metavar="MODEL_OR_CHECKPOINT",
                        help="a checkpoint (run folder or file) or a registered model name (random weights)")
    export.add_argument("--out", type=Path, required=True, help="the file to write, e.g. model.onnx or model.pt2")
    export.add_argument("--input", type=parse_shape,
                        help="input shape CxHxW, CxDxHxW for a 3-D network (default: the checkpoint's, else the "
                             "model's)")
    export.add_argument("--dynamic-batch", action="store_true", help="a free batch axis (default: batch 1)")
    export.add_argument("--opset", type=positive_int, help="ONNX opset (default: the exporter's, 20 for torchscript)")
    export.add_argument("--format", choices=FORMATS,
                        help="onnx or pt2 (default: pt2 when --out ends in .pt2, else onnx)")
    export.add_argument("--exporter", default="torchscript",
                        help="PyTorch's ONNX exporter: torchscript (default; fast) or dynamo (torch.export, opsets "
                             "18-23); docs/deployment.md compares them")
    export.set_defaults(run=deferred("convzoo.deploy.export_command", "cmd_export"), outputs={"out": "file"})


def add_quantize_command(commands: argparse._SubParsersAction) -> None:
    quantize = commands.add_parser(
        "quantize", help="int8 ONNX model of a classification checkpoint (static, QDQ, calibrated on its training "
        "images), or its weights as k-means codebooks (--codebook-size); prints test accuracy before and after",
    )
    quantize.add_argument("checkpoint", type=Path, help="run folder or checkpoint written by convzoo train")
    quantize.add_argument("--out", type=Path, required=True, help="the int8 ONNX file (model.int8.onnx), or with "
                          "--codebook-size the codes and codebooks (model.codebooks.safetensors)")
    quantize.add_argument("--calibration-batches", type=positive_int, help="training batches whose activation "
                          f"ranges calibrate the int8 model (default: {DEFAULT_CALIBRATION_BATCHES})")
    quantize.add_argument("--method", choices=METHODS, default="minmax",
                          help="how activation ranges are chosen: minmax (no clipping), entropy (KL divergence), "
                          "percentile (99.999%% of values); default minmax")
    quantize.add_argument("--per-tensor", action="store_true", help="one weight scale per layer, not per channel")
    quantize.add_argument("--batch-size", type=positive_int, default=32, help="images per calibration and test batch")
    quantize.add_argument("--codebook-size", type=positive_int, help="quantise the conv and linear weights instead: "
                          "k-means centroids per layer (Stock et al. 2020; 256 = one byte per block)")
    quantize.add_argument("--block-size", type=positive_int, help="with --codebook-size: weights per block (default: "
                          "the kernel for KxK convs, 4 for 1x1 convs and linear layers; 1 = scalar k-means)")
    quantize.add_argument("--data-dir", help="folder holding the dataset's standard files (default: the run's)")
    quantize.set_defaults(run=deferred("convzoo.deploy.quantize_command", "cmd_quantize"), outputs={"out": "file"})


def _fraction(text: str) -> float:
    """An argument type: a number strictly between 0 and 1."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a fraction between 0 and 1, got {text!r}") from None
    if not 0 < value < 1:
        raise argparse.ArgumentTypeError(f"expected a fraction between 0 and 1 (both excluded), got {text!r}")
    return value


def add_prune_command(commands: argparse._SubParsersAction) -> None:
    prune = commands.add_parser("prune", help="prune a classifier's channels to a MAC budget (or zero its smallest "
                                "weights), then fine-tune it; MACs, parameters and test accuracy before and after")
    prune.add_argument("checkpoint", help="a checkpoint written by convzoo train, or a model name (random weights: "
                       "MACs and parameters only)")
    prune.add_argument("--out", type=Path, required=True, help="folder for pruned.safetensors and the fine-tuning run")
    prune.add_argument("--target-macs", type=_fraction, default=0.5,
                       help="MAC fraction to keep, measured by convzoo's profile (default: 0.5)")
    prune.add_argument("--importance", choices=IMPORTANCES, default="magnitude",
                       help="channel ranking: weight magnitude, or Taylor |weight x gradient| on training batches")
    prune.add_argument("--global", dest="global_pruning", action="store_true",
                       help="one ranking over all layers (structured) or one threshold (unstructured); default: "
                            "the same share in every layer")
    prune.add_argument("--round-to", type=positive_int, metavar="N",
                       help="keep every pruned layer's channel count a multiple of N (8 suits onnxruntime's and "
                            "oneDNN's blocked kernels; default: any count)")
    prune.add_argument("--unstructured", type=_fraction, metavar="SPARSITY",
                       help="zero this share of the conv and linear weights instead of removing channels")
    prune.add_argument("--finetune-epochs", type=int, default=0, metavar="N",
                       help="epochs of fine-tuning after structured pruning (default: 0)")
    prune.add_argument("--lr", type=float, default=1e-3, help="fine-tuning learning rate, Adam (default: 1e-3)")
    prune.add_argument("--batch-size", type=positive_int, default=64, help="fine-tuning batch (default: 64)")
    prune.add_argument("--calibration-batches", type=positive_int, default=4,
                       help=f"training batches of {CALIBRATION_BATCH} for Taylor importance (default: 4)")
    prune.add_argument("--input", type=parse_shape, help="a model name's input CxHxW (default: the model's)")
    prune.set_defaults(run=deferred("convzoo.deploy.prune_command", "cmd_prune"), outputs={"out": "folder"})


def parse_batch_sizes(text: str) -> tuple[int, ...]:
    """``"1,8"`` -> ``(1, 8)``."""
    parts = text.split(",")
    if not all(part.strip().isdigit() and int(part) > 0 for part in parts):
        raise argparse.ArgumentTypeError(f"bad batch sizes {text!r}: expected positive integers such as 1,8")
    return tuple(dict.fromkeys(int(part) for part in parts))


def add_bench_command(commands: argparse._SubParsersAction) -> None:
    bench = commands.add_parser("bench", help="latency (median, p90) and images/s of every inference path: eager, "
                                "channels_last, torch.compile, folded, onnxruntime fp32 and int8")
    bench.add_argument("model", metavar="MODEL_OR_CHECKPOINT",
                       help="a checkpoint (run folder or file) or a registered model name (random weights)")
    bench.add_argument("--backends", default=",".join(BACKENDS), metavar="NAME[,NAME...]",
                       help=f"comma-separated, some of {', '.join(BACKENDS)} (default: all)")
    bench.add_argument("--batch-size", type=parse_batch_sizes, default=(1,), metavar="B[,B...]",
                       help="batch sizes, comma-separated, e.g. 1,8 (default: 1)")
    bench.add_argument("--input", type=parse_shape, metavar="CxHxW",
                       help="input shape CxHxW (default: the checkpoint's, else the model's)")
    bench.add_argument("--threads", type=positive_int, metavar="N",
                       help="torch and onnxruntime threads (default: torch's own)")
    bench.add_argument("--warmup", type=positive_int, default=3, metavar="N",
                       help="untimed calls per backend and batch (default: 3)")
    bench.add_argument("--repeats", type=positive_int, default=20, metavar="N",
                       help="timed calls per backend and batch; median and p90 of them (default: 20)")
    bench.add_argument("--calibration-batches", type=positive_int, default=4, metavar="N",
                       help="int8 calibration batches of 8: the checkpoint's training images, random inputs for a "
                            "model name (default: 4)")
    bench.add_argument("--data-dir", metavar="DIR",
                       help="a checkpoint's dataset files for int8 calibration (default: the ones it was trained on)")
    bench.add_argument("--plot", type=Path, metavar="PNG", help="bar plot of images/s per backend (PNG)")
    bench.set_defaults(run=deferred("convzoo.deploy.bench_command", "cmd_bench"), outputs={"plot": "file"})
