"""Box Pushing against hand computations of the MacroMARL rules."""

import numpy as np
import polars as pl
import pytest

from dmarl_des.errors import ConfigError
from dmarl_des.scenario import load_scenario
from dmarl_des.study import run_scenario
from dmarl_des.worlds.box_pushing import BoxPushingWorld

G = 0.98
SCENARIO = "scenarios/box_pushing.py"


def _scenario(**overrides):
    return load_scenario(SCENARIO, {"record.transitions": True, "episodes": 1, **overrides})


def _hand_return(ticks: int, final_reward: float) -> float:
    """−0.1 every tick t = 0..T−1 plus the box reward in the last tick, discounted by γ^t."""
    return sum(-0.1 * G**t for t in range(ticks)) + final_reward * G ** (ticks - 1)


@pytest.mark.parametrize(
    ("n", "go_ticks", "push_ticks"),
    [(6, 4, 2), (8, 5, 3), (10, 7, 4), (12, 9, 5), (14, 11, 6)],
)
def test_scripted_cooperative_policy_exact_return(n, go_ticks, push_ticks):
    res = run_scenario(_scenario(**{"world.grid_size": n, "policy": "scripted"}))
    ep = res.frames["episodes"].row(0, named=True)
    ticks = go_ticks + push_ticks
    assert ep["sim_time"] == ticks and ep["success"]
    assert ep["discounted_return"] == pytest.approx(_hand_return(ticks, 300.0), abs=1e-9)
    assert ep["team_return"] == pytest.approx(-0.1 * ticks + 300.0)
    # squeezed macro-transitions of agent 0: go to the spot (go_ticks), then push together
    tr = res.frames["transitions"].filter(pl.col("agent_id") == 0).sort("t_start")
    assert tr["action"].to_list() == [2, 4]
    assert tr["tau"].to_list() == [go_ticks, push_ticks]
    go_r = sum(-0.1 * G**k for k in range(go_ticks))
    push_r = sum(-0.1 * G**k for k in range(push_ticks)) + 300 * G ** (push_ticks - 1)
    assert tr["reward"].to_list() == pytest.approx([go_r, push_r])
    assert tr["done"].to_list() == [False, True] and tr["terminal"].to_list() == [False, True]


class _Plan:
    def __init__(self, plans):
        self.plans = {k: list(v) for k, v in plans.items()}

    def act(self, obs, agent_idx, mask, *, explore=True):
        return np.array([self.plans[i].pop(0) if self.plans[i] else 7 for i in agent_idx.tolist()])

    def reset(self, agent_idx=None):
        pass


def _world(n=8, **kw):
    world = BoxPushingWorld(_scenario(**{"world.grid_size": n, **kw}))
    return world


def test_one_agent_pushes_a_small_box_alone():
    world = _world(8)
    world.policy = _Plan({0: [0, 4], 1: []})  # agent 0: go to small box 0, push; agent 1 stays
    row = world.run_episode(0, "eval")
    # 3 ticks to the spot (turn + 2 north), 3 ticks of pushing: terminal after tick 5
    assert row["sim_time"] == 6 and not row["success"]
    assert row["discounted_return"] == pytest.approx(_hand_return(6, 20.0))
    assert row["discounted_return"] == pytest.approx(17.5076, abs=1e-4)


def test_pushing_the_big_box_alone_costs_the_penalty():
    world = _world(8, horizon=7.0)
    world.policy = _Plan({0: [2, 4], 1: []})
    row = world.run_episode(0, "eval")
    # arrives at tick 4 (5 ticks), pushes alone at tick 5: −10 that tick, box does not move
    expected = sum(-0.1 * G**t for t in range(7)) - 10 * G**5
    assert row["discounted_return"] == pytest.approx(expected)
    assert world.boxes[2, 1] == 4.5


def test_push_into_the_wall_costs_the_penalty_and_walking_to_it_does_not():
    world = _world(8, horizon=9.0)
    world.policy = _Plan({0: [4, 4], 1: []})  # facing east from x=1.5: walk to x=7.5, then bump
    row = world.run_episode(0, "eval")
    # first push walks 6 cells (ticks 0-5, no penalty); second push at tick 6 hits the wall
    expected = sum(-0.1 * G**t for t in range(9)) - 10 * G**6
    assert row["discounted_return"] == pytest.approx(expected)
    assert tuple(world.pos[0]) == (7.5, 1.5)


def test_observations_are_the_front_cell_bits():
    world = _world(8)
    world.policy = _Plan({0: [2], 1: [5]})
    world.run_episode(0, "eval")  # runs to the horizon: agent 0 at its spot, facing the big box
    agent0, agent1 = world.sim_agents
    assert world.observe(agent0).tolist() == [0, 1, 0, 0, 0]  # big box in front
    assert world.global_state().shape == (18,)
    world.ori[1] = 2  # facing the wall below
    world.pos[1] = (4.5, 0.5)
    assert world.observe(agent1).tolist() == [0, 0, 0, 1, 0]


def test_random_policy_runs_full_horizon_and_is_deterministic():
    a = run_scenario(_scenario(**{"policy": "random", "episodes": 3, "seed": 5}))
    b = run_scenario(_scenario(**{"policy": "random", "episodes": 3, "seed": 5}))
    cols = ["team_return", "discounted_return", "sim_time", "n_decisions"]
    assert a.frames["episodes"].select(cols).equals(b.frames["episodes"].select(cols))
    assert (a.frames["episodes"]["sim_time"] <= 100).all()
    assert a.frames["agents"].height == 6


@pytest.mark.parametrize(
    ("key", "value"), [("world.grid_size", 7), ("world.grid_size", 9), ("n_agents", 3)]
)
def test_invalid_box_pushing_settings(key, value):
    with pytest.raises(ConfigError, match=key):
        _scenario(**{key: value})


def test_the_committed_checkpoint_pushes_the_big_box_like_the_scripted_plan(tmp_path):
    from dmarl_des.cli import main

    out = tmp_path / "run"
    args = ["run", SCENARIO, "--policy", "models/box_pushing_8x8_iql", "--episodes", "2"]
    assert main([*args, "--out", str(out), "--quiet"]) == 0
    learned = pl.read_parquet(out / "episodes" / "**" / "*.parquet")
    scripted = run_scenario(_scenario(policy="scripted")).frames["episodes"].row(0, named=True)
    assert learned["success"].all()
    assert learned["discounted_return"].to_list() == pytest.approx(
        [scripted["discounted_return"]] * 2, abs=1e-9
    )
