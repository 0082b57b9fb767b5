"""Channels: agents pick radio channels; a neighbour on the same channel interferes (a many-agent coordination game).

N agents on the scenario's graph (``net.topology``; kind ``world``, the default: a ring with
``net.topology.k`` neighbours on each side) each transmit on one of ``n_channels`` channels.
The macro-action ``channel_k`` transmits on channel k for a duration drawn uniformly in
``[duration_min, duration_max]`` (known when it starts: a *timed* world; the spread makes
decisions asynchronous). Every ``tick`` (place ``AFTER_DECISIONS``, so it sees the channels
chosen at that instant) each agent whose channel no neighbour shares earns its own reward
``tick``: the clean transmission time of the window it begins (the reward belongs to the
macro-actions running from then on). ``team_return`` is the agents' total clean time; the best
possible is ``N · horizon`` (a proper colouring, which exists when ``n_channels`` exceeds the
largest degree, by one more with ``hop``).

With ``hop`` (the default) radios hop: a transmission may not stay on the channel of the one
before it (the initiation set masks it), so every decision needs a free channel again — the
gap between knowing and guessing the neighbours' channels lasts the whole episode. Without
``hop`` a clean channel may be kept (plain graph colouring, which random recolouring solves).

An agent observes only its own channel (one-hot; zeros before its first) and the interference
on it — the fraction of its neighbours on the same channel (carrier sensing). Which channels are
free is *not* observed: an agent learns it from its neighbours' announcements (mean-field
learners) or learned messages (graph-attention policies), or guesses. This is the anti-
ferromagnetic Ising model of the mean-field paper with K states, on any graph: independent
learners with shared parameters cannot break the symmetry between agents that observe the same.

The scripted policy is the classic distributed random recolouring: keep a clean channel (when
allowed), move to a uniformly random other one when interfered with.
"""

from __future__ import annotations

from typing import Literal

import numpy as np
from pydantic import Field

from dmarl_des.bounds import Count, Period, Real
from dmarl_des.errors import ConfigError
from dmarl_des.kernel import AFTER_DECISIONS
from dmarl_des.learn.masking import check_mask
from dmarl_des.net import Topology, ring
from dmarl_des.scenario import Scenario, WorldParams
from dmarl_des.scenario.budget import check_duration
from dmarl_des.world import World
from dmarl_des.world.network_setup import static_topology


class ChannelsParams(WorldParams):
    """`world.*` keys of the channels world (times in time units)."""

    name: Literal["channels"] = "channels"
    n_channels: Count = Field(3, ge=2, le=1024, description="channels to choose from")
    duration_min: Real = Field(1.0, gt=0.0, description="shortest transmission (macro-action)")
    duration_max: Real = Field(2.0, gt=0.0, description="longest transmission (macro-action)")
    tick: Period = Field(0.5, gt=0.0, description="period of the interference check and reward")
    hop: bool = Field(True, description="a transmission may not stay on the previous channel")

    def check(self, scenario: Scenario) -> None:
        if self.hop and self.n_channels < 2:
            raise ConfigError("world.n_channels", self.n_channels, ">= 2 when radios hop")
        if self.duration_max < self.duration_min:
            raise ConfigError(
                "world.duration_max", self.duration_max, f">= duration_min ({self.duration_min})"
            )
        kind = scenario.net.topology.kind
        if kind == "proximity":
            raise ConfigError("net.topology.kind", kind, "a static graph (agents have no place)")
        check_duration("world.duration_min", self.duration_min, self.duration_min, scenario.horizon)

    def bytes_per_agent(self, scenario: Scenario) -> float:
        return 8.0 * (self.n_channels + 8)


