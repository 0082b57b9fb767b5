"""Reads a study folder: its hive partition keys with their dtypes, its tables lazily, per-run metrics.

Tables live under ``OUT/<table>/<key>=<value>/…/<run_id>.parquet``. The partition values are
typed from the folder names (all integers → Int64, all numbers → Float64, True/False → Boolean,
else text) and given to Polars as ``hive_schema``. Temporary files of unfinished writes (names
starting with a dot) are never read, and only runs whose ``runs`` row says ``ok`` and whose files
are intact (see ``dmarl_des.report.integrity``) are analysed.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import polars as pl

from dmarl_des.errors import ConfigError
from dmarl_des.report.degradation import EPISODE_COUNT
from dmarl_des.report.integrity import (
    HIDDEN_PREFIX,
    files_of_runs,
    read_files,
    read_runs,
    run_of_file,
    table_files,
)


def partition_schema(out: str | Path) -> dict[str, pl.DataType]:
    """The swept keys of the study in ``out`` (in folder order) and the dtype of each."""
    root = Path(out) / "runs"
    if not root.is_dir():
        raise ConfigError(
            "study folder", str(out), "a folder holding runs/ (written by dmarl study)"
        )
    layouts: set[tuple[str, ...]] = set()
    values: dict[str, set[str]] = {}
    for path in root.rglob("*.parquet"):
        if path.name.startswith(HIDDEN_PREFIX):
            continue
        pairs = [part.split("=", 1) for part in path.relative_to(root).parts[:-1]]
        if any(len(pair) != 2 for pair in pairs):
            raise ConfigError("study folder", str(path.parent), "key=value partition folders")
        layouts.add(tuple(k for k, _ in pairs))
        for k, v in pairs:
            values.setdefault(k, set()).add(v)
    if len(layouts) > 1:
        found = " and ".join(str(list(layout)) for layout in sorted(layouts))
        raise ConfigError("study folder", str(out), f"one grid layout per folder; found {found}")
    keys = layouts.pop() if layouts else ()
    return {key: infer_dtype(values[key]) for key in keys}


def infer_dtype(texts: Iterable[str]) -> pl.DataType:
    """The narrowest dtype that reads every partition value: Int64, Float64, Boolean or Utf8."""
    texts = list(texts)

    def parses(kind: type) -> bool:
        try:
            for text in texts:
                kind(text)
        except ValueError:
            return False
        return True

    if texts and parses(int):
        return pl.Int64()
    if texts and parses(float):
        return pl.Float64()
    if texts and set(texts) <= {"True", "False"}:
        return pl.Boolean()
    return pl.Utf8()


def scan_table(
    out: str | Path, table: str, schema: Mapping[str, pl.DataType] | None = None
) -> pl.LazyFrame:
    """A lazy frame over every run's file of ``table``, with the partition keys as typed columns."""
    schema = partition_schema(out) if schema is None else schema
    folder = Path(out) / table
    if not folder.is_dir():
        known = sorted(p.name for p in Path(out).iterdir() if p.is_dir() and p.name != "report")
        raise ConfigError("table", table, f"a table of this study: {', '.join(known)}")
    return pl.scan_parquet(
        f"{folder}/**/*.parquet",
        hive_partitioning=True,
        hive_schema=dict(schema) or None,
        hidden_file_prefix=HIDDEN_PREFIX,
        try_parse_hive_dates=False,
    )


def split_metric(metric: str) -> tuple[str, str]:
    """``"episodes.team_return"`` → ("episodes", "team_return")."""
    table, sep, column = metric.partition(".")
    if not sep or not table or not column:
        raise ConfigError("metric", metric, "TABLE.COLUMN, e.g. episodes.team_return")
    return table, column


