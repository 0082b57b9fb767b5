"""Foraging: robots find food, carry it to the nest and radio where food is (docs/writing_a_world.md).

N robots roam a square with a nest at its centre and ``n_sources`` food sources of ``units`` items
each (a source that runs out reappears, full, somewhere else). A robot moves in a
straight line at ``speed``, so a move lasts distance / speed (plus ``handling`` time): every
macro-action has a duration known when it starts, so this is a *timed* world (agents in arrays).

* ``explore_n/e/s/w`` — move ``step`` in a compass direction (stopping at the walls);
* ``fetch`` — go to the food source the robot knows of (allowed when it knows one and carries
  nothing); on arrival it takes one item if the source is still there;
* ``deliver`` — go to the nest (allowed when carrying); on arrival the team earns 1.

On every arrival a robot senses the sources within ``sense_radius`` and, when it knows of one,
radios its position to its neighbours (``net.topology.kind = world``: the robots within
``radio_range``, recomputed every ``radio_period``). A robot reads its inbox when it decides and
remembers the nearest source it has heard of — so lost messages and crashed robots cost
deliveries.
"""

from __future__ import annotations

from typing import ClassVar, Literal

import numpy as np
import polars as pl
from pydantic import Field

from dmarl_des.bounds import Count, Period, Real
from dmarl_des.kernel import URGENT
from dmarl_des.net import MessageKind, ProximityTopology, Topology
from dmarl_des.scenario import Scenario, WorldParams
from dmarl_des.world import World

COMPASS = np.array([[0.0, 1.0], [1.0, 0.0], [0.0, -1.0], [-1.0, 0.0]])
FETCH, DELIVER = 4, 5


class ForagingParams(WorldParams):
    """`world.*` keys of foraging (lengths in area units, times in time units). The bounded types
    (``dmarl_des.bounds``) refuse what a run could not finish: infinite lengths, periods too short
    for the horizon, counts no array holds."""

    name: Literal["foraging"] = "foraging"
    size: Real = Field(100.0, gt=0.0, description="side of the square area")
    n_sources: Count = Field(3, ge=1, le=10_000, description="food sources")
    units: Count = Field(40, ge=1, description="items of a source (an empty one reappears)")
    speed: Real = Field(5.0, gt=0.0, description="robot speed")
    step: Real = Field(15.0, gt=0.0, description="length of an exploring move")
    handling: Period = Field(0.5, gt=0.0, description="time added to every move (pick up, drop)")
    sense_radius: Real = Field(5.0, gt=0.0, description="a robot sees sources this close")
    radio_range: Real = Field(30.0, gt=0.0, description="radio range (topology `world`)")
    radio_period: Period = Field(1.0, gt=0.0, description="period of the radio graph refresh")


