"""The recorder: typed column buffers → Polars tables → Parquet files, written atomically."""

from dmarl_des.log.parquet import table_path, write_parquet_atomic
from dmarl_des.log.recorder import Recorder
from dmarl_des.log.schema import SCHEMA_VERSION, TABLES

__all__ = ["SCHEMA_VERSION", "TABLES", "Recorder", "table_path", "write_parquet_atomic"]