def run_metrics(
    runs: pl.DataFrame,
    tables: Mapping[str, pl.DataFrame],
    metrics: Sequence[str],
    keys: Sequence[str],
) -> pl.DataFrame:
    """One row per completed run: ``run_id, seed, *keys``, each metric's mean over the run and,
    when an ``episodes`` table is given, ``n_episodes`` (how many episodes the means are over).

    Rows of a table with an ``episode`` column count only the run's final evaluation episodes
    when it has any (``episodes.phase == "eval"`` after its last training episode; evaluations
    during training are learning-curve points), else all its episodes. Runs whose status is not
    ok are left out.
    """
    out = runs.filter(pl.col("status") == "ok").select("run_id", "seed", *keys)
    episodes = tables.get("episodes")
    chosen = None
    if episodes is not None and {"phase", "episode"} <= set(episodes.columns):
        is_eval = pl.col("phase") == "eval"
        last_train = pl.when(~is_eval).then(pl.col("episode")).max().over("run_id")
        final = is_eval & (last_train.is_null() | (pl.col("episode") > last_train))
        chosen = episodes.filter(
            final | (is_eval & ~final.any().over("run_id")) | ~is_eval.any().over("run_id")
        ).select("run_id", "episode")
        counts = chosen.group_by("run_id").agg(pl.len().cast(pl.Int64).alias(EPISODE_COUNT))
        out = out.join(counts, on="run_id", how="left")
    for metric in metrics:
        table, column = split_metric(metric)
        frame = tables.get(table)
        if frame is None or column not in frame.columns:
            raise ConfigError("metric", metric, "a column of a table given to run_metrics")
        if chosen is not None and "episode" in frame.columns:
            frame = frame.join(chosen, on=["run_id", "episode"], how="semi")
        per_run = frame.group_by("run_id").agg(pl.col(column).cast(pl.Float64).mean().alias(metric))
        out = out.join(per_run, on="run_id", how="left")
    return out.sort([*keys, "seed", "run_id"])


def load_run_metrics(
    out: str | Path, metrics: Sequence[str]
) -> tuple[pl.DataFrame, pl.DataFrame, dict[str, pl.DataType]]:
    """Read a study folder: (runs table, per-run metrics, partition schema); damaged runs left out.

    Levels of named (text) swept keys are the values the study was given (e.g. a checkpoint path
    ``models/x``), not their folder names (``models_x``).
    """
    data = read_study_metrics(out, metrics)
    return data.runs, data.per_run, data.schema


@dataclass
class StudyTables:
    """What ``read_study_metrics`` read: the trusted runs, one row of metrics per completed run,
    the swept keys with their dtypes, the runs left out (one line each, naming the file) and the
    metrics whose column is boolean (averaged as rates)."""

    runs: pl.DataFrame
    per_run: pl.DataFrame
    schema: dict[str, pl.DataType]
    skipped: list[str] = field(default_factory=list)
    booleans: set[str] = field(default_factory=set)


