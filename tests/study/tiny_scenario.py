"""A tiny scenario file with its own world, for study tests: agents work for reward, some crash.

``world.crash_fraction`` is the fault intensity: that share of agents crashes at ``crash_at``, so
the team return falls with it. ``world.noise`` is the chance that a finished work step earns
nothing. A run whose seed equals ``world.fail_seed`` raises in its last episode (failure isolation).
A run with ``world.exit_code`` (or ``world.kill_signal``) ends its own process at its first episode
with that exit code (or signal), as a crash in native code or the out-of-memory killer would; with
``world.ready_file`` it creates that file when an episode starts (tests wait for it).
"""

from __future__ import annotations

import os
import resource
from pathlib import Path
from typing import Literal

import numpy as np
from pydantic import Field

from dmarl_des.macro import MacroAction, wait
from dmarl_des.scenario import Scenario, WorldParams
from dmarl_des.world import World


class TinyParams(WorldParams):
    """Keys of the tiny world (`world.*`)."""

    name: Literal["tiny"] = "tiny"
    crash_fraction: float = Field(0.0, ge=0.0, le=1.0)
    crash_at: float = Field(2.0, ge=0.0)
    noise: float = Field(0.0, ge=0.0, le=1.0)
    fail_seed: int = -1
    exit_code: int = 0
    kill_signal: int = 0
    ready_file: str = ""


def _work(agent):
    """Work for an exponential time, then earn the team one unit unless noise spoils it."""
    world = agent.model
    rng = world.work_rng[agent.idx]
    yield world.env.timeout(float(rng.exponential(1.0)))
    if rng.random() >= world.params.noise:
        world.give_reward(1.0)


class TinyWorld(World):
    """Agents choose between working (reward) and resting; a fraction of them crashes."""

    Params = TinyParams
    obs_dim = 2

    def setup(self) -> None:
        self.macro_actions = [MacroAction("work", _work), MacroAction("rest", wait(0.5))]

    def reset_episode(self, episode: int) -> None:
        if self.params.ready_file:
            Path(self.params.ready_file).touch()
        if self.params.exit_code:
            os._exit(self.params.exit_code)
        if self.params.kill_signal:
            resource.setrlimit(resource.RLIMIT_CORE, (0, 0))  # no core file
            os.kill(os.getpid(), self.params.kill_signal)
        last = self.scenario.episodes + self.scenario.eval_episodes - 1
        if self.scenario.seed == self.params.fail_seed and episode == last:
            raise RuntimeError(f"injected failure in episode {episode}")
        for agent in self.sim_agents:
            agent.alive = True
            agent.role = "honest"
        self.work_rng = [
            self.streams.for_agent("world", episode, a.agent_id) for a in self.sim_agents
        ]

    def start_processes(self) -> None:
        n_crash = round(self.params.crash_fraction * len(self.sim_agents))
        if n_crash:
            event = self.env.timeout(self.params.crash_at)
            event.callbacks.append(lambda _ev: self._crash(self.sim_agents[:n_crash]))

    def _crash(self, agents) -> None:
        for agent in agents:
            agent.role = "crashed"
            agent.downtime = self.scenario.horizon - self.now
            agent.stop()

    def observe(self, agent) -> np.ndarray:
        return np.array([agent.idx, self.now], dtype=np.float32)

    def success(self) -> bool:
        return self.ledger.total() >= 0.5 * self.scenario.n_agents * self.scenario.horizon


WORLD = TinyWorld


def scenario(**overrides) -> Scenario:
    """Four agents, two episodes of 20 time units, random policy."""
    base = Scenario.build(
        name="tiny", world=TinyParams(), n_agents=4, horizon=20.0, episodes=2, gamma=0.95
    )
    return base.with_overrides(overrides)


def study():
    """The default study: crash fraction 0, 0.25, 0.5 × 2 seeds."""
    from dmarl_des.study import Study

    return Study(__file__, grid={"world.crash_fraction": [0.0, 0.25, 0.5]}, seeds=2)
