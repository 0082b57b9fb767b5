"""Learning targets against hand-computed cases: double-DQN SMDP target, SMDP GAE, joint target."""

import numpy as np
import pytest
import torch

from dmarl_des.learn import DecisionEpoch, TransitionBatch, learner_config, make_learner
from dmarl_des.learn.ippo import smdp_gae, trajectory_ends
from dmarl_des.learn.iql import double_q_target
from dmarl_des.learn.joint_replay import EpochReplay, conditional_next_q

GAMMA = 0.9


def test_double_q_target_with_masks_gamma_tau_terminal_and_horizon_cut():
    reward = torch.tensor([1.0, 2.0, 0.5, 3.0])
    tau = torch.tensor([1.0, 2.0, 0.5, 1.0])
    terminal = torch.tensor([False, False, True, False])  # row 3: horizon cut, bootstraps
    q_online = torch.tensor([[1.0, 5.0, 3.0], [2.0, 1.0, 0.0], [9.0, 9.0, 9.0], [0.0, 4.0, 1.0]])
    q_target = torch.tensor(
        [[10.0, 20.0, 30.0], [7.0, 8.0, 9.0], [99.0, 99.0, 99.0], [1.0, 2.0, 3.0]]
    )
    mask = torch.tensor([[True, False, True], [True, True, True], [True, True, True], [True] * 3])
    y = double_q_target(reward, GAMMA**tau, terminal, q_online, q_target, mask)
    # row 0: masked action 1 (online 5) is skipped -> online picks 2 -> target 30
    # row 1: online picks 0 (not the target's own max 9) -> 7, discounted by 0.9^2
    # row 2: terminal, no bootstrap; row 3: online picks 1 -> target 2
    expected = [1 + 0.9 * 30, 2 + 0.81 * 7, 0.5, 3 + 0.9 * 2]
    np.testing.assert_allclose(y.numpy(), expected, rtol=1e-6)


def _single_transition(agent, obs, action, reward, obs_next, mask_next, tau, terminal):
    return TransitionBatch(
        agent_idx=np.array([agent]),
        obs=obs[None],
        action=np.array([action]),
        mask=np.ones((1, 3), bool),
        reward=np.array([reward]),
        obs_next=obs_next[None],
        mask_next=mask_next[None],
        tau=np.array([tau]),
        done=np.array([terminal]),
        terminal=np.array([terminal]),
        t_start=np.array([0.0]),
        t_end=np.array([tau]),
    )


@pytest.mark.parametrize("terminal", [False, True])
def test_iql_update_minimizes_the_squeezed_double_q_error(terminal):
    config = learner_config(
        "iql",
        {
            "hidden": 8,
            "learning_starts": 0,
            "batch_size": 1,
            "train_every": 1,
            "params": "per_agent",
        },
    )
    learner = make_learner(config, obs_dim=2, n_actions=3, n_agents=2, gamma=GAMMA, seed=0)
    with torch.no_grad():  # make target and online nets differ
        for p in learner.agents.target.parameters():
            p.add_(0.3)
    obs, obs_next = np.array([0.2, -1.0], np.float32), np.array([1.0, 0.5], np.float32)
    mask_next = np.array([False, True, True])
    learner.observe(_single_transition(1, obs, 2, 1.5, obs_next, mask_next, 2.5, terminal))
    assert learner.replay.columns["discount"][0] == pytest.approx(GAMMA**2.5)
    assert learner.ready()
    agents, idx = learner.agents, torch.tensor([1])
    with torch.no_grad():
        q = agents.q_values(agents.online, torch.from_numpy(obs[None]), idx, None)[0][0, 2]
        q_on = agents.q_values(agents.online, torch.from_numpy(obs_next[None]), idx, None)[0][0]
        q_tg = agents.q_values(agents.target, torch.from_numpy(obs_next[None]), idx, None)[0][0]
    best = 1 if q_on[1] >= q_on[2] else 2  # action 0 is masked at o'
    y = 1.5 + (0.0 if terminal else GAMMA**2.5 * float(q_tg[best]))
    error = abs(float(q) - y)
    huber = 0.5 * error**2 if error < 1.0 else error - 0.5
    metrics = learner.update()
    assert metrics["loss"] == pytest.approx(huber, rel=1e-5)
    assert not learner.ready()


