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


def _per_agent_updates(device, replay):
    from dmarl_des.learn import TransitionBatch

    learner = make_learner(
        learner_config(
            "iql",
            {"params": "per_agent", "replay": replay, "learning_starts": 0, "batch_size": 8},
        ),
        obs_dim=5,
        n_actions=4,
        n_agents=6,
        gamma=0.9,
        seed=1,
        device=device,
    )
    rng = np.random.default_rng(3)
    mask = np.ones((6, 4), bool)
    for _ in range(5):
        obs = rng.normal(size=(6, 5)).astype(np.float32)
        learner.observe(
            TransitionBatch(
                agent_idx=np.arange(6),
                obs=obs,
                action=learner.act(obs, np.arange(6), mask),
                mask=mask,
                reward=rng.normal(size=6),
                obs_next=rng.normal(size=(6, 5)).astype(np.float32),
                mask_next=mask,
                tau=np.ones(6),
                done=np.zeros(6, bool),
                terminal=np.zeros(6, bool),
                t_start=np.zeros(6),
                t_end=np.ones(6),
            )
        )
        while learner.ready():
            learner.update()
    return learner


@pytest.mark.parametrize("replay", ["pooled", "per_agent"])
def test_per_agent_training_state_lives_on_the_learner_device(replay):
    learner = _per_agent_updates("cpu", replay)
    assert learner.optimizer.steps.sum() > 0
    for tensor in learner.optimizer.state_dict().values():
        assert tensor.device.type == "cpu"


@cuda
@pytest.mark.parametrize("replay", ["pooled", "per_agent"])
def test_per_agent_training_on_cuda_matches_the_cpu(replay):
    cpu, gpu = (_per_agent_updates(d, replay) for d in ("cpu", "cuda"))
    assert gpu.agents.online.flat.device.type == "cuda"
    assert gpu.optimizer.exp_avg.device.type == "cuda"
    torch.testing.assert_close(gpu.optimizer.steps.cpu(), cpu.optimizer.steps)
    torch.testing.assert_close(
        gpu.agents.online.flat.detach().cpu(), cpu.agents.online.flat.detach(), rtol=1e-4, atol=1e-5
    )


@cuda
def test_mixing_on_cuda_matches_the_cpu():
    from dmarl_des.learn.mixing import metropolis_weights, mix, mixing_matrix

    indptr, indices = np.array([0, 2, 4, 6]), np.array([1, 2, 0, 2, 0, 1])
    weights = metropolis_weights(indptr, indices)
    theta = torch.randn(3, 50)
    on_cpu = mix(mixing_matrix(indptr, indices, weights), theta)
    on_gpu = mix(mixing_matrix(indptr, indices, weights, device="cuda"), theta.cuda())
    torch.testing.assert_close(on_gpu.cpu(), on_cpu)
