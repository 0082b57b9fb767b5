"""What a table column measures: a one-line meaning, its unit, and whether higher is better.

Worlds declare the metrics of their tables (``World.metrics``); studies copy the declarations into
``study.json`` so that a report can say what each number means and which way is better.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import asdict, dataclass
from typing import Any


@dataclass(frozen=True)
class Metric:
    """A column ``TABLE.COLUMN`` of a run's tables, as a report reads it.

    ``rate``: a share of episodes in [0, 1] (a boolean column averaged), whose intervals are
    Wilson score intervals and whose changes are given in percentage points.
    ``higher_is_better``: the direction of improvement; the report's relative level, score and
    breakdown point read a lower-is-better metric so that 1 still means "no degradation".
    """

    name: str
    meaning: str
    unit: str = ""
    higher_is_better: bool = True
    rate: bool = False

    def to_dict(self) -> dict[str, Any]:
        """A JSON-able copy (written into ``study.json``)."""
        return asdict(self)

    @classmethod
    def from_dict(cls, values: Mapping[str, Any]) -> Metric:
        """The metric a ``to_dict`` wrote (unknown keys ignored, missing ones defaulted)."""
        known = {k: values[k] for k in ("name", "meaning", "unit", "higher_is_better", "rate")}
        return cls(**{k: v for k, v in known.items() if v is not None})

    @property
    def direction(self) -> str:
        """``higher is better`` or ``lower is better``."""
        return "higher is better" if self.higher_is_better else "lower is better"


EPISODE_METRICS: tuple[Metric, ...] = (
    Metric(
        "episodes.team_return",
        "sum of the team's rewards over an episode (undiscounted)",
        "reward",
    ),
    Metric(
        "episodes.discounted_return",
        "the team's rewards discounted by gamma^t from the episode's start",
        "reward",
    ),
    Metric(
        "episodes.success",
        "share of episodes the world counts as a success",
        "share of episodes",
        rate=True,
    ),
)
"""The metrics every world has (a world restates them with its own meanings)."""


def declare_metrics(*groups: Iterable[Metric] | Metric) -> tuple[Metric, ...]:
    """Metrics merged by name, later ones replacing earlier ones, first-seen order kept."""
    merged: dict[str, Metric] = {}
    for group in groups:
        for metric in [group] if isinstance(group, Metric) else group:
            merged[metric.name] = metric
    return tuple(merged.values())


def generic_metric(name: str, boolean: bool = False) -> Metric:
    """The declaration of a column nobody declared: no meaning, higher is better."""
    if boolean:
        return Metric(name, "share of rows where the column is true", "share", rate=True)
    return Metric(name, "(not declared by the world)", "")
