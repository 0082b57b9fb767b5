"""The scene of a running world: where its agents are now, their roles, the links up, its map."""

from __future__ import annotations

from typing import Any

import numpy as np

from dmarl_des.viz.scene import Scene, circle_layout, padded_extent
from dmarl_des.world.trace import slot_roles


def scene_of_world(world: Any, crashed: np.ndarray | None = None, title: str = "") -> Scene:
    """The world's agents as they are now (read between events; nothing is changed); the
    slots ``crashed`` are marked as having just crashed."""
    n = len(world.sim_agents)
    positions = world.agent_positions()
    world_map = world.world_map()
    if positions is None:
        positions = circle_layout(n)
        extent = padded_extent(positions, pad=0.12)
    else:
        positions = np.asarray(positions, dtype=np.float64).copy()
        extent = world_map.extent if world_map is not None else padded_extent(positions)
    links = np.zeros((0, 2), dtype=np.int64)
    if world.network is not None:
        src, dst = world.network.links_up()
        links = np.stack([src, dst], axis=1)
    ids = np.array([a.agent_id for a in world.sim_agents], dtype=np.int64)
    return Scene(
        time=world.now,
        positions=positions,
        roles=slot_roles(world.sim_agents, world.up),
        agent_ids=ids,
        links=links,
        extent=tuple(float(e) for e in extent),
        world_map=world_map,
        flashes=np.zeros((0, 2))
        if crashed is None
        else positions[np.asarray(crashed, dtype=np.int64)],
        title=title,
        episode=world.episode,
    )
