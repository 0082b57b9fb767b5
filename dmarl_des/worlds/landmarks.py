"""Landmarks: cooperative navigation (the MPE "spread" task) — N agents cover N landmarks, from 3 agents to thousands.

N agents and N landmarks are placed uniformly in a square whose side grows with the swarm
(``√(N / density)``: the same density at every size). The macro-action ``go_k`` flies to the
agent's k-th nearest landmark (of the ``n_targets`` nearest when it decides; k = 0 is the
nearest, its own when it sits on one) at ``speed``: it lasts distance / speed, at least
``min_duration`` (a *timed* world; agents live in arrays). Every ``tick`` the team earns
``tick × (covered − collision_penalty × collisions) / N``, where a landmark is covered when an
agent is within ``cover_radius`` of it and a collision is a pair of agents closer than
``collision_radius`` (as in the MPE task, a per-step penalty; two agents on one landmark
collide). ``team_return`` is thus the time-averaged covered fraction less collisions,
comparable across swarm sizes (at most ``horizon / tick`` ticks' worth, less the flight time).
With ``reward = own`` the same reward is split into private ones that add up to it: a covered
landmark's share goes to the nearest agent covering it, a colliding pair's cost half to each.

An agent observes, for each of its ``n_targets`` nearest landmarks, the offset to it (divided
by ``radio_range``) and whether another agent covers it now, as sensed within ``sense_radius``
(0 beyond). It does not observe where the other agents are going: that is what messages can
tell. The radio (``net.topology.kind = world``, the default) links agents within
``radio_range``, refreshed every ``radio_period``; at the default density an agent has about 7
neighbours. The scripted policy is greedy: fly to the nearest landmark nobody covers (the
nearest one when all seen are covered).
"""

from __future__ import annotations

import math
from typing import Literal

import numpy as np
from pydantic import Field
from scipy.spatial import cKDTree

from dmarl_des.bounds import Count, Period, Real
from dmarl_des.errors import ConfigError
from dmarl_des.kernel import URGENT
from dmarl_des.learn.masking import check_mask
from dmarl_des.net import ProximityTopology, Topology
from dmarl_des.scenario import Scenario, WorldParams
from dmarl_des.scenario.budget import check_duration
from dmarl_des.world import World


class LandmarksParams(WorldParams):
    """`world.*` keys of the landmarks world (lengths in area units, times in time units)."""

    name: Literal["landmarks"] = "landmarks"
    density: Real = Field(0.25, gt=0.0, description="landmarks (and agents) per unit area")
    n_targets: Count = Field(4, ge=1, le=64, description="nearest landmarks an agent can pick")
    speed: Real = Field(1.0, gt=0.0, description="agent speed")
    min_duration: Period = Field(0.5, gt=0.0, description="shortest move (staying put)")
    cover_radius: Real = Field(0.5, gt=0.0, description="an agent this close covers a landmark")
    collision_radius: Real = Field(0.3, ge=0.0, description="arrivals this close collide")
    collision_penalty: Real = Field(1.0, ge=0.0, description="cost of a colliding pair per tick")
    sense_radius: Real = Field(3.0, ge=0.0, description="coverage of landmarks sensed this far")
    radio_range: Real = Field(3.0, gt=0.0, description="radio range (topology `world`)")
    radio_period: Period = Field(0.5, gt=0.0, description="period of the radio graph refresh")
    tick: Period = Field(1.0, gt=0.0, description="period of the coverage reward")
    reward: Literal["team", "own"] = Field(
        "team", description="team: one team reward; own: the same split among the agents"
    )

    def check(self, scenario: Scenario) -> None:
        check_duration("world.min_duration", self.min_duration, self.min_duration, scenario.horizon)
        side = math.sqrt(scenario.n_agents / self.density)
        if side > 1e9:
            raise ConfigError("world.density", self.density, "a density giving a side <= 1e9")

    def bytes_per_agent(self, scenario: Scenario) -> float:
        return 8.0 * (12 + 3 * self.n_targets)

    def links_per_agent(self, scenario: Scenario) -> float:
        return self.density * math.pi * self.radio_range**2


class GreedyLandmarks:
    """Scripted: stay on a landmark nobody else covers; otherwise fly to the nearest landmark
    nobody covers (the nearest when all seen are covered). Two agents on one landmark see the
    same, so each leaves it with probability 1/2 (else both would leave together forever)."""

    def __init__(self, n_targets: int, cover: float, rng: np.random.Generator) -> None:
        self.k = int(n_targets)
        self.cover = float(cover)
        self.rng = rng

    def act(
        self, obs: np.ndarray, agent_idx: np.ndarray, mask: np.ndarray, *, explore: bool = True
    ) -> np.ndarray:
        mask = check_mask(mask, len(agent_idx), self.k)
        covered = obs[:, 2::3] > 0.5
        free = mask & ~covered
        choice = np.where(free.any(axis=1), free.argmax(axis=1), mask.argmax(axis=1))
        on_one = np.hypot(obs[:, 0], obs[:, 1]) <= self.cover
        stay = on_one & (~covered[:, 0] | (self.rng.random(len(choice)) < 0.5))
        return np.where(stay, 0, choice).astype(np.int64)

    def reset(self, agent_idx: np.ndarray | None = None) -> None:
        """Nothing to forget."""


