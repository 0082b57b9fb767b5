"""Mutual aid: rewards by hand, the team optimum in closed form, private and team scopes."""

from __future__ import annotations

import numpy as np
import polars as pl
import pytest

from dmarl_des.errors import ConfigError
from dmarl_des.scenario import Scenario
from dmarl_des.study import run_scenario
from dmarl_des.worlds.mutual_aid import HELP, WORK, MutualAidParams, team_optimum


def scenario(policy="random", episodes=3, n=5, **world) -> Scenario:
    return Scenario.build(
        name="aid",
        world=MutualAidParams(**world),
        n_agents=n,
        episodes=episodes,
        horizon=20.0,
        gamma=0.9,
        policy=policy,
        seed=4,
        record={"transitions": True},
    )


def test_every_reward_follows_the_rules():
    """From the transitions table: agent j earns c when it works, plus b per helping neighbour
    when it is in need (its own need is the first entry of its observation)."""
    frames = run_scenario(scenario()).frames
    t = frames["transitions"].sort("episode", "t_start", "agent_id")
    n = 5
    for _, step in t.group_by(["episode", "t_start"], maintain_order=True):
        if step.height < n:
            continue
        need = np.array([o[0] for o in step["obs"].to_list()])
        action = step["action"].to_numpy()
        helping = (action == HELP).astype(float)
        expected = np.where(action == WORK, 1.0, 0.0)
        expected += 1.5 * need * (np.roll(helping, 1) + np.roll(helping, -1))
        np.testing.assert_allclose(step["reward"].to_numpy(), expected)
        # neighbours' needs in the observation: left then right
        obs = np.array(step["obs"].to_list())
        np.testing.assert_array_equal(obs[:, 1], np.roll(need, 1))
        np.testing.assert_array_equal(obs[:, 2], np.roll(need, -1))
    assert set(t["action"].unique().to_list()) == {WORK, HELP}


def test_team_optimum_in_closed_form():
    assert team_optimum(MutualAidParams()) == pytest.approx(0.25 * 1 + 0.5 * 1.5 + 0.25 * 3)
    # k = 2: K ~ Binomial(4, 1/2): (1 + 4·1.5 + 6·3 + 4·4.5 + 6) / 16
    assert team_optimum(MutualAidParams(ring_k=2)) == pytest.approx(49 / 16)
    assert team_optimum(MutualAidParams(need_p=0.0)) == 1.0


def test_the_scripted_rule_reaches_the_team_optimum_and_beats_the_others():
    per_step = {}
    for policy in ("scripted", "random"):
        e = run_scenario(scenario(policy, episodes=20)).frames["episodes"]
        per_step[policy] = e["team_return"].mean() / (20 * 5)
    assert per_step["scripted"] == pytest.approx(1.75, abs=0.08)
    assert per_step["random"] == pytest.approx(1.25, abs=0.08)


def test_private_and_team_rewards_give_the_same_team_return():
    a = run_scenario(scenario(reward_scope="private")).frames
    b = run_scenario(scenario(reward_scope="team")).frames
    assert a["episodes"]["team_return"].to_list() == b["episodes"]["team_return"].to_list()
    # private: each agent its own; team: every agent the team's reward
    ta, tb = a["transitions"], b["transitions"]
    first = (pl.col("t_start") == 0.0) & (pl.col("episode") == 0)
    assert ta.filter(first)["reward"].n_unique() > 1 and tb.filter(first)["reward"].n_unique() == 1


def test_neighbours_of_a_larger_ring_and_its_checks():
    frames = run_scenario(scenario(ring_k=2, n=6)).frames
    obs = np.array(frames["transitions"]["obs"].to_list())
    assert obs.shape[1] == 5
    with pytest.raises(ConfigError, match="ring_k"):
        scenario(ring_k=3, n=6)
