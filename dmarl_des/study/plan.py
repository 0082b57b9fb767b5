"""A study's plan: one scenario file × a grid of overrides × seeds, expanded into run specs."""

from __future__ import annotations

import itertools
import numbers
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from dmarl_des.errors import ConfigError
from dmarl_des.scenario import Scenario, load_scenario


@dataclass(frozen=True)
class RunSpec:
    """What a worker needs for one run — parameters only, never live models.

    ``overrides`` holds the study's base overrides and this grid point (not the seed), as given;
    ``params`` the same keys with their validated values (recorded in the ``runs`` table), and
    ``partition`` the swept ones among them (the hive folders of the run's files).
    """

    scenario_path: str
    overrides: dict[str, Any]
    seed: int
    run_id: str
    params: dict[str, Any] = field(default_factory=dict)
    partition: dict[str, Any] = field(default_factory=dict)

    def scenario_overrides(self) -> dict[str, Any]:
        """The overrides the scenario file is called with: ``overrides`` plus the seed."""
        return {**self.overrides, "seed": self.seed}

    def load(self) -> Scenario:
        """The validated scenario of this run."""
        return load_scenario(self.scenario_path, self.scenario_overrides())

    def label(self) -> str:
        """``key=value, ..., seed=s`` for messages."""
        parts = [f"{k}={v}" for k, v in self.partition.items()] + [f"seed={self.seed}"]
        return ", ".join(parts)


class Study:
    """A scenario file swept over a grid of dotted-key overrides and a set of seeds.

    ``grid`` maps each swept key to its values (``{"net.loss.p": [0, 0.2, 0.4]}``); the runs are
    the Cartesian product of the values (last key varying fastest) times the seeds. ``seeds`` is a
    count ``S`` (seeds ``0..S-1``) or explicit seed values. ``base_overrides`` apply to every run
    (``{"policy": "models/x"}``). A run's id is the hash of its complete validated scenario.
    """

    def __init__(
        self,
        scenario_path: str | Path,
        grid: Mapping[str, Sequence[Any]] | None = None,
        seeds: int | Sequence[int] = 1,
        base_overrides: Mapping[str, Any] | None = None,
        name: str | None = None,
    ) -> None:
        path = Path(scenario_path)
        if not path.is_file() or path.suffix != ".py":
            raise ConfigError(
                "scenario", str(scenario_path), "a path to an existing .py scenario file"
            )
        self.scenario_path = path.resolve()
        self.grid = _checked_grid(grid or {})
        self.seeds = _checked_seeds(seeds)
        self.base_overrides = dict(base_overrides or {})
        if "seed" in self.base_overrides:
            raise ConfigError("base_overrides", "seed", "no seed here: give the study's seeds")
        both = sorted(set(self.grid) & set(self.base_overrides))
        if both:
            raise ConfigError(
                "grid", both, "keys that are not also fixed by base overrides (--set)"
            )
        self.name = name if name is not None else path.stem
        if not self.name or any(c in self.name for c in "/\\") or self.name in (".", ".."):
            raise ConfigError("study name", self.name, "a non-empty name without path separators")
        self._runs: list[RunSpec] | None = None

    # ------------------------------------------------------------------ derived
    @property
    def keys(self) -> tuple[str, ...]:
        """The swept keys, in grid order."""
        return tuple(self.grid)

    def points(self) -> list[dict[str, Any]]:
        """Every grid point as a dict of swept key → value (one empty dict when nothing is swept)."""
        return [dict(zip(self.keys, values)) for values in itertools.product(*self.grid.values())]

    def runs(self) -> list[RunSpec]:
        """Every run of the study, each scenario validated now (bad values fail before any run)."""
        if self._runs is None:
            self._runs = self._plan()
        return list(self._runs)

    def _plan(self) -> list[RunSpec]:
        specs: list[RunSpec] = []
        seen: dict[str, RunSpec] = {}
        checkpoints: dict[str, str] = {}  # content digests, each checkpoint read once
        for point in self.points():
            overrides = {**self.base_overrides, **point}
            for seed in self.seeds:
                scenario = load_scenario(self.scenario_path, {**overrides, "seed": seed})
                values = scenario.model_dump(mode="python")
                params = {key: _value_at(values, key) for key in overrides}
                partition = {key: params[key] for key in self.keys}
                spec = RunSpec(
                    str(self.scenario_path),
                    overrides,
                    seed,
                    _run_id(scenario, checkpoints),
                    params,
                    partition,
                )
                if spec.run_id in seen:
                    raise ConfigError(
                        "grid",
                        f"{seen[spec.run_id].label()} and {spec.label()}",
                        "values that give different scenarios (these two are the same run)",
                    )
                seen[spec.run_id] = spec
                specs.append(spec)
        return specs

    def replace(
        self,
        *,
        grid: Mapping[str, Sequence[Any]] | None = None,
        seeds: int | Sequence[int] | None = None,
        base_overrides: Mapping[str, Any] | None = None,
        name: str | None = None,
    ) -> Study:
        """A copy with some parts replaced (``None`` keeps a part)."""
        return Study(
            self.scenario_path,
            grid=self.grid if grid is None else grid,
            seeds=self.seeds if seeds is None else seeds,
            base_overrides=self.base_overrides if base_overrides is None else base_overrides,
            name=self.name if name is None else name,
        )

    def describe(self) -> dict[str, Any]:
        """A JSON-able description (written as ``study.json`` beside the tables)."""
        return {
            "name": self.name,
            "scenario": str(self.scenario_path),
            "grid": {k: [_jsonable(v) for v in vs] for k, vs in self.grid.items()},
            "seeds": list(self.seeds),
            "base_overrides": {k: _jsonable(v) for k, v in self.base_overrides.items()},
        }

    def __repr__(self) -> str:
        grid = ", ".join(f"{k}={list(v)}" for k, v in self.grid.items())
        return (
            f"Study({self.name!r}, {self.scenario_path.name}, grid: {grid or 'none'}, "
            f"seeds: {list(self.seeds)}, base: {self.base_overrides})"
        )


