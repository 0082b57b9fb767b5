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
from contextlib import closing
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
from dmarl_des.study.plan import RunSpec, Study
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

    @property
    def ok(self) -> bool:
        """True when no run failed."""
        return not self.failed

    def summary(self) -> pl.DataFrame:
        """One row: runs planned, ok, failed, skipped, the wall time and the runs' summed wall time."""
        return pl.DataFrame(
            {
                "study": [self.name],
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
) -> StudyResult:
    """Perform every run of ``study`` not already complete and intact under ``out``; the tally.

    ``executor`` is ``local`` (a process pool; ``workers=1`` runs in this process) or ``dask`` (a
    ``LocalCluster`` of ``workers`` processes, or the cluster at ``address``, which must answer
    within ``connect_timeout`` seconds). ``workers`` defaults to the number of CPUs, never more
    than the runs left. An ``Executor`` object may be given instead, to reuse its workers across
    studies; it is then left open. Ctrl-C raises :class:`StudyInterrupted` (a KeyboardInterrupt)
    carrying the runs complete so far.
    """
    t0 = time.perf_counter()
    if workers is None:
        workers = os.cpu_count() or 1
    if isinstance(executor, str):
        check_executor(executor, workers, address, connect_timeout)
    root = check_output_folder(out)
    specs = study.runs()  # every scenario validated before anything is written
    root.mkdir(parents=True, exist_ok=True)
    _write_description(root, study)
    clean_stale_temp_files(root)
    result = StudyResult(study.name, root, [s.run_id for s in specs])
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
    n_workers = max(1, min(workers, len(pending)))
    try:
        if pending:
            if isinstance(executor, str):
                with closing(make_executor(executor, n_workers, address, connect_timeout)) as owned:
                    _perform(study, root, pending, owned, result, progress)
            else:
                _perform(study, root, pending, executor, result, progress)
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


def _perform(
    study: Study,
    root: Path,
    pending: list[RunSpec],
    executor: Executor,
    result: StudyResult,
    progress: bool,
) -> None:
    from tqdm import tqdm

    fn = partial(execute_run, out=str(root.resolve()), study=study.name)
    total = len(pending) + len(result.skipped)
    bar = tqdm(
        total=total,
        initial=len(result.skipped),
        desc=f"study {study.name}",
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


def _write_description(root: Path, study: Study) -> None:
    """Write ``study.json`` atomically; a folder holding another grid's keys is refused."""
    path = root / DESCRIPTION_FILE
    description = study.describe()
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
