"""Which runs of a study folder can be trusted: ``runs`` files that read, manifests that verify.

A run is left out of a report, with one line naming the file, when its ``runs`` file does not read,
when a file its manifest lists is missing, truncated or altered, or when one of its table files does
not read (runs without a manifest, written by older versions, are checked by reading only).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path

import polars as pl

from dmarl_des.log import damaged_files

HIDDEN_PREFIX = "."
"""Files whose names start with this are skipped (temporary files of atomic writes)."""


def table_files(out: str | Path, table: str) -> list[Path]:
    """Every run's file of ``table`` (temporary files excluded), in path order."""
    folder = Path(out) / table
    if not folder.is_dir():
        return []
    return sorted(p for p in folder.rglob("*.parquet") if not p.name.startswith(HIDDEN_PREFIX))


def scan_files(files: Sequence[Path], schema: Mapping[str, pl.DataType]) -> pl.LazyFrame:
    """A lazy frame over the given files of one table, hive partition columns typed by ``schema``.

    The files must share one schema (a file with other columns makes collecting fail).
    """
    return pl.scan_parquet(
        list(files),
        hive_partitioning=True,
        hive_schema=dict(schema) or None,
        try_parse_hive_dates=False,
    )


def read_files(
    out: str | Path,
    files: Sequence[Path],
    schema: Mapping[str, pl.DataType],
    columns: Sequence[str] | None = None,
) -> tuple[pl.DataFrame | None, dict[Path, str]]:
    """The rows of ``files`` (those of ``columns`` they have, when given) and the files that do not
    read, each with a line naming it.

    All files are read at once; only when that fails (a damaged file, or files of different
    schema versions) is each read alone, to name the bad ones; columns a file lacks are null.
    Returns None for the frame when no file reads.
    """

    def read(paths: Sequence[Path]) -> pl.DataFrame:
        lazy = scan_files(paths, schema)
        if columns is not None:
            names = lazy.collect_schema().names()
            lazy = lazy.select([c for c in columns if c in names])
        return lazy.collect()

    if not files:
        return None, {}
    try:
        return read(files), {}
    except Exception:
        pass
    frames, bad = [], {}
    for path in files:
        try:
            frames.append(read([path]))
        except Exception as exc:
            text = str(exc).strip()
            reason = text.splitlines()[0][:120] if text else type(exc).__name__
            bad[path] = f"{Path(path).relative_to(out).as_posix()}: unreadable ({reason})"
    if not frames:
        return None, bad
    return pl.concat(frames, how="diagonal_relaxed"), bad


def read_runs(out: str | Path, schema: Mapping[str, pl.DataType]) -> tuple[pl.DataFrame, list[str]]:
    """The ``runs`` rows that can be trusted, and one line per run left out (naming the file).

    Rows whose status is ok and whose manifest (``files``) lists a damaged file are left out;
    rows of failed runs are kept (they are counted as failed, never analysed).
    """
    runs, unreadable = read_files(out, table_files(out, "runs"), schema)
    bad = list(unreadable.values())
    if runs is None:
        empty = {"run_id": pl.Utf8, "seed": pl.Int64, "status": pl.Utf8, **schema}
        return pl.DataFrame(schema=empty), bad
    if "files" in runs.columns:
        damaged: set[str] = set()
        checked = runs.filter((pl.col("status") == "ok") & pl.col("files").is_not_null())
        for run_id, entries in checked.select("run_id", "files").iter_rows():
            for problem in damaged_files(out, entries):
                bad.append(f"run {run_id}: {problem}")
                damaged.add(run_id)
        runs = runs.filter(~pl.col("run_id").is_in(sorted(damaged)))
    return runs, bad


def run_of_file(path: str | Path) -> str:
    """The run id a table file belongs to (its name without ``.parquet``)."""
    return Path(path).stem


def files_of_runs(files: Iterable[Path], run_ids: set[str]) -> list[Path]:
    """The files among ``files`` that belong to the runs ``run_ids``."""
    return [p for p in files if run_of_file(p) in run_ids]
