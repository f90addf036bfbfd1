"""``convzoo --help`` and every command's ``--help`` import no torch: the parser is built from torch-free
modules (the tasks' ``flags.py``, the deployment parsers, the dataset names), and each command imports
what it needs when it runs."""

from __future__ import annotations

import argparse
import importlib
import subprocess
import sys

import pytest

from convzoo.cli import build_parser


def subcommands(parser: argparse.ArgumentParser) -> dict[str, argparse.ArgumentParser]:
    action = next(action for action in parser._actions if isinstance(action, argparse._SubParsersAction))
    return action.choices


COMMANDS = sorted(subcommands(build_parser()))


def test_every_command_is_there():
    expected = {"list", "info", "arith", "explain", "train", "eval", "rf", "erf", "compare", "ops", "attention",
                "predict", "retrieve", "denoise", "segment", "verify", "pose", "export", "quantize", "prune", "bench",
                "search", "scale-search", "site"}
    assert set(COMMANDS) == expected


def test_no_help_imports_torch():
    script = ("import contextlib, io, sys\nfrom convzoo.cli import main\n"
              f"for argv in {[['--help']] + [[command, '--help'] for command in COMMANDS]!r}:\n"
              "    with contextlib.redirect_stdout(io.StringIO()) as out:\n"
              "        try:\n            main(argv)\n        except SystemExit as stop:\n"
              "            assert stop.code == 0 and 'usage: convzoo' in out.getvalue(), argv\n"
              "print(sorted(name for name in sys.modules if name.split('.')[0] in ('torch', 'numpy')))")
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "[]"


@pytest.mark.parametrize("command", COMMANDS)
def test_every_command_runs_a_function_that_exists(command):
    run = subcommands(build_parser())[command].get_default("run")
    target = getattr(run, "target", None)
    if target is not None:  # a deferred run: its module and function are imported when it runs
        module, _, function = target.rpartition(".")
        run = getattr(importlib.import_module(module), function)
    assert callable(run)

