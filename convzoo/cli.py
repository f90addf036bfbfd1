"""The `convzoo` command: parses arguments, calls the library, prints the results.

Every user error prints one line, ``convzoo: error: ...``, and exits non-zero.

Building the parser imports no torch, so ``--help`` of every command answers at once; a command
imports what it needs when it runs. The quick commands (:mod:`convzoo.quick_commands`: list, info,
arith, explain) answer without importing torch at all, and :func:`main` builds only their parsers
when one of them is asked for (every command's, :mod:`convzoo.commands`, otherwise).
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
from pathlib import Path
from typing import NoReturn, Sequence

from convzoo.errors import ConvzooError
from convzoo.outputs import prepare_output_file, prepare_output_folder, remove_empty_folders
from convzoo.quick_commands import QUICK_COMMANDS, add_quick_commands

EXIT_USER_ERROR = 2

# Packages of the optional extras that a command imports when it runs -> the extra that installs them.
OPTIONAL_PACKAGES = {"onnx": "deploy", "onnxruntime": "deploy", "onnxscript": "deploy", "torch_pruning": "deploy",
                     "torchao": "deploy", "tensorboard": "tensorboard"}


class _Parser(argparse.ArgumentParser):
    """An argument parser whose errors are one line, like every other convzoo error."""

    def error(self, message: str) -> NoReturn:
        self.exit(EXIT_USER_ERROR, f"convzoo: error: {message}\n")


def build_parser(command: str | None = None) -> argparse.ArgumentParser:
    """``convzoo``'s parser: every command's, or only the quick commands' when ``command`` is one of them."""
    parser = _Parser(prog="convzoo", description="A library and lab of convolutional networks.")
    commands = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)
    add_quick_commands(commands)
    if command not in QUICK_COMMANDS:
        from convzoo.commands import add_commands

        add_commands(commands)
    return parser


def _prepare_outputs(args: argparse.Namespace) -> list[Path]:
    """Create the folders of every output path the command was given, and refuse an unwritable one,
    before any computation (``outputs`` maps an argument to "file" or "folder"); returns the folders
    created, to be removed again if the command fails."""
    prepare = {"file": prepare_output_file, "folder": prepare_output_folder}
    created: list[Path] = []
    try:
        for dest, kind in getattr(args, "outputs", {}).items():
            if getattr(args, dest) is not None:
                created += prepare[kind](getattr(args, dest), "--" + dest.replace("_", "-"))
    except ConvzooError:
        remove_empty_folders(created)
        raise
    return created


def main(argv: Sequence[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else list(argv)
    args = build_parser(argv[0] if argv else None).parse_args(argv)
    try:
        created = _prepare_outputs(args)
        try:
            args.run(args)
        except BaseException:
            remove_empty_folders(created)  # a failed command leaves no empty folder behind
            raise
    except ConvzooError as error:
        print(f"convzoo: error: {error}", file=sys.stderr)
        return EXIT_USER_ERROR
    except OSError as error:
        print(f"convzoo: error: {error.strerror or error}: {error.filename or ''}".rstrip(": "), file=sys.stderr)
        return EXIT_USER_ERROR
    except ModuleNotFoundError as error:
        extra = OPTIONAL_PACKAGES.get((error.name or "").partition(".")[0])
        if extra is None:
            raise
        print(f"convzoo: error: {error.name} is not installed; this command needs pip install 'convzoo[{extra}]'",
              file=sys.stderr)
        return EXIT_USER_ERROR
    except KeyboardInterrupt:
        print("convzoo: interrupted", file=sys.stderr)
        return 130
    return 0


def run() -> NoReturn:
    """The ``convzoo`` program: :func:`main`, then the process ends with its exit code.

    A rank of a torchrun run (``WORLD_SIZE`` above 1) ends with ``os._exit`` once its output is
    flushed, skipping the interpreter's shutdown: Gloo's worker threads release each
    collective's tensors only after waking the caller, and a thread that releases one (which
    takes the GIL) while the interpreter shuts down aborts the process ("terminate called
    without an active exception"; 2 runs in 10 under load). The run's files are complete by
    then: checkpoints and logs are written atomically before :func:`main` returns.
    """
    code = main()
    if int(os.environ.get("WORLD_SIZE", "1")) > 1:
        logging.shutdown()
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(code)
    raise SystemExit(code)
