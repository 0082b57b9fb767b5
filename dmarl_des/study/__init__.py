"""Runs and studies: a run is a pure function of (scenario, overrides, seed); studies sweep them.

Names are imported on first use, so a worker process can import a light submodule (its thread
limits) before numpy, torch or Mesa are loaded.
"""

from __future__ import annotations

import importlib
from typing import Any

_EXPORTS = {
    "RunResult": "dmarl_des.study.run",
    "run_id_for": "dmarl_des.study.run",
    "run_scenario": "dmarl_des.study.run",
    "WALL_CLOCK_COLUMNS": "dmarl_des.study.run",
    "frames_digest": "dmarl_des.study.run",
    "RunSpec": "dmarl_des.study.plan",
    "Study": "dmarl_des.study.plan",
    "load_study": "dmarl_des.study.loading",
    "Executor": "dmarl_des.study.executors",
    "LocalProcessExecutor": "dmarl_des.study.executors",
    "DaskExecutor": "dmarl_des.study.executors",
    "InProcessExecutor": "dmarl_des.study.executors",
    "make_executor": "dmarl_des.study.executors",
    "FailedRun": "dmarl_des.study.runner",
    "StudyResult": "dmarl_des.study.runner",
    "run_study": "dmarl_des.study.runner",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'dmarl_des.study' has no attribute {name!r}")
    return getattr(importlib.import_module(module), name)


def __dir__() -> list[str]:
    return sorted([*globals(), *_EXPORTS])
