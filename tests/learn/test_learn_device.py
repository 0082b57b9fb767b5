"""Devices: every learner takes ``device=``; CUDA, where present, acts exactly like the CPU."""

import numpy as np
import pytest
import torch

from dmarl_des.learn import MLPPolicy, learner_config, make_learner

cuda = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")


@cuda
@pytest.mark.parametrize("name", ["iql", "ippo", "vdn", "qmix"])
@pytest.mark.parametrize("params", ["shared", "per_agent"])
def test_cuda_acts_like_cpu(name, params):
    rng = np.random.default_rng(0)
    obs = rng.normal(size=(64, 5)).astype(np.float32)
    mask = rng.random((64, 4)) < 0.7
    mask[:, 1] = True
    idx = rng.integers(0, 8, 64)
    acts = {}
    for device in ("cpu", "cuda"):
        learner = make_learner(
            learner_config(name, {"params": params}),
            obs_dim=5,
            n_actions=4,
            n_agents=8,
            state_dim=3,
            gamma=0.9,
            seed=2,
            device=device,
        )
        acts[device] = [learner.act(obs, idx, mask, explore=e) for e in (False, True)]
    for cpu_acts, cuda_acts in zip(acts["cpu"], acts["cuda"], strict=True):
        np.testing.assert_array_equal(cpu_acts, cuda_acts)


@cuda
def test_mlp_policy_on_cuda_acts_like_cpu():
    rng = np.random.default_rng(1)
    obs = rng.normal(size=(256, 6)).astype(np.float32)
    mask = np.ones((256, 5), bool)
    idx = np.arange(256) % 16
    policies = [
        MLPPolicy(6, 5, params_mode="per_agent", n_agents=16, device=d, seed=4)
        for d in ("cpu", "cuda")
    ]
    for explore in (False, True):
        np.testing.assert_array_equal(*(p.act(obs, idx, mask, explore=explore) for p in policies))


def test_cpu_device_is_honoured():
    learner = make_learner(
        learner_config("iql", {}),
        obs_dim=2,
        n_actions=2,
        n_agents=2,
        gamma=0.9,
        seed=0,
        device="cpu",
    )
    assert all(p.device.type == "cpu" for p in learner.agents.online.parameters())


def test_mlp_policy_batched_inference_serves_any_agent_mix():
    policy = MLPPolicy(6, 5, (32, 32), params_mode="per_agent", n_agents=100, seed=0)
    rng = np.random.default_rng(2)
    obs = rng.normal(size=(100, 6)).astype(np.float32)
    mask = np.ones((100, 5), bool)
    batched = policy.act(obs, np.arange(100), mask, explore=False)
    one_by_one = [
        policy.act(obs[i : i + 1], np.array([i]), mask[:1], explore=False)[0] for i in range(100)
    ]
    np.testing.assert_array_equal(batched, one_by_one)
