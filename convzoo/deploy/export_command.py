"""``convzoo export MODEL_OR_CHECKPOINT --out model.onnx``: an ONNX file checked in onnxruntime against PyTorch,
or torch.export's ExportedProgram (``--format pt2``). The exporting is :mod:`convzoo.deploy.export`'s."""

from __future__ import annotations

import argparse

from torch import nn

from convzoo.deploy.source import load_source
from convzoo.errors import ConvzooError

__all__ = ["cmd_export"]


def cmd_export(args: argparse.Namespace) -> None:
    from convzoo.deploy.export import export_onnx, export_pt2  # onnx and onnxruntime: the optional extra "deploy"

    file_format = args.format or ("pt2" if args.out.suffix == ".pt2" else "onnx")
    if file_format == "pt2" and args.opset is not None:
        raise ConvzooError("--opset is an ONNX setting; a pt2 file has none: drop --opset or use --format onnx")
    model, name, input_size, metadata = _load(args)
    shape = "x".join(map(str, input_size))
    batch = "dynamic batch" if args.dynamic_batch else "batch 1"
    if file_format == "pt2":
        path = export_pt2(model, args.out, input_size=input_size, dynamic_batch=args.dynamic_batch)
        print(f"{name}: {path} (torch.export program, {_megabytes(path.stat().st_size)}, input {shape}, {batch}, "
              "matches PyTorch)")
        return
    report = export_onnx(model, args.out, input_size=input_size, dynamic_batch=args.dynamic_batch, opset=args.opset,
                         metadata=metadata, exporter=args.exporter)
    extra = ", preprocessing in metadata" if "mean" in metadata else ""
    print(f"{name}: {report.path} (ONNX opset {report.opset}, {_megabytes(report.size_bytes)}, input {shape}, {batch}"
          f"{extra}; onnxruntime max abs difference {report.max_abs_difference:.2g})")


def _load(args: argparse.Namespace) -> tuple[nn.Module, str, tuple[int, ...], dict[str, str]]:
    from convzoo.deploy.export import checkpoint_metadata

    source = load_source(args.model, args.input)
    metadata = checkpoint_metadata(source.meta) if source.meta else {"model": source.name, "weights": "random"}
    return source.model, source.name, source.input_size, metadata


def _megabytes(size: int) -> str:
    return f"{size / 1e6:.1f} MB"
