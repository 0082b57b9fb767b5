"""Checkpoints at another swarm size: shared and per-group parameters act there, per-agent ones are a
clear error; exploration schedules count decisions per agent."""

import numpy as np
import pytest

from dmarl_des.errors import ConfigError
from dmarl_des.learn import learner_config, make_learner, save_checkpoint
from dmarl_des.learn.checkpoint import load_checkpoint
from dmarl_des.learn.sampling import LinearSchedule

OBS, ACTIONS, N = 3, 4, 4


def _saved(folder, name="iql", groups=None, **values):
    learner = make_learner(
        learner_config(name, {"hidden": 8, **values}),
        obs_dim=OBS,
        n_actions=ACTIONS,
        n_agents=N,
        gamma=0.9,
        seed=3,
        groups=groups,
        state_dim=2,
    )
    save_checkpoint(folder, learner, {"world": {"name": "x"}})
    return learner


def _greedy(learner, obs, idx):
    return learner.act(obs, idx, np.ones((len(idx), ACTIONS), dtype=bool), explore=False)


@pytest.mark.parametrize(
    ("name", "values"),
    [("iql", {}), ("iql", {"network": "gru"}), ("ippo", {}), ("vdn", {})],
)
def test_shared_parameters_act_at_twice_the_trained_swarm(tmp_path, name, values):
    trained = _saved(tmp_path / "ck", name, **values)
    learner, card = load_checkpoint(tmp_path / "ck", dims=(OBS, ACTIONS, 2 * N))
    assert card["spec"]["n_agents"] == N and learner.spec.n_agents == 2 * N
    rng = np.random.default_rng(0)
    obs = rng.normal(size=(2 * N, OBS)).astype(np.float32)
    wide = _greedy(learner, obs, np.arange(2 * N))
    # one shared network: each agent of the larger swarm acts as the trained agents would
    assert wide[:N].tolist() == _greedy(trained, obs[:N], np.arange(N)).tolist()
    trained.reset(None)  # recurrent agents: the second half starts from a fresh state too
    assert wide[N:].tolist() == _greedy(trained, obs[N:], np.arange(N)).tolist()


def test_per_agent_parameters_at_another_size_are_a_clear_error(tmp_path):
    _saved(tmp_path / "ck", params="per_agent")
    with pytest.raises(ConfigError) as info:
        load_checkpoint(tmp_path / "ck", dims=(OBS, ACTIONS, 2 * N))
    assert info.value.field == "card.spec.n_agents" and info.value.value == N
    assert "per_agent parameters hold one network per trained agent" in info.value.allowed
    load_checkpoint(tmp_path / "ck", dims=(OBS, ACTIONS, N))  # the trained size still loads


@pytest.mark.parametrize(
    ("name", "values", "words"),
    [
        ("iql", {"agent_feature": "agent_id"}, "one-hot agent index"),
        ("qmix", {}, "QMIX mixer"),
    ],
)
def test_inputs_sized_by_the_swarm_are_a_clear_error(tmp_path, name, values, words):
    _saved(tmp_path / "ck", name, **values)
    with pytest.raises(ConfigError) as info:
        load_checkpoint(tmp_path / "ck", dims=(OBS, ACTIONS, 2 * N))
    assert words in info.value.allowed


def test_per_group_parameters_travel_with_the_new_swarms_groups(tmp_path):
    trained = _saved(tmp_path / "ck", "ippo", groups=[0, 0, 1, 1], params="per_group")
    groups = [0, 1] * N
    learner, _ = load_checkpoint(tmp_path / "ck", dims=(OBS, ACTIONS, 2 * N), groups=groups)
    obs = np.random.default_rng(1).normal(size=(2 * N, OBS)).astype(np.float32)
    wide = _greedy(learner, obs, np.arange(2 * N))
    # agent i of the new swarm acts with the network of group groups[i]
    for i in range(2 * N):
        same_group = 0 if groups[i] == 0 else 2  # a trained agent of that group
        assert wide[i] == _greedy(trained, obs[i : i + 1], np.array([same_group]))[0]
    with pytest.raises(ConfigError) as info:
        load_checkpoint(tmp_path / "ck", dims=(OBS, ACTIONS, 2 * N))
    assert info.value.field == "groups"
    with pytest.raises(ConfigError):  # three groups where two were trained
        load_checkpoint(tmp_path / "ck", dims=(OBS, ACTIONS, 3), groups=[0, 1, 2])


def test_other_observation_or_action_sizes_are_refused(tmp_path):
    _saved(tmp_path / "ck")
    with pytest.raises(ConfigError) as info:
        load_checkpoint(tmp_path / "ck", dims=(OBS + 1, ACTIONS, N))
    assert info.value.field == "card.spec.obs_dim"
    with pytest.raises(ConfigError) as info:
        load_checkpoint(tmp_path / "ck", dims=(OBS, ACTIONS + 1, 2 * N))
    assert info.value.field == "card.spec.n_actions"


def test_exploration_is_scheduled_in_decisions_per_agent():
    schedule = LinearSchedule(1.0, 0.0, 100, per=200)
    assert schedule(200 * 50) == pytest.approx(0.5) and schedule(200 * 100) == 0.0
    small, large = (
        make_learner(
            learner_config("iql", {"hidden": 8, "eps_decay": 10}),
            obs_dim=OBS,
            n_actions=ACTIONS,
            n_agents=n,
            gamma=0.9,
            seed=0,
        )
        for n in (2, 200)
    )
    for learner, n in ((small, 2), (large, 200)):
        obs = np.zeros((n, OBS), dtype=np.float32)
        for _ in range(5):  # five decisions of every agent: half the schedule
            learner.act(obs, np.arange(n), np.ones((n, ACTIONS), dtype=bool))
        assert learner.epsilon(learner.decisions) == pytest.approx(1.0 - 0.95 * 0.5)
