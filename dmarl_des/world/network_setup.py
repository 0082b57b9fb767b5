"""Turns the scenario's `net.*` section into a topology and link model for the network layer."""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from dmarl_des.errors import ConfigError
from dmarl_des.net import (
    Arq,
    Bandwidth,
    DelayModel,
    LinkModel,
    LossModel,
    Network,
    ProximityTopology,
    Topology,
    complete,
    grid,
    random_geometric,
    ring,
    scale_free,
    small_world,
)
from dmarl_des.scenario.net import NetSpec


def link_model(spec: NetSpec, *, round_period: float = 0.0) -> LinkModel:
    """The default link of a scenario (``round_period`` defines rounds for symmetric loss)."""
    loss = spec.loss
    delay = spec.delay
    return LinkModel(
        loss=LossModel(loss.model, loss.p, loss.r, loss.k, loss.h, loss.symmetric, round_period),
        delay=DelayModel(delay.model, delay.mean, delay.sigma, delay.speed, delay.jitter),
        bandwidth=Bandwidth(spec.bandwidth.capacity, spec.bandwidth.queue_limit),
        arq=Arq(spec.arq.max_tries, spec.arq.timeout),
    )


def _grid_shape(n: int) -> tuple[int, int]:
    rows = max(r for r in range(1, math.isqrt(n) + 1) if n % r == 0)
    return rows, n // rows


def static_topology(
    spec: NetSpec, n: int, rng: np.random.Generator, positions: np.ndarray | None = None
) -> Topology:
    """The graph named by ``net.topology.kind`` for ``n`` agents (``proximity`` needs positions)."""
    t = spec.topology
    if t.kind == "complete":
        return complete(n)
    if t.kind == "ring":
        return ring(n, t.k)
    if t.kind == "grid":
        return grid(*_grid_shape(n))
    if t.kind == "random_geometric":
        return random_geometric(n, t.radius, rng)
    if t.kind == "small_world":
        return small_world(n, 2 * t.k, t.p, rng)
    if t.kind == "scale_free":
        return scale_free(n, t.m, rng)
    if t.kind == "proximity":
        if positions is None:
            raise ConfigError("net.topology.kind", t.kind, "a static graph for this world")
        return ProximityTopology(t.radius).update(positions)
    raise ConfigError("net.topology.kind", t.kind, "a graph kind this world can use")


def episode_network(world: Any, episode: int, learning: bool = False) -> Network | None:
    """The network of one episode of ``world`` (None for a world without message kinds, unless
    ``learning``: a learner exchanges over it): its ``build_topology`` hook, the scenario's link
    model, the ``net`` stream of the episode, and delivery only to slots that are up."""
    if not world.message_kinds and not learning:
        return None
    spec = world.scenario.net
    up = world.up
    return Network(
        world.env,
        world.build_topology(episode),
        link_model(spec, round_period=world.round_period),
        world.streams.fresh("net", episode),
        resolution=spec.resolution,
        inbox_limit=spec.inbox_limit,
        kinds=dict(world.message_kinds),
        is_up=lambda dsts: up[dsts],
        positions=world.agent_positions if spec.delay.model == "distance" else None,
        trace=world.scenario.record.messages,
    )
