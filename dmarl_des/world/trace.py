"""The optional `trace` table: every agent slot's position, role and macro-action every Δt.

With ``record.trace_every = Δt > 0`` a world process samples the slots at ``k · Δt`` for
``k = 0, 1, …`` below the horizon, after the decisions of each instant (``AFTER_DECISIONS``, and
after world events of that place scheduled before it, e.g. a tick), so a sample shows the
macro-actions chosen at that instant. One row per slot: ``time``, ``agent_id`` (the slot's current
agent), ``role`` (``honest``, ``crashed`` while down, ``byzantine``, ``absent`` once its agent
left), ``x``/``y`` from ``agent_positions()`` (null for worlds without positions), ``action`` (the
running macro-action, -1 when none), for worlds whose agents talk ``links`` (the agent ids the
slot's agent can reach now over a link that is up: both ends up, not cut, not across a
partition) and the columns of the world's ``trace_values()`` hook (declared in its
``trace_columns``). A world with a map (``world_map()``) adds one row to the `trace_map` table
per sample. Off (the default) it schedules nothing and adds no table.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np
import polars as pl
import simpy

from dmarl_des.agent import SimAgent
from dmarl_des.errors import ConfigError
from dmarl_des.kernel import AFTER_DECISIONS, every
from dmarl_des.log.schema import TRACE, TRACE_MAP
from dmarl_des.world.hooks import WorldHooks
from dmarl_des.world.slots import Slots

MAX_ROWS = 20_000_000
"""Most `trace` rows of a run (episodes × agents × samples), about 6 GB while buffered."""


LINKS = {"links": pl.List(pl.Int64)}
"""The column of worlds whose agents talk: agent ids reachable over links up."""


def trace_schema(
    world_columns: dict[str, pl.DataType], links: bool = False
) -> dict[str, pl.DataType]:
    """The `trace` table's columns: the built-in ones (with ``links``), then the world's own."""
    builtin = {**TRACE, **LINKS} if links else TRACE
    clash = sorted(set(world_columns) & set(builtin))
    if clash:
        raise ConfigError("trace_columns", clash, f"names other than {', '.join(builtin)}")
    return {**builtin, **world_columns}


def slot_roles(agents: Sequence[SimAgent], up: np.ndarray) -> list[str]:
    """Each slot's role now: ``absent`` once its agent left, ``crashed`` while down,
    ``byzantine``, or ``honest``."""
    return [
        "absent"
        if a.role == "left"
        else "crashed"
        if not up[i]
        else "byzantine"
        if a.role == "byzantine"
        else "honest"
        for i, a in enumerate(agents)
    ]


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
        self.links = bool(world.message_kinds)
        world.recorder.declare("trace", trace_schema(dict(world.trace_columns), self.links))
        self.maps = type(world).world_map is not WorldHooks.world_map
        if self.maps:
            world.recorder.declare("trace_map", TRACE_MAP)

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
        roles = slot_roles(world.sim_agents, slots.up)
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
        if self.links:
            cols["links"] = self._links()
        for name, values in world.trace_values().items():
            cols[name] = values
        world.recorder.extend("trace", cols)
        if self.maps:
            self._map()

    def _links(self) -> list[list[int] | None]:
        """Per slot, the agent ids its agent reaches over links up now."""
        net = self.world.network
        n = self.slots.n
        if net is None:
            return [None] * n
        src, dst = net.links_up()
        ids = self.slots.agent_id[dst].tolist()
        ends = np.cumsum(np.bincount(src, minlength=n)).tolist()
        return [ids[a:b] for a, b in zip([0, *ends[:-1]], ends, strict=True)]

    def _map(self) -> None:
        world = self.world
        found = world.world_map()
        if found is None:
            return
        x0, y0, x1, y1 = (float(e) for e in found.extent)
        height, width = found.values.shape
        world.recorder.add(
            "trace_map",
            episode=self.episode,
            time=world.now,
            x0=x0,
            y0=y0,
            x1=x1,
            y1=y1,
            height=height,
            width=width,
            label=found.label,
            values=np.ascontiguousarray(found.values).tobytes(),
        )
