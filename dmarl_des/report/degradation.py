"""Degradation of each metric along each swept fault key: curves, paired changes, score, breakdown.

For a swept key ``k`` the other swept keys are either held at their lowest (fault-free, or first)
level (``others="hold"``) or kept as groups, one curve per combination (``others="group"``).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import polars as pl

from dmarl_des.errors import ConfigError
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


def numeric_keys(per_run: pl.DataFrame, keys: Sequence[str]) -> list[str]:
    """The swept keys with numeric levels (the ones a curve can be drawn along)."""
    return [k for k in keys if per_run.schema[k].is_numeric()]


def _slice(
    per_run: pl.DataFrame, key: str, keys: Sequence[str], others: str
) -> tuple[pl.DataFrame, pl.Expr]:
    """The rows of the curve along ``key`` and an expression naming each row's other-key levels."""
    rest = [k for k in keys if k != key]
    if others not in OTHERS:
        raise ConfigError("others", others, ", ".join(OTHERS))
    if others == "hold":
        for other in rest:
            first = per_run[other].drop_nulls().sort()[0] if per_run.height else None
            per_run = per_run.filter(pl.col(other) == first)
    if not rest:
        return per_run, pl.lit("-")
    label = pl.concat_str(
        [pl.format(f"{other}={{}}", pl.col(other).cast(pl.Utf8)) for other in rest], separator=", "
    )
    return per_run, label


def degradation_curves(
    per_run: pl.DataFrame,
    keys: Sequence[str],
    metrics: Sequence[str] = DEFAULT_METRICS,
    others: str = "hold",
    level: float = LEVEL,
) -> pl.DataFrame:
    """Every curve: per metric, numeric swept key, other-key levels and level of the key, the mean
    over seeds with its t-interval, the relative level ``r(x)`` and the seed-paired changes."""
    frames = []
    for key in numeric_keys(per_run, keys):
        rows, label = _slice(per_run, key, keys, others)
        rows = rows.with_columns(label.alias("others"))
        for metric in metrics:
            means = curve(rows, key, metric, ["others"], level)
            changes = paired_changes(rows, key, metric, ["others"], "seed", level)
            merged = means.join(changes, on=["others", key], how="left").sort(["others", key])
            base = merged.group_by("others").agg(pl.col("mean").first().alias("_base"))
            merged = merged.join(base, on="others", how="left")
            relative = relative_level(
                merged["mean"].fill_null(np.nan).to_numpy(),
                merged["_base"].fill_null(np.nan).to_numpy(),
            )
            merged = merged.with_columns(
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
        "score": pl.Float64,
        "breakdown": pl.Float64,
    }
    return pl.DataFrame(rows, schema=schema, orient="row") if rows else pl.DataFrame(schema=schema)
