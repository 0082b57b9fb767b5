"""Interaction of two numeric swept keys: the metric over their grid, and its change from the
fault-free corner ``(x0, y0)`` paired by seed (relative, or in percentage points for a rate).

For each seed ``s`` run at ``(x, y)`` and at ``(x0, y0)`` (within each group of the named keys):
``ρ_s = (m(x, y, s) − m(x0, y0, s)) / |m(x0, y0, s)|`` (a rate: ``m(x, y, s) − m(x0, y0, s)``),
averaged over the pairs. Where the two keys act independently the change at ``(x, y)`` is about
the sum of the changes along each edge; where they interact it is not.
"""

from __future__ import annotations

from collections.abc import Sequence

import polars as pl

from dmarl_des.report.stats import LEVEL, mean_ci


def interaction_grid(
    per_run: pl.DataFrame,
    x: str,
    y: str,
    metric: str,
    by: Sequence[str] = (),
    *,
    rate: bool = False,
    weight: str | None = None,
    level: float = LEVEL,
) -> pl.DataFrame:
    """Per group of ``by`` and cell ``(x, y)``: ``n, mean`` and the seed-paired change from the
    lowest cell, ``change`` (relative; absolute for a rate) with ``n_pairs``.

    Rows whose other swept keys vary are mixed together: give those keys in ``by`` or filter the
    frame first (the report holds them at their lowest level).
    """
    groups = list(by)
    means = mean_ci(per_run, [*groups, x, y], metric, level, rate=rate, weight=weight).select(
        *groups, x, y, "n", "mean"
    )
    data = per_run.select(*groups, x, y, "seed", pl.col(metric).cast(pl.Float64).alias("_m"))
    data = data.filter(pl.col("_m").is_not_null() & pl.col("_m").is_not_nan())

    def lowest(key: str) -> pl.Expr:
        return pl.col(key).min().over(groups) if groups else pl.col(key).min()

    corner = (pl.col(x) == lowest(x)) & (pl.col(y) == lowest(y))
    base = data.filter(corner).select(*groups, "seed", pl.col("_m").alias("_m0"))
    paired = data.join(base, on=[*groups, "seed"], how="inner")
    if rate:
        change = pl.col("_m") - pl.col("_m0")
    else:
        change = pl.when(pl.col("_m0") != 0).then(
            (pl.col("_m") - pl.col("_m0")) / pl.col("_m0").abs()
        )
    changes = (
        paired.with_columns(change.alias("_c"))
        .filter(pl.col("_c").is_not_null())
        .group_by([*groups, x, y])
        .agg(pl.len().cast(pl.Int64).alias("n_pairs"), pl.col("_c").mean().alias("change"))
    )
    return means.join(changes, on=[*groups, x, y], how="left").sort([*groups, y, x])
