"""A run's file manifest: each table file's size, row count and SHA-256, recorded in its ``runs`` row.

The ``runs`` file is written last and lists every other file of the run (``runs.files``). A run is
intact when every listed file exists inside the output folder with the recorded size and checksum;
:func:`damaged_files` says which are not (missing, truncated, emptied, altered).
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

import polars as pl

FILE_ENTRY = pl.Struct(
    {
        "table": pl.Utf8,
        "path": pl.Utf8,
        "bytes": pl.Int64,
        "rows": pl.Int64,
        "sha256": pl.Utf8,
    }
)
"""One file of a run: its table, path relative to the output folder (``/``-separated), size in
bytes, number of rows and the SHA-256 of its bytes (hex)."""

_CHUNK = 1 << 20


def file_sha256(path: str | Path) -> str:
    """The SHA-256 (hex) of a file's bytes, read in chunks."""
    h = hashlib.sha256()
    with open(path, "rb") as handle:
        while chunk := handle.read(_CHUNK):
            h.update(chunk)
    return h.hexdigest()


def file_entry(out: str | Path, path: str | Path, table: str, rows: int) -> dict[str, Any]:
    """The manifest entry of a file just written under ``out``."""
    path = Path(path)
    relative = Path(os.path.relpath(path, out)).as_posix()
    return {
        "table": table,
        "path": relative,
        "bytes": path.stat().st_size,
        "rows": int(rows),
        "sha256": file_sha256(path),
    }


def resolve_entry(out: str | Path, entry: Mapping[str, Any]) -> Path | None:
    """The file an entry names, or None when its path would leave ``out``."""
    relative = entry.get("path")
    if not isinstance(relative, str) or not relative or os.path.isabs(relative):
        return None
    root = os.path.normpath(os.fspath(out))
    full = os.path.normpath(os.path.join(root, relative))
    if os.path.commonpath([root, full]) != root or full == root:
        return None
    return Path(full)


def entry_damage(out: str | Path, entry: Mapping[str, Any]) -> str | None:
    """Why the file of ``entry`` is not intact (one line), or None when it is."""
    path = resolve_entry(out, entry)
    if path is None:
        return f"{entry.get('path')!r}: a path outside the study folder"
    name = entry["path"]
    if not path.is_file():
        return f"{name}: missing"
    size = path.stat().st_size
    if size != entry.get("bytes"):
        return f"{name}: {size} bytes, {entry.get('bytes')} recorded (truncated or replaced)"
    if file_sha256(path) != entry.get("sha256"):
        return f"{name}: its SHA-256 differs from the recorded one (altered)"
    return None


def damaged_files(out: str | Path, entries: Iterable[Mapping[str, Any]] | None) -> list[str]:
    """One line per listed file that is not intact ([] when every file is); None lists nothing."""
    problems = []
    for entry in entries or ():
        problem = entry_damage(out, entry)
        if problem is not None:
            problems.append(problem)
    return problems
