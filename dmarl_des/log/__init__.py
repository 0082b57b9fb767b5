"""The recorder: typed column buffers → Polars tables → Parquet files, written atomically."""

from dmarl_des.log.manifest import FILE_ENTRY, damaged_files, file_entry
from dmarl_des.log.metrics import EPISODE_METRICS, Metric, declare_metrics, generic_metric
from dmarl_des.log.parquet import (
    TEMP_PREFIX,
    check_file_name,
    check_output_folder,
    table_path,
    write_parquet_atomic,
)
from dmarl_des.log.recorder import Recorder
from dmarl_des.log.schema import SCHEMA_VERSION, TABLES

__all__ = [
    "EPISODE_METRICS",
    "FILE_ENTRY",
    "SCHEMA_VERSION",
    "TABLES",
    "TEMP_PREFIX",
    "Metric",
    "Recorder",
    "check_file_name",
    "check_output_folder",
    "damaged_files",
    "declare_metrics",
    "file_entry",
    "generic_metric",
    "table_path",
    "write_parquet_atomic",
]
