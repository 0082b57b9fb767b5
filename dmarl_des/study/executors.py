"""Executors: where a study's runs are performed — this process, a local process pool, or Dask.

Every executor has one method that matters, ``map_runs(fn, specs)``: it performs ``fn(spec)`` for
every spec and yields ``(spec, result)`` pairs as runs complete (in completion order); when ``fn``
raises or its worker dies, the result is the exception (``WorkerDied`` with the exit code or
signal for a local worker), so one run never stops the others. Workers receive only ``RunSpec``
parameters; each loads the scenario file itself.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Callable, Iterator, Sequence
from typing import Any, Protocol, TypeVar

from dmarl_des.errors import ConfigError
from dmarl_des.study.plan import RunSpec
from dmarl_des.study.pool import WorkerPool
from dmarl_des.study.worker import limit_threads, prepare_worker, worker_pid

T = TypeVar("T")

EXECUTORS = ("local", "dask")

CONNECT_TIMEOUT = 10.0
"""Seconds to wait for the Dask scheduler at ``--address`` before giving up (``--connect-timeout``)."""


class Executor(Protocol):
    """Performs runs somewhere and reports them as they complete."""

    def map_runs(
        self, fn: Callable[[RunSpec], T], specs: Sequence[RunSpec]
    ) -> Iterator[tuple[RunSpec, T | BaseException]]:
        """``(spec, fn(spec) or the exception it raised)`` for every spec, as runs complete."""
        ...

    def close(self) -> None:
        """Release the workers."""
        ...


class InProcessExecutor:
    """Runs one after another in this process (``workers=1``): simplest to debug, no pickling."""

    def map_runs(
        self, fn: Callable[[RunSpec], T], specs: Sequence[RunSpec]
    ) -> Iterator[tuple[RunSpec, T | BaseException]]:
        for spec in specs:
            try:
                value: T | BaseException = fn(spec)
            except Exception as exc:
                value = exc
            yield spec, value

    def close(self) -> None:
        """Nothing to release."""


class LocalProcessExecutor:
    """A pool of ``workers`` spawned processes on this machine, one thread each.

    A run that kills its worker (``os._exit``, a signal, the out-of-memory killer) fails alone,
    with ``WorkerDied`` naming the exit code or signal; a new worker takes its place.
    """

    def __init__(self, workers: int) -> None:
        self.workers = workers
        self._pool = WorkerPool(workers, initializer=prepare_worker)

    def start(self) -> None:
        """Start every worker and load the simulator in each, so the next runs start at once.

        Otherwise this happens during the first runs (a few seconds per process).
        """
        self._pool.map_each(worker_pid)

    def map_runs(
        self, fn: Callable[[RunSpec], T], specs: Sequence[RunSpec]
    ) -> Iterator[tuple[RunSpec, T | BaseException]]:
        yield from self._pool.run_each(fn, specs)

    def close(self) -> None:
        self._pool.close()


class DaskExecutor:
    """Dask distributed: a ``LocalCluster`` of ``workers`` processes, or the cluster at ``address``.

    A scheduler at ``address`` that does not answer within ``connect_timeout`` seconds is a
    ConfigError naming the address.
    """

    def __init__(
        self, workers: int, address: str | None = None, connect_timeout: float = CONNECT_TIMEOUT
    ) -> None:
        try:
            from distributed import Client, LocalCluster
        except ImportError as exc:
            raise ConfigError(
                "executor",
                "dask",
                "local, or install the dask extra: pip install 'dmarl_des[dask]'",
            ) from exc
        self._cluster: Any = None
        if address:
            try:
                self._client = Client(address, timeout=connect_timeout)
            except (OSError, TimeoutError) as exc:
                raise ConfigError(
                    "--address",
                    address,
                    f"a Dask scheduler that answers within {connect_timeout:g} s "
                    f"(--connect-timeout); none did: {type(exc).__name__}",
                ) from None
        else:
            self._cluster = LocalCluster(
                n_workers=workers,
                threads_per_worker=1,
                processes=True,
                dashboard_address=None,
                silence_logs=logging.WARNING,
            )
            self._client = Client(self._cluster)
        self._client.run(limit_threads)

    def map_runs(
        self, fn: Callable[[RunSpec], T], specs: Sequence[RunSpec]
    ) -> Iterator[tuple[RunSpec, T | BaseException]]:
        from distributed import as_completed as dask_completed

        futures = [self._client.submit(fn, s, key=f"dmarl-run-{s.run_id}") for s in specs]
        by_key = {future.key: spec for future, spec in zip(futures, specs)}
        try:
            for future in dask_completed(futures):
                try:
                    value: T | BaseException = future.result()
                except Exception as exc:  # the task raised, or its worker was lost
                    value = exc
                yield by_key[future.key], value
                future.release()
        finally:
            self._client.cancel(futures)

    def close(self) -> None:
        self._client.close()
        if self._cluster is not None:
            self._cluster.close()


def check_executor(
    kind: str, workers: int, address: str | None = None, connect_timeout: float = CONNECT_TIMEOUT
) -> None:
    """Raise ConfigError for an unknown executor, a worker count below 1, a misplaced address or
    a connect timeout that is not a positive number of seconds."""
    if kind not in EXECUTORS:
        raise ConfigError("executor", kind, ", ".join(EXECUTORS))
    if isinstance(workers, bool) or not isinstance(workers, int) or workers < 1:
        raise ConfigError("workers", workers, "an integer >= 1")
    if address and kind != "dask":
        raise ConfigError("address", address, "only with executor dask")
    if (
        isinstance(connect_timeout, bool)
        or not isinstance(connect_timeout, int | float)
        or not math.isfinite(connect_timeout)
        or connect_timeout <= 0
    ):
        raise ConfigError("connect_timeout", connect_timeout, "a finite number of seconds > 0")


def make_executor(
    kind: str = "local",
    workers: int = 1,
    address: str | None = None,
    connect_timeout: float = CONNECT_TIMEOUT,
) -> InProcessExecutor | LocalProcessExecutor | DaskExecutor:
    """The executor named ``kind``: local (``workers=1`` runs in this process) or dask."""
    check_executor(kind, workers, address, connect_timeout)
    if kind == "dask":
        return DaskExecutor(workers, address, connect_timeout)
    return InProcessExecutor() if workers == 1 else LocalProcessExecutor(workers)
