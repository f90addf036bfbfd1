"""One compute thread per pytest-xdist worker.

`make test` runs two workers on a two-core machine. PyTorch and OpenMP default to a thread
per core in each worker, so four threads share two cores, and OpenMP's threads spin while
they wait for each other at every parallel region: the whole suite took 23 minutes so and
8 minutes with one thread per worker (same machine, idle). The variable is set before the
test modules import torch, and the command-line tests' subprocesses inherit it.
"""

from __future__ import annotations

import os

if "PYTEST_XDIST_WORKER" in os.environ:
    os.environ["OMP_NUM_THREADS"] = "1"
    os.environ["MKL_NUM_THREADS"] = "1"

    import torch

    torch.set_num_threads(1)  # in case a plugin imported torch before this file
