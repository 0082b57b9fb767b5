"""Performs a study: plans its runs, skips the complete ones, runs the rest, reports what happened.

Guarantees (see docs/studies.md): a run's tables are written by its worker, each file atomically
and the ``runs`` file last (with the manifest of the others), so a study killed at any moment
resumes with no completed run lost or done twice and no half-written or damaged file trusted; a run
that raises or whose worker dies is recorded (status error with its traceback or exit cause) and
the other runs go on.
"""

from __future__ import annotations

import json
import os
import tempfile
import time
import traceback
from collections.abc import Callable
from contextlib import ExitStack, closing
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import Any

import polars as pl

from dmarl_des.errors import ConfigError
from dmarl_des.log import check_output_folder, table_path
from dmarl_des.study.execute import RunOutcome, execute_run
from dmarl_des.study.executors import (
    CONNECT_TIMEOUT,
    Executor,
    check_executor,
    make_executor,
)
from dmarl_des.study.plan import RunSpec, Study, TrainSpec
from dmarl_des.study.resume import (
    FAILED,
    NOT_DONE,
    clean_stale_temp_files,
    forget_run,
    run_damage,
)

DESCRIPTION_FILE = "study.json"
"""The study's description, written beside its tables."""


@dataclass(frozen=True)
class FailedRun:
    """A run that ended in error: which one, with which parameters, and the error text."""

    run_id: str
    seed: int
    overrides: dict[str, Any]
    partition: dict[str, Any]
    error: str

    @property
    def last_line(self) -> str:
        """The last non-empty line of the error (usually ``ExceptionType: message``)."""
        lines = [line.strip() for line in self.error.strip().splitlines() if line.strip()]
        return lines[-1] if lines else "(no error text)"

    def describe(self) -> str:
        params = ", ".join(f"{k}={v}" for k, v in self.overrides.items())
        params = f"{params}, seed={self.seed}" if params else f"seed={self.seed}"
        return f"{self.run_id}  [{params}]  {self.last_line}"


@dataclass
class StudyResult:
    """What a call of ``run_study`` did: runs done, failed and skipped (already complete).

    ``damaged`` maps the runs found complete but damaged (a file missing, truncated or altered)
    to what was wrong; they are done again (and counted in ``done`` or ``failed``).
    A study that trains also lists its training runs: ``trained`` (done by this call) and
    ``reused`` (complete, with their checkpoint intact, from an earlier call); a failed training
    run is in ``failed`` and its policy has no evaluation runs.
    """

    name: str
    out: Path
    run_ids: list[str]
    done: list[str] = field(default_factory=list)
    failed: list[FailedRun] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)
    damaged: dict[str, str] = field(default_factory=dict)
    wall_s: float = 0.0
    run_wall_s: float = 0.0
    trained: list[str] = field(default_factory=list)
    reused: list[str] = field(default_factory=list)
    trains: bool = False

    @property
    def ok(self) -> bool:
        """True when no run failed."""
        return not self.failed

    def summary(self) -> pl.DataFrame:
        """One row: runs planned, ok, failed, skipped, the wall time and the runs' summed wall time
        (and, for a study that trains, the policies trained now and reused)."""
        row: dict[str, list[Any]] = {"study": [self.name]}
        if self.trains:
            row |= {"trained": [len(self.trained)], "reused": [len(self.reused)]}
        return pl.DataFrame(
            {
                **row,
                "runs": [len(self.run_ids)],
                "ok": [len(self.done)],
                "failed": [len(self.failed)],
                "skipped": [len(self.skipped)],
                "wall_s": [round(self.wall_s, 3)],
                "run_wall_s": [round(self.run_wall_s, 3)],
            }
        )

    def failure_report(self) -> str:
        """One line per failed run: run id, its overrides and seed, the last line of its error."""
        if not self.failed:
            return ""
        lines = [f"{len(self.failed)} run(s) failed:"]
        lines += [f"  {f.describe()}" for f in self.failed]
        return "\n".join(lines)

    def damage_report(self) -> str:
        """One line per run found damaged and done again: run id and what was wrong."""
        if not self.damaged:
            return ""
        lines = [f"{len(self.damaged)} complete run(s) had damaged files and were done again:"]
        lines += [f"  {run_id}  {why}" for run_id, why in self.damaged.items()]
        return "\n".join(lines)


