"""Set-up of a study worker process: one thread per BLAS/OpenMP/torch pool, and a quick exit.

This module imports nothing heavy, so a pool can run ``prepare_worker`` in a fresh process before
numpy or torch is loaded there (the thread variables are read when those libraries load).
"""

from __future__ import annotations

import atexit
import os
import sys

THREAD_VARIABLES = ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS")
"""Environment variables read by BLAS/OpenMP runtimes when they are first loaded."""


def limit_threads() -> None:
    """Set the thread variables to 1 and torch's intra-op pool to one thread."""
    for name in THREAD_VARIABLES:
        os.environ[name] = "1"
    import torch

    torch.set_num_threads(1)


def _exit_now() -> None:
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(0)


def skip_teardown_at_exit() -> None:
    """End the process right after its exit handlers start, skipping module teardown.

    Tearing down torch, Mesa and pandas takes seconds per process; a worker exits only after the
    pool has shut down, when every file it wrote is already in place (written atomically).
    """
    atexit.register(_exit_now)


def prepare_worker() -> None:
    """Initializer of a local study worker: thread limits and a quick exit."""
    limit_threads()
    skip_teardown_at_exit()


def worker_pid() -> int:
    """This process's id, once the simulator is imported (used to start every worker up front)."""
    import dmarl_des.study.run  # noqa: F401  (the heavy imports a run needs)

    return os.getpid()
