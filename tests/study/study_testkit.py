"""Helpers for study tests: the tiny scenario file, reading every table of a study, the CLI."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import polars as pl

from dmarl_des.study.run import WALL_CLOCK_COLUMNS

TINY = Path(__file__).with_name("tiny_scenario.py")
"""The scenario file every study test sweeps."""

SORT_COLUMNS = ("run_id", "episode", "agent_id", "update")


def read_study_tables(out: str | Path) -> dict[str, pl.DataFrame]:
    """Every table of a study folder (hidden files skipped), wall-clock columns dropped, rows sorted."""
    tables = {}
    for folder in sorted(p for p in Path(out).iterdir() if p.is_dir() and p.name != "report"):
        frame = pl.scan_parquet(
            f"{folder}/**/*.parquet", hive_partitioning=True, hidden_file_prefix="."
        ).collect()
        frame = frame.drop([c for c in WALL_CLOCK_COLUMNS if c in frame.columns])
        frame = frame.select(sorted(frame.columns))
        tables[folder.name] = frame.sort([c for c in SORT_COLUMNS if c in frame.columns])
    return tables


def run_files(out: str | Path) -> list[Path]:
    """The completion markers (``runs`` files) present now, temporary files excluded."""
    root = Path(out) / "runs"
    if not root.is_dir():
        return []
    return sorted(p for p in root.rglob("*.parquet") if not p.name.startswith("."))


def cli_command(*args: str) -> list[str]:
    """The argv that runs ``dmarl ARGS...`` with this interpreter."""
    code = "import sys; from dmarl_des.cli import main; sys.exit(main())"
    return [sys.executable, "-c", code, *args]


def run_cli(*args: str, cwd: str | Path | None = None) -> subprocess.CompletedProcess[str]:
    """Run ``dmarl ARGS...`` in a subprocess and capture its output."""
    return subprocess.run(cli_command(*args), capture_output=True, text=True, cwd=cwd, timeout=120)
