"""Optimistic updates and ε-mixture exploration: hand-computed weights, losses and probabilities."""

import math
import os
import stat

import numpy as np
import pytest
import torch

from dmarl_des.errors import ConfigError
from dmarl_des.learn import TransitionBatch, learner_config, make_learner, save_checkpoint
from dmarl_des.learn.optimism import hysteretic_weights, leaky_advantage
from dmarl_des.learn.q_agents import td_loss
from dmarl_des.learn.sampling import epsilon_mixture, mixture_log_prob


def test_hysteretic_weights_scale_only_negative_errors():
    error = torch.tensor([2.0, -1.0, 0.0, -3.0])
    assert hysteretic_weights(error, 0.25).tolist() == [1.0, 0.25, 1.0, 0.25]


def test_weighted_td_loss_matches_hand_computation():
    value = torch.tensor([1.0, 3.0, 0.0])
    target = torch.tensor([2.0, 1.0, 0.0])  # errors target − value: +1, −2, 0
    weights = hysteretic_weights(target - value, 0.5)
    # mse: (1·1² + 0.5·2² + 1·0²) / 3 = 1
    assert td_loss(value, target, "mse", 1.0, weights).item() == pytest.approx(1.0)
    # huber δ = 1: (1·0.5 + 0.5·(2 − 0.5) + 0) / 3 = 1.25 / 3
    assert td_loss(value, target, "huber", 1.0, weights).item() == pytest.approx(1.25 / 3)
    # no weights: the plain mean
    assert td_loss(value, target, "mse", 1.0).item() == pytest.approx(5.0 / 3)


def test_leaky_advantage():
    adv = torch.tensor([1.5, -2.0, 0.0, -0.5])
    assert leaky_advantage(adv, 0.1).tolist() == pytest.approx([1.5, -0.2, 0.0, -0.05])


def test_mixture_log_prob_hand_case():
    # π(a) = 0.5, ε = 0.2, 4 allowed actions: μ(a) = 0.8·0.5 + 0.2/4 = 0.45
    # π(a) = 0.1, ε = 0.2, 2 allowed actions: μ(a) = 0.08 + 0.1 = 0.18
    log_pi = torch.log(torch.tensor([0.5, 0.1]))
    mask = torch.tensor([[True, True, True, True], [True, False, True, False]])
    got = mixture_log_prob(log_pi, mask, 0.2)
    assert got.tolist() == pytest.approx([math.log(0.45), math.log(0.18)], rel=1e-6)


def test_epsilon_mixture_frequencies_and_mask():
    g = torch.Generator().manual_seed(0)
    n = 20_000
    actions = torch.zeros(n, dtype=torch.long)  # π puts all mass on action 0
    mask = torch.tensor([[True, False, True, True]]).expand(n, 4)
    out = epsilon_mixture(actions, mask, 0.3, g)
    counts = torch.bincount(out, minlength=4).float() / n
    assert counts[1] == 0.0  # never a masked action
    # μ = 0.7·[1, 0, 0, 0] + 0.3·[1/3, 0, 1/3, 1/3]
    assert counts.tolist() == pytest.approx([0.8, 0.0, 0.1, 0.1], abs=0.01)
    assert torch.equal(epsilon_mixture(actions, mask, 0.0, g), actions)


def _ippo(**extra):
    config = learner_config("ippo", {"hidden": 8, **extra})
    return make_learner(config, obs_dim=2, n_actions=4, n_agents=1, gamma=0.9, seed=3)


@pytest.mark.parametrize("correction", ["none", "importance"])
def test_ippo_records_policy_or_mixture_log_prob(correction):
    learner = _ippo(
        explore_eps=0.5, explore_eps_end=0.5, explore_decay=10, explore_correction=correction
    )
    obs = np.zeros((1, 2), dtype=np.float32)
    mask = np.array([[True, True, False, True]])
    action = learner.act(obs, np.array([0]), mask)
    assert mask[0, action[0]]
    with torch.no_grad():
        logits, _, _ = learner._forward(torch.from_numpy(obs), torch.tensor([0]), None)
        logits = logits.masked_fill(~torch.from_numpy(mask), -1e9)
        log_pi = torch.log_softmax(logits, -1)[0, action[0]].item()
    recorded = learner.records.lookup(np.array([0]), obs, action)[1]["logp"][0]
    expected = log_pi if correction == "none" else math.log(0.5 * math.exp(log_pi) + 0.5 / 3)
    assert recorded == pytest.approx(expected, abs=1e-6)
    assert learner.decisions == 1
    learner.act(obs, np.array([0]), mask, explore=False)
    assert learner.decisions == 1  # greedy decisions do not advance ε


