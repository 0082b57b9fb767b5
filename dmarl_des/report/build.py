"""`write_report`: read a study folder, compare its policies, compute its degradation curves, write
PNGs and report.md (and remove the PNGs an earlier report wrote that this one no longer shows)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import polars as pl

from dmarl_des.errors import ConfigError
from dmarl_des.log import Metric
from dmarl_des.report.comparison import (
    compare_levels,
    comparison_key,
    levels_in_order,
    reference_level,
)
from dmarl_des.report.degradation import (
    DEFAULT_METRICS,
    EPISODE_COUNT,
    categorical_keys,
    degradation_curves,
    degradation_summary,
    metric_info,
    numeric_keys,
)
from dmarl_des.report.header import declared_metrics, header_markdown, read_description
from dmarl_des.report.interaction import interaction_grid
from dmarl_des.report.markdown import (
    comparison_markdown,
    curve_markdown,
    metrics_markdown,
    summary_markdown,
)
from dmarl_des.report.plots import (
    colours,
    plot_comparison,
    plot_curve,
    plot_file_name,
    plot_interaction,
)
from dmarl_des.report.stats import LEVEL
from dmarl_des.report.tables import read_study_metrics

REPORT_FOLDER = "report"


@dataclass
class Report:
    """A written report: its tables, where its files are, and the Markdown text.

    ``comparison`` has the compared levels of ``compare`` (a policy, …) side by side with their
    paired differences from ``reference`` (empty when fewer than two levels are swept).
    ``skipped`` has one line per run left out because a file of it is damaged (naming the file).
    """

    out: Path
    summary: pl.DataFrame
    curves: pl.DataFrame
    per_run: pl.DataFrame
    n_ok: int
    n_failed: int
    fraction: float
    markdown: str = ""
    files: list[Path] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)
    comparison: pl.DataFrame = field(default_factory=pl.DataFrame)
    compare: str | None = None
    reference: str | None = None
    levels: list[str] = field(default_factory=list)
    keys: list[str] = field(default_factory=list)
    metrics: dict[str, Metric] = field(default_factory=dict)
    removed: list[Path] = field(default_factory=list)

    @property
    def folder(self) -> Path:
        return self.out / REPORT_FOLDER

    def table(self) -> str:
        """The degradation table as Markdown (what ``dmarl report`` prints)."""
        return summary_markdown(self.summary, self.fraction, self.metrics)

    def comparison_table(self, metric: str, level: float = LEVEL) -> str:
        """One metric's side-by-side table of the compared levels (empty without a comparison)."""
        if self.compare is None or not self.comparison.height:
            return ""
        others = [k for k in self.keys if k != self.compare]
        rate = metric_info(metric, self.metrics).rate
        assert self.reference is not None
        return comparison_markdown(
            self.comparison, metric, self.compare, self.levels, self.reference, others, rate, level
        )


def write_report(
    out: str | Path,
    metrics: Sequence[str] | None = None,
    fraction: float = 0.5,
    others: str = "hold",
    level: float = LEVEL,
    plots: bool = True,
    compare: str | None = None,
    reference: str | None = None,
    command: str | None = None,
) -> Report:
    """Analyse the study in ``out`` and write ``out/report/report.md`` and its PNG plots.

    ``compare`` names the swept key whose levels are set side by side (default: ``policy`` when
    swept, else the first swept key with named levels); ``reference`` the level the others are
    compared with (default: ``scripted`` when compared, else the first level). ``command`` is
    quoted in the header as the command that wrote the report.
    """
    if not 0.0 < level < 1.0:
        raise ConfigError("level", level, "a confidence level between 0 and 1, e.g. 0.95")
    root = Path(out)
    metrics = list(metrics or DEFAULT_METRICS)
    data = read_study_metrics(root, metrics)
    per_run, keys = data.per_run, list(data.schema)
    description = read_description(root)
    declared = declared_metrics(description, metrics, data.booleans)
    curves = degradation_curves(per_run, keys, metrics, others, level, declared)
    summary = degradation_summary(curves, fraction)
    n_ok = data.runs.filter(pl.col("status") == "ok").height
    report = Report(root, summary, curves, per_run, n_ok, data.runs.height - n_ok, fraction)
    report.skipped, report.metrics, report.keys = data.skipped, declared, keys
    folder = report.folder
    folder.mkdir(parents=True, exist_ok=True)
    key = comparison_key(per_run, keys, compare)
    sections: list[str] = []
    if key is not None and per_run.height:
        order = description.get("levels", {}).get(key) or description.get("grid", {}).get(key)
        report.levels = levels_in_order(per_run, key, order)
        report.reference = reference_level(report.levels, reference)
        report.compare = key
        if len(report.levels) >= 2:
            report.comparison = compare_levels(
                per_run, keys, metrics, key, report.reference, level, declared
            )
            sections += _comparison_sections(report, keys, metrics, level, plots)
    sections += _summary_sections(report, metrics, level, plots)
    sections += _interaction_sections(report, keys, metrics, level, plots)
    header = header_markdown(root, description, report, keys, metrics, level, command)
    report.markdown = "\n".join([header, metrics_markdown(metrics, declared), "", *sections])
    path = folder / "report.md"
    path.write_text(report.markdown)
    report.files.append(path)
    report.removed = _remove_stale_plots(folder, report.files)
    return report


