"""Builders shared by the network tests (topologies, kinds, networks, the accounting check)."""

from __future__ import annotations

import numpy as np
import simpy

from dmarl_des.net import LinkModel, MessageKind, Network, Topology

VEC = MessageKind("vec", (3,), "float32", 64)
KINDS = {"vec": VEC, "any": MessageKind("any", None, "float64", 4096)}


def star(n_leaves: int) -> Topology:
    """Agent 0 sends to agents 1..n_leaves (directed)."""
    return Topology.from_edges(n_leaves + 1, np.zeros(n_leaves), np.arange(1, n_leaves + 1))


def payload() -> np.ndarray:
    return np.ones(3, dtype=np.float32)


def make_network(topology: Topology, link: LinkModel | None = None, seed: int = 0, **kw):
    env = kw.pop("env", None) or simpy.Environment()
    kw.setdefault("kinds", KINDS)
    kw.setdefault("trace", True)
    net = Network(env, topology, link or LinkModel(), np.random.default_rng(seed), **kw)
    return env, net


def check_invariant(stats: dict) -> None:
    fates = (
        "delivered",
        "dropped_loss",
        "dropped_crash",
        "dropped_overflow",
        "dropped_inbox",
        "dropped_cut",
        "dropped_pending",
        "rejected_invalid",
        "in_flight",
    )
    assert stats["sent"] == sum(stats[k] for k in fates), stats


def advance(env, t: float) -> None:
    """Run the simulation up to time ``t`` (events at ``t`` itself not yet processed)."""
    if t > env.now:
        env.run(until=t)
