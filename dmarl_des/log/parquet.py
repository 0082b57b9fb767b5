"""Atomic Parquet writing under OUT/<table>/<key>=<value>/.../<run_id>.parquet (hive layout).

Every path is built inside the output folder: a table name or run id that is not a plain file
name (a path separator, ``.``, ``..``, a leading dot) is a ConfigError, never a write elsewhere.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import polars as pl

from dmarl_des.errors import ConfigError

TEMP_PREFIX = ".tmp-"
"""Prefix of the temporary files that atomic writes rename into place (hidden from readers)."""


def _partition_value(value: Any) -> str:
    text = str(value)
    return "".join(c if c.isalnum() or c in "._-" else "_" for c in text) or "_"


def check_file_name(field: str, name: str) -> str:
    """``name`` when it is one plain path component; else a ConfigError naming ``field``.

    Refused: empty names, path separators, NUL, ``.`` and ``..``, and names starting with a dot
    (readers skip those as temporary files).
    """
    if (
        not isinstance(name, str)
        or not name
        or any(c in name for c in "/\\\0")
        or name.startswith(".")
    ):
        raise ConfigError(
            field, name, "a plain file name: no path separator, not empty, not starting with '.'"
        )
    return name


def check_output_folder(out: str | Path, field: str = "out") -> Path:
    """``out`` as a Path when it is a folder or can be created as one; else a ConfigError.

    Refused before anything is simulated: ``out`` (or a folder above it) is an existing file.
    """
    path = Path(out)
    for folder in (path, *path.parents):
        if folder.exists():
            if not folder.is_dir():
                what = "is" if folder == path else f"lies under {str(folder)!r}, which is"
                raise ConfigError(field, str(out), f"a folder (this path {what} an existing file)")
            break
    return path


def table_path(out: str | Path, table: str, run_id: str, partition: Mapping[str, Any]) -> Path:
    """Where one run's rows of one table live; always inside ``out`` (checked)."""
    check_file_name("table", table)
    check_file_name("run id", run_id)
    path = Path(out) / table
    for key, value in partition.items():
        path = path / f"{_partition_value(key)}={_partition_value(value)}"
    path = path / f"{run_id}.parquet"
    root = os.path.normpath(os.fspath(out))
    inside = os.path.normpath(os.fspath(path))
    if os.path.commonpath([root, inside]) != root or inside == root:
        raise ConfigError("table path", str(path), f"a path inside the output folder {root!r}")
    return path


def write_parquet_atomic(frame: pl.DataFrame, path: str | Path) -> Path:
    """Write zstd Parquet to a temporary file beside ``path``, then ``os.replace`` it into place."""
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=TEMP_PREFIX, suffix=".parquet", dir=target.parent)
    os.close(fd)
    try:
        frame.write_parquet(tmp, compression="zstd")
        os.replace(tmp, target)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return target
