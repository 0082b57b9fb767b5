"""Scenes of a recorded episode: the `trace` table of a run folder, with its faults and map rows.

A run folder is what ``dmarl run`` (or one study) writes: ``RUN_DIR/<table>/…/<run_id>.parquet``.
One scene per `trace` sample: positions (a circle layout for worlds without a space), roles,
links up (worlds that talk), the `trace_map` row of the same instant, and a flash where an agent
crashed since the previous sample (from the `faults` table).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import polars as pl

from dmarl_des.errors import ConfigError
from dmarl_des.viz.scene import Scene, circle_layout, padded_extent
from dmarl_des.world import WorldMap


def read_table(run_dir: Path, table: str) -> pl.DataFrame | None:
    """Every file of ``table`` under ``run_dir`` as one frame (None when there is none)."""
    files = sorted((run_dir / table).rglob("*.parquet"))
    if not files:
        return None
    return pl.concat([pl.read_parquet(f) for f in files], how="diagonal_relaxed")


def scenes_of_run(
    run_dir: str | Path,
    *,
    episode: int = 0,
    run_id: str | None = None,
    every: int = 1,
    max_frames: int | None = None,
) -> list[Scene]:
    """The scenes of ``episode`` of the run in ``run_dir`` (``run_id`` when it holds several):
    every ``every``-th trace sample, thinned evenly to at most ``max_frames``."""
    folder = Path(run_dir)
    if not folder.is_dir():
        raise ConfigError("RUN_DIR", str(run_dir), "a folder written by dmarl run")
    if every < 1:
        raise ConfigError("--every", every, "an integer >= 1")
    if max_frames is not None and max_frames < 1:
        raise ConfigError("--max-frames", max_frames, "an integer >= 1")
    trace = read_table(folder, "trace")
    if trace is None:
        raise ConfigError(
            "RUN_DIR",
            str(run_dir),
            "a run folder with a `trace` table (run it with --set record.trace_every=1)",
        )
    run_id = _one_run(trace, run_id, str(run_dir))
    trace = trace.with_row_index("row").filter(pl.col("run_id") == run_id)
    episodes = sorted(set(trace["episode"].to_list()))
    if episode not in episodes:
        raise ConfigError("--episode", episode, f"an episode of the trace: {episodes}")
    trace = trace.filter(pl.col("episode") == episode).sort("row")
    times = sorted(set(trace["time"].to_list()))[::every]
    if max_frames is not None and len(times) > max_frames:
        pick = np.linspace(0, len(times) - 1, max_frames).round().astype(int)
        times = [times[i] for i in pick]
    maps = _maps(folder, run_id, episode)
    crashes = _crashes(folder, run_id, episode)
    title = _title(folder, run_id)
    has_space = trace["x"].null_count() < trace.height
    extent = _extent(trace, maps) if has_space else padded_extent(circle_layout(1), pad=0.12)
    scenes, previous = [], -np.inf
    for t in times:
        rows = trace.filter(pl.col("time") == t)
        scenes.append(_scene(rows, t, previous, extent, has_space, maps, crashes, title, episode))
        previous = t
    return scenes


def _one_run(trace: pl.DataFrame, run_id: str | None, where: str) -> str:
    runs = sorted(set(trace["run_id"].to_list()))
    if run_id is None:
        if len(runs) > 1:
            raise ConfigError("--run", None, f"one of the runs in {where}: {runs}")
        return runs[0]
    if run_id not in runs:
        raise ConfigError("--run", run_id, f"one of the runs in {where}: {runs}")
    return run_id


def _maps(folder: Path, run_id: str, episode: int) -> dict[float, WorldMap]:
    table = read_table(folder, "trace_map")
    if table is None:
        return {}
    rows = table.filter((pl.col("run_id") == run_id) & (pl.col("episode") == episode))
    out = {}
    for r in rows.iter_rows(named=True):
        values = np.frombuffer(r["values"], dtype=np.uint8).reshape(r["height"], r["width"])
        out[r["time"]] = WorldMap(values, (r["x0"], r["y0"], r["x1"], r["y1"]), r["label"] or "")
    return out


def _crashes(folder: Path, run_id: str, episode: int) -> pl.DataFrame:
    table = read_table(folder, "faults")
    if table is None:
        return pl.DataFrame(
            {"time": [], "agent_id": []}, schema={"time": pl.Float64, "agent_id": pl.Int64}
        )
    return table.filter(
        (pl.col("run_id") == run_id) & (pl.col("episode") == episode) & (pl.col("kind") == "crash")
    ).select("time", "agent_id")


def _title(folder: Path, run_id: str) -> str:
    runs = read_table(folder, "runs")
    if runs is None:
        return ""
    row = runs.filter(pl.col("run_id") == run_id)
    return str(row["scenario"][0]) if row.height and row["scenario"][0] else ""


def _extent(trace: pl.DataFrame, maps: dict[float, WorldMap]) -> tuple[float, float, float, float]:
    if maps:
        return next(iter(maps.values())).extent
    return padded_extent(trace.select("x", "y").drop_nulls().to_numpy())


def _scene(
    rows: pl.DataFrame,
    t: float,
    previous: float,
    extent: tuple[float, float, float, float],
    has_space: bool,
    maps: dict[float, WorldMap],
    crashes: pl.DataFrame,
    title: str,
    episode: int,
) -> Scene:
    n = rows.height
    ids = rows["agent_id"].to_numpy().astype(np.int64)
    positions = (
        rows.select("x", "y").to_numpy().astype(np.float64) if has_space else circle_layout(n)
    )
    links = np.zeros((0, 2), dtype=np.int64)
    if "links" in rows.columns:
        slot_of = {int(a): k for k, a in enumerate(ids.tolist())}
        pairs = [
            (k, slot_of[j])
            for k, reach in enumerate(rows["links"].to_list())
            for j in reach or ()
            if j in slot_of
        ]
        if pairs:
            links = np.array(pairs, dtype=np.int64)
    hit = crashes.filter((pl.col("time") > previous) & (pl.col("time") <= t))["agent_id"]
    where = {int(a): k for k, a in enumerate(ids.tolist())}
    flashes = np.array([positions[where[a]] for a in hit.to_list() if a in where]).reshape(-1, 2)
    return Scene(
        time=float(t),
        positions=positions,
        roles=rows["role"].to_list(),
        agent_ids=ids,
        links=links,
        extent=tuple(float(e) for e in extent),
        world_map=maps.get(t),
        flashes=flashes,
        title=title,
        episode=episode,
    )
