"""The `convzoo` command: parses arguments, calls the library, prints the results.

Every user error prints one line, ``convzoo: error: ...``, and exits non-zero.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import NoReturn, Sequence

import torch

from convzoo.analysis import stage_shapes
from convzoo.data import AUGMENTATIONS, DATASETS, load_dataset
from convzoo.data.images import load_image
from convzoo.errors import ConvzooError
from convzoo.registry import create_model, get_entry, list_models, model_card
from convzoo.tasks.classification import ClassificationTask, top_k
from convzoo.train.checkpoint import load_checkpoint
from convzoo.train.classifier import TrainConfig, train_classifier
from convzoo.train.engine import evaluate
from convzoo.train.progress import ProgressReporter

EXIT_USER_ERROR = 2


class _Parser(argparse.ArgumentParser):
    """An argument parser whose errors are one line, like every other convzoo error."""

    def error(self, message: str) -> NoReturn:
        self.exit(EXIT_USER_ERROR, f"convzoo: error: {message}\n")


def parse_shape(text: str) -> tuple[int, int, int]:
    """``"3x224x224"`` -> ``(3, 224, 224)``."""
    parts = text.lower().split("x")
    if len(parts) != 3 or not all(part.isdigit() and int(part) > 0 for part in parts):
        raise argparse.ArgumentTypeError(f"bad input shape {text!r}: expected CxHxW such as 3x224x224")
    return tuple(int(part) for part in parts)  # type: ignore[return-value]


def _positive_int(text: str) -> int:
    if not text.isdigit() or int(text) < 1:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {text!r}")
    return int(text)


def cmd_list(args: argparse.Namespace) -> None:
    names = list_models(args.pattern, task=args.task, family=args.family)
    if not names:
        raise ConvzooError(f"no model matches {args.pattern!r}" + (f" in task {args.task!r}" if args.task else "")
                           + (f" in family {args.family!r}" if args.family else ""))
    cards = [model_card(name) for name in names]
    width = max(len(name) for name in names)
    print(f"{'name':<{width}}  {'family':<10} {'task':<15} {'params':>13}  year")
    for card in cards:
        print(f"{card['name']:<{width}}  {card['family']:<10} {card['task']:<15} "
              f"{card['params']:>13,}  {card['paper']['year']}")


def cmd_info(args: argparse.Namespace) -> None:
    card = model_card(args.model)
    input_size = args.input or tuple(card["input_size"])
    with torch.device("meta"):
        model = create_model(args.model, in_chans=input_size[0])
    shapes = stage_shapes(model, input_size)
    if args.json:
        print(json.dumps({**card, "stages": {name: list(shape) for name, shape in shapes}}, indent=2))
        return
    paper = card["paper"]
    print(f"{card['name']}  ({card['family']}, {card['task']})")
    print(f"paper       {paper['title']} ({paper['authors']}, {paper['venue']} {paper['year']}) {paper['url']}")
    print(f"params      {card['params']:,}")
    print(f"input       {'x'.join(map(str, card['input_size']))} (default), {card['num_classes']} classes")
    print(f"torchvision {card['torchvision_name'] or '-'}")
    print(f"timm        {card['timm_name'] or '-'}")
    if card["deviations"]:
        print(f"deviations  {card['deviations']}")
    print(f"shapes for input 1x{'x'.join(map(str, input_size))}:")
    for name, shape in shapes:
        print(f"  {name:<20} {'x'.join(map(str, shape))}")


def cmd_train(args: argparse.Namespace) -> None:
    get_entry(args.model)  # an unknown name fails before anything is written
    config = TrainConfig(
        model=args.model,
        dataset=args.dataset,
        epochs=args.epochs,
        batch_size=args.batch_size,
        lr=args.lr,
        seed=args.seed,
        augment=args.augment,
        image_size=args.image_size,
        out=args.out,
        device=args.device,
    )
    progress = ProgressReporter(sys.stdout, config.epochs)
    result = train_classifier(config, progress)
    print(f"test accuracy {result.test_metrics['accuracy']:.2%}  (loss {result.test_metrics['loss']:.4f})")
    print(f"checkpoint    {result.checkpoint}")
    print(f"logs          {Path(args.out) / 'metrics.csv'}, {Path(args.out) / 'curves.png'}")


def cmd_eval(args: argparse.Namespace) -> None:
    model, meta = load_checkpoint(args.checkpoint)
    dataset = args.dataset or meta.dataset
    in_chans, image_size, _ = meta.input_size
    splits = load_dataset(dataset, image_size=image_size, in_chans=in_chans)
    loader = torch.utils.data.DataLoader(getattr(splits, args.split), batch_size=args.batch_size)
    metrics = evaluate(model, loader, ClassificationTask(), torch.device("cpu"))
    print(f"{meta.model} on {dataset} ({args.split}, {len(loader.dataset)} images): "
          f"accuracy {metrics['accuracy']:.2%}  loss {metrics['loss']:.4f}")


def cmd_predict(args: argparse.Namespace) -> None:
    model, meta = load_checkpoint(args.checkpoint)
    in_chans, image_size, _ = meta.input_size
    images = torch.stack([
        load_image(path, in_chans=in_chans, size=image_size, mean=meta.mean, std=meta.std) for path in args.images
    ])
    with torch.no_grad():
        logits = model(images)
    for path, predictions in zip(args.images, top_k(logits, meta.class_names, args.top_k)):
        ranked = "  ".join(f"{name} {probability:.1%}" for name, probability in predictions)
        print(f"{path}: {ranked}")


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="convzoo", description="A library and lab of convolutional networks.")
    commands = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)

    listing = commands.add_parser("list", help="list the registered models")
    listing.add_argument("pattern", nargs="?", default="*", help="fnmatch pattern, e.g. 'resnet*'")
    listing.add_argument("--task")
    listing.add_argument("--family")
    listing.set_defaults(run=cmd_list)

    info = commands.add_parser("info", help="model card, parameters and stage shapes")
    info.add_argument("model")
    info.add_argument("--input", type=parse_shape, help="input shape CxHxW (default: the model's)")
    info.add_argument("--json", action="store_true", help="print the card as JSON")
    info.set_defaults(run=cmd_info)

    train = commands.add_parser("train", help="train an image classifier")
    train.add_argument("model")
    train.add_argument("--dataset", default="digits", choices=sorted(DATASETS))
    train.add_argument("--epochs", type=_positive_int, default=TrainConfig.epochs)
    train.add_argument("--batch-size", type=_positive_int, default=TrainConfig.batch_size)
    train.add_argument("--lr", type=float, default=TrainConfig.lr)
    train.add_argument("--seed", type=int, default=TrainConfig.seed)
    train.add_argument("--augment", choices=AUGMENTATIONS, default=TrainConfig.augment,
                       help="training augmentation: the dataset's standard recipe or none")
    train.add_argument("--image-size", type=_positive_int, help="input side (default: the model's)")
    train.add_argument("--out", type=Path, default=Path("runs/latest"), help="output folder")
    train.add_argument("--device", default="cpu")
    train.set_defaults(run=cmd_train)

    evaluation = commands.add_parser("eval", help="score a checkpoint on a dataset split")
    evaluation.add_argument("checkpoint", type=Path)
    evaluation.add_argument("--dataset", choices=sorted(DATASETS), help="default: the one it was trained on")
    evaluation.add_argument("--split", choices=("train", "val", "test"), default="test")
    evaluation.add_argument("--batch-size", type=_positive_int, default=256)
    evaluation.set_defaults(run=cmd_eval)

    predict = commands.add_parser("predict", help="top-k classes of images")
    predict.add_argument("checkpoint", type=Path)
    predict.add_argument("images", nargs="+", type=Path)
    predict.add_argument("--top-k", type=_positive_int, default=5)
    predict.set_defaults(run=cmd_predict)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        args.run(args)
    except ConvzooError as error:
        print(f"convzoo: error: {error}", file=sys.stderr)
        return EXIT_USER_ERROR
    except OSError as error:
        print(f"convzoo: error: {error.strerror or error}: {error.filename or ''}".rstrip(": "), file=sys.stderr)
        return EXIT_USER_ERROR
    except KeyboardInterrupt:
        print("convzoo: interrupted", file=sys.stderr)
        return 130
    return 0
