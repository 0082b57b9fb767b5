"""Policies side by side: each level of a named swept key (a policy) at every other grid point, and
its seed-paired difference from a reference level (``--reference scripted``).

At a grid point ``g`` (the levels of every other swept key), for policy ``p`` and reference
``q``, over the seeds ``s`` run with both: ``d_s = m(p, g, s) − m(q, g, s)``; the report gives
the mean of ``d_s`` with its t-interval over the pairs (a rate's difference in [−1, 1], its
interval clipped there) and ``d̄ / |m̄(q, g)|``. Pairing by seed removes what both policies share
(the same crashed agents, the same link draws: common random numbers).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
import polars as pl

from dmarl_des.errors import ConfigError
from dmarl_des.log import Metric
from dmarl_des.report.degradation import EPISODE_COUNT, categorical_keys, metric_info
from dmarl_des.report.stats import LEVEL, mean_ci

POLICY_KEY = "policy"
"""The swept key compared by default when it is swept."""

POINT = "point"
"""Column naming a grid point: ``key=value, ...`` of the other swept keys (``-`` when none)."""


def comparison_key(
    per_run: pl.DataFrame, keys: Sequence[str], compare: str | None = None
) -> str | None:
    """The named swept key whose levels are compared: ``compare`` when given (it must be a
    swept key with named levels), else ``policy`` when swept, else the first named swept key."""
    named = categorical_keys(per_run, keys)
    if compare is not None:
        if compare not in named:
            allowed = ", ".join(named) or "none (no swept key has named levels)"
            raise ConfigError("compare", compare, f"a swept key with named levels: {allowed}")
        return compare
    if POLICY_KEY in named:
        return POLICY_KEY
    return named[0] if named else None


def levels_in_order(
    per_run: pl.DataFrame, key: str, order: Sequence[str] | None = None
) -> list[str]:
    """The levels of ``key`` present, in the study's grid order when known (else sorted)."""
    present = {str(v) for v in per_run[key].drop_nulls().unique().to_list()}
    ordered = [str(v) for v in order or () if str(v) in present]
    return ordered + sorted(present - set(ordered))


def reference_level(levels: Sequence[str], reference: str | None = None) -> str:
    """``reference`` when it is one of ``levels``; by default ``scripted`` when present, else the
    first level."""
    if reference is not None:
        if reference not in levels:
            raise ConfigError("reference", reference, f"one of the compared levels: {levels}")
        return reference
    if not levels:
        raise ConfigError("reference", reference, "a study with at least one completed run")
    return "scripted" if "scripted" in levels else levels[0]


def point_label(frame: pl.DataFrame, others: Sequence[str]) -> pl.Expr:
    """``key=value, ...`` over ``others`` (``-`` when there is none)."""
    if not others:
        return pl.lit("-")
    parts = [pl.format(f"{k}={{}}", pl.col(k).cast(pl.Utf8)) for k in others]
    return pl.concat_str(parts, separator=", ")


def compare_levels(
    per_run: pl.DataFrame,
    keys: Sequence[str],
    metrics: Sequence[str],
    key: str,
    reference: str,
    level: float = LEVEL,
    declared: Mapping[str, Metric] | None = None,
) -> pl.DataFrame:
    """One row per metric × grid point of the other keys × level of ``key``: the mean and its
    interval over seeds (t, or Wilson for a rate), and the seed-paired difference from
    ``reference`` at the same point (null for the reference itself).

    Columns: ``metric, <other keys>, point, level, n, mean, ci_low, ci_high, reference,
    n_pairs, diff_mean, diff_half_width, diff_low, diff_high, diff_rel``.
    """
    others = [k for k in keys if k != key]
    data = per_run.with_columns(
        pl.col(key).cast(pl.Utf8).alias("level"), point_label(per_run, others).alias(POINT)
    )
    weight = EPISODE_COUNT if EPISODE_COUNT in data.columns else None
    frames = []
    for metric in metrics:
        info = metric_info(metric, declared)
        means = mean_ci(
            data, [*others, POINT, "level"], metric, level, rate=info.rate, weight=weight
        )
        diffs = _paired_differences(data, others, metric, reference, level)
        merged = means.join(diffs, on=[POINT, "level"], how="left")
        base = means.filter(pl.col("level") == reference).select(POINT, pl.col("mean").alias("_m0"))
        merged = merged.join(base, on=POINT, how="left").with_columns(
            pl.when(pl.col("_m0") != 0)
            .then(pl.col("diff_mean") / pl.col("_m0").abs())
            .otherwise(None)
            .alias("diff_rel")
        )
        if info.rate:  # a difference of shares lies in [-1, 1]
            merged = merged.with_columns(
                pl.col("diff_low").clip(-1.0, 1.0), pl.col("diff_high").clip(-1.0, 1.0)
            )
        merged = merged.with_columns(
            pl.lit(metric).alias("metric"), pl.lit(reference).alias("reference")
        )
        frames.append(
            merged.select(
                "metric",
                *others,
                POINT,
                "level",
                "n",
                "mean",
                "ci_low",
                "ci_high",
                "reference",
                "n_pairs",
                "diff_mean",
                "diff_half_width",
                "diff_low",
                "diff_high",
                "diff_rel",
            )
        )
    if not frames:
        return pl.DataFrame()
    return pl.concat(frames, how="vertical_relaxed")


def _paired_differences(
    data: pl.DataFrame, others: Sequence[str], metric: str, reference: str, level: float
) -> pl.DataFrame:
    values = data.select(
        POINT, "level", "seed", pl.col(metric).cast(pl.Float64).alias("_m")
    ).filter(pl.col("_m").is_not_null() & pl.col("_m").is_not_nan())
    base = values.filter(pl.col("level") == reference).select(
        POINT, "seed", pl.col("_m").alias("_r")
    )
    paired = (
        values.filter(pl.col("level") != reference)
        .join(base, on=[POINT, "seed"], how="inner")
        .with_columns((pl.col("_m") - pl.col("_r")).alias("_d"))
    )
    stats = mean_ci(paired, [POINT, "level"], "_d", level)
    return stats.select(
        POINT,
        "level",
        pl.col("n").alias("n_pairs"),
        pl.col("mean").alias("diff_mean"),
        pl.col("half_width").alias("diff_half_width"),
        pl.col("ci_low").alias("diff_low"),
        pl.col("ci_high").alias("diff_high"),
    )


def comparison_wide(comparison: pl.DataFrame, levels: Sequence[str]) -> list[dict[str, object]]:
    """Rows for a side-by-side table: per metric and point, each level's (mean, low, high) and
    each non-reference level's paired difference (mean, low, high, relative)."""
    rows = []
    for (metric, point), group in comparison.group_by(["metric", POINT], maintain_order=True):
        row: dict[str, object] = {"metric": metric, POINT: point}
        by_level = {r["level"]: r for r in group.iter_rows(named=True)}
        for name in levels:
            r = by_level.get(name)
            row[name] = None if r is None else (r["mean"], r["ci_low"], r["ci_high"], r["n"])
            if r is not None and r["diff_mean"] is not None and not np.isnan(r["diff_mean"]):
                row[f"diff:{name}"] = (r["diff_mean"], r["diff_low"], r["diff_high"], r["diff_rel"])
        rows.append(row)
    return rows
