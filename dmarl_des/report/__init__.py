"""Degradation curves and tables of a study, as PNG plots and Markdown, read from its Parquet files."""

from dmarl_des.report.build import Report, write_report
from dmarl_des.report.degradation import (
    DEFAULT_METRICS,
    degradation_curves,
    degradation_summary,
    numeric_keys,
)
from dmarl_des.report.stats import (
    breakdown_point,
    curve,
    degradation_score,
    mean_ci,
    paired_changes,
    relative_level,
    t_half_width,
)
from dmarl_des.report.tables import (
    load_run_metrics,
    partition_schema,
    run_metrics,
    scan_table,
)

__all__ = [
    "DEFAULT_METRICS",
    "Report",
    "breakdown_point",
    "curve",
    "degradation_curves",
    "degradation_score",
    "degradation_summary",
    "load_run_metrics",
    "mean_ci",
    "numeric_keys",
    "paired_changes",
    "partition_schema",
    "relative_level",
    "run_metrics",
    "scan_table",
    "t_half_width",
    "write_report",
]