class ForagingWorld(World):
    """Robots that explore, fetch food and deliver it to the nest, sharing food sightings."""

    Params = ForagingParams
    params: ForagingParams
    timed = True
    obs_dim = 7
    message_kinds: ClassVar[dict[str, MessageKind]] = {
        "food": MessageKind("food", (2,), "float32", max_bytes=8)
    }
    trace_columns: ClassVar[dict[str, pl.DataType]] = {"carrying": pl.Boolean}

    # ---------------------------------------------------------------- episodes
    def setup(self) -> None:
        self.nest = np.full(2, self.params.size / 2)
        self.radio = ProximityTopology(self.params.radio_range)

    def macro_action_names(self) -> tuple[str, ...]:
        return ("explore_n", "explore_e", "explore_s", "explore_w", "fetch", "deliver")

    def reset_episode(self, episode: int) -> None:
        p, n = self.params, len(self.sim_agents)
        self.rng = self.streams.fresh("world", episode)
        self.food = self.rng.uniform(0.0, p.size, size=(p.n_sources, 2))
        self.stock = np.full(p.n_sources, p.units)
        self.origin = np.tile(self.nest, (n, 1))  # each move: from origin to target
        self.target = self.origin.copy()
        self.t_depart = np.zeros(n)
        self.t_arrive = np.zeros(n)
        self.known = np.full((n, 2), np.nan)  # the source a robot knows of (NaN: none)
        self.carrying = np.zeros(n, dtype=bool)
        self.doing = np.zeros(n, dtype=np.int64)
        self.delivered = 0

    def build_topology(self, episode: int) -> Topology:
        if self.scenario.net.topology.kind != "world":
            return super().build_topology(episode)
        return self.radio.update(self.agent_positions(), present=self.up)

    def start_processes(self) -> None:
        if self.scenario.net.topology.kind == "world":  # first thing at its instants
            self.every(self.params.radio_period, self._refresh_radio, priority=URGENT)

    def _refresh_radio(self) -> None:
        assert self.network is not None
        self.network.topology = self.radio.update(self.agent_positions(), present=self.up)

    def success(self) -> bool:
        return self.delivered >= len(self.sim_agents)

    # ---------------------------------------------------------------- positions
    def agent_positions(self) -> np.ndarray:
        span = np.maximum(self.t_arrive - self.t_depart, 1e-12)
        frac = np.clip((self.now - self.t_depart) / span, 0.0, 1.0)
        return self.origin + (self.target - self.origin) * frac[:, None]

    def _stop(self, i: int) -> None:
        """Robot i stays where it is now (crash, leave)."""
        self.origin[i] = self.target[i] = self.agent_positions()[i]
        self.t_depart[i] = self.t_arrive[i] = self.now

    def crash_agent(self, idx: int, reason: str = "crash") -> bool:
        stopped = super().crash_agent(idx, reason)
        if stopped:
            self._stop(idx)
        return stopped

    def leave_agent(self, idx: int) -> bool:
        left = super().leave_agent(idx)
        if left:
            self._stop(idx)
        return left

    def reset_agent_state(self, agent) -> None:
        """A recovered (or newly joined) robot forgets the food it knew and drops its load."""
        self.known[agent.idx] = np.nan
        self.carrying[agent.idx] = False

    # ---------------------------------------------------------------- decisions
    def observe_many(self, idx: np.ndarray) -> np.ndarray:
        self._read_radio(idx)
        size = self.params.size
        pos = self.target[idx]  # deciding robots have arrived
        knows = ~np.isnan(self.known[idx, 0])
        obs = np.zeros((len(idx), self.obs_dim), dtype=np.float32)
        obs[:, 0:2] = pos / size
        obs[:, 2] = self.carrying[idx]
        obs[:, 3] = knows
        obs[:, 4:6] = np.where(knows[:, None], self.known[idx] - pos, 0.0) / size
        obs[:, 6] = np.linalg.norm(self.nest - pos, axis=1) / size
        return obs

    def mask_many(self, idx: np.ndarray) -> np.ndarray:
        mask = np.ones((len(idx), 6), dtype=bool)
        mask[:, FETCH] = ~np.isnan(self.known[idx, 0]) & ~self.carrying[idx]
        mask[:, DELIVER] = self.carrying[idx]
        return mask

    def _read_radio(self, idx: np.ndarray) -> None:
        """Remember, for each robot, the nearest of the food positions it has heard of."""
        if self.network is None:
            return
        got = self.network.drain_many(idx)
        for i, heard in zip(got.receiver.tolist(), got.payloads.astype(float), strict=True):
            here, known = self.target[i], self.known[i]
            if np.isnan(known[0]) or np.linalg.norm(heard - here) < np.linalg.norm(known - here):
                self.known[i] = heard

    # ---------------------------------------------------------------- macro-actions
    def begin_many(self, idx: np.ndarray, actions: np.ndarray) -> np.ndarray:
        """Moves start: from where each robot is, to its destination; duration = distance/speed."""
        p = self.params
        start = self.target[idx]
        explore = start + COMPASS[actions % 4] * p.step
        goal = np.where((actions == FETCH)[:, None], self.known[idx], self.nest)
        dest = np.where((actions < FETCH)[:, None], np.clip(explore, 0.0, p.size), goal)
        duration = np.linalg.norm(dest - start, axis=1) / p.speed + p.handling
        self.origin[idx], self.target[idx] = start, dest
        self.t_depart[idx], self.t_arrive[idx] = self.now, self.now + duration
        self.doing[idx] = actions
        return duration

    def end_many(self, idx: np.ndarray) -> None:
        """Arrivals (in this order): deliver, pick up, sense; then one batched radio broadcast."""
        p = self.params
        for i, action in zip(idx.tolist(), self.doing[idx].tolist(), strict=True):
            here = self.target[i]
            if action == DELIVER and self.carrying[i]:
                self.carrying[i] = False
                self.delivered += 1
                self.give_reward(1.0)  # belongs to this delivery (given as it ends)
            elif action == FETCH:
                self.known[i] = np.nan
                near = np.flatnonzero(np.linalg.norm(self.food - here, axis=1) < 1e-3)
                if len(near):  # the source is still there: take one item
                    s = near[0]
                    self.carrying[i] = True
                    self.stock[s] -= 1
                    if self.stock[s] == 0:  # empty: it reappears, full, elsewhere
                        self.food[s] = self.rng.uniform(0.0, p.size, size=2)
                        self.stock[s] = p.units
            dist = np.linalg.norm(self.food - here, axis=1)
            if dist.min() <= p.sense_radius:
                self.known[i] = self.food[dist.argmin()]
        tellers = idx[~np.isnan(self.known[idx, 0])]
        if self.network is not None and len(tellers):
            self.network.broadcast_many(tellers, "food", self.known[tellers].astype(np.float32))

    # ---------------------------------------------------------------- faults, trace, policy
    def adversarial_actions(self, agent_idx: np.ndarray, mask: np.ndarray) -> np.ndarray:
        """Byzantine robots wander north and never deliver."""
        return np.zeros(len(agent_idx), dtype=np.int64)

    def trace_values(self) -> dict[str, np.ndarray]:
        return {"carrying": self.carrying}

    def scripted_policy(self) -> Forager:
        return Forager(self.streams.stream("policy"))


class Forager:
    """The scripted policy: deliver when carrying, else fetch known food, else explore at random."""

    def __init__(self, rng: np.random.Generator) -> None:
        self.rng = rng

    def act(self, obs, agent_idx, mask, *, explore=True) -> np.ndarray:
        wander = self.rng.integers(0, 4, size=len(agent_idx))
        return np.where(mask[:, DELIVER], DELIVER, np.where(mask[:, FETCH], FETCH, wander))

    def reset(self, agent_idx=None) -> None:
        """Stateless."""


WORLD = ForagingWorld


def scenario(**overrides) -> Scenario:
    """30 robots, 100 time units, a 0.1 control tick, scripted policy, radio by proximity."""
    base = Scenario.build(
        name="foraging",
        world=ForagingParams(),
        n_agents=30,
        horizon=100.0,
        decision_period=0.1,
        gamma=0.99,
        policy="scripted",
        net={"resolution": 0.1},
        seed=0,
    )
    return base.with_overrides(overrides)


def study():
    """Crash fraction × radio loss × 3 seeds: how deliveries degrade."""
    from dmarl_des.study import Study

    return Study(
        __file__,
        grid={"faults.crash.fraction": [0.0, 0.3, 0.6], "net.loss.p": [0.0, 0.5, 0.9]},
        seeds=3,
    )