def _run_id(scenario: Scenario, checkpoints: dict[str, str]) -> str:
    # imported here: the run module loads the whole simulator (Mesa, torch)
    from dmarl_des.study.run import run_id_for

    return run_id_for(scenario, checkpoints)


def _checked_grid(grid: Mapping[str, Sequence[Any]]) -> dict[str, tuple[Any, ...]]:
    out: dict[str, tuple[Any, ...]] = {}
    for key, values in grid.items():
        if not isinstance(key, str) or not key:
            raise ConfigError("grid key", key, "a dotted scenario key such as net.loss.p")
        if key == "seed":
            raise ConfigError("grid", key, "scenario keys other than seed (give seeds instead)")
        if hasattr(values, "tolist"):  # a numpy array
            values = values.tolist()
        if isinstance(values, str | bytes) or not isinstance(values, Sequence):
            raise ConfigError(f"grid {key}", values, "a list of values, e.g. [0, 0.2, 0.4]")
        values = tuple(values)
        if not values:
            raise ConfigError(f"grid {key}", values, "at least one value")
        out[key] = values
    return out


def _checked_seeds(seeds: int | Sequence[int]) -> tuple[int, ...]:
    allowed = "a count >= 1 or a list of distinct seeds >= 0"
    if isinstance(seeds, numbers.Integral) and not isinstance(seeds, bool):
        if seeds < 1:
            raise ConfigError("seeds", seeds, allowed)
        return tuple(range(int(seeds)))
    if isinstance(seeds, str | bytes) or not isinstance(seeds, Iterable):
        raise ConfigError("seeds", seeds, allowed)
    values = tuple(seeds)
    integers = all(isinstance(s, numbers.Integral) and not isinstance(s, bool) for s in values)
    if not values or not integers or min(values) < 0 or len(set(values)) != len(values):
        raise ConfigError("seeds", seeds, allowed)
    return tuple(int(s) for s in values)


def _value_at(values: Mapping[str, Any], key: str) -> Any:
    node: Any = values
    for part in key.split("."):
        node = node[part]
    return node


def _jsonable(value: Any) -> Any:
    if isinstance(value, bool | int | float | str) or value is None:
        return value
    if isinstance(value, tuple | list):
        return [_jsonable(v) for v in value]
    return str(value)
