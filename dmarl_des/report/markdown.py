"""Markdown text of a report: the comparison and summary tables, one section per curve, plain
number formatting (rates as percentages, their changes in percentage points)."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

import polars as pl

from dmarl_des.log import Metric
from dmarl_des.report.comparison import POINT, comparison_wide
from dmarl_des.report.degradation import metric_info

SUMMARY_HEADERS = {
    "metric": "metric",
    "key": "swept key",
    "others": "other keys",
    "seeds": "seeds",
    "x0": "x0",
    "mean_x0": "mean(x0)",
    "x_max": "x max",
    "mean_x_max": "mean(x max)",
    "rel_change_x_max": "change at x max (paired)",
    "score": "score",
    "breakdown": "breakdown",
}


def _missing(value: Any) -> bool:
    return value is None or (isinstance(value, float) and math.isnan(value))


def fmt(value: Any, percent: bool = False, signed: bool = True) -> str:
    """A number with 4 significant digits (or a percentage); ``n/a`` for missing or NaN."""
    if _missing(value):
        return "n/a"
    if isinstance(value, float):
        if percent:
            return f"{100 * value:+.1f}%" if signed else f"{100 * value:.1f}%"
        return f"{value:.4g}"
    return str(value)


def fmt_value(value: Any, rate: bool) -> str:
    """A metric's value: a rate as a percentage (``40.0%``), else 4 significant digits."""
    if _missing(value):
        return "n/a"
    return f"{100 * float(value):.1f}%" if rate else f"{float(value):.4g}"


def fmt_change(value: Any, rate: bool) -> str:
    """A change of a metric: a rate's in percentage points (``-12.5 pp``), else signed."""
    if _missing(value):
        return "n/a"
    return f"{100 * float(value):+.1f} pp" if rate else f"{float(value):+.4g}"


def fmt_interval(low: Any, high: Any, rate: bool, change: bool = False) -> str:
    """``[low, high]`` in the metric's format (percentage points for a rate's change)."""
    if _missing(low) or _missing(high):
        return ""
    if rate:
        unit = " pp" if change else "%"
        sign = "+" if change else ""
        return f"[{100 * float(low):{sign}.1f}, {100 * float(high):{sign}.1f}]{unit}"
    return f"[{float(low):.4g}, {float(high):.4g}]"