def test_smdp_gae_on_a_hand_computed_three_step_trajectory():
    reward = np.array([1.0, 0.0, 2.0])
    value = np.array([0.5, 1.0, 1.5])
    value_next = np.array([1.0, 1.5, 4.0])
    tau = np.array([1.0, 2.0, 0.5])
    discount = GAMMA**tau  # 0.9, 0.81, 0.948683
    last = np.array([False, False, True])
    lam = 0.8
    # terminal at the end: delta_2 = 2 - 1.5
    d0, d1 = 1.0 + 0.9 * 1.0 - 0.5, 0.0 + 0.81 * 1.5 - 1.0
    a2 = 0.5
    a1 = d1 + 0.81 * lam * a2
    a0 = d0 + 0.9 * lam * a1
    got = smdp_gae(reward, value, value_next, discount, np.array([False, False, True]), last, lam)
    np.testing.assert_allclose(got, [a0, a1, a2], rtol=1e-12)
    np.testing.assert_allclose(got, [1.78808, 0.539, 0.5], rtol=1e-12)
    # cut by the horizon instead: the last step bootstraps V(o') with gamma^0.5
    a2_cut = 2.0 + GAMMA**0.5 * 4.0 - 1.5
    got_cut = smdp_gae(reward, value, value_next, discount, np.zeros(3, bool), last, lam)
    np.testing.assert_allclose(got_cut[2], a2_cut, rtol=1e-12)
    np.testing.assert_allclose(got_cut[0], d0 + 0.9 * lam * (d1 + 0.81 * lam * a2_cut), rtol=1e-12)


def test_gae_keeps_trajectories_of_different_agents_and_episodes_apart():
    rng = np.random.default_rng(0)
    # rows sorted by (episode, agent, t_start): agent 0 (3 steps), agent 1 (2 steps), ep 1 agent 0
    episode = np.array([0, 0, 0, 0, 0, 1])
    agent = np.array([0, 0, 0, 1, 1, 0])
    done = np.array([False, False, True, False, False, True])
    last = trajectory_ends(episode, agent, done)
    np.testing.assert_array_equal(last, [False, False, True, False, True, True])
    reward, value, value_next = rng.normal(size=(3, 6))
    discount = GAMMA ** rng.uniform(0.5, 3.0, size=6)
    terminal = done.copy()
    whole = smdp_gae(reward, value, value_next, discount, terminal, last, 0.95)
    for rows in ([0, 1, 2], [3, 4], [5]):
        part = smdp_gae(
            reward[rows],
            value[rows],
            value_next[rows],
            discount[rows],
            terminal[rows],
            last[rows],
            0.95,
        )
        np.testing.assert_allclose(whole[rows], part, rtol=1e-12)


def test_conditional_target_keeps_running_actions_of_agents_not_deciding():
    q_online = torch.tensor([[[1.0, 9.0, 2.0], [5.0, 0.0, 0.0], [0.0, 3.0, 1.0]]])
    q_target = torch.tensor([[[10.0, 20.0, 30.0], [7.0, 8.0, 100.0], [4.0, 5.0, 6.0]]])
    mask = torch.tensor([[[True, False, True], [True, True, True], [True, True, True]]])
    running = torch.tensor([[0, 1, 0]])
    deciding = torch.tensor([[True, False, True]])
    got = conditional_next_q(q_online, q_target, mask, running, deciding)
    # agent 0 decides: best allowed by the online net is 2 (1 is masked) -> 30
    # agent 1 still runs action 1 -> 8 (not max 100, not online's favourite 0)
    # agent 2 decides: online picks 1, target evaluates it -> 5 (not the target's max 6)
    np.testing.assert_allclose(got.numpy(), [[30.0, 8.0, 5.0]])


