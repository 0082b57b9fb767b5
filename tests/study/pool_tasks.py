"""Tasks for pool tests, in a module that imports nothing heavy (workers import it to unpickle them)."""

import os


def double_or_fail(x: int) -> int:
    """Double ``x``; raise for 1; end the worker's process with exit code 3 for 2."""
    if x == 1:
        raise ValueError("bad task 1")
    if x == 2:
        os._exit(3)
    return 2 * x
