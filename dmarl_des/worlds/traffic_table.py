"""The traffic world's `traffic` table (one row per episode) and the metrics reports quote from it."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import polars as pl

from dmarl_des.log import EPISODE_METRICS, Metric, declare_metrics

TRAFFIC_TABLE: dict[str, pl.DataType] = {
    "episode": pl.Int64,
    "time": pl.Float64,
    "entered": pl.Int64,
    "exited": pl.Int64,
    "in_network": pl.Int64,
    "halting": pl.Int64,
    "crossings": pl.Int64,
    "total_delay": pl.Float64,
    "delay_per_vehicle": pl.Float64,
    "mean_stop_delay": pl.Float64,
    "mean_trip_delay": pl.Float64,
    "mean_trip_time": pl.Float64,
    "throughput": pl.Float64,
}
"""One row per episode, at its end (see docs/world_traffic.md)."""

TRAFFIC_METRICS = declare_metrics(
    EPISODE_METRICS,
    Metric(
        "episodes.team_return",
        "with reward = queue and shared_reward (the scenario file): minus the vehicle-seconds "
        "of delay at the stop lines / reward_scale; 0 with each signal's own rewards",
        "-vehicle-seconds / 100",
    ),
    Metric(
        "episodes.success",
        "share of episodes whose delay per vehicle stayed within world.target_delay (60 s)",
        "share of episodes",
        rate=True,
    ),
    Metric(
        "traffic.delay_per_vehicle",
        "vehicle-seconds of delay (crossings, and the waiting of vehicles still halting) per "
        "vehicle that entered",
        "s",
        higher_is_better=False,
    ),
    Metric("traffic.throughput", "completed trips per hour", "vehicles / h"),
    Metric(
        "traffic.mean_trip_time",
        "time from the first stop line to the last crossing, over completed trips",
        "s",
        higher_is_better=False,
    ),
)


def traffic_row(s: Mapping[str, Any], now: float) -> dict[str, Any]:
    """The `traffic` columns from the vehicles' ``summary()`` at time ``now`` (columns the
    simulator does not measure stay null)."""
    trips, crossings = s["exited"], s["crossings"]
    return {
        "entered": s["entered"],
        "exited": trips,
        "in_network": s["in_network"],
        "halting": s["halting"],
        "crossings": crossings,
        "total_delay": s["total_delay"],
        "delay_per_vehicle": s["total_delay"] / max(s["entered"], 1),
        "mean_stop_delay": s["crossing_delay"] / crossings if crossings else None,
        "mean_trip_delay": s["trip_delay"] / trips if trips and s["trip_delay"] else None,
        "mean_trip_time": s["trip_time"] / trips if trips else None,
        "throughput": 3600.0 * trips / now if now > 0 else 0.0,
    }