def _comparison_sections(
    report: Report, keys: list[str], metrics: list[str], level: float, plots: bool
) -> list[str]:
    key, reference = report.compare, report.reference
    assert key is not None and reference is not None
    others = [k for k in keys if k != key]
    numeric = numeric_keys(report.per_run, others)
    lines = [
        f"## {key} side by side",
        "",
        f"Each level of `{key}` at every grid point, and its difference from `{reference}` "
        "paired by seed (same seeds, same faults drawn).",
        "",
    ]
    for metric in metrics:
        info = metric_info(metric, report.metrics)
        lines += [
            f"### {metric}",
            "",
            f"{info.meaning} ({info.unit or 'no unit'}; {info.direction}).",
            "",
        ]
        if plots:
            for x_key in numeric:
                styles = [k for k in others if k != x_key]
                name = plot_file_name(metric, x_key, "compare")
                report.files.append(
                    plot_comparison(
                        report.comparison,
                        report.folder / name,
                        metric,
                        x_key,
                        styles,
                        report.levels,
                        reference,
                        rate=info.rate,
                        level=level,
                    )
                )
                lines += [f"![{metric}: {key} along {x_key}]({name})", ""]
        lines += [report.comparison_table(metric, level), ""]
    return lines


def _summary_sections(report: Report, metrics: list[str], level: float, plots: bool) -> list[str]:
    lines = ["## Degradation summary", ""]
    if not report.summary.height:
        return [*lines, "No curve: no completed run or no numeric swept key.", ""]
    lines += [report.table(), ""]
    palette = colours(report.curves["group"].unique(maintain_order=True).to_list())
    if report.levels:
        palette = {
            **palette,
            **{f"{report.compare}={v}": c for v, c in colours(report.levels).items()},
        }
    for (metric, key), curve in report.curves.group_by(["metric", "key"], maintain_order=True):
        info = metric_info(metric, report.metrics)
        name = plot_file_name(metric, key)
        image = ""
        if plots:
            report.files.append(
                plot_curve(
                    curve,
                    report.folder / name,
                    report.fraction,
                    rate=info.rate,
                    level=level,
                    palette=palette,
                )
            )
            image = f"![{metric} vs {key}]({name})\n\n"
        lines += [f"## {metric} vs {key}", "", image + curve_markdown(curve, info.rate, level), ""]
    return lines


def _interaction_sections(
    report: Report, keys: list[str], metrics: list[str], level: float, plots: bool
) -> list[str]:
    per_run = report.per_run
    numeric = numeric_keys(per_run, keys)
    if len(numeric) < 2 or not per_run.height:
        return []
    x, y = numeric[0], numeric[1]
    for other in numeric[2:]:  # held at their lowest level
        per_run = per_run.filter(pl.col(other) == per_run[other].min())
    named = categorical_keys(per_run, keys)
    group = None
    if named:
        per_run = per_run.with_columns(
            pl.concat_str([pl.col(k).cast(pl.Utf8) for k in named], separator=", ").alias("_group")
        )
        group = "_group"
    order = report.levels if named == [report.compare] else []
    groups = levels_in_order(per_run, group, order) if group else []
    weight = EPISODE_COUNT if EPISODE_COUNT in per_run.columns else None
    held = ", ".join(f"{k} = {per_run[k].min()}" for k in numeric[2:])
    lines = [
        f"## Interaction of {x} and {y}",
        "",
        "Left: the mean over seeds in every cell. Right: the change from the lowest cell "
        f"({x} = {per_run[x].min()}, {y} = {per_run[y].min()}), paired by seed (relative for "
        "means, percentage points for rates). Where the keys act independently a cell's change "
        "is about the sum of the changes at the two edges." + (f" Held: {held}." if held else ""),
        "",
    ]
    for metric in metrics:
        info = metric_info(metric, report.metrics)
        grid = interaction_grid(
            per_run,
            x,
            y,
            metric,
            [group] if group else [],
            rate=info.rate,
            weight=weight,
            level=level,
        )
        name = plot_file_name(metric, f"{x}__{y}", "heatmap")
        if plots:
            report.files.append(
                plot_interaction(
                    grid,
                    report.folder / name,
                    metric,
                    x,
                    y,
                    group,
                    groups,
                    rate=info.rate,
                    higher_is_better=info.higher_is_better,
                )
            )
            lines += [f"![{metric} over {x} × {y}]({name})", ""]
    return lines


def _remove_stale_plots(folder: Path, files: Sequence[Path]) -> list[Path]:
    """Delete the PNGs in ``folder`` that this report did not write (left by an earlier one)."""
    keep = {Path(f).name for f in files}
    stale = [p for p in folder.glob("*.png") if p.name not in keep]
    for path in stale:
        path.unlink(missing_ok=True)
    return stale
