"""``convzoo``'s commands that build networks: train, eval, predict, retrieve, rf, erf, compare, ops,
attention; and the commands of every task, of deployment and of architecture search.

Importing this module imports no torch, so that ``convzoo --help`` and every command's ``--help``
answer at once: each command imports what it needs when it runs, and the tasks' and deployment's
flags come from their torch-free modules. :mod:`convzoo.cli` builds these parsers only for these
commands.
"""

from __future__ import annotations

import argparse
import json
import sys
from dataclasses import fields
from pathlib import Path

from convzoo.arguments import model_input, parse_shape, positive_int, train_flag
from convzoo.data.names import AUGMENTATIONS, IMAGE_DATASETS
from convzoo.deploy.commands import add_deploy_commands
from convzoo.errors import ConvzooError
from convzoo.nas.commands import add_nas_commands
from convzoo.site.command import add_site_command
from convzoo.tasks import TASKS, get_task, task_flags
from convzoo.train.config import RECIPES, TrainConfig, resolve_config

__all__ = ["add_commands"]


def parse_size(text: str) -> tuple[int, int]:
    """``"56x56"`` -> ``(56, 56)``."""
    parts = text.lower().split("x")
    if len(parts) != 2 or not all(part.isdigit() and int(part) > 0 for part in parts):
        raise argparse.ArgumentTypeError(f"bad size {text!r}: expected HxW such as 56x56")
    return int(parts[0]), int(parts[1])


def cmd_train(args: argparse.Namespace) -> None:
    from convzoo.registry import get_entry
    from convzoo.train.progress import ProgressReporter
    from convzoo.train.runner import train

    if args.resume is None and args.model is None:
        raise ConvzooError("give a MODEL to train, or --resume DIR to continue a run")
    progress = ProgressReporter(sys.stdout, 0)
    if args.resume is not None:
        given = [name for name in ("model", "model_kwargs", "genotype", "recipe", *TRAIN_FLAGS)
                 if name != "epochs" and getattr(args, name) is not None]
        if given:
            flags = ", ".join("MODEL" if name == "model" else "--" + name.replace("_", "-") for name in given)
            raise ConvzooError(f"--resume continues a run with its saved settings, so it takes only --epochs "
                               f"(to change the run's length), not {flags}")
        result = train(progress=progress, resume=args.resume, epochs=args.epochs)
        out = Path(args.resume)
    else:
        get_entry(args.model)  # an unknown name fails before anything is written
        overrides = {name: getattr(args, name) for name in TRAIN_FLAGS}
        overrides["model_kwargs"] = dict(args.model_kwargs) if args.model_kwargs else None
        if args.genotype is not None:
            overrides["model_kwargs"] = {**(overrides["model_kwargs"] or {}), "genotype": read_genotype(args.genotype)}
        config = resolve_config(args.recipe, model=args.model, **overrides)
        result = train(config, progress)
        out = Path(config.out)
    if not result.is_main:
        return  # the other processes of a torchrun run hold the same results
    for line in get_task(result.task).train_summary(result, out):
        print(line)


def read_genotype(path: Path) -> dict:
    """The genotype in a JSON file, as a dict (the model's builder checks its fields)."""
    try:
        genotype = json.loads(path.read_text())
    except json.JSONDecodeError as error:
        raise ConvzooError(f"--genotype {path} is not JSON: {error}") from None
    if not isinstance(genotype, dict):
        raise ConvzooError(f"--genotype {path} holds a {type(genotype).__name__}; expected a JSON object such as "
                           f"the best.json of convzoo search")
    return genotype


def cmd_eval(args: argparse.Namespace) -> None:
    from convzoo.train.checkpoint import load_checkpoint

    model, meta = load_checkpoint(args.checkpoint)
    for line in get_task(meta.task).evaluate(args, model, meta):
        print(line)


def cmd_predict(args: argparse.Namespace) -> None:
    from convzoo.train.checkpoint import load_checkpoint

    model, meta = load_checkpoint(args.checkpoint)
    for line in get_task(meta.task).predict(args, model, meta):
        print(line)


def cmd_retrieve(args: argparse.Namespace) -> None:
    from convzoo.train.checkpoint import load_checkpoint

    model, meta = load_checkpoint(args.checkpoint)
    retrieve = get_task(meta.task).retrieve
    if retrieve is None:
        able = ", ".join(name for name in TASKS if get_task(name).retrieve is not None)
        raise ConvzooError(f"{args.checkpoint} is a {meta.task} checkpoint, which retrieves nothing; convzoo retrieve "
                           f"takes checkpoints of the tasks {able}")
    for line in retrieve(args, model, meta):
        print(line)


