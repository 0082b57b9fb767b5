"""Recurrent state per agent, and matching transitions to the acts that chose them."""

import numpy as np
import pytest
import torch

from dmarl_des.learn import TransitionBatch, learner_config, make_learner
from dmarl_des.learn.act_records import ActRecords

OBS_DIM, N_ACTIONS, N_AGENTS = 3, 4, 3


def _gru(name, **extra):
    config = learner_config(name, {"hidden": 8, "network": "gru", **extra})
    return make_learner(
        config, obs_dim=OBS_DIM, n_actions=N_ACTIONS, n_agents=N_AGENTS, gamma=0.9, seed=0
    )


def _state(learner):
    hidden = learner.agents.hidden if hasattr(learner, "agents") else learner.hidden
    return hidden.h.clone()


@pytest.mark.parametrize("name", ["iql", "ippo", "vdn"])
def test_hidden_state_is_per_agent_and_reset_at_episode_start_or_recovery(name):
    learner = _gru(name)
    obs = np.ones((1, OBS_DIM), np.float32)
    mask = np.ones((1, N_ACTIONS), bool)
    assert torch.count_nonzero(_state(learner)) == 0
    learner.act(obs, np.array([0]), mask, explore=False)
    first = _state(learner)
    assert torch.count_nonzero(first[0]) > 0 and torch.count_nonzero(first[1:]) == 0
    learner.act(obs, np.array([0]), mask, explore=False)  # same obs, new state: it recurs
    second = _state(learner)
    assert not torch.allclose(first[0], second[0])
    learner.act(np.vstack([obs, obs]), np.array([1, 2]), np.vstack([mask, mask]), explore=False)
    torch.testing.assert_close(_state(learner)[0], second[0])  # others' acts leave agent 0 alone
    torch.testing.assert_close(_state(learner)[1], first[0])  # same history -> same state
    learner.reset(np.array([0]))  # agent 0 recovers from a crash
    after = _state(learner)
    assert torch.count_nonzero(after[0]) == 0 and torch.count_nonzero(after[1]) > 0
    learner.act(obs, np.array([0]), mask, explore=False)
    torch.testing.assert_close(_state(learner)[0], first[0])
    learner.reset(None)
    assert torch.count_nonzero(_state(learner)) == 0


def test_recurrent_iql_stores_the_state_each_decision_started_from():
    learner = _gru("iql", learning_starts=0, batch_size=2, train_every=1)
    rng = np.random.default_rng(0)
    obs = rng.normal(size=(3, OBS_DIM)).astype(np.float32)
    mask = np.ones((1, N_ACTIONS), bool)
    a0 = learner.act(obs[:1], np.array([1]), mask)
    h_after_first = _state(learner)[1].clone()
    a1 = learner.act(obs[1:2], np.array([1]), mask)  # the next decision, before the report
    for k, action in enumerate((a0, a1)):
        learner.observe(
            TransitionBatch(
                agent_idx=np.array([1]),
                obs=obs[k : k + 1],
                action=action,
                mask=mask,
                reward=np.ones(1),
                obs_next=obs[k + 1 : k + 2],
                mask_next=mask,
                tau=np.ones(1),
                done=np.zeros(1, bool),
                terminal=np.zeros(1, bool),
                t_start=np.array([float(k)]),
                t_end=np.array([k + 1.0]),
            )
        )
    stored = learner.replay.columns
    np.testing.assert_allclose(stored["h"][0], 0.0)  # the first decision started from zeros
    np.testing.assert_allclose(stored["h_next"][0], h_after_first.numpy(), rtol=1e-6)
    np.testing.assert_allclose(stored["h"][1], h_after_first.numpy(), rtol=1e-6)
    assert learner.ready()
    metrics = learner.update()
    assert np.isfinite(metrics["loss"])


def test_act_records_match_latest_or_previous_act_and_flag_unknown_ones():
    records = ActRecords(2, 2, {"logp": ()})
    obs_a, obs_b = np.array([[1.0, 0.0]], np.float32), np.array([[0.0, 1.0]], np.float32)
    records.record(np.array([0]), obs_a, np.array([3]), logp=np.array([-0.5]))
    records.record(np.array([0]), obs_b, np.array([1]), logp=np.array([-1.5]))
    found, values = records.lookup(
        np.array([0, 0, 0, 1]), np.vstack([obs_a, obs_b, obs_b, obs_a]), np.array([3, 1, 2, 3])
    )
    np.testing.assert_array_equal(found, [True, True, False, False])
    np.testing.assert_allclose(values["logp"], [-0.5, -1.5, 0.0, 0.0])


def test_ippo_uses_act_time_log_probs_and_scores_unknown_transitions_now():
    learner = _gru("ippo")
    rng = np.random.default_rng(1)
    obs = rng.normal(size=(2, OBS_DIM)).astype(np.float32)
    mask = np.ones((2, N_ACTIONS), bool)
    actions = learner.act(obs, np.array([0, 1]), mask)
    recorded = learner.records.values["logp"][learner.records.latest[[0, 1]], [0, 1]].copy()
    other = (actions + 1) % N_ACTIONS  # not what was chosen: no record matches
    batch = TransitionBatch(
        agent_idx=np.array([0, 1]),
        obs=obs,
        action=np.array([actions[0], other[1]]),
        mask=mask,
        reward=np.zeros(2),
        obs_next=obs,
        mask_next=mask,
        tau=np.ones(2),
        done=np.ones(2, bool),
        terminal=np.ones(2, bool),
        t_start=np.zeros(2),
        t_end=np.ones(2),
    )
    learner.observe(batch)
    logp = learner.rollout[0]["logp"]
    assert logp[0] == pytest.approx(recorded[0])
    assert logp[1] < 0 and np.isfinite(logp[1])
    learner.end_episode(0)
    assert learner.ready()
    assert np.isfinite(learner.update()["loss"])
    assert not learner.ready()
