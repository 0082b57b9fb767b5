"""One run: build the world from a scenario, simulate every episode, write its tables atomically."""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import time
import traceback
from collections.abc import Mapping
from dataclasses import dataclass, field
from importlib import metadata
from pathlib import Path
from typing import Any

import polars as pl

from dmarl_des.log import SCHEMA_VERSION, Recorder, check_file_name, check_output_folder
from dmarl_des.scenario import Scenario
from dmarl_des.scenario.model import POLICY_KINDS
from dmarl_des.study.policies import build_policy
from dmarl_des.world import World, world_class

WALL_CLOCK_COLUMNS = ("wall_s", "started_at", "files")
"""Columns that measure the machine, not the simulation: excluded from determinism checks.

``runs.files`` holds the sizes and checksums of the run's files, which contain wall times."""


@dataclass
class RunResult:
    """What a run produced: its id, status, tables (frames) and where they were written."""

    run_id: str
    status: str
    error: str | None
    wall_s: float
    frames: dict[str, pl.DataFrame] = field(default_factory=dict)
    paths: dict[str, Path] = field(default_factory=dict)
    world: World | None = None


def run_id_for(scenario: Scenario, checkpoints: dict[str, str] | None = None) -> str:
    """A stable id: the scenario name and a hash of everything the run's results depend on.

    That is the complete, validated scenario, and — when ``policy`` is a checkpoint folder — the
    checkpoint's content (weights and card) instead of its path: replacing the weights at the
    same path gives new run ids (a study then does those runs again instead of reusing the old
    results), while the same checkpoint read from another path (a moved study folder) keeps them.
    ``checkpoints`` (folder → content digest), when given, is used and filled as a memo, so that
    planning many runs of one checkpoint reads its files once.
    """
    digest = scenario.digest()
    if scenario.policy not in POLICY_KINDS:
        from dmarl_des.learn.checkpoint import checkpoint_digest

        memo = {} if checkpoints is None else checkpoints
        if scenario.policy not in memo:
            memo[scenario.policy] = checkpoint_digest(scenario.policy)
        canonical = scenario.canonical()
        canonical["policy"] = "checkpoint"
        text = json.dumps(canonical, sort_keys=True, separators=(",", ":"))
        both = f"{text}:{memo[scenario.policy]}"
        digest = hashlib.sha256(both.encode()).hexdigest()[:16]
    return check_file_name("run id", f"{scenario.name}-{digest}")


def library_versions() -> dict[str, str]:
    names = ("dmarl_des", "mesa", "simpy", "torch", "numpy", "polars", "networkx")
    out = {}
    for name in names:
        try:
            out[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            out[name] = "unknown"
    return out


def run_scenario(
    scenario: Scenario,
    *,
    out: str | Path | None = None,
    study: str = "",
    params: Mapping[str, Any] | None = None,
    partition: Mapping[str, Any] | None = None,
    run_id: str | None = None,
    device: str | None = None,
    max_batch: int | None = None,
    keep_world: bool = False,
    catch: bool = False,
    progress: Any = None,
    schedule: Any = None,
    on_evaluation: Any = None,
    on_start: Any = None,
) -> RunResult:
    """Simulate ``scenario`` and (when ``out`` is given) write its tables under ``out``.

    With ``catch=True`` an exception inside the run is recorded (``runs.status = "error"`` with the
    traceback) instead of raised, so a study can go on. A ``schedule``
    (``dmarl_des.study.schedule.TrainingSchedule``) drives a learning run with evaluation rounds
    and a wall-clock budget; ``on_evaluation`` is called with each round. ``on_start`` is called
    with the world once it is built and its policy set (e.g. to watch its recorder).
    """
    run_id = check_file_name("run id", run_id or run_id_for(scenario))
    if out is not None:
        check_output_folder(out)
    started = dt.datetime.now(dt.UTC)
    t0 = time.perf_counter()
    world: World | None = None
    status, error = "ok", None
    try:
        world = world_class(scenario.world)(scenario, run_id=run_id, max_batch=max_batch)
        world.policy = build_policy(scenario, world, device=device)
        if on_start is not None:
            on_start(world)
        if schedule is not None and scenario.policy == "learner":
            from dmarl_des.study.schedule import run_schedule

            run_schedule(world, schedule, progress, on_evaluation)
        else:
            if progress is not None:
                world.on_episode_end = progress
            world.run()
    except Exception:
        if not catch:
            raise
        status, error = "error", traceback.format_exc()
    wall = time.perf_counter() - t0
    recorder = world.recorder if world is not None else Recorder(run_id)
    add_runs_row(
        recorder,
        scenario,
        study=study,
        params=params,
        status=status,
        error=error,
        wall_s=wall,
        started_at=started,
    )
    paths = recorder.write(out, partition) if out is not None else {}
    frames = recorder.frames()  # after writing: the runs row then holds its file manifest
    return RunResult(run_id, status, error, wall, frames, paths, world if keep_world else None)


def add_runs_row(
    recorder: Recorder,
    scenario: Scenario,
    *,
    study: str = "",
    params: Mapping[str, Any] | None = None,
    status: str = "ok",
    error: str | None = None,
    wall_s: float = 0.0,
    started_at: dt.datetime | None = None,
) -> None:
    """Add the run's row to the ``runs`` table of ``recorder`` (the scenario, its parameters,
    the outcome, the library versions)."""
    learner = getattr(scenario.learner, "name", "") if scenario.learner is not None else ""
    recorder.add(
        "runs",
        study=study,
        scenario=scenario.name,
        world=scenario.world.name,
        learner=learner,
        policy=scenario.policy,
        n_agents=scenario.n_agents,
        seed=scenario.seed,
        params=json.dumps(dict(params or {}), sort_keys=True, default=str),
        status=status,
        error=error,
        wall_s=wall_s,
        started_at=started_at or dt.datetime.now(dt.UTC),
        versions=json.dumps(library_versions(), sort_keys=True),
        schema_version=SCHEMA_VERSION,
    )


def record_failed_run(
    out: str | Path,
    *,
    run_id: str,
    seed: int,
    error: str,
    study: str = "",
    params: Mapping[str, Any] | None = None,
    partition: Mapping[str, Any] | None = None,
) -> Path:
    """Write the ``runs`` row of a run that ended without writing one (its worker died, or its
    scenario no longer loads): status error with ``error``; the columns it cannot know are null."""
    recorder = Recorder(run_id, tables=("runs",))
    recorder.add(
        "runs",
        study=study,
        seed=seed,
        params=json.dumps(dict(params or {}), sort_keys=True, default=str),
        status="error",
        error=error,
        wall_s=0.0,
        started_at=dt.datetime.now(dt.UTC),
        versions=json.dumps(library_versions(), sort_keys=True),
        schema_version=SCHEMA_VERSION,
    )
    return recorder.write(out, partition)["runs"]


def frames_digest(frames: Mapping[str, pl.DataFrame]) -> str:
    """A hash of every table with wall-clock columns dropped (for determinism checks)."""
    h = hashlib.sha256()
    for name in sorted(frames):
        frame = frames[name].drop([c for c in WALL_CLOCK_COLUMNS if c in frames[name].columns])
        h.update(name.encode())
        h.update(frame.write_json().encode())
    return h.hexdigest()
