"""A training schedule: train episodes with a greedy evaluation every K of them, within an optional
wall-clock budget, then the final evaluation — driving a world one episode at a time.

Episodes are numbered in the order they run, and each draws the randomness of its number (as
every run does): an evaluation round takes the next numbers, so the training episodes after it
are other episodes than without evaluation (the run stays a pure function of its settings, the
budget aside). Evaluation rows are ``phase = eval``; the report and the checkpoint card measure a
run by its final evaluation (the eval episodes after its last training episode).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from dmarl_des.errors import ConfigError


@dataclass(frozen=True)
class Evaluation:
    """One evaluation round: after how many training episodes, its episode rows, whether it is the
    final one, and the mean team return of its episodes."""

    trained_episodes: int
    rows: list[dict[str, Any]]
    final: bool

    @property
    def mean_return(self) -> float:
        return sum(r["team_return"] for r in self.rows) / len(self.rows)


@dataclass(frozen=True)
class TrainingSchedule:
    """``eval_every``: training episodes between evaluation rounds (0: only the final one);
    ``eval_episodes``: greedy episodes per round (at least 1 when rounds are asked for);
    ``time_budget``: wall seconds after which training stops at the end of the current episode
    (None: no limit; the scenario's ``episodes`` is the limit either way)."""

    eval_every: int = 0
    eval_episodes: int = 1
    time_budget: float | None = None

    def __post_init__(self) -> None:
        if self.eval_every < 0:
            raise ConfigError("--eval-every", self.eval_every, "a number of episodes >= 0")
        if self.eval_episodes < 1:
            raise ConfigError("--eval-episodes", self.eval_episodes, "at least 1 with --eval-every")
        if self.time_budget is not None and not self.time_budget > 0:
            raise ConfigError("--time", self.time_budget, "a wall-clock budget in seconds > 0")


def run_schedule(
    world: Any,
    schedule: TrainingSchedule,
    on_episode: Callable[[dict[str, Any]], None] | None = None,
    on_evaluation: Callable[[Evaluation], None] | None = None,
    clock: Callable[[], float] = time.perf_counter,
) -> list[dict[str, Any]]:
    """Run ``world`` (whose policy learns) by ``schedule``: training episodes, an evaluation round
    every ``eval_every`` of them, then the final round; returns every episode row in order."""
    scenario = world.scenario
    rows: list[dict[str, Any]] = []
    number = 0

    def episode(phase: str) -> dict[str, Any]:
        nonlocal number
        row = world.run_episode(number, phase)
        number += 1
        rows.append(row)
        if on_episode is not None:
            on_episode(row)
        return row

    def evaluate(trained: int, final: bool) -> None:
        count = scenario.eval_episodes if final else schedule.eval_episodes
        if count < 1:
            return
        result = Evaluation(trained, [episode("eval") for _ in range(count)], final)
        if on_evaluation is not None:
            on_evaluation(result)

    start = clock()
    trained = 0
    while trained < scenario.episodes:
        episode("train")
        trained += 1
        out_of_time = schedule.time_budget is not None and clock() - start >= schedule.time_budget
        if out_of_time or trained == scenario.episodes:
            break
        if schedule.eval_every and trained % schedule.eval_every == 0:
            evaluate(trained, final=False)
    evaluate(trained, final=True)
    return rows
