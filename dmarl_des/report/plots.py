"""PNG plots of a report (matplotlib's Agg canvas; no pyplot, no global backend state): degradation
curves, policies side by side, and interaction heatmaps.

Colours name the levels of the compared (named) key — one colour per policy, the same in every
plot — and line styles the levels of the other keys.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
import polars as pl
from matplotlib.axes import Axes
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

STYLES = ("-", "--", ":", "-.", (0, (5, 1, 1, 1)), (0, (1, 3)), (0, (8, 2)))
"""Line styles, one per level of the other keys (cycled)."""


def plot_file_name(metric: str, key: str, kind: str = "") -> str:
    """``episodes.team_return`` × ``net.loss.p`` → ``episodes.team_return__net.loss.p.png``
    (``kind`` adds a prefix: ``compare__…``, ``heatmap__…``)."""
    text = f"{kind}__{metric}__{key}" if kind else f"{metric}__{key}"
    return "".join(c if c.isalnum() or c in "._-" else "_" for c in text) + ".png"


def colours(names: Sequence[str]) -> dict[str, str]:
    """A fixed colour for each name, in order (matplotlib's tab10 cycle)."""
    cycle = [f"C{i % 10}" for i in range(len(names))]
    return dict(zip(names, cycle))


def _figure(width: float, height: float, cols: int, rows: int = 1):
    fig = Figure(figsize=(width, height), layout="constrained")
    FigureCanvasAgg(fig)
    axes = fig.subplots(rows, cols, squeeze=False)
    return fig, axes


def _save(fig: Figure, path: str | Path) -> Path:
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(target, dpi=90)
    return target


def _scale(rate: bool) -> float:
    return 100.0 if rate else 1.0


def plot_curve(
    curves: pl.DataFrame,
    path: str | Path,
    fraction: float = 0.5,
    *,
    rate: bool = False,
    level: float = 0.95,
    palette: dict[str, str] | None = None,
) -> Path:
    """Two panels for one metric along one key: mean and interval over seeds, and the
    seed-paired change from the lowest level (relative; percentage points for a rate). A colour
    per group of named keys (``group``), a line style per level of the other numeric keys."""
    metric, key = curves["metric"][0], curves["key"][0]
    fig, axes = _figure(10, 4, 2)
    left, right = axes[0]
    groups = curves["group"].unique(maintain_order=True).to_list()
    held = curves["held"].unique(maintain_order=True).to_list()
    palette = palette or colours(groups)
    k = _scale(rate)
    for (group, other), data in curves.group_by(["group", "held"], maintain_order=True):
        data = data.sort("level")
        x = data["level"].to_numpy()
        colour = palette.get(group, "C0")
        style = STYLES[held.index(other) % len(STYLES)]
        parts = [p for p in (group, other) if p != "-"]
        label = ", ".join(parts) or None
        _mean_with_interval(left, x, data, k, colour, style, label, alpha=0.15)
        column, half = ("abs_mean", "abs_half_width") if rate else ("rel_mean", "rel_half_width")
        change = 100.0 * data[column].fill_null(np.nan).to_numpy()
        change_half = 100.0 * np.nan_to_num(data[half].fill_null(np.nan).to_numpy())
        band = (change - change_half, change + change_half)
        if rate:  # a change of a share lies within ±100 pp
            band = (np.clip(band[0], -100.0, 100.0), np.clip(band[1], -100.0, 100.0))
        right.plot(x, change, marker="o", color=colour, linestyle=style, label=label)
        right.fill_between(x, *band, alpha=0.15, color=colour)
    unit = " (%)" if rate else ""
    left.set(xlabel=key, ylabel=metric + unit, title=f"mean and {100 * level:g}% CI over seeds")
    right.axhline(0.0, color="grey", linewidth=0.8)
    if not rate:
        right.axhline(
            100.0 * (fraction - 1.0),
            color="red",
            linestyle="--",
            linewidth=0.8,
            label=f"breakdown ({fraction:g} of x0)",
        )
    ylabel = "change from x0 (pp)" if rate else "change from x0 (%)"
    right.set(xlabel=key, ylabel=ylabel, title="paired by seed")
    for ax in (left, right):
        if ax.get_legend_handles_labels()[0]:
            ax.legend(fontsize="small")
    return _save(fig, path)


def plot_comparison(
    comparison: pl.DataFrame,
    path: str | Path,
    metric: str,
    x_key: str,
    styles_by: Sequence[str],
    levels: Sequence[str],
    reference: str,
    *,
    rate: bool = False,
    level: float = 0.95,
) -> Path:
    """One metric along one numeric key: each compared level's mean and interval (a colour per
    level, a line style per level of the other keys ``styles_by``), and each level's seed-paired
    difference from ``reference`` with its interval."""
    data = comparison.filter(pl.col("metric") == metric)
    fig, axes = _figure(11, 4.2, 2)
    left, right = axes[0]
    palette = colours(list(levels))
    k = _scale(rate)
    if styles_by:
        style_label = pl.concat_str(
            [pl.format(f"{s}={{}}", pl.col(s).cast(pl.Utf8)) for s in styles_by], separator=", "
        )
    else:
        style_label = pl.lit("-")
    data = data.with_columns(style_label.alias("_style"))
    style_levels = data.sort(list(styles_by) or ["level"])["_style"].unique(maintain_order=True)
    style_levels = style_levels.to_list()
    for (name, other), group in data.group_by(["level", "_style"], maintain_order=True):
        group = group.sort(x_key)
        x = group[x_key].cast(pl.Float64).to_numpy()
        colour = palette.get(name, "C0")
        style = STYLES[style_levels.index(other) % len(STYLES)]
        label = name if other == "-" else f"{name}, {other}"
        _mean_with_interval(left, x, group, k, colour, style, label, alpha=0.12)
        if name == reference:
            continue
        diff = k * group["diff_mean"].fill_null(np.nan).to_numpy()
        dlow = k * group["diff_low"].fill_null(np.nan).to_numpy()
        dhigh = k * group["diff_high"].fill_null(np.nan).to_numpy()
        right.plot(x, diff, marker="o", color=colour, linestyle=style, label=label)
        right.fill_between(
            x,
            np.where(np.isnan(dlow), diff, dlow),
            np.where(np.isnan(dhigh), diff, dhigh),
            alpha=0.12,
            color=colour,
        )
    unit = " (%)" if rate else ""
    left.set(xlabel=x_key, ylabel=metric + unit, title=f"mean and {100 * level:g}% CI over seeds")
    right.axhline(0.0, color=palette.get(reference, "grey"), linewidth=1.0)
    diff_unit = " (pp)" if rate else ""
    right.set(
        xlabel=x_key,
        ylabel=f"difference from {reference}{diff_unit}",
        title=f"paired by seed against {reference}",
    )
    for ax in (left, right):
        if ax.get_legend_handles_labels()[0]:
            ax.legend(fontsize="x-small")
    return _save(fig, path)


def plot_interaction(
    grid: pl.DataFrame,
    path: str | Path,
    metric: str,
    x: str,
    y: str,
    group: str | None,
    groups: Sequence[str],
    *,
    rate: bool = False,
    higher_is_better: bool = True,
) -> Path:
    """Heatmaps over two numeric keys, a row per level of ``group``: the metric's mean, and its
    seed-paired change from the lowest cell (relative %; percentage points for a rate)."""
    rows = list(groups) or ["-"]
    fig, axes = _figure(10, 3.6 * len(rows), 2, len(rows))
    xs = sorted(grid[x].unique().to_list())
    ys = sorted(grid[y].unique().to_list())
    k = _scale(rate)
    for r, name in enumerate(rows):
        data = grid if group is None else grid.filter(pl.col(group).cast(pl.Utf8) == name)
        means = np.full((len(ys), len(xs)), np.nan)
        change = means.copy()
        for row in data.iter_rows(named=True):
            i, j = ys.index(row[y]), xs.index(row[x])
            means[i, j] = k * row["mean"] if row["mean"] is not None else np.nan
            change[i, j] = 100.0 * row["change"] if row["change"] is not None else np.nan
        limit = np.nanmax(np.abs(change)) if np.isfinite(change).any() else 1.0
        limit = limit or 1.0
        cmap = "RdBu" if higher_is_better else "RdBu_r"
        for c, (values, title, kwargs) in enumerate(
            (
                (means, f"{metric}{' (%)' if rate else ''}", {"cmap": "viridis"}),
                (
                    change,
                    "change from the lowest cell" + (" (pp)" if rate else " (%)"),
                    {"cmap": cmap, "vmin": -limit, "vmax": limit},
                ),
            )
        ):
            ax = axes[r][c]
            image = ax.imshow(values, origin="lower", aspect="auto", **kwargs)
            fig.colorbar(image, ax=ax, shrink=0.85)
            ax.set_xticks(range(len(xs)), [f"{v:g}" for v in xs])
            ax.set_yticks(range(len(ys)), [f"{v:g}" for v in ys])
            ax.set(xlabel=x, ylabel=y, title=title if name == "-" else f"{name}: {title}")
            for i in range(len(ys)):
                for j in range(len(xs)):
                    if np.isfinite(values[i, j]):
                        text = f"{values[i, j]:+.1f}" if c == 1 else f"{values[i, j]:.3g}"
                        ax.text(
                            j,
                            i,
                            text,
                            ha="center",
                            va="center",
                            fontsize="small",
                            color="k",
                            bbox={"facecolor": "white", "alpha": 0.6, "pad": 1, "linewidth": 0},
                        )
    return _save(fig, path)


def _mean_with_interval(
    ax: Axes,
    x: np.ndarray,
    rows: pl.DataFrame,
    k: float,
    colour: str,
    style: str,
    label: str | None,
    *,
    alpha: float,
) -> None:
    """The rows' ``mean`` × k as a line and their [``ci_low``, ``ci_high``] × k as a band (a
    missing bound collapses onto the mean)."""
    mean = k * rows["mean"].fill_null(np.nan).to_numpy()
    low = k * rows["ci_low"].fill_null(np.nan).to_numpy()
    high = k * rows["ci_high"].fill_null(np.nan).to_numpy()
    ax.plot(x, mean, marker="o", color=colour, linestyle=style, label=label)
    ax.fill_between(
        x,
        np.where(np.isnan(low), mean, low),
        np.where(np.isnan(high), mean, high),
        alpha=alpha,
        color=colour,
    )