class LandmarksWorld(World):
    """Agents spreading over landmarks (module docstring)."""

    Params = LandmarksParams
    params: LandmarksParams
    timed = True

    def setup(self) -> None:
        self.obs_dim = 3 * self.params.n_targets
        self.radio = ProximityTopology(self.params.radio_range)

    def macro_action_names(self) -> list[str]:
        return [f"go_{k}" for k in range(self.params.n_targets)]

    def reset_episode(self, episode: int) -> None:
        n = len(self.sim_agents)
        rng = self.streams.fresh("world", episode)
        self.side = math.sqrt(n / self.params.density)
        self.landmarks = rng.uniform(0.0, self.side, size=(n, 2))
        self.tree = cKDTree(self.landmarks)
        self.origin = rng.uniform(0.0, self.side, size=(n, 2))
        self.target = self.origin.copy()
        self.t_depart = np.zeros(n)
        self.t_arrive = np.zeros(n)
        self.choices = np.zeros((n, self.params.n_targets), dtype=np.int64)
        self.collisions = 0

    # ---------------------------------------------------------------- radio
    def build_topology(self, episode: int) -> Topology:
        if self.scenario.net.topology.kind != "world":
            return super().build_topology(episode)
        return self.radio.update(self.agent_positions(), present=self.up)

    def start_processes(self) -> None:
        if self.scenario.net.topology.kind == "world" and self.network is not None:
            self.every(self.params.radio_period, self._refresh_radio, priority=URGENT)
        self.every(self.params.tick, self._reward_coverage)

    def _refresh_radio(self) -> None:
        assert self.network is not None
        self.network.topology = self.radio.update(self.agent_positions(), present=self.up)

    # ---------------------------------------------------------------- positions
    def agent_positions(self) -> np.ndarray:
        travel = np.linalg.norm(self.target - self.origin, axis=1) / self.params.speed
        frac = np.clip((self.now - self.t_depart) / np.maximum(travel, 1e-12), 0.0, 1.0)
        return self.origin + (self.target - self.origin) * frac[:, None]

    def covered(self) -> np.ndarray:
        """[N] landmarks with an agent (up) within ``cover_radius`` now."""
        here = self.agent_positions()[self.up]
        if not here.size:
            return np.zeros(len(self.landmarks), dtype=bool)
        dist, _ = cKDTree(here).query(self.landmarks)
        return dist <= self.params.cover_radius

    def _reward_coverage(self) -> None:
        p = self.params
        n = len(self.landmarks)
        up = np.flatnonzero(self.up)
        pairs = np.zeros((0, 2), dtype=np.int64)
        if p.collision_radius > 0 and up.size > 1:
            here = self.agent_positions()[up]
            pairs = up[cKDTree(here).query_pairs(p.collision_radius, output_type="ndarray")]
        self.collisions += len(pairs)
        covered = self.covered()
        if p.reward == "team":
            score = float(covered.sum()) - p.collision_penalty * len(pairs)
            self.give_reward(p.tick * score / n)
            return
        own = np.zeros(len(self.sim_agents))
        if up.size:
            _, nearest = cKDTree(self.agent_positions()[up]).query(self.landmarks[covered])
            np.add.at(own, up[np.asarray(nearest, dtype=np.int64)], 1.0)
        np.add.at(own, pairs.ravel(), -0.5 * p.collision_penalty)
        for amount in np.unique(own[own != 0]).tolist():
            who = np.flatnonzero(own == amount)
            self.give_reward(p.tick * amount / n, agents=[self.sim_agents[i] for i in who])

    # ---------------------------------------------------------------- decisions
    def observe_many(self, idx: np.ndarray) -> np.ndarray:
        p = self.params
        k = min(p.n_targets, len(self.landmarks))
        pos = self.agent_positions()
        here = pos[idx]
        _, near = self.tree.query(here, k=k)
        near = np.asarray(near).reshape(len(idx), k)
        self.choices[idx, :k] = near
        offset = self.landmarks[near] - here[:, None, :]
        # coverage by another agent (up), sensed within sense_radius of the observer
        others = cKDTree(pos[self.up]) if self.up.any() else None
        obs = np.zeros((len(idx), p.n_targets, 3), dtype=np.float32)
        obs[:, :k, :2] = offset / p.radio_range
        if others is not None:
            counts = np.zeros(near.shape, dtype=np.int64)
            flat = self.landmarks[near].reshape(-1, 2)
            hits = others.query_ball_point(flat, p.cover_radius, return_length=True)
            counts[:] = np.asarray(hits).reshape(near.shape)
            mine = np.linalg.norm(offset, axis=2) <= p.cover_radius
            counts -= (mine & self.up[idx][:, None]).astype(np.int64)
            seen = np.linalg.norm(offset, axis=2) <= p.sense_radius
            obs[:, :k, 2] = ((counts > 0) & seen).astype(np.float32)
        return obs.reshape(len(idx), -1)

    def mask_many(self, idx: np.ndarray) -> np.ndarray:
        mask = np.zeros((len(idx), self.params.n_targets), dtype=bool)
        mask[:, : min(self.params.n_targets, len(self.landmarks))] = True
        return mask

    def begin_many(self, idx: np.ndarray, actions: np.ndarray) -> np.ndarray:
        now = self.now
        start = self.agent_positions()[idx]
        goal = self.landmarks[self.choices[idx, actions]]
        self.origin[idx] = start
        self.target[idx] = goal
        self.t_depart[idx] = now
        travel = np.linalg.norm(goal - start, axis=1) / self.params.speed
        self.t_arrive[idx] = now + travel
        return np.maximum(travel, self.params.min_duration)

    def _stop(self, i: int) -> None:
        self.origin[i] = self.target[i] = self.agent_positions()[i]
        self.t_depart[i] = self.t_arrive[i] = self.now

    def crash_agent(self, idx: int, reason: str = "crash") -> bool:
        stopped = super().crash_agent(idx, reason)
        if stopped:
            self._stop(idx)
        return stopped

    def scripted_policy(self) -> GreedyLandmarks:
        p = self.params
        return GreedyLandmarks(
            p.n_targets, p.cover_radius / p.radio_range, self.streams.stream("policy")
        )


WORLD = LandmarksWorld
