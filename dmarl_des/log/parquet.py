"""Atomic Parquet writing under OUT/<table>/<key>=<value>/.../<run_id>.parquet (hive layout)."""

from __future__ import annotations

import os
import tempfile
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import polars as pl


def _partition_value(value: Any) -> str:
    text = str(value)
    return "".join(c if c.isalnum() or c in "._-" else "_" for c in text) or "_"


def table_path(out: str | Path, table: str, run_id: str, partition: Mapping[str, Any]) -> Path:
    """Where one run's rows of one table live."""
    path = Path(out) / table
    for key, value in partition.items():
        path = path / f"{_partition_value(key)}={_partition_value(value)}"
    return path / f"{run_id}.parquet"


def write_parquet_atomic(frame: pl.DataFrame, path: str | Path) -> Path:
    """Write zstd Parquet to a temporary file beside ``path``, then ``os.replace`` it into place."""
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=".tmp-", suffix=".parquet", dir=target.parent)
    os.close(fd)
    try:
        frame.write_parquet(tmp, compression="zstd")
        os.replace(tmp, target)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return target