def cmd_rf(args: argparse.Namespace) -> None:
    from convzoo.analysis.receptive_field import format_receptive_field, receptive_field
    from convzoo.registry import meta_model

    input_size = model_input(args.model, args.input)
    model = meta_model(args.model, in_chans=input_size[0])
    result = receptive_field(model, input_size, ignore_gates=args.ignore_gates)
    text = format_receptive_field(result, ignore_gates_option="--ignore-gates")
    print(json.dumps(result.to_dict(), indent=2) if args.json else text)


def cmd_erf(args: argparse.Namespace) -> None:
    import torch

    from convzoo.analysis.erf import effective_receptive_field, plot_erf
    from convzoo.analysis.receptive_field import receptive_field
    from convzoo.data import load_dataset
    from convzoo.registry import create_model, meta_model
    from convzoo.train.checkpoint import load_checkpoint

    if args.checkpoint is not None:
        model, meta = load_checkpoint(args.checkpoint)
        name, input_size = meta.model, tuple(args.input or meta.input_size)
    elif args.model is not None:
        name = args.model
        input_size = model_input(name, args.input)
        torch.manual_seed(args.seed)
        model = create_model(name, in_chans=input_size[0])
    else:
        raise ConvzooError("give a MODEL (random weights) or --checkpoint C (trained weights)")
    inputs = None
    if args.dataset is not None:
        splits = load_dataset(args.dataset, image_size=input_size[1], in_chans=input_size[0], data_dir=args.data_dir)
        inputs = torch.stack([splits.test[i][0] for i in range(min(args.samples, len(splits.test)))])
    rf = receptive_field(meta_model(name, in_chans=input_size[0]), input_size)
    final = rf.stages[args.stage] if args.stage is not None else rf.stages[-1]
    result = effective_receptive_field(
        model, input_size, inputs=inputs, samples=args.samples, stage=args.stage, seed=args.seed,
        theoretical_size=final.size if isinstance(final.size, int) else None,
    )
    plot_erf(result, Path(args.out), log=args.log, model=name, rf=final)
    summary = result.summary()
    ratio = f" = {summary['ratio_95']:.2f} of RF/2 ({summary['theoretical_size']})" if summary["ratio_95"] else ""
    print(f"{name}: ERF radius {summary['radius_50']:.1f} px (50%), {summary['radius_95']:.1f} px (95%){ratio}")
    print(f"heatmap       {args.out}")


def parse_query(text: str) -> tuple[float, float]:
    """``"0.25,0.5"`` -> ``(0.25, 0.5)``: a position as fractions of the image's height and width."""
    try:
        row, col = (float(part) for part in text.split(","))
    except ValueError:
        raise argparse.ArgumentTypeError(f"bad query {text!r}: expected ROW,COL fractions such as 0.5,0.5") from None
    if not (0 <= row <= 1 and 0 <= col <= 1):
        raise argparse.ArgumentTypeError(f"bad query {text!r}: ROW and COL are fractions in [0, 1]")
    return row, col


def cmd_attention(args: argparse.Namespace) -> None:
    import torch

    from convzoo.analysis.attention_maps import capture_attention, plot_channel_weights, plot_spatial_maps
    from convzoo.data.images import load_image
    from convzoo.train.checkpoint import load_checkpoint

    model, meta = load_checkpoint(args.checkpoint)
    in_chans, image_size, _ = meta.input_size
    image = load_image(args.image, in_chans=in_chans, size=image_size, mean=meta.mean, std=meta.std,
                       crop_fraction=meta.eval_crop_fraction)
    maps = capture_attention(model, image, query=args.query)
    out = Path(args.out)
    title = f"{meta.model} on {args.image.name}"
    written = []
    if maps.channel:
        plot_channel_weights(maps, out / "channel_weights.png", title)
        written.append(out / "channel_weights.png")
    if maps.spatial:
        shown = image * torch.tensor(meta.std)[:, None, None] + torch.tensor(meta.mean)[:, None, None]
        plot_spatial_maps(maps, shown.clamp(0, 1).squeeze(0), out / "spatial_maps.png", title)
        written.append(out / "spatial_maps.png")
    (out / "attention.json").write_text(json.dumps({"query": list(args.query), **maps.summary()}, indent=2) + "\n")
    print(f"{meta.model}: {len(maps.channel)} channel attention blocks, {len(maps.spatial)} spatial maps")
    for path in [*written, out / "attention.json"]:
        print(f"  {path}")


