"""Swarm: a minimal messaging swarm with timed macro-actions, the world the performance suite measures.

Each agent holds a small state vector. A macro-action lasts a duration known when it starts (its
index and the agent's speed set it; ``lockstep`` makes every duration equal, so all agents decide
together). When it ends the agent's state drifts, it broadcasts its state to its neighbours
(default: a ring with 4 neighbours on each side) and the team earns 1 — given in ``end_many``, so
it belongs to the ending macro-actions (and every other one running up to then). An observation is the
agent's state, the mean of the states it received since its last decision, and a fixed random
projection of both (``obs_size`` features in all). The semantics are simple on purpose, so that a
hand-written simulation of the same world can be compared with it (``benchmarks/``).
"""

from __future__ import annotations

from typing import ClassVar, Literal

import numpy as np
from pydantic import Field

from dmarl_des.bounds import Count, Real
from dmarl_des.errors import ConfigError
from dmarl_des.net import MessageKind, Topology, ring
from dmarl_des.scenario import Scenario, WorldParams
from dmarl_des.scenario.budget import check_duration, links_per_agent
from dmarl_des.world import World

STATE_SIZE = 4


class SwarmParams(WorldParams):
    """`world.*` keys of the swarm."""

    name: Literal["swarm"] = "swarm"
    obs_size: int = Field(32, ge=2 * STATE_SIZE, le=2**16)
    n_macro: int = Field(8, ge=1, le=4096)
    base_duration: Real = Field(1.0, gt=0.0)
    spread: float = Field(0.5, ge=0.0, lt=2.0)
    lockstep: bool = False
    ring_k: Count = Field(
        4, ge=1, description="neighbours on each side when net.topology.kind=world"
    )

    def bytes_per_agent(self, scenario: Scenario) -> float:
        # state, received sums and observations (float32), one state message per link
        return 8.0 * self.obs_size + 64.0 * links_per_agent(scenario)

    def links_per_agent(self, scenario: Scenario) -> float:
        return 2.0 * self.ring_k  # kind world: a ring (building it allocates 2·k per agent)

    def check(self, scenario: Scenario) -> None:
        on_positions = scenario.net.position_fields()
        if on_positions:
            field, value = next(iter(on_positions.items()))
            raise ConfigError(field, value, "a setting that needs no positions (agents have none)")
        # the shortest macro-action: the fastest agent (speed factor 0.8) doing the shortest one
        shortest = self.base_duration * (1.0 if self.lockstep else 0.8 * (1.0 - self.spread / 2))
        check_duration("world.base_duration", self.base_duration, shortest, scenario.horizon)


class SwarmWorld(World):
    """Agents that act for known durations and gossip their state when each macro-action ends."""

    Params = SwarmParams
    timed = True
    local = True  # agents meet only through messages: continuous time runs in windows
    message_kinds: ClassVar[dict[str, MessageKind]] = {
        "state": MessageKind("state", (STATE_SIZE,), "float32", 64)
    }

    def setup(self) -> None:
        self.obs_dim = self.params.obs_size
        self.state_dim = STATE_SIZE

    def macro_action_names(self) -> list[str]:
        return [f"act_{a}" for a in range(self.params.n_macro)]

    def build_topology(self, episode: int) -> Topology:
        if self.scenario.net.topology.kind == "world":
            return ring(len(self.sim_agents), self.params.ring_k)
        return super().build_topology(episode)

    def reset_episode(self, episode: int) -> None:
        n = len(self.sim_agents)
        rng = self.streams.fresh("world", episode)
        self.state = rng.normal(size=(n, STATE_SIZE)).astype(np.float32)
        self.speed = rng.uniform(0.8, 1.2, size=n)
        width = self.params.obs_size - 2 * STATE_SIZE
        self.projection = (rng.normal(size=(2 * STATE_SIZE, width)) / np.sqrt(8)).astype(np.float32)
        self.drift = rng.normal(scale=0.1, size=(self.params.n_macro, STATE_SIZE)).astype(
            np.float32
        )
        self.last_action = np.zeros(n, dtype=np.int64)

    def observe_many(self, idx: np.ndarray) -> np.ndarray:
        received = np.zeros((len(idx), STATE_SIZE), dtype=np.float32)
        if self.network is not None:
            receivers, _src, _t, payloads = self.network.drain_many(idx)
            if len(receivers) and len(idx) == 1:  # one receiver: its rows are all the rows
                count = np.array([len(receivers)], dtype=np.float32)
                sums = np.add.reduceat(payloads, np.zeros(1, dtype=np.int64), axis=0)
                received[0] = sums[0] / count
            elif len(receivers):
                # drained inbox after inbox in the order of idx: each receiver's rows are a run
                row_of = np.empty(len(self.sim_agents), dtype=np.int64)
                row_of[idx] = np.arange(len(idx))
                counts = np.bincount(row_of[receivers], minlength=len(idx))
                got = counts.nonzero()[0]
                starts = (counts.cumsum() - counts)[got]
                sums = np.add.reduceat(payloads, starts, axis=0)
                received[got] = sums / counts[got, None].astype(np.float32)
        features = np.concatenate([self.state[idx], received], axis=1)
        return np.concatenate([features, np.tanh(features @ self.projection)], axis=1)

    def shortest_duration(self) -> float:
        p = self.params
        return p.base_duration * (1.0 if p.lockstep else 0.8 * (1.0 - p.spread / 2))

    def begin_many(self, idx: np.ndarray, actions: np.ndarray) -> np.ndarray:
        self.last_action[idx] = actions
        p = self.params
        if p.lockstep:
            return np.full(len(idx), p.base_duration)
        frac = actions / max(p.n_macro - 1, 1) - 0.5
        return p.base_duration * (1.0 + p.spread * frac) * self.speed[idx]

    def end_many(self, idx: np.ndarray) -> None:
        """The ending macro-actions drift their agents' states, broadcast them and earn 1 each."""
        self.state[idx] += self.drift[self.last_action[idx]]
        if self.network is not None:
            self.network.broadcast_many(idx, "state", self.state[idx])
        self.reward_ends(idx)

    def global_state(self) -> np.ndarray:
        return self.state.mean(axis=0)


WORLD = SwarmWorld
