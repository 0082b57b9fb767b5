"""Degradation of each metric along each swept fault key: curves, paired changes, score, breakdown.

For a numeric swept key ``k`` the other numeric swept keys are either held at their lowest
(fault-free) level (``others="hold"``) or kept as groups, one curve per combination
(``others="group"``). Categorical swept keys (a policy, a topology name) are always groups: every
level of them gets its own curves, whatever ``others`` says.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
import polars as pl

from dmarl_des.errors import ConfigError
from dmarl_des.log import Metric, generic_metric
from dmarl_des.report.stats import (
    LEVEL,
    breakdown_point,
    curve,
    degradation_score,
    paired_changes,
    relative_level,
)

DEFAULT_METRICS = ("episodes.team_return", "episodes.discounted_return", "episodes.success")
"""Metrics of the report when none are named (TABLE.COLUMN; booleans become rates)."""

OTHERS = ("hold", "group")

CURVE_COLUMNS = {
    "metric": pl.Utf8,
    "key": pl.Utf8,
    "others": pl.Utf8,
    "group": pl.Utf8,
    "held": pl.Utf8,
    "level": pl.Float64,
    "n": pl.Int64,
    "mean": pl.Float64,
    "half_width": pl.Float64,
    "ci_low": pl.Float64,
    "ci_high": pl.Float64,
    "relative": pl.Float64,
    "n_pairs": pl.Int64,
    "abs_mean": pl.Float64,
    "abs_half_width": pl.Float64,
    "rel_mean": pl.Float64,
    "rel_half_width": pl.Float64,
}
"""Columns of ``degradation_curves`` (one row per metric × key × others × level)."""


EPISODE_COUNT = "n_episodes"
"""Column of the per-run frame: the episodes behind each run's value (the trials of a rate)."""


def numeric_keys(per_run: pl.DataFrame, keys: Sequence[str]) -> list[str]:
    """The swept keys with numeric levels (the ones a curve can be drawn along)."""
    return [k for k in keys if per_run.schema[k].is_numeric()]


def categorical_keys(per_run: pl.DataFrame, keys: Sequence[str]) -> list[str]:
    """The swept keys whose levels are names (policies, topologies): always groups."""
    return [k for k in keys if not per_run.schema[k].is_numeric()]


def metric_info(metric: str, declared: Mapping[str, Metric] | None = None) -> Metric:
    """The declaration of ``metric``, or a generic one (higher is better, not a rate)."""
    if declared and metric in declared:
        return declared[metric]
    return generic_metric(metric)


def _slice(
    per_run: pl.DataFrame, key: str, keys: Sequence[str], others: str
) -> tuple[pl.DataFrame, pl.Expr, pl.Expr]:
    """The rows of the curve along ``key`` and two expressions naming each row's group: the
    levels of the named other keys (``group``) and of the numeric ones kept (``held``)."""
    rest = [k for k in keys if k != key]
    if others not in OTHERS:
        raise ConfigError("others", others, ", ".join(OTHERS))
    numeric = numeric_keys(per_run, rest)
    if others == "hold":
        for other in numeric:
            first = per_run[other].drop_nulls().sort()[0] if per_run.height else None
            per_run = per_run.filter(pl.col(other) == first)
    named = [k for k in rest if k not in numeric]
    return per_run, _label(named), _label([k for k in rest if k in numeric])


def _label(keys: Sequence[str]) -> pl.Expr:
    if not keys:
        return pl.lit("-")
    parts = [pl.format(f"{k}={{}}", pl.col(k).cast(pl.Utf8)) for k in keys]
    return pl.concat_str(parts, separator=", ")


