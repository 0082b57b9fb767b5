"""What the adapters promise beyond PettingZoo's API: same episodes as `dmarl run`, squeezed
rewards between turns, ready agents only, lives that never come back, stable spaces."""

import numpy as np
import polars as pl
import pytest
from builtin_worlds import WORLDS, small
from gymnasium.utils.env_checker import data_equivalence
from windowed_outcomes import assert_same_table

from dmarl_des.errors import ConfigError
from dmarl_des.pettingzoo import aec_env, parallel_env
from dmarl_des.study import WALL_CLOCK_COLUMNS, run_scenario
from dmarl_des.study.policies import build_policy
from dmarl_des.world import world_class

RECORD = {"record.trace_every": 1.0, "record.transitions": True, "episodes": 2}


def _tables(out) -> dict[str, pl.DataFrame]:
    frames = {}
    for folder in sorted(p for p in out.iterdir() if p.is_dir()):
        files = sorted(folder.rglob("*.parquet"))
        frames[folder.name] = pl.concat([pl.read_parquet(f) for f in files])
    return frames


def _comparable(frame: pl.DataFrame) -> pl.DataFrame:
    return frame.drop([c for c in WALL_CLOCK_COLUMNS if c in frame.columns])


def _assert_same_table(ours: pl.DataFrame, theirs: pl.DataFrame, name: str, local: bool) -> None:
    """Equal tables; where `dmarl run` serves a local world's exact instants in windows (one
    batched call where the adapter steps one instant at a time), equal outcomes."""
    if local:
        assert_same_table(theirs, ours, name)
    else:
        assert ours.equals(theirs), name


def _drive_with_policy(scenario, out, seed):
    """Drive the Parallel adapter with the scenario's own policy, as `dmarl run` would."""
    env = parallel_env(scenario, out=out, action_mask="info")
    policy = None
    for episode in range(scenario.episodes):
        obs, infos = env.reset(seed=seed if episode == 0 else None)
        if policy is None:
            policy = build_policy(scenario.with_overrides({"seed": seed}), env.world)
        while env.agents:
            ready = [a for a in obs if a in env.agents]
            slots = np.array([infos[a]["slot"] for a in ready], dtype=np.int64)
            o = np.stack([obs[a] for a in ready])
            m = np.stack([infos[a]["action_mask"] for a in ready]).astype(bool)
            actions = policy.act(o, slots, m, explore=False)
            obs, _, _, _, infos = env.step(dict(zip(ready, actions.tolist(), strict=True)))
    env.close()


@pytest.mark.parametrize("faults", [False, True], ids=["clean", "faults"])
@pytest.mark.parametrize("world", WORLDS)
def test_reset_with_a_seed_gives_the_episodes_of_dmarl_run(world, faults, tmp_path):
    scenario = small(world, faults=faults, **RECORD)
    _drive_with_policy(scenario, tmp_path / "adapter", seed=7)
    run_scenario(scenario.with_overrides({"seed": 7}), out=tmp_path / "run")
    ours, theirs = _tables(tmp_path / "adapter"), _tables(tmp_path / "run")
    assert sorted(ours) == sorted(theirs)
    assert {"trace", "transitions", "episodes", "agents"} <= set(ours)
    local = world_class(scenario.world).local  # `dmarl run` serves its instants in windows
    for name in theirs:
        _assert_same_table(_comparable(ours[name]), _comparable(theirs[name]), name, local)
    if faults:
        assert ours["faults"].filter(pl.col("kind") == "crash").height > 0


def _random_episode(env, seed, rng_seed):
    rng = np.random.default_rng(rng_seed)
    obs, infos = env.reset(seed=seed)
    steps = [(obs, infos)]
    while env.agents:
        actions = {}
        for agent in obs:
            if agent in env.agents:
                allowed = np.flatnonzero(obs[agent]["action_mask"])
                actions[agent] = int(rng.choice(allowed))
        steps.append(env.step(actions))
        obs = steps[-1][0]
    return steps


@pytest.mark.parametrize("world", WORLDS)
def test_whole_episodes_are_deterministic(world):
    scenario = small(world, faults=True)
    first = _random_episode(parallel_env(scenario), seed=5, rng_seed=0)
    again = _random_episode(parallel_env(scenario), seed=5, rng_seed=0)
    assert len(first) > 2
    assert len(first) == len(again)
    for a, b in zip(first, again, strict=True):
        assert data_equivalence(a, b)
    other = _random_episode(parallel_env(scenario), seed=6, rng_seed=0)
    assert len(other) != len(first) or not all(
        data_equivalence(a, b) for a, b in zip(first, other, strict=True)
    )


def test_aec_rewards_between_turns_are_the_squeezed_macro_rewards(tmp_path):
    scenario = small("coverage", faults=True, **{"record.transitions": True})
    env = aec_env(scenario, out=tmp_path)
    env.reset(seed=3)
    rng = np.random.default_rng(1)
    seen, turns, times = [], {}, []
    for agent in env.agent_iter():
        obs, reward, terminated, truncated, info = env.last()
        if agent in turns or terminated or truncated:  # a macro-action of its closed
            seen.append((info["agent_id"], info["time"], reward, info["tau"]))
        if terminated or truncated:
            env.step(None)
            continue
        turns[agent] = info["time"]
        times.append(info["time"])
        env.step(int(rng.choice(np.flatnonzero(obs["action_mask"]))))
    env.close()
    table = _tables(tmp_path)["transitions"].sort("agent_id", "t_end")
    expected = list(table.select("agent_id", "t_end", "reward", "tau").iter_rows())
    assert sorted(seen) == expected  # exactly the rewards and durations of the table
    assert any(r > 0 for _, _, r, _ in seen)
    assert times == sorted(times)  # agents are selected in simulated time
    assert len(times) > len(set(times))  # ... several of them at one decision instant


