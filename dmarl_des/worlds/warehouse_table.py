"""The warehouse world's `warehouse` table (one row per episode) and the metrics reports quote."""

from __future__ import annotations

import polars as pl

from dmarl_des.log import EPISODE_METRICS, Metric, declare_metrics

WAREHOUSE_TABLE: dict[str, pl.DataType] = {
    "episode": pl.Int64,
    "deliveries": pl.Int64,
    "pickups": pl.Int64,
    "put_downs": pl.Int64,
    "moves": pl.Int64,
    "blocked_moves": pl.Int64,
    "interrupts": pl.Int64,
    "fetches_lost": pl.Int64,
    "ties": pl.Int64,
    "claims_heard": pl.Int64,
    "claims_ignored": pl.Int64,
}
"""One row per episode: what the fleet did (counts over the episode's steps)."""

WAREHOUSE_METRICS = declare_metrics(
    EPISODE_METRICS,
    Metric(
        "episodes.team_return",
        "the team's rewards and every robot's own: deliveries of requested shelves (reward = "
        "global or individual), half a point per delivery and per delivered shelf put back "
        "(two_stage)",
        "reward",
    ),
    Metric(
        "episodes.success",
        "share of episodes with at least one delivery per robot",
        "share of episodes",
        rate=True,
    ),
    Metric("warehouse.deliveries", "requested shelves brought to a goal", "shelves"),
    Metric(
        "warehouse.blocked_moves",
        "forward moves the step refused (a robot or, for a loaded robot, a shelf in the way)",
        "moves",
        higher_is_better=False,
    ),
    Metric(
        "warehouse.fetches_lost",
        "fetches ended because another robot picked the shelf up first",
        "fetches",
        higher_is_better=False,
    ),
)
