"""The recorder: typed column buffers → Polars tables → Parquet files, written atomically."""

from dmarl_des.log.manifest import FILE_ENTRY, damaged_files, file_entry
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
    "FILE_ENTRY",
    "SCHEMA_VERSION",
    "TABLES",
    "TEMP_PREFIX",
    "Recorder",
    "check_file_name",
    "check_output_folder",
    "damaged_files",
    "file_entry",
    "table_path",
    "write_parquet_atomic",
]
