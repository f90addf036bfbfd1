"""How fast `convzoo` answers: the quick commands (list, info, arith, explain) and the --help of commands,
against the same commands at an earlier revision ("today's path": every command built a network or
imported torch).

Each command runs as a fresh process, the way a user runs it, ``--repeats`` times; the table shows the
medians and their ratio. The earlier revision is checked out into a temporary git worktree and imported
from there (the editable install's finder set aside), with the same interpreter and packages.

Usage::

    python benchmarks/cli_speed.py [--baseline ceac617] [--repeats 5] [--write BENCHMARKS.md]
"""

from __future__ import annotations

import argparse
import datetime
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from sections import write_section

TITLE = "## Command-line speed: answers without torch"
ROOT = Path(__file__).resolve().parents[1]
COMMANDS = [
    ["list"],
    ["info", "resnet50"],
    ["arith", "--in", "224", "--kernel", "7", "--stride", "2", "--padding", "3"],
    ["explain", "depthwise-separable"],
    ["info", "--help"],
    ["--help"],
    ["train", "--help"],
    ["eval", "--help"],
    ["segment", "--help"],
    ["bench", "--help"],
]
# The `convzoo` program, run from the checkout at sys.argv[1] rather than the editable install.
LAUNCHER = """
import sys
sys.meta_path = [finder for finder in sys.meta_path if "editable" not in str(finder).lower()]
sys.path.insert(0, sys.argv.pop(1))
from convzoo.cli import run
sys.argv[0] = "convzoo"
run()
"""


def seconds(checkout: Path, argv: list[str], repeats: int) -> float:
    """Median wall time of ``convzoo ARGV`` run from ``checkout`` as a new process."""
    times = []
    for _ in range(repeats):
        started = time.perf_counter()
        subprocess.run([sys.executable, "-c", LAUNCHER, str(checkout), *argv], capture_output=True, check=True)
        times.append(time.perf_counter() - started)
    return statistics.median(times)


def import_torch_seconds(repeats: int) -> float:
    times = []
    for _ in range(repeats):
        started = time.perf_counter()
        subprocess.run([sys.executable, "-c", "import torch"], check=True)
        times.append(time.perf_counter() - started)
    return statistics.median(times)


def measure(baseline: str, repeats: int) -> tuple[list[tuple[str, float, float]], float]:
    with tempfile.TemporaryDirectory() as folder:
        old = Path(folder) / "baseline"
        subprocess.run(["git", "-C", str(ROOT), "worktree", "add", "--detach", str(old), baseline],
                       check=True, capture_output=True)
        try:
            rows = [(" ".join(argv), seconds(old, argv, repeats), seconds(ROOT, argv, repeats)) for argv in COMMANDS]
        finally:
            subprocess.run(["git", "-C", str(ROOT), "worktree", "remove", "--force", str(old)], check=True)
    return rows, import_torch_seconds(repeats)


def section(rows: list[tuple[str, float, float]], torch_seconds: float, args: argparse.Namespace) -> list[str]:
    import torch

    lines = [
        TITLE, "",
        f"{datetime.date.today()}, {platform.machine()}, Python {platform.python_version()}, torch "
        f"{torch.__version__}. `python benchmarks/cli_speed.py --baseline {args.baseline} --repeats {args.repeats}`: "
        f"median wall time of each command as a new process (interpreter start included); `import torch` alone "
        f"takes {torch_seconds:.2f} s.",
        "",
        f"| command | at {args.baseline} (s) | now (s) | speed-up |",
        "|---|---|---|---|",
    ]
    lines += [f"| `convzoo {command}` | {old:.2f} | {new:.2f} | {old / new:.1f}x |" for command, old, new in rows]
    lines += ["", "The aims: `list` under 1 s, `info resnet50` under 1.5 s, `arith`, `explain` and every command's "
              "`--help` well under a second. None of these commands imports torch "
              "(tests/analysis/test_model_cards.py and tests/test_cli_help.py check it)."]
    return lines


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--baseline", default="ceac617", help="the revision to compare with (today's path)")
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--write", type=Path, help="write the section into this file (BENCHMARKS.md)")
    args = parser.parse_args()
    rows, torch_seconds = measure(args.baseline, args.repeats)
    lines = section(rows, torch_seconds, args)
    print("\n".join(lines))
    if args.write is not None:
        write_section(args.write, TITLE, "\n".join(lines) + "\n")


if __name__ == "__main__":
    main()
