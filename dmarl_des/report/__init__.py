"""Policies side by side and degradation curves of a study, as PNG plots and Markdown, read from
its Parquet files."""

from dmarl_des.report.build import Report, write_report
from dmarl_des.report.comparison import (
    compare_levels,
    comparison_key,
    levels_in_order,
    reference_level,
)
from dmarl_des.report.degradation import (
    DEFAULT_METRICS,
    categorical_keys,
    degradation_curves,
    degradation_summary,
    numeric_keys,
)
from dmarl_des.report.header import declared_metrics, read_description
from dmarl_des.report.interaction import interaction_grid
from dmarl_des.report.stats import (
    breakdown_point,
    curve,
    degradation_score,
    mean_ci,
    paired_changes,
    relative_level,
    t_half_width,
    wilson_interval,
)
from dmarl_des.report.tables import (
    load_run_metrics,
    partition_schema,
    read_study_metrics,
    read_table,
    run_metrics,
    scan_table,
)

__all__ = [
    "DEFAULT_METRICS",
    "Report",
    "breakdown_point",
    "categorical_keys",
    "compare_levels",
    "comparison_key",
    "curve",
    "declared_metrics",
    "degradation_curves",
    "degradation_score",
    "degradation_summary",
    "interaction_grid",
    "levels_in_order",
    "load_run_metrics",
    "mean_ci",
    "numeric_keys",
    "paired_changes",
    "partition_schema",
    "read_description",
    "read_study_metrics",
    "read_table",
    "reference_level",
    "relative_level",
    "run_metrics",
    "scan_table",
    "t_half_width",
    "wilson_interval",
    "write_report",
]