class StudyInterrupted(KeyboardInterrupt):
    """Ctrl-C during a study: ``result`` holds what was complete (and kept) when it came."""

    def __init__(self, result: StudyResult) -> None:
        super().__init__("study interrupted")
        self.result = result

    def kept(self) -> str:
        """One line: how many runs are complete and kept, and how to go on."""
        r = self.result
        complete = len(r.done) + len(r.skipped)
        return (
            f"{complete} of {len(r.run_ids)} runs complete and kept under {r.out}; "
            "the same command resumes the others"
        )


def run_study(
    study: Study,
    out: str | Path,
    executor: str | Executor = "local",
    workers: int | None = None,
    address: str | None = None,
    progress: bool = True,
    connect_timeout: float = CONNECT_TIMEOUT,
    command: str | None = None,
) -> StudyResult:
    """Perform every run of ``study`` not already complete and intact under ``out``; the tally.

    ``executor`` is ``local`` (a process pool; ``workers=1`` runs in this process) or ``dask`` (a
    ``LocalCluster`` of ``workers`` processes, or the cluster at ``address``, which must answer
    within ``connect_timeout`` seconds). ``workers`` defaults to the number of CPUs, never more
    than the runs left. An ``Executor`` object may be given instead, to reuse its workers across
    studies; it is then left open. Ctrl-C raises :class:`StudyInterrupted` (a KeyboardInterrupt)
    carrying the runs complete so far. ``command`` is recorded in ``study.json`` (the report
    quotes it).

    A study with ``training`` first trains the training runs that are not complete (a complete
    one has intact tables and a checkpoint with the recorded content digest), then evaluates the
    checkpoints across the grid.
    """
    t0 = time.perf_counter()
    if workers is None:
        workers = os.cpu_count() or 1
    if isinstance(executor, str):
        check_executor(executor, workers, address, connect_timeout)
    root = check_output_folder(out)
    trains = study.training_runs()
    specs: list[RunSpec] | None = None
    if trains:
        study.check()  # every evaluation scenario validated before anything is trained
    else:
        specs = study.runs()  # every scenario validated before anything is written
    root.mkdir(parents=True, exist_ok=True)
    _write_description(root, study, command)
    clean_stale_temp_files(root)
    result = StudyResult(study.name, root, [], trains=bool(trains))
    pending: list[RunSpec] = []
    try:
        with ExitStack() as stack:
            pool: list[Executor] = []

            def executor_for(n_runs: int) -> Executor:
                if not isinstance(executor, str):
                    return executor
                if not pool:
                    n = max(1, min(workers, n_runs))
                    made = make_executor(executor, n, address, connect_timeout)
                    pool.append(stack.enter_context(closing(made)))
                return pool[0]

            if trains:
                specs = _train(study, root, trains, result, executor_for, progress)
            assert specs is not None
            result.run_ids = [s.run_id for s in specs]
            pending = _pending(root, specs, result)
            if pending:
                fn = partial(execute_run, out=str(root.resolve()), study=study.name)
                _perform(study, root, pending, executor_for(len(pending)), result, progress, fn)
            clean_stale_temp_files(root)
    except KeyboardInterrupt:
        # runs that a worker completed while the interrupt came are kept too
        answered = set(result.done) | {f.run_id for f in result.failed}
        for spec in pending:
            if spec.run_id not in answered and run_damage(root, spec) is None:
                result.done.append(spec.run_id)
        result.wall_s = time.perf_counter() - t0
        raise StudyInterrupted(result) from None
    result.wall_s = time.perf_counter() - t0
    return result


def _pending(root: Path, specs: list[RunSpec], result: StudyResult) -> list[RunSpec]:
    """The runs to do (not done, failed or damaged), their leftovers deleted; the others skipped."""
    pending = []
    for spec in specs:
        why = run_damage(root, spec)
        if why is None:
            result.skipped.append(spec.run_id)
            continue
        if why not in (NOT_DONE, FAILED):
            result.damaged[spec.run_id] = why
        pending.append(spec)
    for spec in pending:
        forget_run(root, spec)
    return pending


