"""A study's plan: one scenario file × a grid of overrides × seeds, expanded into run specs."""

from __future__ import annotations

import itertools
import numbers
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from dmarl_des.errors import ConfigError
from dmarl_des.scenario import Scenario
from dmarl_des.study.scenarios import is_learner_key, load_run_scenario

TRAINED = "trained"
"""A value of ``policy`` (swept or fixed) standing for the policies a study trains itself."""

PLACEHOLDER = "random"
"""The policy trained runs are validated with before their checkpoints exist."""


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
        return load_run_scenario(self.scenario_path, self.scenario_overrides())

    def label(self) -> str:
        """``key=value, ..., seed=s`` for messages."""
        parts = [f"{k}={v}" for k, v in self.partition.items()] + [f"seed={self.seed}"]
        return ", ".join(parts)


@dataclass(frozen=True)
class Training:
    """Train once per (training condition, seed), then evaluate each checkpoint across the grid.

    ``grid`` holds the training conditions (dotted keys × values, e.g. ``{"net.loss.p": [0,
    0.2]}``; empty: one condition); ``overrides`` apply to training runs only (``learner.name``,
    ``learner.*``, ``episodes``, …). Training runs also get the study's base overrides; the
    ``learner.*`` ones among those go to training only.
    """

    grid: Mapping[str, Sequence[Any]] = field(default_factory=dict)
    overrides: Mapping[str, Any] = field(default_factory=dict)

    def conditions(self) -> list[dict[str, Any]]:
        """Every training condition as a dict of key → value (one empty dict without a grid)."""
        keys = list(self.grid)
        return [dict(zip(keys, values)) for values in itertools.product(*self.grid.values())]

    def label(self, condition: Mapping[str, Any]) -> str:
        """The policy name of a condition: ``trained`` or ``trained net.loss.p=0.2``."""
        if not condition:
            return TRAINED
        return f"{TRAINED} " + ", ".join(f"{k}={v}" for k, v in condition.items())

    def describe(self) -> dict[str, Any]:
        return {
            "grid": {k: [_jsonable(v) for v in vs] for k, vs in self.grid.items()},
            "overrides": {k: _jsonable(v) for k, v in self.overrides.items()},
        }


@dataclass(frozen=True)
class TrainSpec(RunSpec):
    """A training run of a study: its checkpoint goes to ``checkpoints/<run_id>/`` in the study
    folder; ``condition`` indexes ``Training.conditions()`` and ``label`` names its policy."""

    condition: int = 0
    label: str = TRAINED


