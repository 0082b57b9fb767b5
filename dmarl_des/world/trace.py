"""The optional `trace` table: every agent slot's position, role and macro-action every Δt.

With ``record.trace_every = Δt > 0`` a world process samples the slots at ``k · Δt`` for
``k = 0, 1, …`` below the horizon, after the decisions of each instant (``AFTER_DECISIONS``, and
after world events of that place scheduled before it, e.g. a tick), so a sample shows the
macro-actions chosen at that instant. One row per slot: ``time``, ``agent_id`` (the slot's current
agent), ``role`` (``honest``, ``crashed`` while down, ``byzantine``, ``absent`` once its agent
left), ``x``/``y`` from ``agent_positions()`` (null for worlds without positions), ``action`` (the
running macro-action, -1 when none) and the columns of the world's ``trace_values()`` hook
(declared in its ``trace_columns``). Off (the default) it schedules nothing and adds no table.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import polars as pl
import simpy

from dmarl_des.errors import ConfigError
from dmarl_des.kernel import AFTER_DECISIONS, every
from dmarl_des.log.schema import TRACE
from dmarl_des.world.slots import Slots

MAX_ROWS = 20_000_000
"""Most `trace` rows of a run (episodes × agents × samples), about 6 GB while buffered."""


def trace_schema(world_columns: dict[str, pl.DataType]) -> dict[str, pl.DataType]:
    """The `trace` table's columns: the built-in ones, then the world's own."""
    clash = sorted(set(world_columns) & set(TRACE))
    if clash:
        raise ConfigError("trace_columns", clash, f"names other than {', '.join(TRACE)}")
    return {**TRACE, **world_columns}


class TraceSampler:
    """Samples the slots of a world into the `trace` table every ``trace_every``."""

    def __init__(self, world: Any, slots: Slots, every_dt: float) -> None:
        sc = world.scenario
        per_sample = (sc.episodes + sc.eval_episodes) * slots.n
        rows = per_sample * math.ceil(sc.horizon / every_dt)
        if rows > MAX_ROWS:
            least = sc.horizon / (MAX_ROWS // per_sample) if per_sample <= MAX_ROWS else math.inf
            raise ConfigError(
                "record.trace_every",
                every_dt,
                f"at least {least:g} here (or 0: off): the trace may hold {MAX_ROWS:,} rows, "
                f"episodes × agents × horizon / trace_every = {rows:,}",
            )
        self.world = world
        self.slots = slots
        self.every_dt = every_dt
        self.episode = 0
        world.recorder.declare("trace", trace_schema(dict(world.trace_columns)))

    def begin_episode(self, env: simpy.Environment, episode: int) -> None:
        self.episode = episode
        every(
            env,
            self.every_dt,
            self.sample,
            priority=AFTER_DECISIONS,
            first=0,
            until=self.world.scenario.horizon,
        )

    def sample(self) -> None:
        """Add one row per slot at the current time."""
        world = self.world
        slots = self.slots
        n = slots.n
        agents = world.sim_agents
        up = slots.up
        roles = [
            "absent"
            if a.role == "left"
            else "crashed"
            if not up[i]
            else "byzantine"
            if a.role == "byzantine"
            else "honest"
            for i, a in enumerate(agents)
        ]
        cols: dict[str, Any] = {
            "episode": np.full(n, self.episode, dtype=np.int64),
            "time": np.full(n, world.now),
            "agent_id": slots.agent_id,
            "role": roles,
            "action": slots.action,
        }
        pos = world.agent_positions()
        if pos is not None:
            pos = np.asarray(pos, dtype=np.float64)
            cols["x"] = pos[:, 0]
            cols["y"] = pos[:, 1]
        for name, values in world.trace_values().items():
            cols[name] = values
        world.recorder.extend("trace", cols)
