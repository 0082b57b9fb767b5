"""Federated rounds through the world's network: the average, lost and late uploads, a crashed or
lying server, serverless gossip, learning adversaries, cadences and the rounds table."""

from __future__ import annotations

import numpy as np
import polars as pl
import pytest
from fed_learner import Fed

from dmarl_des.robust import aggregate
from dmarl_des.scenario import Scenario
from dmarl_des.worlds.swarm import SwarmParams, SwarmWorld

N = 6
F = 4  # parameters of the test block: 1·1 + 1 + 1·1 + 1


def swarm(horizon: float = 1.5, kind: str = "complete", **overrides) -> SwarmWorld:
    """Agents deciding in lockstep every time unit, all linked to each other (or on a ring)."""
    net = {"topology": {"kind": kind, "k": 1}} if kind == "ring" else {"topology": {"kind": kind}}
    scenario = Scenario.build(
        name="federated",
        world=SwarmParams(lockstep=True, base_duration=1.0),
        n_agents=N,
        episodes=1,
        horizon=horizon,
        seed=0,
        net=net,
    ).with_overrides(overrides)
    return SwarmWorld(scenario)


def values() -> np.ndarray:
    return (np.arange(N * F, dtype=np.float32).reshape(N, F) ** 1.5) / 10


def train(world, learner, episodes: int = 1) -> dict[str, pl.DataFrame]:
    world.policy = learner
    for episode in range(episodes):
        world.run_episode(episode, "train")
    return world.recorder.frames()


def fed_rows(frames) -> pl.DataFrame:
    return frames["rounds"].filter(pl.col("exchange") == "federated:theta").sort("round")


def test_a_round_with_every_upload_gives_every_agent_the_average():
    learner = Fed(values(), period=1.0)
    frames = train(swarm(), learner)
    np.testing.assert_allclose(learner.theta, np.tile(values().mean(0), (N, 1)), rtol=1e-6)
    row = fed_rows(frames).row(0, named=True)
    assert row["time"] == 1.0 and row["aggregated"] == 1
    assert row["senders"] == row["sent"] == row["used"] == N - 1  # the server's own travels not
    assert row["participants"] == N and row["missing"] == 0 and row["late"] == 0
    assert row["agents"] == N - 1 and row["mean_age"] == 0.0 and row["staleness"] == 0.0
    assert row["bytes"] == 4 * F * 2 * (N - 1)  # uploads and models
    kinds = frames["network_kinds"].filter(pl.col("traffic") == "learning")
    assert set(kinds["kind"]) == {"theta_upload", "theta_model"}
    assert kinds["bytes_sent"].sum() == row["bytes"]


def test_a_lost_upload_misses_the_round_and_its_weight_stays_with_the_others():
    learner = Fed(values(), period=1.0)
    world = swarm(**{"faults.omission.ids": (3,), "faults.omission.p": 1.0})
    frames = train(world, learner)
    others = np.delete(values(), 3, axis=0).mean(0)
    # agent 3's upload never left; the model still reached it, so it adopts the others' average
    np.testing.assert_allclose(learner.theta, np.tile(others, (N, 1)), rtol=1e-6)
    row = fed_rows(frames).row(0, named=True)
    assert row["used"] == N - 2 and row["missing"] == 1 and row["participants"] == N - 1


def test_a_crashed_server_aggregates_nothing_and_clients_keep_their_parameters():
    learner = Fed(values(), period=1.0)
    world = swarm(horizon=2.5, **{"faults.crash.ids": (0,)})
    frames = train(world, learner)
    np.testing.assert_array_equal(learner.theta, values())
    rows = fed_rows(frames)
    assert rows["aggregated"].to_list() == [0, 0] and rows["used"].to_list() == [0, 0]
    assert rows["agents"].to_list() == [0, 0] and rows["sent"].to_list() == [N - 1, N - 1]
    kinds = frames["network_kinds"].filter(pl.col("kind") == "theta_upload")
    assert kinds["dropped_crash"].sum() == 2 * (N - 1)


