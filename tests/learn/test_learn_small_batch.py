"""The small-batch policy path gives the general path's actions and draws, batch by batch."""

import numpy as np
import pytest
import torch

from dmarl_des.learn import MLPPolicy
from dmarl_des.learn.mlp_policy import _plain_batch


def batches(seed: int, n_agents: int, obs_dim: int, n_actions: int, masked: bool):
    rng = np.random.default_rng(seed)
    for b in (1, 1, 2, 3, 1, 5, 16, 1, 40, 7, 1) * 4:
        obs = rng.normal(size=(b, obs_dim)).astype(np.float32)
        idx = rng.integers(n_agents, size=b).astype(np.int64)
        mask = np.ones((b, n_actions), dtype=bool)
        if masked:
            mask = rng.random((b, n_actions)) < 0.5
            mask[np.arange(b), rng.integers(n_actions, size=b)] = True
        yield obs, idx, mask


@pytest.mark.parametrize("masked", [False, True])
@pytest.mark.parametrize("explore", [True, False])
def test_small_batches_match_the_general_path(masked, explore):
    fast = MLPPolicy(12, 6, (16, 16), n_agents=50, seed=3)
    general = MLPPolicy(12, 6, (16, 16), n_agents=50, seed=3)
    for policy in (fast, general):  # logits spread as widely as the Gumbel noise
        state = policy.state_dict()
        policy.load_state_dict({"net": {k: 3.0 * v for k, v in state["net"].items()}})
    got, want = [], []
    for obs, idx, mask in batches(1, 50, 12, 6, masked):
        assert _plain_batch(obs, idx, mask, fast)
        got.append(fast.act(obs, idx, mask, explore=explore))
        # float64 observations and list inputs fail the plain-batch test: general path
        assert not _plain_batch(obs.astype(np.float64), idx, mask, general)
        want.append(general.act(obs.astype(np.float64), idx.tolist(), mask, explore=explore))
    assert all(g.dtype == np.int64 for g in got)
    assert [g.tolist() for g in got] == [w.tolist() for w in want]
    # the generators advanced alike: the next draws agree too
    assert torch.equal(fast.streams.noise.get_state(), general.streams.noise.get_state())
    if explore:
        assert len({tuple(g.tolist()) for g in got if g.size == 1}) > 1


def test_the_small_batch_path_refuses_what_the_checks_refuse():
    policy = MLPPolicy(4, 3, (8,), n_agents=5, seed=0)
    obs = np.zeros((1, 4), dtype=np.float32)
    ok = np.ones((1, 3), dtype=bool)
    assert _plain_batch(obs, np.array([4]), ok, policy)
    assert not _plain_batch(obs, np.array([5]), ok, policy)  # outside the agents
    assert not _plain_batch(obs, np.array([-1]), ok, policy)
    assert not _plain_batch(obs, np.array([0]), np.zeros((1, 3), dtype=bool), policy)
    assert not _plain_batch(np.zeros((1, 5), dtype=np.float32), np.array([0]), ok, policy)
    with pytest.raises(Exception, match="agent_idx"):
        policy.act(obs, np.array([5]), ok)
    with pytest.raises(Exception, match="mask"):
        policy.act(obs, np.array([0]), np.zeros((1, 3), dtype=bool))


def test_a_net_that_requires_gradients_takes_the_general_path():
    policy = MLPPolicy(4, 3, (8,), n_agents=2, seed=0)
    policy.net.requires_grad_(True)
    policy.load_state_dict(policy.state_dict())
    assert policy._dense is None
