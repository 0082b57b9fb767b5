"""Typed column buffers for every table; frames are built once per table, never row by row."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

import polars as pl

from dmarl_des.errors import ConfigError
from dmarl_des.log.manifest import file_entry
from dmarl_des.log.parquet import table_path, write_parquet_atomic
from dmarl_des.log.schema import TABLES


class Recorder:
    """Buffers rows of one run as typed column lists and turns them into Polars tables."""

    def __init__(self, run_id: str, tables: Iterable[str] = ("runs", "episodes", "agents")) -> None:
        self.run_id = run_id
        self._schemas: dict[str, dict[str, pl.DataType]] = {}
        self._columns: dict[str, dict[str, list[Any]]] = {}
        for name in tables:
            self.declare(name, TABLES[name])

    def declare(self, table: str, schema: Mapping[str, pl.DataType]) -> None:
        """Add a table (built-in or a world's own); ``run_id`` is always its first column."""
        if table in self._schemas:
            return
        full = {"run_id": pl.Utf8, **{k: v for k, v in schema.items() if k != "run_id"}}
        self._schemas[table] = full
        self._columns[table] = {name: [] for name in full}

    def add_columns(self, table: str, schema: Mapping[str, pl.DataType]) -> None:
        """Add columns to a declared table before its first row (e.g. a learner's own metrics)."""
        new = {k: v for k, v in schema.items() if k not in self._schemas[table]}
        if new and self.n_rows(table):
            raise ConfigError(f"{table} columns", sorted(new), "columns added before the first row")
        for name, dtype in new.items():
            self._schemas[table][name] = dtype
            self._columns[table][name] = []

    @property
    def tables(self) -> tuple[str, ...]:
        return tuple(self._schemas)

    def columns(self, table: str) -> tuple[str, ...]:
        """The column names of a declared table."""
        return tuple(self._schemas[table])

    def has(self, table: str) -> bool:
        return table in self._schemas

    def add(self, table: str, **row: Any) -> None:
        """Append one row (missing columns are null; unknown columns are an error)."""
        cols = self._columns[table]
        extra = set(row) - set(cols)
        if extra:
            raise ConfigError(
                f"{table} row", sorted(extra), f"columns of {table}: {', '.join(cols)}"
            )
        row.setdefault("run_id", self.run_id)
        for name, values in cols.items():
            values.append(row.get(name))

    def extend(self, table: str, columns: Mapping[str, Any]) -> None:
        """Append many rows given as columns (lists or numpy arrays of equal length)."""
        cols = self._columns[table]
        extra = set(columns) - set(cols)
        if extra:
            raise ConfigError(f"{table} columns", sorted(extra), f"columns: {', '.join(cols)}")
        lengths = {len(v) for v in columns.values()}
        if len(lengths) > 1:
            raise ConfigError(f"{table} columns", sorted(lengths), "columns of equal length")
        n = lengths.pop() if lengths else 0
        for name, values in cols.items():
            if name in columns:
                col = columns[name]
                values.extend(col.tolist() if hasattr(col, "tolist") else col)
            elif name == "run_id":
                values.extend([self.run_id] * n)
            else:
                values.extend([None] * n)

    def clear(self) -> None:
        """Forget every buffered row (the tables stay declared)."""
        for cols in self._columns.values():
            for values in cols.values():
                values.clear()

    def rows(self, table: str, start: int = 0) -> list[dict[str, Any]]:
        """The rows of ``table`` from row ``start`` on, as dicts (for live views of a run)."""
        cols = self._columns[table]
        names = list(cols)
        return [dict(zip(names, values)) for values in zip(*(cols[n][start:] for n in names))]

    def n_rows(self, table: str) -> int:
        return len(self._columns[table]["run_id"])

    def frame(self, table: str) -> pl.DataFrame:
        """The table as a frame with its declared dtypes."""
        return pl.DataFrame(self._columns[table], schema=self._schemas[table], strict=False)

    def frames(self) -> dict[str, pl.DataFrame]:
        return {name: self.frame(name) for name in self._schemas}

    def write(self, out: str | Path, partition: Mapping[str, Any] | None = None) -> dict[str, Path]:
        """Write every non-empty table atomically; ``runs`` last, so its presence marks completion.

        Before ``runs`` is written, its ``files`` column is set to the manifest of the other
        files (path, bytes, rows, SHA-256), so a reader can verify that the run is intact.
        """
        written: dict[str, Path] = {}
        entries: list[dict[str, Any]] = []
        for name in (t for t in self._schemas if t != "runs"):
            if self.n_rows(name) == 0:
                continue
            frame = self.frame(name)
            path = write_parquet_atomic(frame, table_path(out, name, self.run_id, partition or {}))
            written[name] = path
            entries.append(file_entry(out, path, name, frame.height))
        if "runs" in self._schemas:
            files = self._columns["runs"].get("files")
            if files is not None:
                files[:] = [entries] * len(files)
            path = table_path(out, "runs", self.run_id, partition or {})
            written["runs"] = write_parquet_atomic(self.frame("runs"), path)
        return written
