"""The optional `trace` table: positions, roles and macro-actions every Δt, at no cost when off."""

from typing import ClassVar, Literal

import numpy as np
import polars as pl
import pytest

from dmarl_des.errors import ConfigError
from dmarl_des.learn.random_policy import RandomPolicy
from dmarl_des.scenario import Scenario, WorldParams
from dmarl_des.study.policies import build_policy
from dmarl_des.world import World
from dmarl_des.worlds.coverage import CoverageParams, CoverageWorld
from dmarl_des.worlds.swarm import SwarmParams, SwarmWorld


class MoverParams(WorldParams):
    name: Literal["mover"] = "mover"


class Mover(World):
    """Agent i walks along x at speed i + 1, one unit of time per macro-action ("step" or "back")."""

    Params = MoverParams
    timed = True
    obs_dim = 1
    trace_columns: ClassVar[dict[str, pl.DataType]] = {"speed": pl.Float64}

    def macro_action_names(self):
        return ("step", "back")

    def reset_episode(self, episode):
        n = len(self.sim_agents)
        self.speed = np.arange(1.0, n + 1.0)
        self.x0 = np.zeros(n)
        self.t0 = np.zeros(n)
        self.v = np.zeros(n)

    def begin_many(self, idx, actions):
        self.x0[idx] = self.agent_positions()[idx, 0]
        self.t0[idx] = self.now
        self.v[idx] = np.where(actions == 0, 1.0, -1.0) * self.speed[idx]
        return np.ones(len(idx))

    def end_many(self, idx):
        self.x0[idx] += self.v[idx] * (self.now - self.t0[idx])
        self.t0[idx] = self.now
        self.v[idx] = 0.0

    def crash_agent(self, idx, reason="crash"):
        self.end_many(np.array([idx]))  # stops where it is
        return super().crash_agent(idx, reason)

    def observe_many(self, idx):
        return self.agent_positions()[idx, :1].astype(np.float32)

    def agent_positions(self):
        x = self.x0 + self.v * (self.now - self.t0)
        return np.stack([x, np.zeros_like(x)], axis=1)

    def trace_values(self):
        return {"speed": self.speed}


class Always:
    def __init__(self, action):
        self.action = action

    def act(self, obs, agent_idx, mask, *, explore=True):
        return np.full(len(agent_idx), self.action, dtype=np.int64)

    def reset(self, agent_idx=None):
        pass


def _mover(action=0, **kw):
    sc = Scenario.build(world=MoverParams(), n_agents=2, horizon=5.0, seed=0, **kw)
    world = Mover(sc)
    world.policy = Always(action)
    world.run()
    return world.recorder.frames()


def test_positions_roles_actions_and_world_columns_every_dt():
    faults = {"crash": {"ids": [1], "start": "at", "at": 2.5}}
    trace = _mover(record={"trace_every": 0.5}, faults=faults)["trace"]
    assert trace.columns == [
        "run_id",
        "episode",
        "time",
        "agent_id",
        "role",
        "x",
        "y",
        "action",
        "speed",
    ]
    assert trace.height == 2 * 10  # t = 0, 0.5, …, 4.5 (none at the horizon)
    a0 = trace.filter(pl.col("agent_id") == 0)
    assert a0["time"].to_list() == [0.5 * k for k in range(10)]
    assert a0["x"].to_list() == pytest.approx(a0["time"].to_list())  # speed 1
    assert set(a0["role"]) == {"honest"} and set(a0["action"]) == {0}
    a1 = trace.filter(pl.col("agent_id") == 1)
    t = np.asarray(a1["time"])
    assert a1["x"].to_list() == pytest.approx(np.minimum(2 * t, 5.0).tolist())  # stopped at 2.5
    assert a1["role"].to_list() == ["honest"] * 5 + ["crashed"] * 5
    assert a1["action"].to_list() == [0] * 5 + [-1] * 5
    assert set(trace["speed"]) == {1.0, 2.0} and trace["y"].to_list() == [0.0] * 20


