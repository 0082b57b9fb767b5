"""Mutual aid: agents on a ring either work for themselves or help their neighbours in need.

A small networked game with **private rewards** where cooperation has to be learned (docs page:
docs/world_mutual_aid.md). ``N`` agents sit on a ring; agent ``i``'s neighbours are the ``k``
nearest on each side. At every step (a macro-action of duration ``step``; all agents decide
together) each agent is *in need* with probability ``p``, independently and afresh, and sees its
own need and its neighbours'. It chooses:

* ``work``: it earns ``c = work_reward`` (its private reward);
* ``help``: each of its neighbours in need earns ``b = help_reward`` (their private rewards).

Rewards are given as the step ends (they belong to the macro-actions of that step); then the
needs of the next step are drawn. Working is what each agent's own reward favours whatever the
others do, so independent learners that maximise their own reward learn to work; the team
(sum of every agent's reward) gains ``b · K_i − c`` when agent ``i`` helps with ``K_i`` neighbours
in need, so the **team optimum** is for each agent to help exactly when ``b · K_i > c`` — a
decentralized rule over the agent's own observation — and the team-average reward per step is
then ``E[max(c, b · K)]`` with ``K ~ Binomial(2k, p)`` (``team_optimum``; 1.75 with the defaults,
against 1.0 for all working and 1.25 for a fair coin). The scripted policy is that rule.

``reward_scope = team`` gives every reward to the team instead (each agent's transition then
carries the whole team's reward); the episode's ``team_return`` is the same either way.
The global state (for centralized or networked critics) is the need of every agent.
"""

from __future__ import annotations

import math
from typing import Literal

import numpy as np
from pydantic import Field

from dmarl_des.bounds import Count, Period, Real
from dmarl_des.errors import ConfigError
from dmarl_des.net import Topology, ring
from dmarl_des.scenario import Scenario, WorldParams
from dmarl_des.scenario.budget import check_duration
from dmarl_des.world import World

WORK, HELP = 0, 1


class MutualAidParams(WorldParams):
    """`world.*` keys of mutual aid."""

    name: Literal["mutual_aid"] = "mutual_aid"
    work_reward: Real = Field(1.0, gt=0.0, description="c: what working earns the worker")
    help_reward: Real = Field(1.5, gt=0.0, description="b: what helping earns each needy neighbour")
    need_p: float = Field(
        0.5, ge=0.0, le=1.0, description="probability of need, per agent and step"
    )
    ring_k: Count = Field(1, ge=1, description="neighbours on each side of the ring")
    step: Period = Field(1.0, gt=0.0, description="duration of a macro-action (one step)")
    reward_scope: Literal["private", "team"] = Field(
        "private", description="rewards to the agents who earn them, or to the team"
    )

    def links_per_agent(self, scenario: Scenario) -> float:
        return 2.0 * self.ring_k

    def bytes_per_agent(self, scenario: Scenario) -> float:
        return 64.0 + 16.0 * self.ring_k

    def check(self, scenario: Scenario) -> None:
        if 2 * self.ring_k >= scenario.n_agents:
            raise ConfigError(
                "world.ring_k", self.ring_k, f"2k < n_agents ({scenario.n_agents}) neighbours"
            )
        check_duration("world.step", self.step, self.step, scenario.horizon)


def team_optimum(params: MutualAidParams) -> float:
    """The team-average reward per step of the team-optimal policy: E[max(c, b·K)],
    K ~ Binomial(2k, p) the number of neighbours in need."""
    m, p = 2 * params.ring_k, params.need_p
    c, b = params.work_reward, params.help_reward
    return sum(math.comb(m, k) * p**k * (1 - p) ** (m - k) * max(c, b * k) for k in range(m + 1))


class AidRule:
    """The team-optimal scripted policy: help exactly when ``b · K > c`` (K: needy neighbours)."""

    def __init__(self, params: MutualAidParams) -> None:
        self.params = params

    def act(self, obs: np.ndarray, agent_idx: np.ndarray, mask: np.ndarray, *, explore=True):
        needy = np.asarray(obs)[:, 1:].sum(axis=1)
        helping = self.params.help_reward * needy > self.params.work_reward
        return np.where(helping, HELP, WORK).astype(np.int64)

    def reset(self, agent_idx: np.ndarray | None = None) -> None:
        """Memoryless."""


class MutualAidWorld(World):
    """Agents on a ring who work for themselves or help their neighbours in need."""

    Params = MutualAidParams
    timed = True
    params: MutualAidParams

    def setup(self) -> None:
        n, k = self.scenario.n_agents, self.params.ring_k
        self.add_agents(n)
        self.obs_dim = 1 + 2 * k
        self.state_dim = n
        offsets = np.array([*range(-k, 0), *range(1, k + 1)])
        self.neighbours = (np.arange(n)[:, None] + offsets[None, :]) % n
        """[N, 2k] each agent's ring neighbours (left ones, then right ones)."""
        self.need = np.zeros(n, dtype=bool)
        self.doing = np.zeros(n, dtype=np.int64)

    def macro_action_names(self) -> tuple[str, ...]:
        return ("work", "help")

    def build_topology(self, episode: int) -> Topology:
        """Who hears whom: the ring itself (``net.topology.kind = world``) or the scenario's."""
        if self.scenario.net.topology.kind == "world":
            return ring(len(self.sim_agents), self.params.ring_k)
        return super().build_topology(episode)

    def reset_episode(self, episode: int) -> None:
        self.rng = self.streams.fresh("world", episode)
        self._draw_needs()
        self.doing[:] = WORK

    def _draw_needs(self) -> None:
        self.need = self.rng.random(len(self.need)) < self.params.need_p
        self._drawn_at = self.now

    # ------------------------------------------------------------------ decisions
    def observe_many(self, idx: np.ndarray) -> np.ndarray:
        own = self.need[idx, None]
        return np.concatenate([own, self.need[self.neighbours[idx]]], axis=1).astype(np.float32)

    def global_state(self) -> np.ndarray:
        return self.need.astype(np.float32)

    def scripted_policy(self) -> AidRule:
        return AidRule(self.params)

    def begin_many(self, idx: np.ndarray, actions: np.ndarray) -> np.ndarray:
        """The steps starting now pay at once (workers earn c; each helper pays b to each
        neighbour in need that is up): rewards of the macro-actions starting now."""
        self.doing[idx] = actions
        self._pay(idx)
        return np.full(len(idx), self.params.step)

    def end_many(self, idx: np.ndarray) -> None:
        """The steps ending now: the next step's needs are drawn (once per instant)."""
        if self._drawn_at != self.now:
            self._draw_needs()

    def _pay(self, idx: np.ndarray) -> None:
        p = self.params
        workers = idx[self.doing[idx] == WORK]
        helpers = idx[self.doing[idx] == HELP]
        helped = self.neighbours[helpers].ravel()
        helped = helped[self.need[helped] & self.up[helped]]
        times_helped = np.bincount(helped, minlength=len(self.need))
        if p.reward_scope == "team":
            total = p.work_reward * len(workers) + p.help_reward * len(helped)
            if total:
                self.give_reward(total)
        else:
            if len(workers):
                self.give_reward(p.work_reward, agents=[self.sim_agents[i] for i in workers])
            for count in np.unique(times_helped[times_helped > 0]).tolist():
                who = np.flatnonzero(times_helped == count)
                self.give_reward(p.help_reward * count, agents=[self.sim_agents[i] for i in who])


WORLD = MutualAidWorld
