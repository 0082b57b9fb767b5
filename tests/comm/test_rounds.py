"""Learning rounds through the world's network: order in the instant, loss, delay, bandwidth, crashes,
cadences, accounting, and worlds without messages of their own."""

from __future__ import annotations

import numpy as np
import polars as pl
import pytest
import torch
from gossip import Gossip

from dmarl_des.learn.mixing import metropolis_weights, mix, mixing_matrix
from dmarl_des.net import ring
from dmarl_des.scenario import Scenario
from dmarl_des.worlds.box_pushing import BoxPushingParams, BoxPushingWorld
from dmarl_des.worlds.swarm import SwarmParams, SwarmWorld

N = 6
SIZE = 3


def swarm(horizon: float = 5.5, n: int = N, **overrides) -> SwarmWorld:
    """Agents on a ring (one neighbour each side) deciding in lockstep every time unit."""
    scenario = Scenario.build(
        name="gossip",
        world=SwarmParams(lockstep=True, base_duration=1.0),
        n_agents=n,
        episodes=1,
        horizon=horizon,
        seed=0,
        net={"topology": {"kind": "ring", "k": 1}},
    ).with_overrides(overrides)
    return SwarmWorld(scenario)


def values(n: int = N) -> np.ndarray:
    return np.arange(n * SIZE, dtype=np.float32).reshape(n, SIZE) ** 1.5


def metropolis(n: int = N) -> torch.Tensor:
    topology = ring(n, 1)
    return mixing_matrix(
        topology.indptr, topology.indices, metropolis_weights(topology.indptr, topology.indices)
    )


def train(world, learner, episodes: int = 1) -> dict[str, pl.DataFrame]:
    world.policy = learner
    for episode in range(episodes):
        world.run_episode(episode, "train")
    return world.recorder.frames()


def test_lossless_rounds_are_exact_consensus_steps_that_keep_the_average():
    world, learner = swarm(), Gossip(values())
    frames = train(world, learner)
    rounds = frames["rounds"]
    assert rounds["time"].to_list() == [1.0, 2.0, 3.0, 4.0, 5.0]
    assert rounds["used"].to_list() == [2 * N] * 5 and rounds["fresh"].to_list() == [2 * N] * 5
    assert rounds["missing"].sum() == 0 and rounds["stale"].sum() == 0
    assert rounds["mean_self_weight"].to_list() == pytest.approx([1 / 3] * 5)
    expected = torch.tensor(values())
    for _ in range(5):
        expected = mix(metropolis(), expected)
    np.testing.assert_allclose(learner.theta.numpy(), expected.numpy(), rtol=1e-5)
    np.testing.assert_allclose(learner.theta.numpy().mean(0), values().mean(0), rtol=1e-5)


def test_a_round_sends_after_the_decisions_of_its_instant_and_combines_what_arrived_then():
    """Zero delay: the vectors sent at t arrive at t, before the combine of t (fresh, age 0)."""
    world, learner = swarm(horizon=2.5), Gossip(values())
    train(world, learner)
    assert [a.time for a in learner.log] == [1.0, 2.0]
    assert all((a.age == 0).all() and len(a) == 2 * N for a in learner.log)
    # what agent 0 got from its neighbours 1 and 5 at round 1 is what they sent then
    first = learner.log[0]
    got = first.vectors(np.flatnonzero(first.receiver == 0))
    np.testing.assert_array_equal(got, values()[[1, 5]])


