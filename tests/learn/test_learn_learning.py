"""Quick learning on tiny cooperative problems with known optima, driven through the protocol."""

import numpy as np
import pytest

from dmarl_des.learn import learner_config, make_learner

from .games import (
    greedy_chain_policy,
    matrix_game_episode,
    run_chain_episodes,
    step_or_leap_chain,
)

CHAIN_LEARNERS = [
    (
        "iql",
        {
            "hidden": 32,
            "lr": 3e-3,
            "learning_starts": 64,
            "train_every": 2,
            "eps_decay": 200,  # decisions per agent (4 agents: 800 in all)
            "target_every": 50,
            "batch_size": 32,
        },
    ),
    (
        "iql",
        {
            "hidden": 32,
            "lr": 3e-3,
            "learning_starts": 64,
            "train_every": 2,
            "eps_decay": 200,  # decisions per agent (4 agents: 800 in all)
            "target_every": 50,
            "batch_size": 32,
            "network": "gru",
        },
    ),
    (
        "iql",
        {
            "hidden": 32,
            "lr": 3e-3,
            "learning_starts": 64,
            "train_every": 1,  # per agent: each agent's 16 own rows per own transition
            "eps_decay": 200,  # decisions per agent (4 agents: 800 in all)
            "target_every": 20,
            "batch_size": 16,
            "params": "per_agent",
            "replay": "per_agent",
        },
    ),
    ("ippo", {"hidden": 32, "lr": 3e-3, "epochs": 4, "minibatches": 2, "params": "per_agent"}),
]


def test_the_chain_rewards_smdp_discounting():
    chain = step_or_leap_chain()
    optimum = chain.optimal_value()
    np.testing.assert_allclose(optimum[:3], [0.9**3 * 10, 0.9**2 * 10, 0.9 * 10])
    # leaping from 0 (3 time units) then stepping: better if each macro-action counted as one step
    leap_first = np.zeros((4, 3))
    leap_first[[0, 1, 2, 3], [1, 0, 0, 0]] = 1.0
    assert chain.value(leap_first)[0] == pytest.approx(0.9**3 * 0.9 * 10)
    assert chain.value(leap_first)[0] < optimum[0] - 0.5


@pytest.mark.parametrize(("name", "values"), CHAIN_LEARNERS)
def test_macro_learners_find_the_optimal_smdp_policy(name, values):
    chain = step_or_leap_chain()
    learner = make_learner(
        learner_config(name, values), obs_dim=4, n_actions=3, n_agents=4, gamma=chain.gamma, seed=0
    )
    metrics = run_chain_episodes(learner, chain, episodes=70, n_agents=4, horizon=12.0)
    assert len(metrics) > 10 and all(np.isfinite(m["loss"]) for m in metrics)
    optimum = chain.optimal_value()[0]
    random = chain.value(chain.random_policy())[0]
    assert optimum - random > 1.0
    for agent in range(4):
        learned = chain.value(greedy_chain_policy(learner, chain, agent))[0]
        assert learned == pytest.approx(optimum, abs=1e-9)
        assert learned - random > 1.0


# a coordination game: three pure equilibria, one optimal; miscoordination pays nothing
PAYOFF = np.array([[10.0, 0.0, 0.0], [0.0, 3.0, 0.0], [0.0, 0.0, 3.0]])


@pytest.mark.parametrize(("name", "params"), [("vdn", "shared"), ("qmix", "per_agent")])
def test_joint_learners_reach_the_coordinated_optimum(name, params):
    config = learner_config(
        name,
        {
            "hidden": 32,
            "lr": 3e-3,
            "learning_starts": 32,
            "target_every": 50,
            "train_every": 1,
            "eps_decay": 300,  # decisions per agent (2 agents: 600 in all)
            "params": params,
        },
    )
    learner = make_learner(
        config, obs_dim=2, n_actions=3, n_agents=2, state_dim=1, gamma=0.9, seed=0
    )
    metrics = []
    for episode in range(400):
        metrics += matrix_game_episode(learner, PAYOFF, episode)[1]
    assert len(metrics) > 300
    actions, _ = matrix_game_episode(learner, PAYOFF, 10_000, explore=False)
    learned = PAYOFF[actions[0], actions[1]]
    random = PAYOFF.mean()
    assert learned == PAYOFF.max()
    assert learned - random > 5.0
