"""Runs and studies: a run is a pure function of (scenario, overrides, seed); studies sweep them."""

from dmarl_des.study.run import RunResult, run_id_for, run_scenario

__all__ = ["RunResult", "run_id_for", "run_scenario"]
