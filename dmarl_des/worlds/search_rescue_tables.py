"""Tables of search and rescue: `search` (progress every ``record_every``) and `detections`."""

from __future__ import annotations

from typing import Any

import numpy as np
import polars as pl

from dmarl_des.log import EPISODE_METRICS, Metric, declare_metrics

SEARCH_TABLE = {
    "episode": pl.Int64,
    "time": pl.Float64,
    "found": pl.Int64,
    "confirmed": pl.Int64,
    "found_fraction": pl.Float64,
    "confirmed_fraction": pl.Float64,
    "arrivals": pl.Int64,
    "detections": pl.Int64,
    "reports_received": pl.Int64,
    "reports_ignored": pl.Int64,
    "n_up": pl.Int64,
}
"""One row per ``record_every`` time units and one at the episode's end (cumulative counts)."""


DETECTIONS_TABLE = {
    "episode": pl.Int64,
    "time": pl.Float64,
    "target": pl.Int64,
    "agent_id": pl.Int64,
    "event": pl.String,
    "distance": pl.Float64,
    "x": pl.Float64,
    "y": pl.Float64,
}
"""One row per first detection (event ``found``) and per confirmation (``confirmed``): the UAV,
its distance to the target and where the target was."""


SEARCH_METRICS = declare_metrics(
    EPISODE_METRICS,
    Metric(
        "episodes.team_return",
        "targets found plus targets confirmed (unit rewards; plus any world.reward_searched)",
        "targets",
    ),
    Metric(
        "episodes.success",
        "share of episodes whose confirmed fraction reached world.target (0.9 by default)",
        "share of episodes",
        rate=True,
    ),
    Metric("search.found_fraction", "share of the targets found, per logged time", "share"),
    Metric(
        "search.confirmed_fraction",
        "share of the targets confirmed by a second UAV, per logged time",
        "share",
    ),
)
"""What the columns of the episodes and `search` tables mean (reports quote them)."""


def record_search(world: Any) -> None:
    """One `search` row now (cumulative counts)."""
    t = world.targets
    world.recorder.add(
        "search",
        episode=world.episode,
        time=world.now,
        found=t.n_found,
        confirmed=t.n_confirmed,
        found_fraction=t.n_found / t.m,
        confirmed_fraction=t.n_confirmed / t.m,
        arrivals=world.arrivals,
        detections=world.detections,
        reports_received=world.reports_received,
        reports_ignored=world.reports_ignored,
        n_up=int(world.up.sum()),
    )


def log_detections(
    world: Any, event: str, uav: np.ndarray, tgt: np.ndarray, dist: np.ndarray
) -> None:
    n = len(uav)
    if not n:
        return
    pos = world.targets.pos[tgt]
    world.recorder.extend(
        "detections",
        {
            "episode": [world.episode] * n,
            "time": [world.now] * n,
            "target": tgt.tolist(),
            "agent_id": [world.sim_agents[i].agent_id for i in uav.tolist()],
            "event": [event] * n,
            "distance": dist.tolist(),
            "x": pos[:, 0].tolist(),
            "y": pos[:, 1].tolist(),
        },
    )
