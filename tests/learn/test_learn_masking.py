"""Masked macro-actions are never chosen, by any policy; a row with no allowed action is an error."""

from functools import cache

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from dmarl_des.errors import ConfigError
from dmarl_des.learn import MLPPolicy, RandomPolicy, learner_config, make_learner
from dmarl_des.learn.masking import check_mask, masked_argmax
from dmarl_des.learn.sampling import LinearSchedule, epsilon_greedy, sample_masked

N_AGENTS, OBS_DIM = 5, 3


@cache
def _learners(n_actions):
    out = []
    for name, extra in [
        ("iql", {}),
        ("ippo", {}),
        ("vdn", {}),
        ("qmix", {}),
        ("iql", {"network": "gru"}),
    ]:
        config = learner_config(name, {"hidden": 8, **extra})
        out.append(
            make_learner(
                config,
                obs_dim=OBS_DIM,
                n_actions=n_actions,
                n_agents=N_AGENTS,
                state_dim=2,
                gamma=0.9,
                seed=3,
            )
        )
    out.append(MLPPolicy(OBS_DIM, n_actions, (8,), params_mode="per_agent", n_agents=N_AGENTS))
    out.append(RandomPolicy(n_actions, np.random.default_rng(0)))
    return tuple(out)


@st.composite
def masks(draw):
    rows = draw(st.integers(1, 12))
    n_actions = draw(st.integers(1, 6))
    mask = draw(arrays(np.bool_, (rows, n_actions)))
    forced = draw(arrays(np.int64, rows, elements=st.integers(0, n_actions - 1)))
    mask[np.arange(rows), forced] = True  # every row allows something
    return mask


@settings(max_examples=40, deadline=None)
@given(mask=masks(), seed=st.integers(0, 2**16))
def test_no_policy_ever_picks_a_masked_action(mask, seed):
    rows, n_actions = mask.shape
    rng = np.random.default_rng(seed)
    obs = rng.normal(size=(rows, OBS_DIM)).astype(np.float32) * 100.0
    agent_idx = rng.integers(0, N_AGENTS, size=rows)
    for policy in _learners(n_actions):
        for explore in (True, False):
            actions = policy.act(obs, agent_idx, mask, explore=explore)
            assert actions.dtype == np.int64 and actions.shape == (rows,)
            assert mask[np.arange(rows), actions].all(), type(policy).__name__


@settings(max_examples=60, deadline=None)
@given(mask=masks(), seed=st.integers(0, 2**16))
def test_samplers_respect_masks_even_against_huge_masked_scores(mask, seed):
    generator = torch.Generator().manual_seed(seed)
    scores = torch.randn(mask.shape, generator=generator)
    mask_t = torch.from_numpy(mask)
    scores = torch.where(mask_t, scores, torch.tensor(1e30))  # masked entries look best
    chosen = [
        masked_argmax(scores, mask_t),
        sample_masked(scores, mask_t, generator),
        epsilon_greedy(scores, mask_t, 1.0, generator),
        epsilon_greedy(scores, mask_t, 0.5, generator),
    ]
    for actions in chosen:
        assert mask[np.arange(len(mask)), actions.numpy()].all()


def test_row_without_allowed_action_is_a_clear_error():
    mask = np.array([[True, False], [False, False]])
    with pytest.raises(ConfigError, match=r"mask.*\[1\].*at least one allowed"):
        check_mask(mask, 2, 2)
    obs = np.zeros((2, OBS_DIM), np.float32)
    for policy in _learners(2):
        with pytest.raises(ConfigError, match="mask"):
            policy.act(obs, np.array([0, 1]), mask)


def test_bad_decision_batches_are_rejected():
    learner = _learners(2)[0]
    ok_mask = np.ones((2, 2), bool)
    with pytest.raises(ConfigError, match="obs"):
        learner.act(np.zeros((2, OBS_DIM + 1), np.float32), np.array([0, 1]), ok_mask)
    with pytest.raises(ConfigError, match="agent_idx"):
        learner.act(np.zeros((2, OBS_DIM), np.float32), np.array([0, N_AGENTS]), ok_mask)
    with pytest.raises(ConfigError, match="mask"):
        learner.act(np.zeros((2, OBS_DIM), np.float32), np.array([0, 1]), ok_mask.astype(int))


def test_gumbel_max_samples_follow_the_masked_softmax():
    generator = torch.Generator().manual_seed(0)
    logits = torch.tensor([[0.0, 1.0, 2.0, 5.0]]).repeat(40_000, 1)
    mask = torch.tensor([[True, True, True, False]]).repeat(40_000, 1)
    counts = np.bincount(sample_masked(logits, mask, generator).numpy(), minlength=4)
    expected = np.exp([0.0, 1.0, 2.0]) / np.exp([0.0, 1.0, 2.0]).sum()
    freq = counts[:3] / counts.sum()
    stderr = np.sqrt(expected * (1 - expected) / counts.sum())
    assert counts[3] == 0
    assert np.all(np.abs(freq - expected) < 5 * stderr)


def test_random_policy_is_uniform_over_allowed_and_reproducible():
    mask = np.tile(np.array([True, False, True, True, False]), (30_000, 1))
    obs = np.zeros((30_000, 1), np.float32)
    idx = np.zeros(30_000, np.int64)
    actions = RandomPolicy(5, np.random.default_rng(7)).act(obs, idx, mask)
    again = RandomPolicy(5, np.random.default_rng(7)).act(obs, idx, mask)
    np.testing.assert_array_equal(actions, again)
    freq = np.bincount(actions, minlength=5) / len(actions)
    assert freq[1] == 0 and freq[4] == 0
    assert np.all(np.abs(freq[[0, 2, 3]] - 1 / 3) < 5 * np.sqrt((1 / 3) * (2 / 3) / len(actions)))


def test_epsilon_greedy_explores_at_the_set_rate():
    generator = torch.Generator().manual_seed(1)
    q = torch.tensor([[0.0, 1.0, 0.5]]).repeat(20_000, 1)
    mask = torch.ones_like(q, dtype=torch.bool)
    actions = epsilon_greedy(q, mask, 0.3, generator).numpy()
    # greedy 1 with prob 0.7 + 0.3/3; each other action with prob 0.1
    freq = np.bincount(actions, minlength=3) / len(actions)
    np.testing.assert_allclose(freq, [0.1, 0.8, 0.1], atol=5 * np.sqrt(0.16 / len(actions)))
    assert np.all(epsilon_greedy(q, mask, 0.0, generator).numpy() == 1)


def test_linear_schedule():
    schedule = LinearSchedule(1.0, 0.1, 10)
    assert schedule(0) == 1.0
    assert schedule(5) == pytest.approx(0.55)
    assert schedule(10) == pytest.approx(0.1)
    assert schedule(1000) == pytest.approx(0.1)