def test_the_server_is_any_agent_and_reaches_only_its_neighbours():
    # on a ring, agent 2 hears 1 and 3: the others neither upload nor get the model
    learner = Fed(values(), period=1.0, server=2)
    frames = train(swarm(kind="ring"), learner)
    expected = values().copy()
    expected[[1, 2, 3]] = values()[[1, 2, 3]].mean(0)
    np.testing.assert_allclose(learner.theta, expected, rtol=1e-6)
    assert fed_rows(frames)["senders"].to_list() == [2]


def test_late_uploads_miss_their_round_and_are_counted_late_at_the_next():
    learner = Fed(values(), period=1.0, window=0.2)
    world = swarm(horizon=2.9, **{"net.delay.model": "constant", "net.delay.mean": 0.3})
    frames = train(world, learner)
    rows = fed_rows(frames)
    assert rows["used"].to_list() == [0, 0] and rows["late"].to_list() == [0, N - 1]
    assert rows["missing"].to_list() == [N - 1, N - 1]
    # the server aggregated its own row alone, and its models (sent at 1.2 and 2.2, due at 1.5
    # and 2.5) reached the clients after the adoption deadline of their round (1.4 and 2.4):
    # the first is adopted at the next round's deadline, one round old
    assert rows["aggregated"].to_list() == [1, 1]
    assert rows["agents"].to_list() == [0, N - 1] and rows["mean_age"].to_list()[1] == 1.0
    np.testing.assert_allclose(learner.theta, np.tile(values()[0], (N, 1)))


def test_a_robust_server_rule_keeps_a_lying_client_out():
    honest = np.delete(values(), 5, axis=0)
    lie = {"faults.byzantine.ids": (5,), "faults.byzantine.messages": ("constant",)}
    lie["faults.byzantine.value"] = 900.0
    for rule, inside in (("mean", False), ("median", True), ("clipped_mean", True)):
        learner = Fed(values(), period=1.0, rule=rule, f=1)
        train(swarm(**lie), learner)
        server = learner.theta[0]
        within = (server >= honest.min(0)).all() and (server <= honest.max(0)).all()
        assert within == inside, rule
    median = Fed(values(), period=1.0, rule="median")
    train(swarm(**lie), median)
    expected = aggregate(
        "median", np.vstack([values()[:5], [[900.0] * F]]), [0, 5, 5, 5, 5, 5, 5], [1, 2, 3, 4, 5]
    )
    np.testing.assert_allclose(median.theta[0], expected[0], rtol=1e-6)


def test_a_byzantine_server_tampers_the_models_it_sends_back():
    lie = {"faults.byzantine.ids": (0,), "faults.byzantine.messages": ("bias",)}
    learner = Fed(values(), period=1.0)
    train(swarm(**{**lie, "faults.byzantine.value": 1.0}), learner)
    mean = values().mean(0)
    np.testing.assert_allclose(learner.theta[0], mean, rtol=1e-6)
    np.testing.assert_allclose(learner.theta[1:], np.tile(mean + 1.0, (N - 1, 1)), rtol=1e-6)


def test_serverless_gossip_is_one_step_of_the_rule_over_the_neighbourhoods():
    for rule in ("mean", "median"):
        learner = Fed(values(), period=1.0, server="gossip", rule=rule)
        world = swarm(kind="ring")
        frames = train(world, learner)
        topology = world.network.topology
        expected = aggregate(rule, values(), topology.indptr, topology.indices)
        np.testing.assert_allclose(learner.theta, expected, rtol=1e-6)
        row = fed_rows(frames).row(0, named=True)
        assert row["used"] == 2 * N and row["agents"] == N and row["participants"] == N


