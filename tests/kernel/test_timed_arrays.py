"""Agents kept in arrays (timed macro-actions) behave exactly like agents run as SimPy processes."""

from typing import Literal

import numpy as np
import pytest

from dmarl_des.learn.random_policy import RandomPolicy
from dmarl_des.scenario import Scenario, WorldParams
from dmarl_des.study.run import WALL_CLOCK_COLUMNS
from dmarl_des.world import World


class TimedParams(WorldParams):
    name: Literal["timed"] = "timed"
    lockstep: bool = False


class TimedWorld(World):
    """Each macro-action lasts a known time; every end pays the team and changes what all see."""

    Params = TimedParams
    timed = True
    obs_dim = 3

    def macro_action_names(self):
        return ("short", "long", "random")

    def reset_episode(self, episode):
        self.ends = 0
        self.rng = [
            self.streams.for_agent("world", episode, i) for i in range(len(self.sim_agents))
        ]

    def begin_many(self, idx, actions):
        if self.params.lockstep:
            return np.ones(len(idx))
        out = np.empty(len(idx))
        for k, (i, a) in enumerate(zip(idx.tolist(), actions.tolist(), strict=True)):
            draw = self.rng[i].exponential(1.0)
            out[k] = (0.5, 1.5, draw)[a]
        return out

    def end_many(self, idx):
        for i in idx.tolist():
            self.ends += 1
            self.give_reward(1.0 + 0.01 * i)

    def observe_many(self, idx):
        return np.stack(
            [idx.astype(np.float32), np.full(len(idx), self.now), np.full(len(idx), self.ends)],
            axis=1,
        ).astype(np.float32)


def _tables(processes: bool, **kw):
    lockstep = kw.pop("lockstep", False)
    sc = Scenario.build(
        world=TimedParams(lockstep=lockstep),
        n_agents=8,
        horizon=12.0,
        gamma=0.95,
        seed=4,
        episodes=2,
        record={"transitions": True},
        **kw,
    )
    world = TimedWorld(sc, agents_as_processes=processes)
    world.policy = RandomPolicy(world.n_actions, world.streams.stream("policy"))
    world.run()
    frames = world.recorder.frames()
    return world, {
        k: f.drop([c for c in WALL_CLOCK_COLUMNS if c in f.columns])
        for k, f in frames.items()
        if k != "runs"
    }


@pytest.mark.parametrize("kw", [{}, {"decision_period": 0.5}, {"lockstep": True}])
def test_arrays_and_processes_give_identical_tables(kw):
    w_arr, arrays = _tables(False, **kw)
    w_proc, procs = _tables(True, **kw)
    assert w_arr.arrays_mode and not w_proc.arrays_mode
    assert all(a.process is None for a in w_arr.sim_agents)
    assert arrays["transitions"].height > 50
    for name in arrays:
        assert arrays[name].equals(procs[name]), name


def test_transitions_partition_the_episode_with_a_control_tick():
    _, t = _tables(False, decision_period=0.5)
    tr, ep = t["transitions"], t["episodes"]
    for e in range(2):
        rows = tr.filter(tr["episode"] == e)
        total = sum(0.95**t0 * r for t0, r in zip(rows["t_start"], rows["reward"], strict=True))
        # every agent's transitions tile [0, T]: the team's return is counted once per agent
        assert total == pytest.approx(8 * ep["discounted_return"][e])
        assert np.allclose(
            np.asarray(rows["t_start"]) / 0.5, np.round(np.asarray(rows["t_start"]) / 0.5)
        )
