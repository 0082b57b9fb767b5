"""Landmarks (cooperative navigation) and channels (frequency hopping): the worlds of learned communication."""

from __future__ import annotations

import math

import numpy as np
import pytest

from dmarl_des.errors import ConfigError
from dmarl_des.scenario import Scenario
from dmarl_des.study.policies import build_policy
from dmarl_des.worlds.channels import ChannelsParams, ChannelsWorld
from dmarl_des.worlds.landmarks import LandmarksParams, LandmarksWorld


def landmarks(n: int = 5, **more) -> LandmarksWorld:
    s = Scenario.build(world=LandmarksParams(**more.pop("world", {})), n_agents=n, seed=1, **more)
    return LandmarksWorld(s)


def test_a_move_lasts_distance_over_speed_and_reaches_the_landmark():
    world = landmarks(world={"speed": 2.0})
    world.policy = build_policy(world.scenario, world)
    world.run_episode(0, "eval")  # sets an episode up; now place things by hand
    world.reset_episode(1)
    world.env = type(world.env)()
    start = world.agent_positions().copy()
    obs = world.observe_many(np.arange(5))
    durations = world.begin_many(np.arange(5), np.zeros(5, dtype=np.int64))
    goal = world.landmarks[world.choices[:, 0]]
    dist = np.linalg.norm(goal - start, axis=1)
    np.testing.assert_allclose(durations, np.maximum(dist / 2.0, 0.5))
    np.testing.assert_allclose(obs[:, :2], (goal - start) / 3.0, rtol=1e-5)  # radio range 3
    world.env.run(until=float(dist.max() / 2.0) + 1e-9)
    np.testing.assert_allclose(world.agent_positions(), goal)


def test_coverage_reward_and_collisions_by_hand():
    world = landmarks(n=3, world={"tick": 1.0, "collision_penalty": 0.5})
    world.policy = build_policy(world.scenario, world)
    world.run_episode(0, "eval")
    world.reset_episode(1)
    world.env = type(world.env)()
    world.landmarks = np.array([[0.0, 0.0], [10.0, 0.0], [0.0, 10.0]])
    world.origin = world.target = np.array([[0.1, 0.0], [0.0, 0.1], [5.0, 5.0]])
    assert world.covered().tolist() == [True, False, False]
    given = []
    world.give_reward = lambda amount, **kw: given.append(amount)
    world._reward_coverage()
    assert given == [pytest.approx((1 - 0.5 * 1) / 3)]  # one covered, one colliding pair
    assert world.collisions == 1


def test_scripted_beats_random_and_a_thousand_agents_run():
    means = {}
    for policy in ("scripted", "random"):
        s = Scenario.build(
            world=LandmarksParams(), n_agents=40, horizon=20.0, decision_period=0.25, episodes=2,
            policy=policy, seed=2,
        )  # fmt: skip
        world = LandmarksWorld(s)
        world.policy = build_policy(s, world)
        means[policy] = np.mean([r["team_return"] for r in world.run()])
    assert means["scripted"] > means["random"] + 3
    s = Scenario.build(
        world=LandmarksParams(), n_agents=1000, horizon=3.0, decision_period=0.25, policy="scripted"
    )
    world = LandmarksWorld(s)
    world.policy = build_policy(s, world)
    row = world.run_episode(0, "eval")
    assert row["n_decisions"] >= 1000
    side = math.sqrt(1000 / 0.25)
    assert world.landmarks.max() <= side
    degree = np.diff(world.network.topology.indptr) if world.network else None
    assert degree is None  # no messages, no network: the scripted policy does not talk


def test_landmarks_keys_are_checked():
    with pytest.raises(ConfigError, match="world.min_duration"):
        Scenario.build(world=LandmarksParams(min_duration=1e-9), n_agents=3, horizon=1e9)


def channels(n: int = 6, hop: bool = True, k: int = 1) -> ChannelsWorld:
    s = Scenario.build(
        world=ChannelsParams(n_channels=4, hop=hop), n_agents=n, seed=0,
        net={"topology": {"k": k}},
    )  # fmt: skip
    world = ChannelsWorld(s)
    world.policy = build_policy(s, world)
    world.run_episode(0, "eval")
    return world


def test_interference_observation_and_hop_mask():
    world = channels()
    world.channel = np.array([0, 0, 1, 2, 2, 2])  # ring: 5-0-1, 0-1-2, ...
    np.testing.assert_allclose(world.interference(), [0.5, 0.5, 0.0, 0.5, 1.0, 0.5])
    obs = world.observe_many(np.array([4, 2]))
    np.testing.assert_allclose(obs, [[0, 0, 1, 0, 1.0], [0, 1, 0, 0, 0.0]])
    mask = world.mask_many(np.array([4, 2]))
    np.testing.assert_array_equal(mask, [[1, 1, 0, 1], [1, 0, 1, 1]])
    assert channels(hop=False).mask_many(np.array([0])).all()


def test_clean_agents_earn_their_own_reward():
    world = channels()
    world.channel = np.array([0, 1, 0, 1, 2, 3])
    given = []
    world.give_reward = lambda amount, agents=None, **kw: given.append(
        (amount, [a.idx for a in agents])
    )
    world._tick()
    assert given == [(0.5, [0, 1, 2, 3, 4, 5])]
    world.channel = np.array([0, 0, 1, 2, 3, 1])
    given.clear()
    world._tick()
    assert given == [(0.5, [2, 3, 4, 5])]  # only 0 and 1 share a channel (ring neighbours)