def test_delayed_vectors_are_missing_first_then_used_stale():
    """Constant delay 0.5: a vector sent at round k arrives at k + 0.5, so round k combines none
    of its own round's and round k + 1 combines it with age 1."""
    world = swarm(horizon=4.5, **{"net.delay.mean": 0.5})
    learner = Gossip(values())
    frames = train(world, learner)
    rounds = frames["rounds"]
    assert rounds["used"].to_list() == [0, 2 * N, 2 * N, 2 * N]
    assert rounds["missing"].to_list() == [2 * N, 0, 0, 0]
    assert rounds["stale"].to_list() == [0, 2 * N, 2 * N, 2 * N]
    assert rounds["mean_age"].to_list()[1:] == [1.0, 1.0, 1.0]
    # by hand: each round mixes the agent's current vector with what its neighbours sent a round
    # before (their vectors just before that round's combine)
    c = metropolis().to_dense().numpy()
    off = c - np.diag(np.diag(c))
    theta = values().astype(np.float64)
    sent_before = None
    for _ in range(4):
        sent_now = theta.copy()
        if sent_before is not None:
            theta = np.diag(c)[:, None] * theta + off @ sent_before
        sent_before = sent_now
    np.testing.assert_allclose(learner.theta.numpy(), theta, rtol=1e-5)


def test_a_parameter_message_of_b_bytes_on_capacity_c_arrives_no_earlier_than_b_over_c():
    size = 50  # 200 bytes a message
    world = swarm(
        horizon=3.5, **{"net.bandwidth.capacity": 400.0, "record.messages": True}
    )  # 0.5 time units to serialize a vector
    learner = Gossip(np.ones((N, size), dtype=np.float32))
    frames = train(world, learner)
    messages = frames["messages"].filter(pl.col("kind") == "theta")
    assert messages.height == 3 * 2 * N and (messages["bytes"] == 200).all()
    latency = messages["t_delivered"] - messages["t_sent"]
    assert (latency >= 200 / 400 - 1e-12).all()
    rounds = frames["rounds"]
    assert rounds["used"].to_list() == [0, 2 * N, 2 * N]  # late for its own round's combine
    assert rounds["stale"].to_list() == [0, 2 * N, 2 * N]
    kinds = frames["network_kinds"].filter(pl.col("kind") == "theta")
    assert kinds["bytes_sent"].item() == 3 * 2 * N * 200
    assert kinds["traffic"].item() == "learning"


def test_lost_vectors_are_missing_and_their_weight_stays_with_the_agent():
    world = swarm(horizon=6.5, **{"net.loss.p": 0.5, "record.messages": True})
    learner = Gossip(values())
    frames = train(world, learner)
    rounds = frames["rounds"]
    lost = frames["messages"].filter((pl.col("kind") == "theta") & (pl.col("drop_cause") == "loss"))
    assert rounds["missing"].sum() == lost.height > 0
    assert (rounds["used"] + rounds["missing"]).to_list() == [2 * N] * 6
    for arrived in learner.log:
        assert (arrived.age == 0).all()
    np.testing.assert_allclose(learner.theta.numpy().mean(0), values().mean(0), rtol=0.5)


def test_crashed_agents_neither_send_nor_combine_and_take_part_again_after_recovery():
    world = swarm(
        horizon=7.5,
        **{
            "faults.crash.ids": (2,),
            "faults.crash.start": "at",
            "faults.crash.at": 2.5,
            "faults.recover.enabled": True,
            "faults.recover.downtime": "constant",
            "faults.recover.mean": 3.0,
        },
    )
    learner = Gossip(values())
    frames = train(world, learner)
    rounds = frames["rounds"].sort("round")
    # rounds at 3, 4, 5: agent 2 is down (back at 5.5): 5 combine, 2 neighbours miss it
    assert rounds["agents"].to_list() == [6, 6, 5, 5, 5, 6, 6]
    assert rounds["senders"].to_list() == [6, 6, 5, 5, 5, 6, 6]
    assert rounds["missing"].to_list() == [0, 0, 2, 2, 2, 0, 0]
    during = [a for a in learner.log if 2.5 < a.time < 5.5]
    assert all(2 not in a.agents.tolist() and 2 not in a.sender.tolist() for a in during)
    sent_by_two = [vec[agents == 2] for agents, vec in learner.sent]
    assert [len(v) for v in sent_by_two] == [1, 1, 0, 0, 0, 1, 1]