class RandomRecolouring:
    """Scripted: keep a clean channel; when interfered with (or before the first), pick a
    uniformly random channel other than the current one."""

    def __init__(self, n_channels: int, rng: np.random.Generator) -> None:
        self.k = int(n_channels)
        self.rng = rng

    def act(
        self, obs: np.ndarray, agent_idx: np.ndarray, mask: np.ndarray, *, explore: bool = True
    ) -> np.ndarray:
        mask = check_mask(mask, len(agent_idx), self.k)
        current = np.where(obs[:, : self.k].any(axis=1), obs[:, : self.k].argmax(axis=1), -1)
        move = (current < 0) | (obs[:, self.k] > 0)
        stay_allowed = mask[np.arange(len(current)), np.maximum(current, 0)]
        move |= ~stay_allowed
        scores = self.rng.random(mask.shape)
        scores[np.arange(len(current)), np.maximum(current, 0)] -= np.where(current >= 0, 2.0, 0.0)
        scores[~mask] = -np.inf
        return np.where(move, scores.argmax(axis=1), np.maximum(current, 0)).astype(np.int64)

    def reset(self, agent_idx: np.ndarray | None = None) -> None:
        """Nothing to forget."""


class ChannelsWorld(World):
    """Agents choosing interference-free radio channels (module docstring)."""

    Params = ChannelsParams
    params: ChannelsParams
    timed = True

    def setup(self) -> None:
        self.obs_dim = self.params.n_channels + 1

    def macro_action_names(self) -> list[str]:
        return [f"channel_{k}" for k in range(self.params.n_channels)]

    def reset_episode(self, episode: int) -> None:
        n = len(self.sim_agents)
        self.rng = self.streams.fresh("world", episode)
        spec = self.scenario.net
        if spec.topology.kind == "world":
            self.graph = ring(n, spec.topology.k)
        else:
            self.graph = static_topology(spec, n, self.streams.fresh("topology", episode), None)
        self.rows = np.repeat(np.arange(n), np.diff(self.graph.indptr))
        self.channel = np.full(n, -1, dtype=np.int64)

    def build_topology(self, episode: int) -> Topology:
        return self.graph

    def start_processes(self) -> None:
        self.every(self.params.tick, self._tick, priority=AFTER_DECISIONS)

    def interference(self) -> np.ndarray:
        """[N] fraction of each agent's (up) neighbours on its channel now."""
        g = self.graph
        cols = g.indices
        on = self.channel >= 0
        same = (self.channel[self.rows] == self.channel[cols]) & on[self.rows] & self.up[cols]
        hits = np.bincount(self.rows, weights=same, minlength=g.n)
        return hits / np.maximum(np.diff(g.indptr), 1)

    def _tick(self) -> None:
        clean = np.flatnonzero(self.up & (self.channel >= 0) & (self.interference() == 0))
        if clean.size:
            self.give_reward(self.params.tick, agents=[self.sim_agents[i] for i in clean])

    def observe_many(self, idx: np.ndarray) -> np.ndarray:
        k = self.params.n_channels
        obs = np.zeros((len(idx), k + 1), dtype=np.float32)
        ch = self.channel[idx]
        on = np.flatnonzero(ch >= 0)
        obs[on, ch[on]] = 1.0
        obs[:, k] = self.interference()[idx]
        return obs

    def mask_many(self, idx: np.ndarray) -> np.ndarray:
        mask = np.ones((len(idx), self.params.n_channels), dtype=bool)
        if self.params.hop:
            ch = self.channel[idx]
            on = np.flatnonzero(ch >= 0)
            mask[on, ch[on]] = False
        return mask

    def begin_many(self, idx: np.ndarray, actions: np.ndarray) -> np.ndarray:
        p = self.params
        self.channel[idx] = actions
        return self.rng.uniform(p.duration_min, p.duration_max, size=len(idx))

    def crash_agent(self, idx: int, reason: str = "crash") -> bool:
        done = super().crash_agent(idx, reason)
        if done:
            self.channel[idx] = -1  # a crashed radio transmits nothing
        return done

    def scripted_policy(self) -> RandomRecolouring:
        return RandomRecolouring(self.params.n_channels, self.streams.stream("policy"))


WORLD = ChannelsWorld