def cmd_compare(args: argparse.Namespace) -> None:
    from convzoo.analysis.compare import compare, format_comparison, matmul_gflops, plot_comparison

    if args.plot and not args.latency:
        raise ConvzooError("--plot draws latency against MACs: add --latency")
    result = compare(args.models, args.input, latency=args.latency, batch_size=args.batch_size, repeats=args.repeats)
    print(format_comparison(result))
    if args.plot:
        plot_comparison(result, args.plot, reference_gflops=matmul_gflops())
        print(f"plot          {args.plot}")


def cmd_ops(args: argparse.Namespace) -> None:
    from convzoo.analysis.operators import format_operator_table, operator_table

    rows = operator_table(args.in_channels, args.out_channels, args.kernel, args.size)
    print(format_operator_table(rows, args.in_channels, args.out_channels, args.kernel, args.size))


def parse_model_kwarg(text: str) -> tuple[str, object]:
    """``"attn_layer=cbam"`` -> ``("attn_layer", "cbam")``; numbers, booleans and null are read as JSON."""
    key, sep, value = text.partition("=")
    if not sep or not key.isidentifier():
        raise argparse.ArgumentTypeError(f"bad model option {text!r}: expected NAME=VALUE such as attn_layer=cbam")
    try:
        return key, json.loads(value)
    except json.JSONDecodeError:
        return key, value


def _add_train_arguments(train: argparse.ArgumentParser) -> None:
    defaults = TrainConfig()
    train.add_argument("model", nargs="?", help="registered model name (not needed with --resume)")
    train_flag(train, "task", choices=sorted(TASKS), help="default: the model's own (convzoo list shows it)")
    train_flag(train, "model_kwargs", type=parse_model_kwarg, nargs="+", metavar="NAME=VALUE",
               help="options of the model's builder, e.g. attn_layer=cbam")
    train.add_argument("--genotype", type=Path, metavar="JSON", help="an architecture found by convzoo search (its "
                       "best.json, for nas_net or darts_net): the builder's genotype option, kept in the checkpoint")
    train.add_argument("--recipe", choices=sorted(RECIPES), help="preset of the settings below; flags override it")
    train.add_argument("--resume", type=Path, metavar="DIR", help="continue the run saved in this output folder, "
                       "with its saved settings; only --epochs N may be given with it: the run then ends after N "
                       "epochs in all, on a schedule rebuilt for N (step, multistep and constant as if N had been set "
                       "from the start; cosine moves onto the curve for N, so its rate rises at the resume point when "
                       "extended)")
    data = train.add_argument_group("data", (
        "--data-dir DIR holds the dataset's standard files. digits (classification) and natural (denoise) are "
        "bundled, synthetic (hyperspectral) is generated: no DIR. mnist, fashion-mnist: the IDX files "
        "train-images-idx3-ubyte, train-labels-idx1-ubyte, t10k-images-idx3-ubyte, t10k-labels-idx1-ubyte "
        "(each may be .gz) directly in DIR or in DIR/MNIST/raw (DIR/FashionMNIST/raw); without DIR, fashion-mnist "
        "is read where Debian's dataset-fashion-mnist installs it. cifar10, cifar100: the "
        "python version's DIR/cifar-10-batches-py or DIR/cifar-100-python. folder: DIR/train/CLASS/IMAGE, "
        "DIR/val/CLASS/IMAGE, optional DIR/test/CLASS/IMAGE (denoise: DIR/train/ and DIR/test/ images). "
        "indian_pines, pavia_university, salinas: their .mat files in DIR (indian_pines without DIR: tensorly's "
        "copy). More in docs/datasets.md."
    ))
    train_flag(data, "dataset", help=f"classification: {', '.join(sorted(IMAGE_DATASETS))} (default: digits); other "
               "tasks: see their groups below")
    train_flag(data, "data_dir", help="folder holding the dataset's standard files")
    train_flag(data, "download", action="store_const", const=True, help="fetch the dataset where the machine is online")
    train_flag(data, "image_size", type=positive_int, help="input side (default: the dataset's, else the model's)")
    train_flag(data, "augment", choices=AUGMENTATIONS, help="the dataset's standard augmentation or none")
    train_flag(data, "workers", type=int, help="data-loading processes for datasets read from files")
    optim = train.add_argument_group("optimisation")
    train_flag(optim, "epochs", type=positive_int, help=f"default: {defaults.epochs}")
    train_flag(optim, "batch_size", type=positive_int, help=f"global batch (default: {defaults.batch_size})")
    train_flag(optim, "optimizer", choices=("sgd", "adam", "adamw"), help=f"default: {defaults.optimizer}")
    train_flag(optim, "lr", type=float, help=f"default: {defaults.lr}")
    train_flag(optim, "momentum", type=float)
    train_flag(optim, "nesterov", action="store_const", const=True)
    train_flag(optim, "weight_decay", type=float)
    train_flag(optim, "schedule", choices=("cosine", "step", "multistep", "constant"),
               help=f"default: {defaults.schedule}")
    train_flag(optim, "step_size", type=positive_int, help="epochs between decays (step schedule)")
    train_flag(optim, "milestones", type=positive_int, nargs="+", help="epochs of the decays (multistep schedule)")
    train_flag(optim, "gamma", type=float, help="decay factor of step and multistep")
    train_flag(optim, "warmup_epochs", type=float, help="linear warmup length, in epochs (fractions allowed)")
    train_flag(optim, "label_smoothing", type=float)
    train_flag(optim, "clip_grad", type=float, help="clip the gradient norm to this value")
    train_flag(optim, "accum_steps", type=positive_int, help="batches accumulated per optimiser step")
    speed = train.add_argument_group("precision and speed")
    train_flag(speed, "amp", action="store_const", const=True, help="mixed precision: bf16 on CPU, fp16 on CUDA")
    train_flag(speed, "amp_dtype", choices=("bfloat16", "float16"))
    train_flag(speed, "channels_last", action="store_const", const=True)
    train_flag(speed, "compile", action="store_const", const=True, help="torch.compile the model")
    train_flag(speed, "device", help="auto, cpu, cuda or cuda:N (default: auto)")
    train_flag(speed, "sync_bn", action="store_const", const=True, help="synchronise batch norm across processes")
    transfer = train.add_argument_group("transfer learning")
    train_flag(transfer, "pretrained", help="checkpoint to start from (torchvision, timm or convzoo)")
    train_flag(transfer, "freeze", help="none, features or stages:N")
    train_flag(transfer, "head_only", action="store_const", const=True, help="train only the classifier layer")
    for name in TASKS:
        task_flags(name).add_train_arguments(train)
    run = train.add_argument_group("run")
    train_flag(run, "seed", type=int, help=f"default: {defaults.seed}")
    train_flag(run, "deterministic", action="store_const", const=True, help="deterministic kernels (GPU)")
    train_flag(run, "out", help=f"output folder (default: {defaults.out})")
    train_flag(run, "checkpoint_every", type=positive_int, help="also checkpoint every N optimiser steps")
    train_flag(run, "tensorboard", action="store_const", const=True, help="also log the metrics, the loss of every "
               "batch, the learning rate and the task's pictures to OUT/tensorboard (tensorboard --logdir OUT); "
               "needs pip install 'convzoo[tensorboard]'")