class Study:
    """A scenario file swept over a grid of dotted-key overrides and a set of seeds.

    ``grid`` maps each swept key to its values (``{"net.loss.p": [0, 0.2, 0.4]}``); the runs are
    the Cartesian product of the values (last key varying fastest) times the seeds. ``seeds`` is a
    count ``S`` (seeds ``0..S-1``) or explicit seed values. ``base_overrides`` apply to every run
    (``{"policy": "models/x"}``). A run's id is the hash of its complete validated scenario.

    ``policy`` is a key like any other: ``grid={"policy": ["scripted", "models/x"]}`` compares
    policies at every grid point. With ``training`` the study trains its own policies once per
    (training condition, seed) and the value ``trained`` of ``policy`` stands for them (by default
    ``policy`` is swept over ``["trained"]``); each becomes one policy per condition, named by
    ``Training.label``.
    """

    def __init__(
        self,
        scenario_path: str | Path,
        grid: Mapping[str, Sequence[Any]] | None = None,
        seeds: int | Sequence[int] = 1,
        base_overrides: Mapping[str, Any] | None = None,
        name: str | None = None,
        training: Training | None = None,
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
        self.training = _checked_training(training, self.grid, self.base_overrides)
        if self.training is not None and "policy" not in self.grid:
            self.grid = {"policy": (TRAINED,), **self.grid}
        self._runs: list[RunSpec] | None = None
        self._facts: dict[str, Any] = {}

    # ------------------------------------------------------------------ derived
    @property
    def keys(self) -> tuple[str, ...]:
        """The swept keys, in grid order."""
        return tuple(self.grid)

    def points(self) -> list[dict[str, Any]]:
        """Every grid point as a dict of swept key → value (one empty dict when nothing is swept)."""
        return [dict(zip(self.keys, values)) for values in itertools.product(*self.grid.values())]

    def runs(
        self, checkpoints: Mapping[tuple[int, int], str | Path] | None = None
    ) -> list[RunSpec]:
        """Every run of the study, each scenario validated now (bad values fail before any run).

        A study with ``training`` evaluates checkpoints that exist only once trained:
        ``checkpoints`` maps (condition index, seed) to each trained policy's folder (pairs
        missing from it get no runs); ``run_study`` trains them first. ``check()`` validates
        such a study's runs before that.
        """
        if self.training is not None:
            if checkpoints is None:
                raise ConfigError(
                    "checkpoints",
                    None,
                    "the folders of the trained policies (run_study trains them first; "
                    "Study.check() validates the runs before)",
                )
            return self._plan(checkpoints)
        if self._runs is None:
            self._runs = self._plan(None)
        return list(self._runs)

    def check(self) -> tuple[int, int]:
        """Validate every training and evaluation run (trained policies stand in as ``random``);
        returns (training runs, evaluation runs)."""
        if self.training is None:
            return 0, len(self.runs())
        trains = self.training_runs()
        return len(trains), len(self._plan(None))

    def training_runs(self) -> list[TrainSpec]:
        """The training runs: one per (training condition, seed), each scenario validated now."""
        training = self.training
        if training is None:
            return []
        base = {k: v for k, v in self.base_overrides.items() if k != "policy"}
        specs = []
        for index, condition in enumerate(training.conditions()):
            overrides = {**base, **condition, **training.overrides, "policy": "learner"}
            for seed in self.seeds:
                scenario = load_run_scenario(self.scenario_path, {**overrides, "seed": seed})
                values = scenario.model_dump(mode="python")
                params = {key: _value_at(values, key) for key in overrides}
                partition = {key: params[key] for key in training.grid}
                run_id = _run_id(scenario, {})
                specs.append(
                    TrainSpec(
                        str(self.scenario_path),
                        overrides,
                        seed,
                        run_id,
                        params,
                        partition,
                        condition=index,
                        label=training.label(condition),
                    )
                )
        return specs

    def levels(self) -> dict[str, list[Any]]:
        """The levels of each swept key as runs name them (``trained`` expanded per condition)."""
        out = {k: [_jsonable(v) for v in vs] for k, vs in self.grid.items()}
        if self.training is not None and "policy" in out:
            labels = [self.training.label(c) for c in self.training.conditions()]
            expanded: list[Any] = []
            for value in out["policy"]:
                expanded += labels if value == TRAINED else [value]
            out["policy"] = expanded
        return out

    def _plan(self, checkpoints: Mapping[tuple[int, int], str | Path] | None) -> list[RunSpec]:
        """The runs; in a training study without ``checkpoints`` they are validated with the
        placeholder policy and carry no run id."""
        specs: list[RunSpec] = []
        seen: dict[str, RunSpec] = {}
        digests: dict[str, str] = {}  # checkpoint content digests, each checkpoint read once
        scenarios: list[Scenario] = []
        training = self.training
        base = dict(self.base_overrides)
        if training is not None:  # the learner's settings are the training runs'
            base = {k: v for k, v in base.items() if not is_learner_key(k)}
        conditions = training.conditions() if training is not None else []
        for point in self.points():
            overrides = {**base, **point}
            for seed in self.seeds:
                for policy, label, condition in self._policies(overrides, conditions):
                    if condition is not None and checkpoints is not None:
                        if (condition, seed) not in checkpoints:
                            continue  # its training failed: nothing to evaluate
                        policy = str(checkpoints[(condition, seed)])
                    run = dict(overrides) if policy is None else {**overrides, "policy": policy}
                    scenario = load_run_scenario(self.scenario_path, {**run, "seed": seed})
                    scenarios.append(scenario)
                    values = scenario.model_dump(mode="python")
                    params = {key: _value_at(values, key) for key in run}
                    if label is not None:
                        params["policy"] = label
                    partition = {key: params[key] for key in self.keys}
                    placeholder = condition is not None and checkpoints is None
                    run_id = "" if placeholder else _run_id(scenario, digests)
                    spec = RunSpec(str(self.scenario_path), run, seed, run_id, params, partition)
                    if run_id and run_id in seen:
                        raise ConfigError(
                            "grid",
                            f"{seen[run_id].label()} and {spec.label()}",
                            "values that give different scenarios (these two are the same run)",
                        )
                    seen[run_id] = spec
                    specs.append(spec)
        if scenarios and not self._facts:
            from dmarl_des.study.facts import study_facts

            labels = self.levels().get("policy") or [scenarios[0].policy]
            self._facts = study_facts(scenarios, labels, self.keys, str(self.scenario_path))
            if training is not None:
                trains = [t.load() for t in self.training_runs()[:1]]
                self._facts["learner"] = _training_words(training, trains, len(self.seeds))
        return specs

    def _policies(
        self, overrides: Mapping[str, Any], conditions: list[dict[str, Any]]
    ) -> list[tuple[str | None, str | None, int | None]]:
        """(policy override, label, training condition) of each run at one grid point."""
        if self.training is None or overrides.get("policy") != TRAINED:
            return [(None, None, None)]
        return [(PLACEHOLDER, self.training.label(c), i) for i, c in enumerate(conditions)]

    def replace(
        self,
        *,
        grid: Mapping[str, Sequence[Any]] | None = None,
        seeds: int | Sequence[int] | None = None,
        base_overrides: Mapping[str, Any] | None = None,
        name: str | None = None,
        training: Training | None = None,
    ) -> Study:
        """A copy with some parts replaced (``None`` keeps a part)."""
        return Study(
            self.scenario_path,
            grid=self.grid if grid is None else grid,
            seeds=self.seeds if seeds is None else seeds,
            base_overrides=self.base_overrides if base_overrides is None else base_overrides,
            name=self.name if name is None else name,
            training=self.training if training is None else training,
        )

    def describe(self) -> dict[str, Any]:
        """A JSON-able description (written as ``study.json`` beside the tables)."""
        return {
            "name": self.name,
            "scenario": str(self.scenario_path),
            "grid": {k: [_jsonable(v) for v in vs] for k, vs in self.grid.items()},
            "seeds": list(self.seeds),
            "base_overrides": {k: _jsonable(v) for k, v in self.base_overrides.items()},
            "training": None if self.training is None else self.training.describe(),
            "levels": self.levels(),
            "facts": self._facts,
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


def _checked_training(
    training: Training | None, grid: Mapping[str, Sequence[Any]], base: Mapping[str, Any]
) -> Training | None:
    if training is None:
        return None
    if not isinstance(training, Training):
        raise ConfigError("training", training, "a Training(grid=..., overrides=...)")
    conditions = _checked_grid(training.grid)
    overrides = dict(training.overrides)
    for key in ("policy", "seed"):
        if key in conditions or key in overrides:
            raise ConfigError("training", key, "keys other than policy and seed")
    both = sorted(set(conditions) & set(base))
    if both:
        raise ConfigError("training grid", both, "keys that base overrides (--set) do not fix")
    if "policy" in base:
        raise ConfigError(
            "policy",
            base["policy"],
            "no fixed policy in a study that trains: sweep policy (e.g. scripted,trained)",
        )
    if "policy" in grid and TRAINED not in grid["policy"]:
        raise ConfigError("grid policy", list(grid["policy"]), f"values including {TRAINED!r}")
    return Training(conditions, overrides)


def _training_words(training: Training, scenarios: list[Scenario], seeds: int) -> str:
    """The learner line of a training study's facts."""
    from dmarl_des.study.facts import learner_words

    words = learner_words(scenarios) or "a learner"
    words = words.replace("trained in the run", "trained once per condition and seed")
    conditions = ", ".join(training.label(c) for c in training.conditions())
    return (
        f"{words}; {len(training.conditions())} condition(s) ({conditions}) × {seeds} seeds, "
        "each checkpoint evaluated at every grid point with the same seed"
    )


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