def test_a_sample_sees_the_macro_actions_chosen_at_its_instant():
    trace = _mover(action=1, record={"trace_every": 1.0})["trace"]
    assert set(trace["action"]) == {1}  # at t = 0 too: sampled after the first decisions


def test_leavers_are_absent_and_their_slot_is_taken_by_a_joiner():
    sc = Scenario.build(
        world=SwarmParams(),
        n_agents=20,
        horizon=20.0,
        seed=3,
        record={"trace_every": 1.0},
        faults={"churn": {"leave_rate": 1.0, "join_rate": 0.5}},
    )
    world = SwarmWorld(sc)
    world.policy = RandomPolicy(world.n_actions, world.streams.stream("policy"))
    world.run()
    trace, faults = world.recorder.frame("trace"), world.recorder.frame("faults")
    assert trace.height == 20 * 20 and trace["x"].null_count() == trace.height  # no space
    left = set(faults.filter(pl.col("kind") == "leave")["agent_id"])
    joined = set(faults.filter(pl.col("kind") == "join")["agent_id"])
    assert left and joined and min(joined) >= 20
    absent = trace.filter(pl.col("role") == "absent")
    assert set(absent["agent_id"]) <= left and (absent["action"] == -1).all()
    assert set(trace["agent_id"]) & joined  # joiners appear in their slots


@pytest.mark.parametrize("processes", [False, True])
def test_tracing_changes_no_other_table(processes):
    def frames(trace_every):
        sc = Scenario.build(
            world=CoverageParams(),
            n_agents=40,
            horizon=15.0,
            decision_period=0.1,
            seed=2,
            policy="scripted",
            net={"resolution": 0.1, "loss": {"p": 0.3}},
            faults={"crash": {"fraction": 0.2, "start": "at", "at": 5.0}},
            record={"transitions": True, "trace_every": trace_every},
        )
        world = CoverageWorld(sc, agents_as_processes=processes)
        world.policy = build_policy(sc, world)
        world.run()
        return world, world.recorder.frames()

    _, off = frames(0.0)
    world, on = frames(1.0)
    assert "trace" not in off and set(on) == set(off) | {"trace", "trace_map"}  # coverage: a map
    for name, frame in off.items():
        cols = [c for c in frame.columns if c != "wall_s"]
        assert on[name].select(cols).equals(frame.select(cols)), name
    trace = on["trace"]
    assert trace.height == 40 * 15
    last = trace.filter(pl.col("time") == 14.0).sort("agent_id")
    assert trace["x"].is_between(0, world.size).all()
    assert (last["role"] == "crashed").sum() == 8


def test_bad_trace_periods_are_configuration_errors():
    for bad in (-1.0, float("nan"), True):
        with pytest.raises(ConfigError, match="record.trace_every"):
            Scenario.build(world=MoverParams(), n_agents=2, record={"trace_every": bad})
    with pytest.raises(ConfigError, match="record.trace_every"):  # 10^10 samples an episode
        Scenario.build(world=MoverParams(), n_agents=2, horizon=1e7, record={"trace_every": 1e-3})
    # 3 × 1,000 × 10^4 rows: too many for one run's buffer, refused before anything runs
    sc = Scenario.build(
        world=MoverParams(), n_agents=1000, episodes=3, horizon=1e4, record={"trace_every": 1.0}
    )
    with pytest.raises(ConfigError, match=r"record.trace_every.*at least 1.50015 here"):
        Mover(sc)


def test_world_columns_may_not_shadow_the_built_in_ones():
    class Shadow(Mover):
        trace_columns: ClassVar[dict[str, pl.DataType]] = {"x": pl.Float64}

    sc = Scenario.build(world=MoverParams(), n_agents=2, record={"trace_every": 1.0})
    with pytest.raises(ConfigError, match="trace_columns"):
        Shadow(sc)