def test_parallel_steps_hold_only_the_agents_deciding_now():
    env = parallel_env(small("coverage"))
    obs, _ = env.reset(seed=0)
    assert set(obs) == set(env.agents)  # everyone decides at time 0
    first = next(iter(obs))
    with pytest.raises(ValueError, match="no action"):
        env.step({})
    with pytest.raises(ValueError, match="not live"):
        env.step({first: 0, "agent_99": 0})
    partial = None
    while env.agents:
        ready = [a for a in obs if a in env.agents]
        if 0 < len(ready) < len(env.agents):
            partial = (ready, [a for a in env.agents if a not in ready])
            break
        obs, *_ = env.step({a: 0 for a in ready})
    assert partial is not None
    ready, busy = partial
    twin = parallel_env(small("coverage"))
    twin_obs, _ = twin.reset(seed=0)
    while set(twin_obs) != set(obs) or not set(ready) <= set(twin.agents):
        twin_obs, *_ = twin.step({a: 0 for a in twin_obs if a in twin.agents})
    # an action for an agent whose macro-action still runs is ignored
    out = env.step({**{a: 0 for a in ready}, busy[0]: 1})
    twin_out = twin.step({a: 0 for a in ready})
    assert data_equivalence(out, twin_out)
    _, _, terminations, truncations, _ = out
    still = [a for a in env.agents if a not in out[0]]
    assert still
    assert still[0] not in terminations
    assert terminations[still[0]] is False and truncations[still[0]] is False
    with pytest.raises(KeyError):
        terminations["agent_99"]


def test_crashed_agents_leave_and_come_back_under_new_names():
    env = parallel_env(small("coverage", faults=True))
    obs, _ = env.reset(seed=3)
    ended, ended_mid, names_seen = set(), 0, set(obs)
    while env.agents:
        obs, _, terminations, truncations, _ = env.step({a: 0 for a in obs if a in env.agents})
        for agent in terminations:
            if terminations[agent] or truncations[agent]:
                assert agent not in env.agents
                assert agent not in ended  # ends once
                ended.add(agent)
                if env.agents:  # mid-episode: a fault cut it
                    ended_mid += 1
                    assert truncations[agent] and not terminations[agent]
        assert not (set(env.agents) & ended)  # never comes back under its name
        names_seen |= set(obs)
    recovered = [a for a in env.possible_agents if "_r" in a]
    assert ended_mid > 0 and recovered
    for name in recovered:
        assert name.split("_r")[0] in names_seen  # the same robot, a new life
    assert ended == names_seen == set(env.possible_agents)


def test_spaces_are_one_object_per_agent_with_an_int8_mask():
    env = parallel_env(small("foraging"))
    obs, infos = env.reset(seed=0)
    agent, other = env.agents[:2]
    space = env.observation_space(agent)
    assert space is env.observation_space(agent)
    assert env.action_space(agent) is env.action_space(agent)
    assert env.action_space(agent) is not env.action_space(other)
    assert space.contains(obs[agent])
    assert obs[agent]["action_mask"].dtype == np.int8
    assert obs[agent]["observation"].dtype == np.float32
    assert env.action_space(agent).n == env.world.n_actions
    flat = parallel_env(small("foraging"), action_mask="info")
    obs, infos = flat.reset(seed=0)
    assert flat.observation_space(agent).contains(obs[agent])
    assert infos[agent]["action_mask"].dtype == np.int8
    with pytest.raises(KeyError):
        env.observation_space("agent_99")
    env.reset(seed=1)  # a new episode: the same names keep the same spaces
    assert env.observation_space(agent) is space


def test_actions_outside_the_initiation_set_are_replaced_or_refused():
    scenario = small("foraging")  # fetch and deliver are masked out at the start
    env = parallel_env(scenario, invalid_actions="raise")
    obs, _ = env.reset(seed=0)
    agent = env.agents[0]
    masked = int(np.flatnonzero(obs[agent]["action_mask"] == 0)[0])
    with pytest.raises(ValueError, match=f"action {masked} of {agent}"):
        env.step({a: masked for a in obs})
    for bad in (1.5, -1, env.world.n_actions, "north"):
        with pytest.raises(ValueError, match=agent):
            env.step({a: bad for a in obs})
    replacing = parallel_env(scenario)
    replacing.reset(seed=0)
    first_allowed = int(np.flatnonzero(obs[agent]["action_mask"])[0])
    replacing.step({a: masked for a in obs})
    assert replacing.epochs.replaced_actions == len(obs)
    same = parallel_env(scenario)
    same.reset(seed=0)
    same.step({a: np.int32(first_allowed) for a in obs})
    assert data_equivalence(replacing.world.cur_action, same.world.cur_action)
    with pytest.raises(ConfigError, match="action_mask"):
        parallel_env(scenario, action_mask="obs")


def test_global_state_for_centralized_trainers():
    env = aec_env(small("coverage"))
    env.reset(seed=0)
    state = env.state()
    assert state.dtype == np.float32 and state.shape == (env.world.state_dim,)
    with pytest.raises(NotImplementedError):
        aec_env(small("foraging")).state()