def _train(
    study: Study,
    root: Path,
    trains: list[TrainSpec],
    result: StudyResult,
    executor_for: Callable[[int], Executor],
    progress: bool,
) -> list[RunSpec]:
    """Train the policies not trained yet; the evaluation runs of every policy that is."""
    from dmarl_des.study.training import (
        TRAINING_FOLDER,
        checkpoint_folder,
        execute_training,
        forget_training,
        training_damage,
    )

    pending = []
    for spec in trains:
        why = training_damage(root, spec)
        if why is None:
            result.reused.append(spec.run_id)
            continue
        if why not in (NOT_DONE, FAILED):
            result.damaged[spec.run_id] = why
        forget_training(root, spec)
        pending.append(spec)
    if pending:
        fn = partial(execute_training, out=str(root.resolve()), study=study.name)
        done = _Tally()
        _perform(
            study,
            root / TRAINING_FOLDER,
            pending,
            executor_for(len(pending)),
            done,
            progress,
            fn,
            desc=f"train {study.name}",
        )
        result.trained += done.done
        result.failed += done.failed
        result.run_wall_s += done.run_wall_s
    checkpoints = {
        (spec.condition, spec.seed): checkpoint_folder(root, spec).resolve()
        for spec in trains
        if training_damage(root, spec) is None
    }
    return study.runs(checkpoints)


@dataclass
class _Tally:
    """What ``_perform`` counts: runs done, failed, and their summed wall time."""

    done: list[str] = field(default_factory=list)
    failed: list[FailedRun] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)
    run_wall_s: float = 0.0


def _perform(
    study: Study,
    root: Path,
    pending: list[RunSpec],
    executor: Executor,
    result: StudyResult | _Tally,
    progress: bool,
    fn: Callable[[Any], Any],
    desc: str | None = None,
) -> None:
    from tqdm import tqdm

    total = len(pending) + len(result.skipped)
    bar = tqdm(
        total=total,
        initial=len(result.skipped),
        desc=desc or f"study {study.name}",
        unit="run",
        disable=not progress,
        dynamic_ncols=True,
    )
    runs = executor.map_runs(fn, pending)
    try:
        for spec, value in runs:
            if isinstance(value, RunOutcome):
                result.run_wall_s += value.wall_s
                error = None if value.status == "ok" else value.error or "unknown error"
            else:  # the worker raised outside the run, or died
                error = "".join(traceback.format_exception(value))
            if error is None:
                result.done.append(spec.run_id)
            else:
                result.failed.append(_failed(spec, error))
                _record_if_unrecorded(root, study.name, spec, error)
            bar.set_postfix(ok=len(result.done), failed=len(result.failed), refresh=False)
            bar.update(1)
    finally:
        close = getattr(runs, "close", None)
        if close is not None:  # a generator: stop its runs in flight now (e.g. on Ctrl-C)
            close()
        bar.close()


def _failed(spec: RunSpec, error: str) -> FailedRun:
    return FailedRun(spec.run_id, spec.seed, dict(spec.params), dict(spec.partition), error)


def _record_if_unrecorded(root: Path, study: str, spec: RunSpec, error: str) -> None:
    """Write the ``runs`` row (status error) of a failed run that wrote none: its worker died, or
    its scenario no longer loads. (A run that raised inside the simulation wrote its own.)"""
    from dmarl_des.study.run import record_failed_run

    if table_path(root, "runs", spec.run_id, spec.partition).is_file():
        return
    record_failed_run(
        root,
        run_id=spec.run_id,
        seed=spec.seed,
        error=error,
        study=study,
        params=spec.params,
        partition=spec.partition,
    )


def _write_description(root: Path, study: Study, command: str | None = None) -> None:
    """Write ``study.json`` atomically; a folder holding another grid's keys is refused."""
    path = root / DESCRIPTION_FILE
    description = study.describe()
    if command:
        description["command"] = command
    if path.is_file():
        try:
            previous = json.loads(path.read_text())
        except ValueError:
            previous = {}
        keys = list(previous.get("grid", {}))
        if previous and keys != list(study.keys):
            raise ConfigError(
                "out",
                str(root),
                f"a folder for a study sweeping {keys or 'nothing'} (this study sweeps "
                f"{list(study.keys) or 'nothing'}): choose another --out",
            )
    fd, tmp = tempfile.mkstemp(prefix=".tmp-", suffix=".json", dir=root)
    with os.fdopen(fd, "w") as fh:
        json.dump(description, fh, indent=2)
    os.replace(tmp, path)
