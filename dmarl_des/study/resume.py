"""Resuming a study: which runs are complete, clearing a run's partial files, stale temp files.

A run is complete when its ``runs`` file exists and says ``status == "ok"``: the recorder writes
that file last, each file atomically (temporary file, then ``os.replace``), so its presence means
every other table of the run is in place. Errored and unfinished runs are done again.
"""

from __future__ import annotations

from pathlib import Path

import polars as pl

from dmarl_des.log import table_path
from dmarl_des.study.plan import RunSpec

TEMP_PREFIX = ".tmp-"
"""Prefix of the temporary files that atomic writes rename into place."""


def is_complete(out: str | Path, spec: RunSpec) -> bool:
    """True when the run's ``runs`` file exists and records status ok."""
    path = table_path(out, "runs", spec.run_id, spec.partition)
    if not path.is_file():
        return False
    try:
        status = pl.read_parquet(path, columns=["status"])["status"]
    except Exception:  # an unreadable file is treated as not done; it will be rewritten
        return False
    return status.len() == 1 and status[0] == "ok"


def forget_run(out: str | Path, spec: RunSpec) -> list[Path]:
    """Delete every file the run left behind (its ``runs`` file first); returns what was deleted."""
    root = Path(out)
    if not root.is_dir():
        return []
    others = sorted(
        p.name for p in root.iterdir() if p.is_dir() and p.name not in ("runs", "report")
    )
    removed = []
    for table in ["runs", *others]:
        path = table_path(root, table, spec.run_id, spec.partition)
        if path.is_file():
            path.unlink()
            removed.append(path)
    return removed


def clean_stale_temp_files(out: str | Path) -> list[Path]:
    """Delete temporary files left by writers that were killed (call when no writer is running)."""
    root = Path(out)
    if not root.is_dir():
        return []
    stale = [p for p in root.rglob(f"{TEMP_PREFIX}*") if p.is_file()]
    for path in stale:
        path.unlink(missing_ok=True)
    return stale
