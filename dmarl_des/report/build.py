"""`write_report`: read a study folder, compute its degradation curves, write PNGs and report.md."""

from __future__ import annotations

import contextlib
import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import polars as pl

from dmarl_des.errors import ConfigError
from dmarl_des.report.degradation import (
    DEFAULT_METRICS,
    degradation_curves,
    degradation_summary,
)
from dmarl_des.report.markdown import curve_markdown, summary_markdown
from dmarl_des.report.plots import plot_curve, plot_file_name
from dmarl_des.report.stats import LEVEL
from dmarl_des.report.tables import read_study_metrics

REPORT_FOLDER = "report"


@dataclass
class Report:
    """A written report: its tables, where its files are, and the Markdown text.

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

    @property
    def folder(self) -> Path:
        return self.out / REPORT_FOLDER

    def table(self) -> str:
        """The degradation table as Markdown (what ``dmarl report`` prints)."""
        return summary_markdown(self.summary, self.fraction)


def write_report(
    out: str | Path,
    metrics: Sequence[str] | None = None,
    fraction: float = 0.5,
    others: str = "hold",
    level: float = LEVEL,
    plots: bool = True,
) -> Report:
    """Analyse the study in ``out`` and write ``out/report/report.md`` and one PNG per curve."""
    if not 0.0 < level < 1.0:
        raise ConfigError("level", level, "a confidence level between 0 and 1, e.g. 0.95")
    root = Path(out)
    metrics = list(metrics or DEFAULT_METRICS)
    runs, per_run, schema, skipped = read_study_metrics(root, metrics)
    keys = list(schema)
    curves = degradation_curves(per_run, keys, metrics, others, level)
    summary = degradation_summary(curves, fraction)
    n_ok = runs.filter(pl.col("status") == "ok").height
    report = Report(root, summary, curves, per_run, n_ok, runs.height - n_ok, fraction)
    report.skipped = skipped
    folder = report.folder
    folder.mkdir(parents=True, exist_ok=True)
    sections = []
    for (metric, key), curve in curves.group_by(["metric", "key"], maintain_order=True):
        name = plot_file_name(metric, key)
        if plots:
            report.files.append(plot_curve(curve, folder / name, fraction))
        image = f"![{metric} vs {key}]({name})\n\n" if plots else ""
        sections.append(f"## {metric} vs {key}\n\n{image}{curve_markdown(curve)}\n")
    report.markdown = _document(root, report, keys, metrics, level, sections)
    path = folder / "report.md"
    path.write_text(report.markdown)
    report.files.append(path)
    return report


def _document(
    root: Path,
    report: Report,
    keys: list[str],
    metrics: list[str],
    level: float,
    sections: list[str],
) -> str:
    name = root.name
    description = root / "study.json"
    if description.is_file():
        with contextlib.suppress(ValueError):
            name = json.loads(description.read_text()).get("name", name)
    head = [
        f"# Degradation report: {name}",
        "",
        f"{report.n_ok} runs ok, {report.n_failed} failed (failed runs are left out). "
        f"Swept keys: {', '.join(keys) or 'none'}. Metrics: {', '.join(metrics)}.",
        "",
        "Each metric is averaged over a run's evaluation episodes (all its episodes when it has "
        f"none), then over seeds with a {100 * level:g}% t-interval. Changes are paired by seed "
        "against the lowest level x0 of the swept key; other swept keys are "
        "held at their lowest level or grouped. The score is the normalized area under "
        "r(x) = 1 + (m(x) - m(x0)) / |m(x0)| (1 = no degradation); the breakdown point is the "
        f"lowest level where r(x) < {report.fraction:g}.",
        "",
        *_skipped_lines(report.skipped),
        "## Summary",
        "",
        report.table()
        if report.summary.height
        else "No curve: no completed run or no numeric swept key.",
        "",
    ]
    return "\n".join(head + sections)


def _skipped_lines(skipped: list[str]) -> list[str]:
    if not skipped:
        return []
    lines = [f"Left out, damaged ({len(skipped)}; `dmarl study` on this folder redoes them):", ""]
    return [*lines, *(f"- {line}" for line in skipped), ""]
