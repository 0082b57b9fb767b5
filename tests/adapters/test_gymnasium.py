"""The Gymnasium adapter: one agent of a world as a single-agent environment, others by policy."""

import warnings

import numpy as np
import polars as pl
import pytest
from builtin_worlds import WORLDS, small
from gymnasium.utils.env_checker import check_env

from dmarl_des.pettingzoo import gym_env
from dmarl_des.study import WALL_CLOCK_COLUMNS, run_scenario
from dmarl_des.study.policies import build_policy


@pytest.mark.parametrize("faults", [False, True], ids=["clean", "faults"])
@pytest.mark.parametrize("world", WORLDS)
def test_gymnasium_checker(world, faults):
    env = gym_env(small(world, faults=faults))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # unbounded observations, no render modes
        check_env(env, skip_render_check=True)


def test_my_agent_steps_through_its_own_decisions_only(tmp_path):
    overrides = {"faults.crash.ids": [3], "faults.crash.start": "at", "faults.crash.at": 6.0}
    scenario = small("coverage", **overrides, **{"record.transitions": True})
    env = gym_env(scenario, slot=3, out=tmp_path)
    mine = build_policy(scenario, env.driver.world)  # the scripted greedy policy
    obs, info = env.reset()
    times, rewards = [info["time"]], []
    while True:
        mask = info["action_mask"].astype(bool)[None]
        action = int(mine.act(obs[None], np.array([3]), mask, explore=False)[0])
        obs, reward, terminated, truncated, info = env.step(action)
        rewards.append((info["time"], reward, info["tau"]))
        if terminated or truncated:
            break
        times.append(info["time"])
    env.close()
    assert truncated and not terminated and info["time"] == 6.0  # crashed at t = 6
    assert times == sorted(times) and len(times) > 3
    # the run is `dmarl run`'s: the scripted policy for everyone, the world to its horizon
    frames = run_scenario(scenario).frames
    for name in ("episodes", "agents", "transitions", "faults"):
        ours = pl.concat([pl.read_parquet(f) for f in (tmp_path / name).rglob("*.parquet")])
        drop = [c for c in WALL_CLOCK_COLUMNS if c in ours.columns]
        assert ours.drop(drop).equals(frames[name].drop(drop)), name
    table = frames["transitions"].filter(pl.col("agent_id") == 3).sort("t_end")
    assert rewards == list(table.select("t_end", "reward", "tau").iter_rows())


def test_actions_outside_the_initiation_set(tmp_path):
    env = gym_env(small("foraging"), invalid_actions="raise")
    _, info = env.reset(seed=0)
    masked = int(np.flatnonzero(info["action_mask"] == 0)[0])
    with pytest.raises(ValueError, match="outside its initiation set"):
        env.step(masked)
    replacing = gym_env(small("foraging"))
    replacing.reset(seed=0)
    replacing.step(masked)
    assert replacing.replaced_actions == 1
