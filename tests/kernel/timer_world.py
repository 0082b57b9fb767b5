"""A small world for kernel tests: macro-actions of known or random durations and timed rewards."""

from __future__ import annotations

from typing import Literal

import numpy as np
import simpy

from dmarl_des.macro import MacroAction, wait
from dmarl_des.scenario import Scenario, WorldParams
from dmarl_des.world import World


class TimerParams(WorldParams):
    name: Literal["timer"] = "timer"
    reward_every: float = 0.7
    reward_amount: float = 1.0
    stamps: tuple[tuple[float, float, float], ...] = ()  # (give_at, stamp, amount)
    durations: tuple[float, ...] = (1.0, 2.5)


def _random_wait(agent):
    world = agent.model
    duration = float(world.duration_rng[agent.idx].exponential(1.0))
    yield world.env.timeout(duration)


def _zero(agent):
    return
    yield  # pragma: no cover - makes this a generator


class TimerWorld(World):
    """Agents wait; the world pays the team on a clock and at scripted stamps."""

    Params = TimerParams
    obs_dim = 3

    def setup(self) -> None:
        p = self.params
        self.macro_actions = [MacroAction(f"wait{d}", wait(d)) for d in p.durations] + [
            MacroAction("random_wait", _random_wait),
            MacroAction("instant", _zero, can_start=lambda a: a.model.now > 0),
        ]
        self.log: list[tuple[float, int, int]] = []

    def reset_episode(self, episode: int) -> None:
        self.duration_rng = [
            self.streams.for_agent("world", episode, a.agent_id) for a in self.sim_agents
        ]

    def start_processes(self) -> None:
        self.env.process(self._payer())
        for give_at, stamp, amount in self.params.stamps:
            ev = self.env.timeout(give_at)
            ev.callbacks.append(lambda _e, s=stamp, r=amount: self.give_reward(r, stamp=s))

    def _payer(self):
        p = self.params
        if p.reward_every <= 0:
            return
        while True:
            yield self.env.timeout(p.reward_every)
            self.give_reward(p.reward_amount)

    def observe(self, agent) -> np.ndarray:
        return np.array([agent.idx, self.now, agent.action], dtype=np.float32)


class ScriptedSequence:
    """Plays a fixed list of actions per agent (then the first allowed action)."""

    def __init__(self, plans: dict[int, list[int]]):
        self.plans = {k: list(v) for k, v in plans.items()}
        self.calls: list[list[int]] = []

    def act(self, obs, agent_idx, mask, *, explore=True):
        self.calls.append(agent_idx.tolist())
        out = []
        for i, m in zip(agent_idx.tolist(), mask, strict=True):
            plan = self.plans.get(i, [])
            out.append(plan.pop(0) if plan else int(np.flatnonzero(m)[0]))
        return np.asarray(out, dtype=np.int64)

    def reset(self, agent_idx=None):
        pass


def timer_scenario(**kw) -> Scenario:
    world = kw.pop("world", TimerParams())
    base = dict(n_agents=3, horizon=10.0, gamma=0.9, seed=1, record={"transitions": True})
    base.update(kw)
    return Scenario.build(world=world, **base)


def store_wait(agent):
    """Wait for an item on the world's store (used by interruption tests)."""
    item = yield agent.model.store.get()
    agent.model.received.append((agent.idx, item))


__all__ = ["ScriptedSequence", "TimerParams", "TimerWorld", "simpy", "store_wait", "timer_scenario"]