def markdown_table(headers: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    """A pipe table."""
    lines = ["| " + " | ".join(headers) + " |", "|" + "|".join("---" for _ in headers) + "|"]
    lines += ["| " + " | ".join(row) + " |" for row in rows]
    return "\n".join(lines)


def metrics_markdown(metrics: Sequence[str], declared: Mapping[str, Metric]) -> str:
    """What each metric means: meaning, unit, direction."""
    rows = []
    for name in metrics:
        info = metric_info(name, declared)
        kind = "rate (Wilson interval; changes in pp)" if info.rate else "mean (t-interval)"
        rows.append([f"`{name}`", info.meaning, info.unit or "-", info.direction, kind])
    return markdown_table(["metric", "meaning", "unit", "better", "summarized as"], rows)


def comparison_markdown(
    comparison: pl.DataFrame,
    metric: str,
    key: str,
    levels: Sequence[str],
    reference: str,
    others: Sequence[str],
    rate: bool,
    level: float,
) -> str:
    """One metric's side-by-side table: a row per grid point of the other keys, a column per level
    of ``key`` (mean and interval) and one per paired difference from ``reference``."""
    data = comparison.filter(pl.col("metric") == metric)
    diffs = [name for name in levels if name != reference]
    headers = [*others] if others else ["grid point"]
    headers += [f"{name}" for name in levels]
    headers += [f"{name} − {reference} (paired)" for name in diffs]
    rows = []
    firsts = data.unique(subset=[POINT], keep="first", maintain_order=True)
    point_values = {r[POINT]: r for r in firsts.iter_rows(named=True)}
    for row in comparison_wide(data, levels):
        values = point_values[row[POINT]]
        line = [fmt(values[k]) for k in others] if others else ["-"]
        for name in levels:
            cell = row.get(name)
            if cell is None:
                line.append("n/a")
                continue
            mean, low, high, _n = cell
            line.append(f"{fmt_value(mean, rate)} {fmt_interval(low, high, rate)}".strip())
        for name in diffs:
            cell = row.get(f"diff:{name}")
            if cell is None:
                line.append("n/a")
                continue
            mean, low, high, rel = cell
            text = f"{fmt_change(mean, rate)} {fmt_interval(low, high, rate, change=True)}"
            if not rate and not _missing(rel):
                text += f" ({fmt(rel, percent=True)})"
            line.append(text.strip())
        rows.append(line)
    note = (
        f"Mean over seeds with its {100 * level:g}% "
        + ("Wilson interval (pooled episodes)" if rate else "t-interval")
        + f"; differences paired by seed against `{key} = {reference}`, with their t-interval"
        + ("" if rate else " and relative to the reference's mean")
        + "."
    )
    return markdown_table(headers, rows) + "\n\n" + note


def summary_markdown(
    summary: pl.DataFrame, fraction: float = 0.5, declared: Mapping[str, Metric] | None = None
) -> str:
    """The degradation table: one row per metric × swept key (× other-key group)."""
    headers = [SUMMARY_HEADERS[c] for c in SUMMARY_HEADERS]
    headers[-1] = f"breakdown (< {fraction:g} of x0)"
    rows = []
    for row in summary.iter_rows(named=True):
        rate = metric_info(row["metric"], declared).rate
        if rate:
            change = fmt_change(row.get("abs_change_x_max"), True)
            hw = row.get("abs_change_hw")
            if not _missing(hw):
                change += f" ± {100 * hw:.1f}"
        else:
            change = fmt(row["rel_change_x_max"], percent=True)
            if not _missing(row["rel_change_hw"]):
                change += f" ± {100 * row['rel_change_hw']:.1f}%"
        breakdown = "none" if row["breakdown"] is None else fmt(row["breakdown"])
        rows.append(
            [
                row["metric"],
                row["key"],
                row["others"],
                str(row["seeds"]),
                fmt(row["x0"]),
                fmt_value(row["mean_x0"], rate),
                fmt(row["x_max"]),
                fmt_value(row["mean_x_max"], rate),
                change,
                fmt(row["score"]),
                breakdown,
            ]
        )
    return markdown_table(headers, rows)


def curve_markdown(curve: pl.DataFrame, rate: bool = False, level: float = 0.95) -> str:
    """One curve's table: level, seeds, mean and interval, relative level and the paired changes
    (a rate's in percentage points)."""
    headers = ["level", "others", "n", "mean", f"{100 * level:g}% CI", "relative", "Δ (paired)"]
    if not rate:
        headers.append("Δ% (paired)")
    rows = []
    for row in curve.sort(["others", "level"]).iter_rows(named=True):
        ci = fmt_interval(row["ci_low"], row["ci_high"], rate) or "n/a"
        if rate:
            hw = row["abs_half_width"]
            delta = fmt_change(row["abs_mean"], True)
            delta += "" if _missing(hw) else f" ± {100 * hw:.1f}"
        else:
            delta = f"{fmt(row['abs_mean'])} ± {fmt(row['abs_half_width'])}"
        line = [
            fmt(row["level"]),
            row["others"],
            str(row["n"]),
            fmt_value(row["mean"], rate),
            ci,
            fmt(row["relative"]),
            delta,
        ]
        if not rate:
            rel_hw = fmt(row["rel_half_width"], percent=True, signed=False)
            line.append(f"{fmt(row['rel_mean'], percent=True)} ± {rel_hw}")
        rows.append(line)
    return markdown_table(headers, rows)