def test_ippo_value_beta_weights_the_value_loss():
    """One sample, one epoch: the value loss of a target below the estimate is scaled by β."""
    losses = {}
    for beta in (1.0, 0.25):
        learner = _ippo(value_beta=beta, epochs=1, minibatches=1, vf_coef=1.0)
        obs = np.zeros((1, 2), dtype=np.float32)
        action = learner.act(obs, np.array([0]), np.ones((1, 4), dtype=bool))
        learner.observe(
            TransitionBatch(
                agent_idx=np.array([0]),
                obs=obs,
                action=action,
                mask=np.ones((1, 4), dtype=bool),
                reward=np.array([-5.0]),
                obs_next=obs,
                mask_next=np.ones((1, 4), dtype=bool),
                tau=np.array([1.0]),
                done=np.array([True]),
                terminal=np.array([True]),
                t_start=np.array([0.0]),
                t_end=np.array([1.0]),
            )
        )
        learner.end_episode(0)
        losses[beta] = learner.update()["value_loss"]
    assert losses[0.25] == pytest.approx(0.25 * losses[1.0], rel=1e-5)


def test_iql_hysteretic_schedule_and_weighted_update():
    config = learner_config(
        "iql",
        {
            "hidden": 8,
            "hysteretic_beta": 0.2,
            "hysteretic_beta_end": 0.4,
            "hysteretic_decay": 100,
            "learning_starts": 1,
            "batch_size": 1,
            "train_every": 1,
            "loss": "mse",
        },
    )
    learner = make_learner(config, obs_dim=2, n_actions=3, n_agents=1, gamma=0.9, seed=0)
    assert learner.beta(0) == pytest.approx(0.2)
    assert learner.beta(50) == pytest.approx(0.3)
    assert learner.beta(1_000) == pytest.approx(0.4)
    obs = np.ones((1, 2), dtype=np.float32)
    with torch.no_grad():
        q0 = learner.agents.online(torch.from_numpy(obs), None)[0][0, 1].item()
    reward = q0 - 4.0  # a terminal target 4 below the estimate: negative error
    learner.observe(
        TransitionBatch(
            agent_idx=np.array([0]),
            obs=obs,
            action=np.array([1]),
            mask=np.ones((1, 3), dtype=bool),
            reward=np.array([reward]),
            obs_next=obs,
            mask_next=np.ones((1, 3), dtype=bool),
            tau=np.array([1.0]),
            done=np.array([True]),
            terminal=np.array([True]),
            t_start=np.array([0.0]),
            t_end=np.array([1.0]),
        )
    )
    assert learner.ready()
    # β at 0 decisions is 0.2: loss = 0.2 · 4²
    assert learner.update()["loss"] == pytest.approx(0.2 * 16.0, rel=1e-4)


@pytest.mark.parametrize(
    ("name", "key", "value"),
    [
        ("iql", "hysteretic_beta", 1.5),
        ("iql", "hysteretic_beta_end", -0.1),
        ("iql", "hysteretic_decay", -1),
        ("ippo", "value_beta", 2.0),
        ("ippo", "advantage_slope", -1.0),
        ("ippo", "explore_eps", 1.1),
        ("ippo", "explore_correction", "both"),
    ],
)
def test_option_bounds_are_validated(name, key, value):
    with pytest.raises(ConfigError):
        learner_config(name, {key: value})


def test_defaults_leave_the_options_off():
    iql = learner_config("iql", {})
    ippo = learner_config("ippo", {})
    assert iql.hysteretic_beta == 1.0 and iql.hysteretic_decay == 0
    assert ippo.value_beta == 1.0 and ippo.advantage_slope == 1.0 and ippo.explore_eps == 0.0


def test_checkpoint_files_are_world_readable(tmp_path):
    learner = _ippo()
    old = os.umask(0o022)
    try:
        directory = save_checkpoint(tmp_path / "ckpt", learner, {})
    finally:
        os.umask(old)
    for name in ("weights.pt", "card.json"):
        assert stat.S_IMODE((directory / name).stat().st_mode) == 0o644


def test_state_critic_needs_a_state_and_reads_the_latest_epoch_state():
    config = learner_config("ippo", {"hidden": 8, "critic": "state"})
    with pytest.raises(ConfigError):
        make_learner(config, obs_dim=2, n_actions=4, n_agents=2, gamma=0.9, seed=0)
    learner = make_learner(
        config, obs_dim=2, n_actions=4, n_agents=2, gamma=0.9, seed=0, state_dim=1
    )
    assert learner.joint
    for time, value in ((0.0, 1.0), (3.0, 2.0), (3.0, 5.0), (7.0, 4.0)):
        learner.epoch_states.setdefault(0, ([], []))
        learner.epoch_states[0][0].append(time)
        learner.epoch_states[0][1].append(np.array([value], dtype=np.float32))
    got = learner._states_at(np.zeros(4, dtype=np.int64), np.array([0.0, 2.0, 3.0, 9.0]))
    # the latest epoch at or before each time; of two epochs at t = 3 the later one
    assert got[:, 0].tolist() == [1.0, 1.0, 5.0, 4.0]
    assert learner_config("ippo", {}).critic == "local"