def test_rounds_every_k_updates_and_the_round_owed_by_an_update_after_the_simulation():
    world = swarm(horizon=7.5)
    learner = Gossip(values(), period=0.0, every_updates=4, learn=True)
    frames = train(world, learner, episodes=2)
    rounds = frames["rounds"]
    # updates at t = 1..7 of episode 0, the 8th as its open macro-actions are cut: rounds at t = 4
    # and, owed, at t = 0 of episode 1; then updates 9..15 at t = 1..7 (round at t = 4)
    assert list(zip(rounds["episode"], rounds["time"], strict=True)) == [
        (0, 4.0),
        (1, 0.0),
        (1, 4.0),
    ]
    episodes = frames["episodes"]
    assert episodes["learn_rounds"].to_list() == [1, 2]


def test_learning_traffic_is_accounted_beside_the_worlds():
    world = swarm(horizon=4.5)
    frames = train(world, Gossip(values()))
    kinds = {r["kind"]: r for r in frames["network_kinds"].to_dicts()}
    assert kinds["state"]["traffic"] == "world" and kinds["theta"]["traffic"] == "learning"
    episode = frames["episodes"].row(0, named=True)
    assert episode["learn_rounds"] == 4
    assert episode["learn_msgs_sent"] == kinds["theta"]["sent"] == 4 * 2 * N
    assert episode["learn_bytes_sent"] == 4 * 2 * N * 4 * SIZE
    assert episode["learn_bytes_delivered"] == episode["learn_bytes_sent"]
    assert episode["msgs_sent"] == kinds["theta"]["sent"] + kinds["state"]["sent"]
    assert frames["rounds"]["sent"].sum() == episode["learn_msgs_sent"]
    network = frames["network"].row(0, named=True)
    assert network["bytes_sent"] == kinds["theta"]["bytes_sent"] + kinds["state"]["bytes_sent"]


def test_no_rounds_in_evaluation_episodes_nor_for_learners_that_exchange_nothing():
    world = swarm(horizon=3.5)
    world.policy = Gossip(values())
    world.run_episode(0, "eval")
    frames = world.recorder.frames()
    assert "rounds" not in frames
    assert frames["network_kinds"]["kind"].to_list() == ["state"]
    assert frames["episodes"]["learn_msgs_sent"].to_list() == [0]


def test_a_world_without_message_kinds_gets_a_network_for_learning_traffic():
    scenario = Scenario.build(
        name="bp",
        world=BoxPushingParams(grid_size=6),
        n_agents=2,
        episodes=1,
        horizon=12.0,
        seed=0,
        net={"topology": {"kind": "complete"}},
    )
    world = BoxPushingWorld(scenario)
    learner = Gossip(np.array([[0.0, 2.0], [4.0, 6.0]], dtype=np.float32), period=5.0)
    world.policy = learner
    world.run_episode(0, "eval")
    assert world.network is not None and world.network.inboxes == ()  # no traffic in evaluation
    world.run_episode(1, "train")
    assert world.network is not None and world.network.inboxes == ("theta",)
    frames = world.recorder.frames()
    assert frames["network"]["sent"].to_list() == [0, 4]
    assert frames["rounds"]["used"].to_list() == [2, 2]
    np.testing.assert_allclose(learner.theta.numpy(), [[2.0, 4.0], [2.0, 4.0]])  # weights 1/2
    assert frames["network_kinds"]["kind"].to_list() == ["theta"]


def test_same_seed_same_tables():
    def run():
        world = swarm(
            horizon=5.5,
            **{"net.loss.p": 0.3, "net.delay.model": "exponential", "net.delay.mean": 0.4},
        )
        learner = Gossip(values())
        frames = train(world, learner)
        return frames, learner.theta.numpy()

    (a, theta_a), (b, theta_b) = run(), run()
    np.testing.assert_array_equal(theta_a, theta_b)
    for name in ("rounds", "network_kinds", "episodes"):
        assert a[name].drop("wall_s", strict=False).equals(b[name].drop("wall_s", strict=False))
