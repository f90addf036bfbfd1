"""The architecture-search commands of ``convzoo``: search and scale-search. Each imports the search's
modules only when it runs, so building the parser stays cheap."""

from __future__ import annotations

import argparse

from convzoo.nas.scaling_command import add_scale_search_command
from convzoo.nas.search_command import add_search_command

__all__ = ["add_nas_commands"]


def add_nas_commands(commands: argparse._SubParsersAction) -> None:
    for add_command in (add_search_command, add_scale_search_command):
        add_command(commands)
