"""Per-agent replay: each agent's own ring buffer, samples of every agent, the per-agent cadence."""

import numpy as np
import pytest

from dmarl_des.errors import ConfigError
from dmarl_des.learn import TransitionBatch, learner_config, make_learner
from dmarl_des.learn.agent_replay import AgentReplay

COLUMNS = {"agent": ((), np.int64), "value": ((), np.int64), "vec": ((2,), np.float32)}


def _add(replay, agents, values):
    values = np.asarray(values)
    replay.add(agent=np.asarray(agents), value=values, vec=np.stack([values, -values], 1))


def _stored(replay, agent):
    return sorted(replay.columns["value"][agent, : replay.size[agent]].tolist())


def test_each_agent_keeps_its_own_latest_transitions():
    replay = AgentReplay(3, 2, COLUMNS)
    _add(replay, [0, 1], [10, 20])
    _add(replay, [0, 0, 1], [11, 12, 21])  # agent 0 twice in one batch: 10 is overwritten
    _add(replay, [0, 0, 0, 2], [13, 14, 15, 30])  # three rows of agent 0 for two slots
    assert _stored(replay, 0) == [14, 15]
    assert _stored(replay, 1) == [20, 21]
    assert _stored(replay, 2) == [30]
    assert len(replay) == 5 and replay.n_agents_with_data == 3
    _add(replay, [0], [16])  # the oldest of agent 0 goes
    assert _stored(replay, 0) == [15, 16]


def test_a_sample_draws_the_same_number_of_own_rows_of_every_agent_with_data():
    replay = AgentReplay(4, 5, COLUMNS)
    _add(replay, [0, 2, 2, 0, 2], [0, 200, 201, 1, 202])
    out = replay.sample(6, np.random.default_rng(0))
    assert out["agent"].tolist() == [0] * 6 + [2] * 6  # agents 1 and 3 have no data
    assert set(out["value"][:6].tolist()) <= {0, 1}
    assert set(out["value"][6:].tolist()) <= {200, 201, 202}
    np.testing.assert_array_equal(out["vec"][:, 1], -out["value"])  # rows stay whole
    many = replay.sample(3000, np.random.default_rng(1))["value"][3000:]
    counts = np.bincount(many - 200)
    assert counts.min() > 900  # uniform over the agent's own three rows


def _batch(agents, rng):
    n = len(agents)
    mask = np.ones((n, 3), dtype=bool)
    return TransitionBatch(
        agent_idx=np.asarray(agents, dtype=np.int64),
        obs=rng.normal(size=(n, 4)).astype(np.float32),
        action=rng.integers(0, 3, n),
        mask=mask,
        reward=rng.normal(size=n),
        obs_next=rng.normal(size=(n, 4)).astype(np.float32),
        mask_next=mask,
        tau=np.ones(n),
        done=np.zeros(n, dtype=bool),
        terminal=np.zeros(n, dtype=bool),
        t_start=np.zeros(n),
        t_end=np.ones(n),
    )


def test_per_agent_replay_updates_every_train_every_transitions_of_each_agent_with_data():
    config = {
        "replay": "per_agent",
        "params": "per_agent",
        "hidden": 8,
        "learning_starts": 0,
        "batch_size": 5,
        "train_every": 2,
        "buffer_size": 40,
    }
    learner = make_learner(
        learner_config("iql", config), obs_dim=4, n_actions=3, n_agents=4, gamma=0.9, seed=0
    )
    assert learner.replay.capacity == 10
    start = learner.agents.online.flat.detach().clone()
    rng = np.random.default_rng(0)
    learner.observe(_batch([0, 1, 2], rng))  # three agents with data: an update costs 6
    assert not learner.ready()
    learner.observe(_batch([0, 1], rng))
    assert not learner.ready()
    learner.observe(_batch([2], rng))
    assert learner.ready()
    metrics = learner.update()
    assert metrics["samples"] == 15.0  # 5 rows of each of the three agents
    assert not learner.ready()
    now = learner.agents.online.flat.detach()
    assert learner.optimizer.steps.tolist() == [1, 1, 1, 0]
    assert (now[:3] != start[:3]).any(dim=1).all()
    assert (now[3] == start[3]).all()  # agent 3 has no data: not trained


def test_per_agent_replay_does_not_replay_sequences():
    with pytest.raises(ConfigError, match="learner.replay"):
        make_learner(
            learner_config(
                "iql", {"replay": "per_agent", "network": "gru", "trace_len": 4, "hidden": 8}
            ),
            obs_dim=4,
            n_actions=3,
            n_agents=2,
            gamma=0.9,
            seed=0,
        )