def _epoch(
    time,
    tau,
    reward,
    action,
    deciding,
    *,
    alive=None,
    done=False,
    episode=0,
    obs=None,
    mask=None,
    n=3,
    state=None,
):
    return DecisionEpoch(
        time=time,
        tau=tau,
        reward=reward,
        state=np.array([time], np.float32) if state is None else state,
        obs=np.full((n, 2), time, np.float32) if obs is None else obs,
        mask=np.ones((n, 3), bool) if mask is None else mask,
        action=np.asarray(action, np.int64),
        deciding=np.asarray(deciding, bool),
        alive=np.ones(n, bool) if alive is None else np.asarray(alive, bool),
        done=done,
        terminal=done,
        episode=episode,
    )


def test_epoch_replay_links_consecutive_epochs_of_an_episode_only():
    replay = EpochReplay(4, 3, 2, 3, 1, 0, GAMMA)
    assert not replay.add(_epoch(0.0, 0.0, 0.0, [0, 1, 2], [1, 1, 1]))
    assert replay.add(_epoch(1.5, 1.5, 2.0, [1, 1, 2], [1, 0, 0]))
    assert replay.add(_epoch(2.0, 0.5, 1.0, [1, 1, 0], [0, 0, 1], done=True))
    assert not replay.add(_epoch(0.0, 0.0, 0.0, [0, 0, 0], [1, 1, 1], episode=1))
    assert replay.n_transitions == 2
    sample = replay.sample(64, np.random.default_rng(0))
    first = sample["state"][:, 0] == 0.0
    assert first.any() and (~first).any()
    # reward and tau of e -> e+1 come from epoch e+1's record
    np.testing.assert_allclose(sample["reward"][first], 2.0)
    np.testing.assert_allclose(sample["discount"][first], GAMMA**1.5)
    np.testing.assert_array_equal(sample["action_next"][first][0], [1, 1, 2])
    np.testing.assert_array_equal(sample["deciding_next"][~first][0], [False, False, True])
    # wrapping around overwrites the oldest epoch: its pair is gone, the new pair links
    assert replay.add(_epoch(1.0, 1.0, 0.0, [0, 0, 0], [1, 0, 0], episode=1))
    assert replay.n_transitions == 2  # (1.5 -> 2.0) and (ep1: 0 -> 1)
    assert not replay.linked[0]


def test_vdn_update_minimizes_the_conditional_joint_error():
    config = learner_config(
        "vdn",
        {
            "hidden": 8,
            "learning_starts": 0,
            "batch_size": 4,
            "train_every": 1,
            "params": "per_agent",
        },
    )
    learner = make_learner(config, obs_dim=2, n_actions=3, n_agents=3, gamma=GAMMA, seed=1)
    with torch.no_grad():
        for p in learner.agents.target.parameters():
            p.mul_(1.5)
    obs0 = np.array([[0.1, 0.2], [0.3, -0.4], [1.0, 0.0]], np.float32)
    obs1 = np.array([[-0.5, 0.7], [0.3, -0.4], [0.0, 0.0]], np.float32)
    mask1 = np.array([[True, True, False], [True, True, True], [False, False, False]])
    learner.observe_epoch(_epoch(0.0, 0.0, 0.0, [2, 1, 0], [1, 1, 1], obs=obs0))
    # at e+1 agent 0 decides (action 2 masked), agent 1 still runs action 1, agent 2 has crashed
    learner.observe_epoch(
        _epoch(2.0, 2.0, 3.0, [0, 1, 0], [1, 0, 0], alive=[1, 1, 0], obs=obs1, mask=mask1)
    )
    assert learner.ready()
    agents, idx = learner.agents, torch.arange(3)
    with torch.no_grad():
        q0 = agents.q_values(agents.online, torch.from_numpy(obs0), idx, None)[0]
        q1_on = agents.q_values(agents.online, torch.from_numpy(obs1), idx, None)[0]
        q1_tg = agents.q_values(agents.target, torch.from_numpy(obs1), idx, None)[0]
    q_tot = float(q0[0, 2] + q0[1, 1] + q0[2, 0])
    best0 = int(q1_on[0, :2].argmax())
    y = 3.0 + GAMMA**2.0 * float(q1_tg[0, best0] + q1_tg[1, 1])
    metrics = learner.update()
    assert metrics["loss"] == pytest.approx((q_tot - y) ** 2, rel=1e-5)
