"""A scenario file's study: its own ``study()`` when it defines one, else a grid and seeds given here."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from dmarl_des.errors import ConfigError
from dmarl_des.scenario import load_scenario_module
from dmarl_des.study.plan import Study, Training

DEFAULT_SEEDS = 3
"""Seeds of a study when neither the caller nor the file's ``study()`` says."""


def load_study(
    scenario_path: str | Path,
    grid: Mapping[str, Sequence[Any]] | None = None,
    seeds: int | Sequence[int] | None = None,
    base_overrides: Mapping[str, Any] | None = None,
    name: str | None = None,
    training: Training | None = None,
) -> Study:
    """The study of a scenario file.

    With no ``grid``, the file's ``study()`` gives the default grid, seeds, base overrides and name
    (a file without ``study()`` gives a seeds-only study). ``seeds``, ``base_overrides`` (merged
    over the default ones), ``name`` and ``training`` replace the default's when given.
    """
    module = load_scenario_module(scenario_path)
    default: Study | None = None
    if grid is None and callable(getattr(module, "study", None)):
        default = module.study()
        if not isinstance(default, Study):
            raise ConfigError("study", str(scenario_path), "study() must return a dmarl_des Study")
    if default is None:
        return Study(
            scenario_path,
            grid=grid or {},
            seeds=DEFAULT_SEEDS if seeds is None else seeds,
            base_overrides=base_overrides,
            name=name,
            training=training,
        )
    return default.replace(
        seeds=seeds,
        base_overrides={**default.base_overrides, **(base_overrides or {})},
        name=name,
        training=training,
    )