def degradation_curves(
    per_run: pl.DataFrame,
    keys: Sequence[str],
    metrics: Sequence[str] = DEFAULT_METRICS,
    others: str = "hold",
    level: float = LEVEL,
    declared: Mapping[str, Metric] | None = None,
) -> pl.DataFrame:
    """Every curve: per metric, numeric swept key, other-key levels and level of the key, the mean
    over seeds with its interval, the relative level ``r(x)`` and the seed-paired changes.

    ``declared`` maps metric names to their declarations: a rate gets the pooled share and its
    Wilson interval (weighted by the per-run column ``n_episodes`` when present), and a
    lower-is-better metric a relative level that falls when the metric rises.
    """
    frames = []
    weight = EPISODE_COUNT if EPISODE_COUNT in per_run.columns else None
    for key in numeric_keys(per_run, keys):
        rows, group, held = _slice(per_run, key, keys, others)
        rows = rows.with_columns(group.alias("group"), held.alias("held"))
        rows = rows.with_columns(
            pl.when(pl.col("group") == "-")
            .then(pl.col("held"))
            .when(pl.col("held") == "-")
            .then(pl.col("group"))
            .otherwise(pl.concat_str([pl.col("group"), pl.col("held")], separator=", "))
            .alias("others")
        )
        names = rows.select("others", "group", "held").unique()
        for metric in metrics:
            info = metric_info(metric, declared)
            means = curve(rows, key, metric, ["others"], level, rate=info.rate, weight=weight)
            changes = paired_changes(rows, key, metric, ["others"], "seed", level)
            merged = means.join(changes, on=["others", key], how="left").sort(["others", key])
            base = merged.group_by("others").agg(pl.col("mean").first().alias("_base"))
            merged = merged.join(base, on="others", how="left")
            relative = relative_level(
                merged["mean"].fill_null(np.nan).to_numpy(),
                merged["_base"].fill_null(np.nan).to_numpy(),
                info.higher_is_better,
            )
            merged = merged.join(names, on="others", how="left").with_columns(
                pl.lit(metric).alias("metric"),
                pl.lit(key).alias("key"),
                pl.col(key).cast(pl.Float64).alias("level"),
                pl.Series("relative", relative, dtype=pl.Float64),
            )
            frames.append(merged.select([pl.col(c).cast(t) for c, t in CURVE_COLUMNS.items()]))
    if not frames:
        return pl.DataFrame(schema=CURVE_COLUMNS)
    return pl.concat(frames)


def degradation_summary(curves: pl.DataFrame, fraction: float = 0.5) -> pl.DataFrame:
    """One row per curve: fault-free level and mean, the last level with its paired relative change,
    the graceful-degradation score and the breakdown point (``fraction`` of the fault-free mean)."""
    if not fraction > 0.0:  # also rejects NaN
        raise ConfigError("fraction", fraction, "a number > 0 (share of the fault-free level)")
    rows = []
    for (metric, key, others), group in curves.group_by(
        ["metric", "key", "others"], maintain_order=True
    ):
        group = group.sort("level")
        x = group["level"].to_numpy()
        r = group["relative"].to_numpy()
        last = group.row(group.height - 1, named=True)
        first = group.row(0, named=True)
        rows.append(
            {
                "metric": metric,
                "key": key,
                "others": others,
                "seeds": int(group["n"].min()),
                "x0": first["level"],
                "mean_x0": first["mean"],
                "x_max": last["level"],
                "mean_x_max": last["mean"],
                "rel_change_x_max": last["rel_mean"],
                "rel_change_hw": last["rel_half_width"],
                "abs_change_x_max": last["abs_mean"],
                "abs_change_hw": last["abs_half_width"],
                "score": degradation_score(x, r),
                "breakdown": breakdown_point(x, r, fraction),
            }
        )
    schema = {
        "metric": pl.Utf8,
        "key": pl.Utf8,
        "others": pl.Utf8,
        "seeds": pl.Int64,
        "x0": pl.Float64,
        "mean_x0": pl.Float64,
        "x_max": pl.Float64,
        "mean_x_max": pl.Float64,
        "rel_change_x_max": pl.Float64,
        "rel_change_hw": pl.Float64,
        "abs_change_x_max": pl.Float64,
        "abs_change_hw": pl.Float64,
        "score": pl.Float64,
        "breakdown": pl.Float64,
    }
    return pl.DataFrame(rows, schema=schema, orient="row") if rows else pl.DataFrame(schema=schema)
