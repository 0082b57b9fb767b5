"""Training runs of a study: train once per (training condition, seed), keep the checkpoint inside
the study folder, and know on resume whether it is still the one that was trained.

Layout: ``OUT/training/<table>/<condition keys>/<run_id>.parquet`` holds each training run's
tables (``episodes`` with the training curve, ``train``, ``runs`` last, and ``checkpoints``: the
folder and the SHA-256 of what was saved); ``OUT/checkpoints/<run_id>/`` holds its weights and
card. The checkpoint is saved before the tables, so a training run whose ``runs`` file exists has
its checkpoint; it is complete when its files are intact and the checkpoint's content still has
the recorded digest. Evaluation run ids include that digest, so a retrained (different)
checkpoint gives new evaluation runs.
"""

from __future__ import annotations

import shutil
import traceback
from pathlib import Path
from typing import Any

import polars as pl

from dmarl_des.log import table_path
from dmarl_des.study.execute import RunOutcome
from dmarl_des.study.plan import TrainSpec
from dmarl_des.study.resume import forget_run, run_damage

TRAINING_FOLDER = "training"
"""Subfolder of a study folder holding its training runs' tables."""

CHECKPOINTS_FOLDER = "checkpoints"
"""Subfolder of a study folder holding the checkpoints its training runs saved."""


def checkpoint_card(
    frames: dict[str, pl.DataFrame], scenario: Any, overrides: dict[str, Any]
) -> dict[str, Any]:
    """The card written beside trained weights: the training scenario (complete, so that an
    evaluation elsewhere can say how it differs), the overrides given, and how it did in its
    final evaluation (the eval episodes after the last training episode; the last 10 training
    episodes when there is none)."""
    episodes = frames["episodes"]
    trained = episodes.filter(pl.col("phase") == "train")
    last_train = trained["episode"].max() if trained.height else -1
    evals = episodes.filter((pl.col("phase") == "eval") & (pl.col("episode") > last_train))
    last = evals if evals.height else episodes.tail(min(10, episodes.height))
    return {
        **base_card(scenario, overrides, trained.height),
        "metrics": {
            "mean_return": float(last["team_return"].mean()),
            "mean_discounted_return": float(last["discounted_return"].mean()),
            "success_rate": float(last["success"].mean()),
            "episodes_measured": last.height,
            "phase_measured": "eval" if evals.height else "train",
        },
    }


def base_card(scenario: Any, overrides: dict[str, Any], trained: int) -> dict[str, Any]:
    """What every card of a training run says: world, scenario, overrides, seed, episodes."""
    return {
        "world": scenario.world.model_dump(mode="json"),
        "scenario": scenario.name,
        "overrides": {k: v for k, v in overrides.items()},
        "seed": scenario.seed,
        "gamma": scenario.gamma,
        "episodes": trained,
        "training_scenario": scenario.canonical(),
    }


def checkpoint_folder(out: str | Path, spec: TrainSpec) -> Path:
    """Where the training run ``spec`` saves its checkpoint."""
    return Path(out) / CHECKPOINTS_FOLDER / spec.run_id


def execute_training(spec: TrainSpec, *, out: str, study: str) -> RunOutcome:
    """Train one policy: run the training scenario, save the checkpoint into the study folder,
    then write the run's tables (``runs`` last) under ``OUT/training``."""
    from dmarl_des.learn.checkpoint import checkpoint_digest, save_checkpoint
    from dmarl_des.study.run import record_failed_run, run_id_for, run_scenario

    root = Path(out)
    tables = root / TRAINING_FOLDER
    try:
        scenario = spec.load()
        run_id = run_id_for(scenario)
    except Exception:
        return RunOutcome(spec.run_id, "error", traceback.format_exc(), 0.0)
    if run_id != spec.run_id:
        error = f"the training scenario now gives run id {run_id}, not {spec.run_id}"
        return RunOutcome(spec.run_id, "error", error, 0.0)
    result = run_scenario(
        scenario,
        study=study,
        params=spec.params,
        run_id=spec.run_id,
        keep_world=True,
        catch=True,
    )
    world = result.world
    if world is None:  # the world could not be built: no recorder to write
        assert result.error is not None
        record_failed_run(
            tables,
            run_id=spec.run_id,
            seed=spec.seed,
            error=result.error,
            study=study,
            params=spec.params,
            partition=spec.partition,
        )
        return RunOutcome(result.run_id, result.status, result.error, result.wall_s)
    recorder = world.recorder
    if result.status == "ok":
        folder = checkpoint_folder(root, spec)
        card = checkpoint_card(result.frames, scenario, dict(spec.overrides))
        card["label"] = spec.label
        save_checkpoint(folder, world.policy, card)
        recorder.declare("checkpoints", _checkpoint_schema())
        recorder.add(
            "checkpoints",
            path=folder.relative_to(root).as_posix(),
            digest=checkpoint_digest(folder),
        )
    recorder.write(tables, spec.partition)
    return RunOutcome(result.run_id, result.status, result.error, result.wall_s)


def _checkpoint_schema() -> dict[str, pl.DataType]:
    from dmarl_des.log import TABLES

    return TABLES["checkpoints"]


def training_damage(out: str | Path, spec: TrainSpec) -> str | None:
    """Why the training run is not complete (one line), or None when its files are intact and
    its checkpoint still has the digest recorded when it was saved."""
    from dmarl_des.errors import ConfigError
    from dmarl_des.learn.checkpoint import checkpoint_digest

    tables = Path(out) / TRAINING_FOLDER
    why = run_damage(tables, spec)
    if why is not None:
        return why
    path = table_path(tables, "checkpoints", spec.run_id, spec.partition)
    try:
        recorded = pl.read_parquet(path)["digest"][0]
    except Exception:
        return f"{path.relative_to(out).as_posix()}: unreadable"
    folder = checkpoint_folder(out, spec)
    try:
        digest = checkpoint_digest(folder)
    except ConfigError:
        return f"{folder.relative_to(out).as_posix()}: missing"
    if digest != recorded:
        return f"{folder.relative_to(out).as_posix()}: content changed since it was trained"
    return None


def forget_training(out: str | Path, spec: TrainSpec) -> None:
    """Delete what a training run left (its tables, then its checkpoint folder)."""
    forget_run(Path(out) / TRAINING_FOLDER, spec)
    shutil.rmtree(checkpoint_folder(out, spec), ignore_errors=True)
