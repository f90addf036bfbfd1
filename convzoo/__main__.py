"""`python -m convzoo` runs the command line."""

from convzoo.cli import main

raise SystemExit(main())
