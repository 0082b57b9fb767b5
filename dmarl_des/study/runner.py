"""Performs a study: plans its runs, skips the complete ones, runs the rest, reports what happened.

Guarantees (see docs/studies.md): a run's tables are written by its worker, each file atomically
and the ``runs`` file last, so a study killed at any moment resumes with no completed run lost or
done twice and no half-written file read; a run that raises is recorded (status error with its
traceback) and the other runs go on.
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
from dmarl_des.study.execute import RunOutcome, execute_run
from dmarl_des.study.executors import Executor, check_executor, make_executor
from dmarl_des.study.plan import RunSpec, Study
from dmarl_des.study.resume import clean_stale_temp_files, forget_run, is_complete

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
    """What a call of ``run_study`` did: runs done, failed and skipped (already complete)."""

    name: str
    out: Path
    run_ids: list[str]
    done: list[str] = field(default_factory=list)
    failed: list[FailedRun] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)
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


def run_study(
    study: Study,
    out: str | Path,
    executor: str | Executor = "local",
    workers: int | None = None,
    address: str | None = None,
    progress: bool = True,
) -> StudyResult:
    """Perform every run of ``study`` not already complete under ``out`` and return the tally.

    ``executor`` is ``local`` (a process pool; ``workers=1`` runs in this process) or ``dask`` (a
    ``LocalCluster`` of ``workers`` processes, or the cluster at ``address``). ``workers``
    defaults to the number of CPUs, never more than the runs left. An ``Executor`` object may be
    given instead, to reuse its workers across studies; it is then left open.
    """
    t0 = time.perf_counter()
    if workers is None:
        workers = os.cpu_count() or 1
    if isinstance(executor, str):
        check_executor(executor, workers, address)
    specs = study.runs()  # every scenario validated before anything is written
    root = Path(out)
    root.mkdir(parents=True, exist_ok=True)
    _write_description(root, study)
    clean_stale_temp_files(root)
    complete = {s.run_id for s in specs if is_complete(root, s)}
    pending = [s for s in specs if s.run_id not in complete]
    result = StudyResult(study.name, root, [s.run_id for s in specs])
    result.skipped = [s.run_id for s in specs if s.run_id in complete]
    for spec in pending:
        forget_run(root, spec)
    n_workers = max(1, min(workers, len(pending)))
    if pending:
        if isinstance(executor, str):
            with closing(make_executor(executor, n_workers, address)) as owned:
                _perform(study, root, pending, owned, result, progress)
        else:
            _perform(study, root, pending, executor, result, progress)
        clean_stale_temp_files(root)
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
    try:
        for spec, value in executor.map_runs(fn, pending):
            if isinstance(value, RunOutcome):
                result.run_wall_s += value.wall_s
                if value.status == "ok":
                    result.done.append(spec.run_id)
                else:
                    result.failed.append(_failed(spec, value.error or "unknown error"))
            else:
                text = "".join(traceback.format_exception(value))
                result.failed.append(_failed(spec, text))
            bar.set_postfix(ok=len(result.done), failed=len(result.failed), refresh=False)
            bar.update(1)
    finally:
        bar.close()


def _failed(spec: RunSpec, error: str) -> FailedRun:
    return FailedRun(spec.run_id, spec.seed, dict(spec.params), dict(spec.partition), error)


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