# Every TrainConfig field is a flag of `convzoo train`, but the model and its options, which are positional or parsed.
TRAIN_FLAGS = tuple(f.name for f in fields(TrainConfig) if f.name not in ("model", "model_kwargs"))


def add_commands(commands: argparse._SubParsersAction) -> None:
    """Add every command but the quick ones (:mod:`convzoo.quick_commands`) to ``convzoo``'s subcommands."""
    *others, last = TASKS
    train = commands.add_parser("train", help=f"train a model for its task: {', '.join(others)} or {last} "
                                "(also under torchrun)")
    _add_train_arguments(train)
    train.set_defaults(run=cmd_train)

    evaluation = commands.add_parser("eval", help="score a checkpoint on a dataset split")
    evaluation.add_argument("checkpoint", type=Path)
    evaluation.add_argument("--dataset", help="default: the one it was trained on")
    evaluation.add_argument("--data-dir", help="folder holding the dataset's standard files")
    evaluation.add_argument("--download", action="store_true", help="fetch the dataset where the machine is online")
    evaluation.add_argument("--split", choices=("train", "val", "test"), default="test")
    evaluation.add_argument("--batch-size", type=positive_int, default=256)
    evaluation.add_argument("--out", type=Path, help="hyperspectral checkpoints: the classification map PNG "
                            "(default: classification_map.png); segmentation checkpoints: a PNG of the split's "
                            "first images, their ground truth and prediction (default: none); crossmodal "
                            "checkpoints: the precision-recall curves PNG (default: none); gait checkpoints: the "
                            "rank-1 view tables as heatmaps (default: none)")
    evaluation.add_argument("--sigma", type=float, nargs="+", help="denoise checkpoints: noise levels to test at "
                            "(default: the trained one; a blind model 15 25 50)")
    evaluation.set_defaults(run=cmd_eval, outputs={"out": "file"})

    rf = commands.add_parser("rf", help="theoretical receptive field, stride and offset of every stage")
    rf.add_argument("model")
    rf.add_argument("--input", type=parse_shape,
                      help="input shape CxHxW, CxDxHxW for a 3-D network (default: the model's)")
    rf.add_argument("--json", action="store_true")
    rf.add_argument("--ignore-gates", action="store_true",
                    help="leave out the global context of SE-style gates (the local field)")
    rf.set_defaults(run=cmd_rf)

    erf = commands.add_parser("erf", help="effective receptive field (Luo et al. 2016): heatmap and radii")
    erf.add_argument("model", nargs="?", help="registered model, random weights (or use --checkpoint)")
    erf.add_argument("--checkpoint", type=Path, help="a checkpoint written by convzoo train")
    erf.add_argument("--input", type=parse_shape,
                      help="input shape CxHxW, CxDxHxW for a 3-D network (default: the model's)")
    erf.add_argument("--dataset", choices=sorted(IMAGE_DATASETS), help="average over test images instead of noise")
    erf.add_argument("--data-dir", help="folder holding the dataset's standard files")
    erf.add_argument("--samples", type=positive_int, default=16)
    erf.add_argument("--stage", type=int, help="feature_info stage index (default: the last feature map)")
    erf.add_argument("--seed", type=int, default=0)
    erf.add_argument("--log", action="store_true", help="log-scale heatmap")
    erf.add_argument("--out", default="erf.png", help="heatmap PNG")
    erf.set_defaults(run=cmd_erf, outputs={"out": "file"})

    comparison = commands.add_parser("compare", help="params, MACs, memory, RF and measured CPU latency side by side")
    comparison.add_argument("models", nargs="+")
    comparison.add_argument("--input", type=parse_shape, help="input shape CxHxW (default: each model's)")
    comparison.add_argument("--latency", action="store_true", help="measure CPU latency and throughput")
    comparison.add_argument("--batch-size", type=positive_int, default=1)
    comparison.add_argument("--repeats", type=positive_int, default=10, help="timed runs per model (median)")
    comparison.add_argument("--plot", help="scatter of latency against MACs (PNG); needs --latency")
    comparison.set_defaults(run=cmd_compare, outputs={"plot": "file"})

    ops = commands.add_parser("ops", help="every convolution operator's parameters and MACs beside a standard conv")
    ops.add_argument("--in-channels", type=positive_int, default=64)
    ops.add_argument("--out-channels", type=positive_int, default=64)
    ops.add_argument("--kernel", type=positive_int, default=3, help="kernel side of the standard conv")
    ops.add_argument("--size", type=parse_size, default=(56, 56), help="input HxW (default 56x56)")
    ops.set_defaults(run=cmd_ops)

    attention = commands.add_parser("attention", help="a trained model's attention over one image: "
                                    "channel weights per stage and spatial maps")
    attention.add_argument("checkpoint", type=Path)
    attention.add_argument("image", type=Path)
    attention.add_argument("--out", type=Path, required=True, help="folder for the plots and attention.json")
    attention.add_argument("--query", type=parse_query, default=(0.5, 0.5), metavar="ROW,COL",
                           help="query position of pairwise blocks (non-local, criss-cross, DANet), as fractions "
                                "of the image's height and width (default: the centre)")
    attention.set_defaults(run=cmd_attention, outputs={"out": "folder"})

    predict = commands.add_parser("predict", help="top-k classes of images (or of videos, with a video checkpoint)")
    predict.add_argument("checkpoint", type=Path)
    predict.add_argument("images", nargs="+", type=Path, metavar="FILE",
                         help="image files; video files or folders of frames for a video checkpoint")
    predict.add_argument("--top-k", type=positive_int, default=5)
    predict.set_defaults(run=cmd_predict)

    retrieve = commands.add_parser("retrieve", help="the gallery items nearest to a query: images for an image "
                                   "(metric learning, --gallery DIR) or images for a text (crossmodal, --text)")
    retrieve.add_argument("checkpoint", type=Path)
    retrieve.add_argument("query", type=Path, nargs="?", help="query image (metric-learning checkpoints)")
    retrieve.add_argument("--gallery", type=Path, help="folder of images, subfolders searched (metric learning)")
    retrieve.add_argument("--text", help="query words (crossmodal checkpoints: ranks the test split's images)")
    retrieve.add_argument("--top-k", type=positive_int, default=5)
    retrieve.add_argument("--out", type=Path, default=Path("retrieved.png"), help="the strip (default: retrieved.png)")
    retrieve.set_defaults(run=cmd_retrieve, outputs={"out": "file"})

    for name in TASKS:
        flags = task_flags(name)
        if hasattr(flags, "add_commands"):
            flags.add_commands(commands)
    add_deploy_commands(commands)
    add_nas_commands(commands)
    add_site_command(commands)