def test_greedy_clients_never_adopt_and_faulty_ones_never_change():
    adversaries = {"faults.byzantine.ids": (4,), "faults.byzantine.learning": "greedy"}
    learner = Fed(values(), period=1.0, learn=True, step=1.0)
    frames = train(swarm(horizon=2.5, **adversaries), learner)
    assert fed_rows(frames)["agents"].to_list() == [N - 2, N - 2]
    assert not np.allclose(learner.theta[4], learner.theta[1])
    faults = frames["faults"]
    assert faults["detail"].to_list() == ["actions=none messages=none learning=greedy"]

    learner = Fed(values(), period=1.0, learn=True, step=1.0)
    frames = train(
        swarm(horizon=2.5, **{**adversaries, "faults.byzantine.learning": "faulty"}), learner
    )
    np.testing.assert_array_equal(learner.theta[4], values()[4])  # no update, no adoption
    # yet its frozen row is uploaded and counts in the others' average
    assert fed_rows(frames)["used"].to_list() == [N - 1, N - 1]
    assert frames["agents"].filter(pl.col("agent_id") == 4)["role"].to_list() == ["byzantine"]


def test_rounds_every_k_updates():
    learner = Fed(values(), every=2, learn=True, step=0.0)
    frames = train(swarm(horizon=6.5), learner)
    rows = fed_rows(frames)
    assert rows["time"].to_list() == [2.0, 4.0, 6.0]
    assert frames["episodes"]["learn_rounds"].to_list() == [3]


def test_client_selection_rules():
    from dmarl_des.learn.federated import SELECTIONS

    eligible = np.array([0, 2, 3, 5, 7])
    rng = np.random.default_rng(0)
    data = np.array([0, 0, 5, 1, 0, 9, 0, 2])
    assert SELECTIONS["all"](eligible, 1, data, 0.4, rng).tolist() == eligible.tolist()
    picked = SELECTIONS["random"](eligible, 1, data, 0.4, rng)
    assert picked.size == 2 and set(picked) <= set(eligible)
    assert SELECTIONS["round_robin"](eligible, 1, data, 0.4, rng).tolist() == [0, 2]
    assert SELECTIONS["round_robin"](eligible, 2, data, 0.4, rng).tolist() == [3, 5]
    assert SELECTIONS["round_robin"](eligible, 3, data, 0.4, rng).tolist() == [0, 7]
    assert SELECTIONS["most_data"](eligible, 1, data, 0.4, rng).tolist() == [2, 5]
    assert SELECTIONS["random"](eligible[:0], 1, data, 0.4, rng).size == 0


def test_random_selection_is_the_same_for_the_same_seed():
    def run():
        learner = Fed(values(), period=1.0, select="random", fraction=0.5)
        return fed_rows(train(swarm(horizon=4.5), learner)), learner.theta

    (a, theta_a), (b, theta_b) = run(), run()
    assert a.equals(b) and np.array_equal(theta_a, theta_b)
    assert a["senders"].to_list() != [N - 1] * 4  # half of the 6 eligible, the server among them


def test_bad_federated_keys_are_config_errors():
    from dmarl_des.errors import ConfigError
    from dmarl_des.learn.registry import learner_config, make_learner

    with pytest.raises(ConfigError, match=r"learner\.federated\.rule"):
        learner_config("ippo", {"federated": {"every": 2, "rule": "avg"}})
    with pytest.raises(ConfigError, match=r"learner\.params"):
        make_learner(
            learner_config("ippo", {"federated": {"every": 2}}),
            obs_dim=2,
            n_actions=2,
            n_agents=3,
            gamma=0.9,
            seed=0,
        )
    with pytest.raises(ConfigError, match=r"learner\.federated\.server"):
        make_learner(
            learner_config("ippo", {"params": "per_agent", "federated": {"every": 2, "server": 3}}),
            obs_dim=2,
            n_actions=2,
            n_agents=3,
            gamma=0.9,
            seed=0,
        )
    with pytest.raises(ConfigError, match=r"learner\.federated\.blocks"):
        make_learner(
            learner_config(
                "iql", {"params": "per_agent", "federated": {"every": 2, "blocks": ["critic"]}}
            ),
            obs_dim=2,
            n_actions=2,
            n_agents=3,
            gamma=0.9,
            seed=0,
        )