def read_study_metrics(out: str | Path, metrics: Sequence[str]) -> StudyTables:
    """Read a study folder: its trusted runs and their per-run metrics (see ``StudyTables``).

    Runs left out because a file of them is damaged are in neither the runs table nor the metrics.
    """
    schema = partition_schema(out)
    keys = list(schema)
    runs, skipped = read_runs(out, schema)
    needed: dict[str, set[str]] = {}
    for metric in metrics:
        table, column = split_metric(metric)
        needed.setdefault(table, set()).add(column)
    ok = set(runs.filter(pl.col("status") == "ok")["run_id"].to_list())
    if not ok:  # nothing completed: no table needs reading
        empty = runs.head(0).select("run_id", "seed", *keys)
        per_run = empty.with_columns(pl.lit(None, pl.Float64).alias(m) for m in metrics)
        return StudyTables(runs, per_run, schema, skipped)
    if "episodes" not in needed and (Path(out) / "episodes").is_dir():
        needed["episodes"] = set()  # to choose each run's evaluation episodes
    tables: dict[str, pl.DataFrame] = {}
    booleans: set[str] = set()
    unreadable: set[str] = set()
    for table, columns in needed.items():
        if not (Path(out) / table).is_dir():
            scan_table(out, table, schema)  # the ConfigError naming the tables there
        files = files_of_runs(table_files(out, table), ok)
        frame, bad = read_files(out, files, schema, ["run_id", "episode", "phase", *columns])
        if frame is None:
            frame = pl.DataFrame(schema={"run_id": pl.Utf8, **dict.fromkeys(columns, pl.Float64)})
        for path, line in bad.items():
            unreadable.add(run_of_file(path))
            skipped.append(line)
        names = frame.columns
        missing = sorted(c for c in columns if c not in names)
        if missing:
            raise ConfigError(
                "metric", f"{table}.{missing[0]}", f"a column of {table}: {', '.join(names)}"
            )
        booleans |= {f"{table}.{c}" for c in columns if frame.schema[c] == pl.Boolean}
        extra = [c for c in ("episode", "phase") if c in names]
        tables[table] = frame.select(["run_id", *extra, *sorted(columns - set(extra))])
    if unreadable:
        drop = sorted(unreadable)
        runs = runs.filter(~pl.col("run_id").is_in(drop))
        tables = {t: f.filter(~pl.col("run_id").is_in(drop)) for t, f in tables.items()}
    per_run = given_levels(run_metrics(runs, tables, metrics, keys), runs, schema)
    return StudyTables(runs, per_run, schema, skipped, booleans)


def given_levels(
    frame: pl.DataFrame, runs: pl.DataFrame, schema: Mapping[str, pl.DataType]
) -> pl.DataFrame:
    """``frame`` with each named (text) swept key's level replaced by the value the run was
    given, as recorded in ``runs.params`` (folder names replace characters such as ``/``)."""
    names = [k for k, dtype in schema.items() if dtype == pl.Utf8 and k in frame.columns]
    if not names or "params" not in runs.columns or not frame.height:
        return frame
    given: dict[str, dict[str, str]] = {k: {} for k in names}
    for run_id, text in runs.select("run_id", "params").iter_rows():
        try:
            params = json.loads(text) if text else {}
        except ValueError:
            continue
        for key in names:
            if isinstance(params, dict) and params.get(key) is not None:
                given[key][run_id] = str(params[key])
    return frame.with_columns(
        pl.col("run_id").replace_strict(given[k], default=pl.col(k), return_dtype=pl.Utf8).alias(k)
        for k in names
        if given[k]
    )


def read_table(
    out: str | Path, table: str, columns: Sequence[str] | None = None
) -> tuple[pl.DataFrame, list[str]]:
    """The rows of ``table`` of every completed, intact run, and one line per run left out.

    The swept keys are typed columns (named levels as the study was given them); ``columns``
    keeps only those columns (with ``run_id`` and the swept keys). A run whose ``runs`` file or
    manifest shows damage, or one of whose files of ``table`` does not read, is left out, never
    read half (the reader a notebook should use instead of a raw ``scan_parquet`` glob).
    """
    schema = partition_schema(out)
    runs, skipped = read_runs(out, schema)
    if not (Path(out) / table).is_dir():
        scan_table(out, table, schema)  # the ConfigError naming the tables there
    ok = set(runs.filter(pl.col("status") == "ok")["run_id"].to_list())
    wanted = None if columns is None else list(dict.fromkeys(["run_id", *columns, *schema]))
    frame, bad = read_files(out, files_of_runs(table_files(out, table), ok), schema, wanted)
    skipped += list(bad.values())
    if frame is None:
        return pl.DataFrame(schema={"run_id": pl.Utf8, **schema}), skipped
    drop = sorted(run_of_file(p) for p in bad)
    if drop:
        frame = frame.filter(~pl.col("run_id").is_in(drop))
    return given_levels(frame, runs, schema), skipped
