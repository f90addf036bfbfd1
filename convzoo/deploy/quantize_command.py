"""``convzoo quantize CHECKPOINT``: int8 ONNX through onnxruntime's static quantiser, or weight codebooks,
with the test accuracy before and after.

    convzoo quantize runs/lenet5 --calibration-batches 8 --method entropy --out model.int8.onnx
    convzoo quantize runs/lenet5 --codebook-size 256 --out model.codebooks.safetensors
"""

from __future__ import annotations

import argparse
import tempfile
from pathlib import Path

import torch

from convzoo.data import ImageSplits, load_dataset
from convzoo.deploy.commands import DEFAULT_CALIBRATION_BATCHES
from convzoo.errors import ConvzooError
from convzoo.tasks.classification.objective import ClassificationTask
from convzoo.train.checkpoint import CheckpointMeta, load_checkpoint
from convzoo.train.engine import evaluate

__all__ = ["cmd_quantize"]



def _classification_checkpoint(path: Path) -> tuple[torch.nn.Module, CheckpointMeta]:
    if not path.exists():
        raise ConvzooError(f"{path} does not exist; quantize needs a trained classification checkpoint (a run folder "
                           "or .safetensors), whose dataset calibrates and scores it")
    model, meta = load_checkpoint(path)
    if meta.task != "classification":
        raise ConvzooError(f"{path} is a {meta.task} checkpoint; convzoo quantize scores classification checkpoints")
    return model, meta


def _check_mode(args: argparse.Namespace) -> None:
    if args.codebook_size is None:
        if args.block_size is not None:
            raise ConvzooError("--block-size applies to weight codebooks: add --codebook-size K")
        return
    given = [flag for flag, value in (("--calibration-batches", args.calibration_batches),
                                      ("--per-tensor", args.per_tensor or None)) if value is not None]
    if given:
        raise ConvzooError(f"{', '.join(given)} applies to int8 ONNX, not to weight codebooks (--codebook-size)")


def _splits(args: argparse.Namespace, meta: CheckpointMeta) -> ImageSplits:
    in_chans, image_size, _ = meta.input_size
    data_dir = args.data_dir or meta.task_args.get("data_dir")
    return load_dataset(meta.dataset, image_size=image_size, in_chans=in_chans, augment="none", data_dir=data_dir)


def _size(path: Path) -> str:
    return f"{path.stat().st_size:,} bytes"


def _int8_lines(args: argparse.Namespace, model: torch.nn.Module, meta: CheckpointMeta, splits: ImageSplits) -> list[str]:
    from convzoo.deploy.export import export_onnx
    from convzoo.deploy.quantize import calibration_batches, onnx_accuracy, quantize_onnx

    batches = args.calibration_batches or DEFAULT_CALIBRATION_BATCHES
    calibration = calibration_batches(splits.train, batches, args.batch_size)
    with tempfile.TemporaryDirectory(prefix="convzoo-quantize-") as work:
        fp32 = Path(work) / "model.onnx"
        export_onnx(model, fp32, input_size=tuple(meta.input_size), dynamic_batch=True)
        quantize_onnx(fp32, args.out, calibration, method=args.method, per_channel=not args.per_tensor)
        before = onnx_accuracy(fp32, splits.test, batch_size=args.batch_size)
        after = onnx_accuracy(args.out, splits.test, batch_size=args.batch_size)
        fp32_size = _size(fp32)
    weights = "per-tensor" if args.per_tensor else "per-channel"
    return [
        f"{meta.model} on {meta.dataset} (test, {len(splits.test)} images): int8 QDQ, {args.method} calibration on "
        f"{len(calibration)} training batches, {weights} weights",
        f"fp32 onnx     accuracy {before:.2%}  ({fp32_size})",
        f"int8 onnx     accuracy {after:.2%}  ({_size(args.out)}), {100 * (after - before):+.2f} points",
        f"int8 model    {args.out}",
    ]


def _accuracy(model: torch.nn.Module, splits: ImageSplits, meta: CheckpointMeta, batch_size: int) -> float:
    metrics, _ = evaluate(model, splits.test, ClassificationTask(len(meta.class_names)), batch_size=batch_size)
    return metrics["accuracy"]


def _codebook_lines(args: argparse.Namespace, model: torch.nn.Module, meta: CheckpointMeta,
                    splits: ImageSplits) -> list[str]:
    from convzoo.deploy.weight_codebooks import decode_weights, quantize_weights, save_codebooks

    codebooks = quantize_weights(model, codebook_size=args.codebook_size, block_size=args.block_size)
    if not codebooks.layers:
        raise ConvzooError(f"{meta.model} has no conv or linear weight that codebooks of {args.codebook_size} "
                           "centroids would make smaller")
    save_codebooks(codebooks, args.out)
    before = _accuracy(model, splits, meta, args.batch_size)
    after = _accuracy(decode_weights(model, codebooks), splits, meta, args.batch_size)
    return [
        f"{meta.model} on {meta.dataset} (test, {len(splits.test)} images): {len(codebooks.layers)} weights as "
        f"codebooks of {args.codebook_size}, {len(codebooks.skipped)} left in float32",
        f"float32       accuracy {before:.2%}  ({codebooks.original_bytes:,} bytes of tensors)",
        f"codebooks     accuracy {after:.2%}  ({codebooks.compressed_bytes:,} bytes of tensors, "
        f"{codebooks.ratio:.1f}x smaller), {100 * (after - before):+.2f} points",
        f"codebooks     {args.out}",
        *(f"float32       {name}: {why}" for name, why in codebooks.skipped.items()),
    ]


def cmd_quantize(args: argparse.Namespace) -> None:
    _check_mode(args)
    model, meta = _classification_checkpoint(args.checkpoint)
    splits = _splits(args, meta)
    lines = (_codebook_lines if args.codebook_size else _int8_lines)(args, model, meta, splits)
    for line in lines:
        print(line)
