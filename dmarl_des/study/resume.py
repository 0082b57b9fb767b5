"""Resuming a study: which runs are complete and intact, clearing a run's files, stale temp files.

A run is complete when its ``runs`` file reads, says ``status == "ok"``, and every file its
manifest (``runs.files``) lists is intact: present, of the recorded size and SHA-256. The recorder
writes each file atomically and ``runs`` last, so a run killed mid-way has no ``runs`` file;
damage after the fact (a truncated, emptied, deleted or altered file) is caught by the manifest.
A ``runs`` file without a manifest (schema version 1) cannot be verified and is not trusted.
Errored, unfinished and damaged runs are done again.
"""

from __future__ import annotations

from pathlib import Path

import polars as pl

from dmarl_des.log import TEMP_PREFIX, damaged_files, table_path
from dmarl_des.study.plan import RunSpec

__all__ = [
    "FAILED",
    "NOT_DONE",
    "TEMP_PREFIX",
    "clean_stale_temp_files",
    "forget_run",
    "is_complete",
    "run_damage",
]

NOT_DONE = "not done"
"""What :func:`run_damage` says of a run without a ``runs`` file."""

FAILED = "failed"
"""What :func:`run_damage` says of a run whose ``runs`` row records a status other than ok."""


def run_damage(out: str | Path, spec: RunSpec) -> str | None:
    """Why the run is not complete and intact (one line), or None when it is.

    :data:`NOT_DONE` when it has no ``runs`` file, :data:`FAILED` when it failed; anything else
    names what is damaged.
    """
    path = table_path(out, "runs", spec.run_id, spec.partition)
    if not path.is_file():
        return NOT_DONE
    relative = path.relative_to(out).as_posix()
    try:
        runs = pl.read_parquet(path)
    except Exception:  # an unreadable file is not trusted; it will be rewritten
        return f"{relative}: unreadable"
    if runs.height != 1 or "status" not in runs.columns:
        return f"{relative}: not one run's row"
    if runs["status"][0] != "ok":
        return FAILED
    if "files" not in runs.columns or runs["files"][0] is None:
        return f"{relative}: no file manifest (written by an older version)"
    problems = damaged_files(out, runs["files"][0].to_list())
    return "; ".join(problems) if problems else None


def is_complete(out: str | Path, spec: RunSpec) -> bool:
    """True when the run recorded status ok and every file of its manifest is intact."""
    return run_damage(out, spec) is None


def forget_run(out: str | Path, spec: RunSpec) -> list[Path]:
    """Delete every file the run left behind (its ``runs`` file first); returns what was deleted."""
    root = Path(out)
    if not root.is_dir():
        return []
    others = sorted(
        p.name
        for p in root.iterdir()
        if p.is_dir() and p.name not in ("runs", "report") and not p.name.startswith(".")
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
