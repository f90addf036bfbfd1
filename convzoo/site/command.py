"""``convzoo site``: the model zoo as a static web site."""

from __future__ import annotations

import argparse
from pathlib import Path

__all__ = ["add_site_command"]


def cmd_site(args: argparse.Namespace) -> None:
    from convzoo.site.build import build_site

    pages = build_site(args.out, docs=args.docs)
    print(f"{len(pages)} pages in {args.out}; open {args.out / 'index.html'} in a browser")


def add_site_command(commands: argparse._SubParsersAction) -> None:
    from convzoo.site.build import DOCS

    site = commands.add_parser("site", help="write the model zoo as a static web site: an index of every model "
                               "(sortable, filterable), a page per model, operator and attention block, the figures")
    site.add_argument("--out", type=Path, required=True, help="folder for the site")
    site.add_argument("--docs", type=Path, default=DOCS if DOCS.is_dir() else None,
                      help="a docs folder whose images/ the site shows (default: this checkout's, if any)")
    site.set_defaults(run=cmd_site, outputs={"out": "folder"})
