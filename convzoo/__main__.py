"""`python -m convzoo` runs the command line."""

from convzoo.cli import run

run()
