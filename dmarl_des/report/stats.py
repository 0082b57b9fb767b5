"""Statistics of a degradation curve: t-intervals over seeds, seed-paired changes, score, breakdown.

Every function is pure: Polars frames or numpy arrays in, frames or numbers out.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import polars as pl
from scipy import stats

LEVEL = 0.95
"""Default confidence level of the intervals."""

_ALL = "__all__"


def t_half_width(std: np.ndarray, n: np.ndarray, level: float = LEVEL) -> np.ndarray:
    """Half-width ``t_{(1+level)/2, n-1} · s / √n`` of the t-interval; NaN where ``n < 2``."""
    std = np.asarray(std, dtype=np.float64)
    n = np.asarray(n, dtype=np.float64)
    out = np.full(np.broadcast(std, n).shape, np.nan)
    ok = n >= 2
    if np.any(ok):
        q = stats.t.ppf(0.5 + level / 2.0, np.broadcast_to(n, out.shape)[ok] - 1.0)
        out[ok] = (
            q * np.broadcast_to(std, out.shape)[ok] / np.sqrt(np.broadcast_to(n, out.shape)[ok])
        )
    return out


def wilson_interval(
    successes: np.ndarray, trials: np.ndarray, level: float = LEVEL
) -> tuple[np.ndarray, np.ndarray]:
    """Wilson score interval ``(low, high)`` of a proportion ``k / n``; always inside [0, 1].

    With ``z = Φ⁻¹((1 + level) / 2)`` and ``p = k / n``: centre ``(p + z²/2n) / (1 + z²/n)``,
    half-width ``z / (1 + z²/n) · √(p(1 − p)/n + z²/4n²)``. NaN where ``n = 0``.
    """
    k = np.asarray(successes, dtype=np.float64)
    n = np.asarray(trials, dtype=np.float64)
    low = np.full(np.broadcast(k, n).shape, np.nan)
    high = low.copy()
    ok = n > 0
    if np.any(ok):
        z = stats.norm.ppf(0.5 + level / 2.0)
        kk, nn = np.broadcast_to(k, low.shape)[ok], np.broadcast_to(n, low.shape)[ok]
        p = np.clip(kk / nn, 0.0, 1.0)
        denom = 1.0 + z * z / nn
        centre = (p + z * z / (2.0 * nn)) / denom
        half = z / denom * np.sqrt(p * (1.0 - p) / nn + z * z / (4.0 * nn * nn))
        low[ok] = np.clip(centre - half, 0.0, 1.0)
        high[ok] = np.clip(centre + half, 0.0, 1.0)
    return low, high


def mean_ci(
    frame: pl.DataFrame,
    by: Sequence[str],
    value: str,
    level: float = LEVEL,
    *,
    rate: bool = False,
    weight: str | None = None,
) -> pl.DataFrame:
    """Per group of ``by``: n, mean, sample std and the interval of ``value`` (nulls/NaN dropped).

    Columns: ``*by, n, mean, std, half_width, ci_low, ci_high``, sorted by ``by``; ``n`` counts
    rows (runs). By default the interval is the t-interval ``mean ± half_width``. With
    ``rate=True`` the values are shares of episodes: the mean is the pooled share
    ``Σ v·w / Σ w`` (``w`` the column ``weight``, the episodes behind each value, 1 when None) and
    the interval is Wilson's over ``Σ w`` trials, inside [0, 1]; ``half_width`` is then half its
    width (the interval is not symmetric about the mean).
    """
    keys = list(by) or [_ALL]
    data = frame.with_columns(pl.col(value).cast(pl.Float64).alias("_v"))
    data = data.with_columns(
        (pl.col(weight).cast(pl.Float64) if weight else pl.lit(1.0, pl.Float64)).alias("_w")
    )
    if not by:
        data = data.with_columns(pl.lit(0).alias(_ALL))
    data = data.filter(pl.col("_v").is_not_null() & pl.col("_v").is_not_nan())
    grouped = (
        data.group_by(keys)
        .agg(
            pl.len().cast(pl.Int64).alias("n"),
            pl.col("_v").mean().alias("mean"),
            pl.col("_v").std(ddof=1).alias("std"),
            (pl.col("_v") * pl.col("_w")).sum().alias("_k"),
            pl.col("_w").sum().alias("_trials"),
        )
        .sort(keys)
    )
    if rate:
        trials = grouped["_trials"].to_numpy()
        successes = grouped["_k"].to_numpy()
        low, high = wilson_interval(successes, trials, level)
        with np.errstate(invalid="ignore", divide="ignore"):
            pooled = np.where(trials > 0, successes / np.where(trials > 0, trials, 1.0), np.nan)
        grouped = grouped.with_columns(
            pl.Series("mean", pooled, dtype=pl.Float64),
            pl.Series("half_width", (high - low) / 2.0, dtype=pl.Float64),
            pl.Series("ci_low", low, dtype=pl.Float64),
            pl.Series("ci_high", high, dtype=pl.Float64),
        )
    else:
        half = t_half_width(
            grouped["std"].fill_null(np.nan).to_numpy(), grouped["n"].to_numpy(), level
        )
        grouped = grouped.with_columns(pl.Series("half_width", half, dtype=pl.Float64))
        grouped = grouped.with_columns(
            (pl.col("mean") - pl.col("half_width")).alias("ci_low"),
            (pl.col("mean") + pl.col("half_width")).alias("ci_high"),
        )
    grouped = grouped.drop("_k", "_trials")
    return grouped.drop(_ALL) if not by else grouped


def curve(
    frame: pl.DataFrame,
    key: str,
    metric: str,
    by: Sequence[str] = (),
    level: float = LEVEL,
    *,
    rate: bool = False,
    weight: str | None = None,
) -> pl.DataFrame:
    """The metric's mean and interval over seeds at each level of ``key`` (one row per run in):
    a t-interval, or for a rate the pooled share with its Wilson interval (see ``mean_ci``)."""
    return mean_ci(frame, [*by, key], metric, level, rate=rate, weight=weight)


def paired_changes(
    frame: pl.DataFrame,
    key: str,
    metric: str,
    by: Sequence[str] = (),
    pair: str = "seed",
    level: float = LEVEL,
) -> pl.DataFrame:
    """Change of ``metric`` from the lowest level ``x0`` of ``key``, paired by ``pair`` (the seed).

    For each seed ``s`` present at both ``x`` and ``x0`` (within each group of ``by``):
    ``abs = m(x, s) − m(x0, s)`` and ``rel = abs / |m(x0, s)|`` (undefined, so left out, where
    ``m(x0, s) = 0``). Returns per level: ``n_pairs, abs_mean, abs_half_width, n_rel, rel_mean,
    rel_half_width`` (t-intervals over the pairs).
    """
    keys = list(by)
    data = frame.select([*keys, key, pair, pl.col(metric).cast(pl.Float64).alias("_m")])
    data = data.filter(pl.col("_m").is_not_null() & pl.col("_m").is_not_nan())
    if not keys:
        data = data.with_columns(pl.lit(0).alias(_ALL))
    groups = keys or [_ALL]
    base = data.filter(pl.col(key) == pl.col(key).min().over(groups)).select(
        [*groups, pair, pl.col("_m").alias("_m0")]
    )
    paired = data.join(base, on=[*groups, pair], how="inner").with_columns(
        (pl.col("_m") - pl.col("_m0")).alias("_abs"),
        pl.when(pl.col("_m0") != 0)
        .then((pl.col("_m") - pl.col("_m0")) / pl.col("_m0").abs())
        .otherwise(None)
        .alias("_rel"),
    )
    if not keys:
        paired = paired.drop(_ALL)
    absolute = mean_ci(paired, [*keys, key], "_abs", level).select(
        [
            *keys,
            key,
            pl.col("n").alias("n_pairs"),
            pl.col("mean").alias("abs_mean"),
            pl.col("half_width").alias("abs_half_width"),
        ]
    )
    relative = mean_ci(paired, [*keys, key], "_rel", level).select(
        [
            *keys,
            key,
            pl.col("n").alias("n_rel"),
            pl.col("mean").alias("rel_mean"),
            pl.col("half_width").alias("rel_half_width"),
        ]
    )
    return absolute.join(relative, on=[*keys, key], how="left").sort([*keys, key])


def relative_level(
    means: np.ndarray, base: np.ndarray | float, higher_is_better: bool = True
) -> np.ndarray:
    """``1 + (m̄(x) − m̄(x0)) / |m̄(x0)|`` (= ``m̄(x)/m̄(x0)`` for a positive base); NaN if base is 0.

    For a lower-is-better metric the sign of the change is turned:
    ``1 − (m̄(x) − m̄(x0)) / |m̄(x0)|``, so that below 1 still means worse than at ``x0``.
    """
    means = np.asarray(means, dtype=np.float64)
    base = np.broadcast_to(np.asarray(base, dtype=np.float64), means.shape)
    defined = (base != 0) & np.isfinite(base)
    safe = np.where(defined, np.abs(base), 1.0)
    sign = 1.0 if higher_is_better else -1.0
    return np.where(defined, 1.0 + sign * (means - base) / safe, np.nan)


def degradation_score(levels: np.ndarray, relative: np.ndarray) -> float:
    """Normalized area under the relative curve: ``∫ r(x) dx / (x_max − x0)`` by trapezoids.

    1 means no degradation over the swept range; 0.5 an average loss of half. NaN with fewer than
    two levels or any undefined relative value.
    """
    x = np.asarray(levels, dtype=np.float64)
    r = np.asarray(relative, dtype=np.float64)
    order = np.argsort(x, kind="stable")
    x, r = x[order], r[order]
    if x.size < 2 or x[-1] == x[0] or not np.all(np.isfinite(r)):
        return float("nan")
    area = np.sum(np.diff(x) * (r[1:] + r[:-1]) / 2.0)
    return float(area / (x[-1] - x[0]))


def breakdown_point(
    levels: np.ndarray, relative: np.ndarray, fraction: float = 0.5
) -> float | None:
    """The lowest level whose relative mean falls below ``fraction`` of the fault-free one (or None)."""
    x = np.asarray(levels, dtype=np.float64)
    r = np.asarray(relative, dtype=np.float64)
    order = np.argsort(x, kind="stable")
    below = np.flatnonzero(r[order] < fraction)
    return float(x[order][below[0]]) if below.size else None
