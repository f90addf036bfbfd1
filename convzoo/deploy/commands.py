"""The deployment commands of ``convzoo``: export, quantize, prune and bench. Each imports its optional
dependencies (the extra ``deploy``) only when it runs, so that building the parser needs none of them."""

from __future__ import annotations

import argparse

from convzoo.deploy.bench_command import add_bench_command
from convzoo.deploy.export_command import add_export_command
from convzoo.deploy.prune_command import add_prune_command
from convzoo.deploy.quantize_command import add_quantize_command

__all__ = ["add_deploy_commands"]


def add_deploy_commands(commands: argparse._SubParsersAction) -> None:
    for add_command in (add_export_command, add_quantize_command, add_prune_command, add_bench_command):
        add_command(commands)
