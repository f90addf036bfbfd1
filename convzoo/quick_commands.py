"""The commands that answer without importing torch: ``list``, ``info`` at a model's default input,
``arith`` and ``explain``.

``convzoo list`` and ``convzoo info MODEL`` read the stored model cards
(:mod:`convzoo.analysis.model_cards`); ``info`` measures the model live only for another input
(``--input``) or one row per layer (``--layers``). :func:`convzoo.cli.main` builds only these commands'
parsers when one of them is asked for.
"""

from __future__ import annotations

import argparse
import json

from convzoo.analysis.arithmetic import explain_conv, explain_same_padding, explain_transposed, explain_unet_sizes
from convzoo.analysis.design import explain_topic
from convzoo.analysis.model_cards import card_lines, find_cards, stored_card
from convzoo.arguments import model_input, parse_shape, positive_int
from convzoo.errors import ConvzooError

__all__ = ["QUICK_COMMANDS", "add_quick_commands"]

QUICK_COMMANDS = ("list", "info", "arith", "explain")


def cmd_list(args: argparse.Namespace) -> None:
    cards = find_cards(args.pattern, task=args.task, family=args.family)
    if not cards:
        raise ConvzooError(f"no model matches {args.pattern!r}" + (f" in task {args.task!r}" if args.task else "")
                           + (f" in family {args.family!r}" if args.family else ""))
    width = max(len(card["name"]) for card in cards)
    family = max(10, *(len(card["family"]) for card in cards))
    print(f"{'name':<{width}}  {'family':<{family}} {'task':<15} {'params':>13}  year")
    for card in cards:
        print(f"{card['name']:<{width}}  {card['family']:<{family}} {card['task']:<15} "
              f"{card['params']:>13,}  {card['paper']['year']}")


def cmd_info(args: argparse.Namespace) -> None:
    if args.input is None and not args.layers:
        card = stored_card(args.model)
    else:
        from convzoo.analysis.card_builder import compute_card  # torch: measures the model

        card = compute_card(args.model, model_input(args.model, args.input), layers=args.layers)
    print(json.dumps(card, indent=2) if args.json else "\n".join(card_lines(card)))


def cmd_arith(args: argparse.Namespace) -> None:
    if args.unet:
        print(explain_unet_sizes(args.size))
    elif args.transposed:
        print(explain_transposed(args.size, args.kernel, args.stride, args.padding, args.output_padding, args.dilation))
    else:
        print(explain_conv(args.size, args.kernel, args.stride, args.padding, args.dilation, args.ceil_mode))
    if args.same:
        print(explain_same_padding(args.kernel, args.stride, args.dilation, args.size))


def cmd_explain(args: argparse.Namespace) -> None:
    print(explain_topic(args.topic))


def add_quick_commands(commands: argparse._SubParsersAction) -> None:
    """Add ``list``, ``info``, ``arith`` and ``explain`` to ``convzoo``'s subcommands."""
    listing = commands.add_parser("list", help="list the registered models")
    listing.add_argument("pattern", nargs="?", default="*", help="fnmatch pattern, e.g. 'resnet*'")
    listing.add_argument("--task")
    listing.add_argument("--family")
    listing.set_defaults(run=cmd_list)

    info = commands.add_parser("info", help="model card, receptive field, stage shapes, parameters, MACs and memory")
    info.add_argument("model")
    info.add_argument("--input", type=parse_shape,
                      help="input shape CxHxW, CxDxHxW for a 3-D network (default: the model's, answered from the "
                      "stored cards; another input is measured)")
    info.add_argument("--layers", action="store_true", help="one row per layer: shape, params, MACs, memory")
    info.add_argument("--json", action="store_true", help="print the card as JSON (the profile's layers with --layers)")
    info.set_defaults(run=cmd_info)

    arith = commands.add_parser("arith", help="output size of a conv, pool or transposed conv, formula filled in; "
                                "the original UNet's valid input sizes")
    arith.add_argument("--in", dest="size", type=positive_int, required=True, help="input size along one axis")
    layer = arith.add_mutually_exclusive_group(required=True)
    layer.add_argument("--kernel", type=positive_int)
    layer.add_argument("--unet", action="store_true", help="the original UNet (depth 4, unpadded 3x3 convs): is --in "
                       "a valid input size, its output, and the nearest valid sizes below and above")
    arith.add_argument("--stride", type=positive_int, default=1)
    arith.add_argument("--padding", type=int, default=0)
    arith.add_argument("--dilation", type=positive_int, default=1)
    arith.add_argument("--transposed", action="store_true", help="a transposed conv")
    arith.add_argument("--output-padding", type=int, default=0, help="transposed convs only")
    arith.add_argument("--ceil-mode", action="store_true", help="pooling's ceil mode")
    arith.add_argument("--same", action="store_true", help="also show TensorFlow-style 'same' padding")
    arith.set_defaults(run=cmd_arith)

    explain = commands.add_parser("explain", help="a design comparison of the course, with computed numbers")
    explain.add_argument("topic", help="bottleneck, stacked-3x3, depthwise-separable, grouped, spatially-separable")
    explain.set_defaults(run=cmd_explain)
