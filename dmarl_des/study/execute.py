"""One run inside a worker: load the scenario from (path, overrides, seed), run it, write its tables."""

from __future__ import annotations

import traceback
from dataclasses import dataclass
from pathlib import Path

from dmarl_des.study.plan import RunSpec


@dataclass(frozen=True)
class RunOutcome:
    """What a worker sends back: the run's id, status, error text and wall time (no tables)."""

    run_id: str
    status: str
    error: str | None
    wall_s: float


def execute_run(spec: RunSpec, *, out: str, study: str) -> RunOutcome:
    """Perform one run of a study and write its tables under ``out`` (``runs`` last).

    An exception inside the simulation is recorded in the ``runs`` table (status error, traceback)
    by ``run_scenario(catch=True)``; one while loading the scenario is returned without tables.
    """
    from dmarl_des.study.run import run_id_for, run_scenario

    try:
        scenario = spec.load()
        run_id = run_id_for(scenario)
    except Exception:
        return RunOutcome(spec.run_id, "error", traceback.format_exc(), 0.0)
    if run_id != spec.run_id:
        error = (
            f"the scenario file {Path(spec.scenario_path).name} now gives run id {run_id} for "
            f"these overrides, not {spec.run_id}: it (or the checkpoint it uses) changed, or it "
            "is not a pure function of its overrides, since the study was planned"
        )
        return RunOutcome(spec.run_id, "error", error, 0.0)
    result = run_scenario(
        scenario,
        out=out,
        study=study,
        params=spec.params,
        partition=spec.partition,
        run_id=spec.run_id,
        catch=True,
    )
    return RunOutcome(result.run_id, result.status, result.error, result.wall_s)
