"""PNG plots of degradation curves (matplotlib's Agg canvas; no pyplot, no global backend state)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import polars as pl
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure


def plot_file_name(metric: str, key: str) -> str:
    """``episodes.team_return`` × ``net.loss.p`` → ``episodes.team_return__net.loss.p.png``."""
    text = f"{metric}__{key}"
    return "".join(c if c.isalnum() or c in "._-" else "_" for c in text) + ".png"


def plot_curve(curves: pl.DataFrame, path: str | Path, fraction: float = 0.5) -> Path:
    """Two panels for one metric along one key: mean ± CI over seeds, and the seed-paired relative
    change ± CI (with the breakdown threshold ``fraction − 1``), one line per other-key group."""
    metric, key = curves["metric"][0], curves["key"][0]
    fig = Figure(figsize=(10, 4), layout="constrained")
    FigureCanvasAgg(fig)
    left, right = fig.subplots(1, 2)
    for (others,), group in curves.group_by(["others"], maintain_order=True):
        group = group.sort("level")
        x = group["level"].to_numpy()
        label = None if others == "-" else others
        mean = group["mean"].to_numpy()
        half = np.nan_to_num(group["half_width"].fill_null(np.nan).to_numpy())
        (line,) = left.plot(x, mean, marker="o", label=label)
        left.fill_between(x, mean - half, mean + half, alpha=0.2, color=line.get_color())
        rel = 100.0 * group["rel_mean"].fill_null(np.nan).to_numpy()
        rel_half = 100.0 * np.nan_to_num(group["rel_half_width"].fill_null(np.nan).to_numpy())
        right.plot(x, rel, marker="o", color=line.get_color(), label=label)
        right.fill_between(x, rel - rel_half, rel + rel_half, alpha=0.2, color=line.get_color())
    left.set(xlabel=key, ylabel=metric, title=f"{metric}: mean and 95% CI over seeds")
    right.axhline(0.0, color="grey", linewidth=0.8)
    right.axhline(
        100.0 * (fraction - 1.0),
        color="red",
        linestyle="--",
        linewidth=0.8,
        label=f"breakdown ({fraction:g} of fault-free)",
    )
    right.set(xlabel=key, ylabel="change vs fault-free (%)", title="paired by seed")
    right.legend(fontsize="small")
    if left.get_legend_handles_labels()[0]:
        left.legend(fontsize="small")
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(target, dpi=100)
    return target
