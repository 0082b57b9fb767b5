"""Learner configs and the factory: clear errors, immutability, seeded reproducibility."""

import numpy as np
import pytest
import torch

from dmarl_des.errors import ConfigError
from dmarl_des.learn import LEARNERS, Learner, Policy, learner_config, make_learner
from dmarl_des.learn.config import LearnerConfig

from .games import run_chain_episodes, step_or_leap_chain


def test_every_builtin_learner_builds_and_follows_the_protocol():
    assert set(LEARNERS) == {
        "iql",
        "ippo",
        "vdn",
        "qmix",
        "networked_ac",
        "independent_ac",
        "central_ac",
        "resilient_ac",
        "mfq",
        "mfac",
        "gnn_ippo",
        "gnn_iql",
    }
    for name in LEARNERS:
        learner = make_learner(
            learner_config(name, {}),
            obs_dim=3,
            n_actions=2,
            n_agents=2,
            state_dim=1,
            gamma=0.99,
            seed=0,
        )
        assert isinstance(learner, Learner) and isinstance(learner, Policy)
        assert learner.joint == (name in ("vdn", "qmix"))


def test_the_registry_is_immutable():
    with pytest.raises(TypeError):
        LEARNERS["mine"] = LearnerConfig  # type: ignore[index]


@pytest.mark.parametrize(
    ("name", "values", "pattern"),
    [
        (
            "dqn",
            {},
            r"learner.name: got 'dqn'; allowed: iql \| ippo \| vdn \| qmix \| networked_ac",
        ),
        ("iql", {"learning_rate": 0.1}, r"learner.learning_rate.*allowed: keys .*\blr\b"),
        ("iql", {"lr": -1.0}, r"learner.lr: got -1.0; allowed: .*greater than 0"),
        ("ippo", {"params": "private"}, r"learner.params: got 'private'.*'shared'"),
        ("vdn", {"network": "lstm"}, r"learner.network: got 'lstm'.*'mlp'.*'gru'"),
        ("qmix", {"device": "tpu"}, r"learner.device: got 'tpu'"),
        ("qmix", {"name": "vdn"}, r"learner.name: got 'vdn'"),
    ],
)
def test_bad_configs_name_field_value_and_allowed(name, values, pattern):
    with pytest.raises(ConfigError, match=pattern):
        learner_config(name, values)


@pytest.mark.skipif(torch.cuda.is_available(), reason="checks the error on a machine without CUDA")
def test_cuda_without_cuda_is_a_config_error():
    with pytest.raises(ConfigError, match=r"learner.device: got 'cuda'.*not available"):
        learner_config("iql", {"device": "cuda"})
    config = learner_config("iql", {})
    with pytest.raises(ConfigError, match="learner.device"):
        make_learner(config, obs_dim=2, n_actions=2, n_agents=1, gamma=0.9, seed=0, device="cuda:0")


@pytest.mark.parametrize(
    ("field", "kwargs"),
    [
        ("obs_dim", {"obs_dim": 0}),
        ("n_agents", {"n_agents": -2}),
        ("gamma", {"gamma": 1.5}),
        ("groups", {"groups": [0, 1]}),
        ("state_dim", {"state_dim": 0, "name": "qmix"}),
    ],
)
def test_bad_dimensions_are_config_errors(field, kwargs):
    name = kwargs.pop("name", "iql")
    args = {"obs_dim": 2, "n_actions": 2, "n_agents": 3, "gamma": 0.9, "seed": 0, **kwargs}
    with pytest.raises(ConfigError, match=field):
        make_learner(learner_config(name, {}), **args)


@pytest.mark.parametrize("name", ["iql", "ippo"])
def test_same_seed_same_actions_and_updates_different_seed_differs(name):
    chain = step_or_leap_chain()
    values = (
        {"hidden": 16, "learning_starts": 16, "batch_size": 16, "train_every": 4}
        if name == "iql"
        else {}
    )
    runs = []
    for seed in (3, 3, 4):
        learner = make_learner(
            learner_config(name, values),
            obs_dim=4,
            n_actions=3,
            n_agents=3,
            gamma=chain.gamma,
            seed=seed,
        )
        metrics = run_chain_episodes(learner, chain, episodes=4, n_agents=3, horizon=8.0)
        obs = np.random.default_rng(0).normal(size=(32, 4)).astype(np.float32)
        acts = learner.act(obs, np.arange(32) % 3, np.ones((32, 3), bool))
        runs.append((metrics, acts))
    assert runs[0][0] and runs[0][0] == runs[1][0]
    np.testing.assert_array_equal(runs[0][1], runs[1][1])
    assert runs[0][0] != runs[2][0]
