"""Markdown text of a report: the summary table, one section per curve, plain number formatting."""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import polars as pl

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


def fmt(value: Any, percent: bool = False, signed: bool = True) -> str:
    """A number with 4 significant digits (or a percentage); ``n/a`` for missing or NaN."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "n/a"
    if isinstance(value, float):
        if percent:
            return f"{100 * value:+.1f}%" if signed else f"{100 * value:.1f}%"
        return f"{value:.4g}"
    return str(value)


def markdown_table(headers: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    """A pipe table."""
    lines = ["| " + " | ".join(headers) + " |", "|" + "|".join("---" for _ in headers) + "|"]
    lines += ["| " + " | ".join(row) + " |" for row in rows]
    return "\n".join(lines)


def summary_markdown(summary: pl.DataFrame, fraction: float = 0.5) -> str:
    """The degradation table: one row per metric × swept key (× other-key group)."""
    headers = [SUMMARY_HEADERS[c] for c in SUMMARY_HEADERS]
    headers[-1] = f"breakdown (< {fraction:g} of x0)"
    rows = []
    for row in summary.iter_rows(named=True):
        change = fmt(row["rel_change_x_max"], percent=True)
        if row["rel_change_hw"] is not None and not math.isnan(row["rel_change_hw"]):
            change += f" ± {100 * row['rel_change_hw']:.1f}%"
        breakdown = "none" if row["breakdown"] is None else fmt(row["breakdown"])
        rows.append(
            [
                row["metric"],
                row["key"],
                row["others"],
                str(row["seeds"]),
                fmt(row["x0"]),
                fmt(row["mean_x0"]),
                fmt(row["x_max"]),
                fmt(row["mean_x_max"]),
                change,
                fmt(row["score"]),
                breakdown,
            ]
        )
    return markdown_table(headers, rows)


def curve_markdown(curve: pl.DataFrame) -> str:
    """One curve's table: level, seeds, mean ± CI, relative level and the paired changes."""
    headers = ["level", "others", "n", "mean", "95% CI", "relative", "Δ (paired)", "Δ% (paired)"]
    rows = []
    for row in curve.sort(["others", "level"]).iter_rows(named=True):
        ci = f"[{fmt(row['ci_low'])}, {fmt(row['ci_high'])}]"
        delta = f"{fmt(row['abs_mean'])} ± {fmt(row['abs_half_width'])}"
        rel_hw = fmt(row["rel_half_width"], percent=True, signed=False)
        rel = f"{fmt(row['rel_mean'], percent=True)} ± {rel_hw}"
        rows.append(
            [
                fmt(row["level"]),
                row["others"],
                str(row["n"]),
                fmt(row["mean"]),
                ci,
                fmt(row["relative"]),
                delta,
                rel,
            ]
        )
    return markdown_table(headers, rows)
