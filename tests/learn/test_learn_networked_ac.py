"""Networked actor-critic steps on hand-computed cases (both algorithms, local and global critics)."""

from __future__ import annotations

import dataclasses
import math

import numpy as np
import pytest
import torch

from dmarl_des.errors import ConfigError
from dmarl_des.learn import DecisionEpoch, TransitionBatch, learner_config, make_learner
from dmarl_des.learn.checkpoint import load_checkpoint, save_checkpoint
from dmarl_des.learn.exchange import Arrived
from dmarl_des.net import ring

GAMMA = 0.8
N, D, A, S = 3, 2, 2, 3


def make(name="networked_ac", **values):
    values.setdefault("hidden", 8)
    config = learner_config(name, values)
    return make_learner(
        config, obs_dim=D, n_actions=A, n_agents=N, state_dim=S, gamma=GAMMA, seed=3
    )


def tabular(net, bias) -> None:
    """Zero every layer but the head's bias: the net outputs ``bias`` [sets, out] whatever its
    input (hidden units are relu(0) = 0), and only that bias gets a gradient."""
    with torch.no_grad():
        net.flat.zero_()
        net.head.bias.copy_(torch.as_tensor(bias, dtype=torch.float32))


def batch(agent, action, reward, tau, terminal=None, t0=None, team=None, mask_next=None):
    b = len(agent)
    t0 = np.zeros(b) if t0 is None else np.asarray(t0, dtype=float)
    return TransitionBatch(
        agent_idx=np.asarray(agent),
        obs=np.zeros((b, D), np.float32),
        action=np.asarray(action),
        mask=np.ones((b, A), bool),
        reward=np.asarray(reward, float),
        obs_next=np.ones((b, D), np.float32),
        mask_next=np.ones((b, A), bool) if mask_next is None else np.asarray(mask_next),
        tau=np.asarray(tau, float),
        done=np.zeros(b, bool) if terminal is None else np.asarray(terminal),
        terminal=np.zeros(b, bool) if terminal is None else np.asarray(terminal),
        t_start=t0,
        t_end=t0 + np.asarray(tau, float),
        team_reward=None if team is None else np.asarray(team, float),
    )


def actor_logits(learner, logits) -> None:
    tabular(learner.actor, logits)


def test_action_value_local_td_and_actor_steps_by_hand():
    learner = make(critic_lr=0.5, lr=0.01, ent_coef=0.0)
    q = np.array([[1.0, 3.0], [0.0, 0.0], [2.0, -1.0]])
    tabular(learner.critic, q)
    logits = np.array([[0.0, math.log(3.0)], [0.0, 0.0], [0.0, 0.0]])  # agent 0: π = (1/4, 3/4)
    actor_logits(learner, logits)
    # agent 0 takes action 0, reward 2, τ = 2; agent 2 takes action 1 on a terminal transition
    learner.observe(batch([0, 2], [0, 1], [2.0, 5.0], [2.0, 1.0], terminal=[False, True]))
    assert learner.ready()
    metrics = learner.update()
    # agent 0: target y = r + γ^τ Σ π(a'|o') Q(o', a') = 2 + 0.64 · (1/4 · 1 + 3/4 · 3) = 3.6
    y0 = 2 + GAMMA**2 * (0.25 * 1 + 0.75 * 3)
    # agent 2 is terminal: y = 5; π uniform
    y2 = 5.0
    new = learner.critic.head.bias.detach().numpy()
    np.testing.assert_allclose(new[0], [1 - 0.5 * (1 - y0), 3.0], rtol=1e-6)
    np.testing.assert_allclose(new[2], [2.0, -1 - 0.5 * (-1 - y2)], rtol=1e-6)
    np.testing.assert_array_equal(new[1], [0.0, 0.0])  # no data: no step
    # advantages with the critic before the step: A = Q(o, a) − Σ π Q(o, ·)
    a0 = 1 - (0.25 * 1 + 0.75 * 3)
    a2 = -1 - (0.5 * 2 + 0.5 * -1)
    assert metrics["advantage"] == pytest.approx((a0 + a2) / 2, rel=1e-6)
    # policy loss: per-agent mean of −A log π(a)
    expected = -(a0 * math.log(0.25) + a2 * math.log(0.5)) / 2
    assert metrics["policy_loss"] == pytest.approx(expected, rel=1e-6)
    assert metrics["value_loss"] == pytest.approx(
        (0.5 * (1 - y0) ** 2 + 0.5 * (-1 - y2) ** 2) / 2, rel=1e-6
    )
    # the actor's first Adam step moves each logit by ±lr, in the direction that raises A log π:
    # agent 0's A < 0 lowers the taken action's logit, agent 2's A < 0 too
    step = learner.actor.head.bias.detach().numpy() - logits
    np.testing.assert_allclose(step[0], [-0.01, 0.01], rtol=1e-3)
    np.testing.assert_allclose(step[2], [0.01, -0.01], rtol=1e-3)
    np.testing.assert_array_equal(step[1], [0.0, 0.0])


def test_each_agent_steps_on_the_mean_of_its_own_rows():
    learner = make(critic_lr=1.0, lr=0.01)
    tabular(learner.critic, np.zeros((N, A)))
    # agent 1 has two terminal rows (rewards 1 and 3), agent 0 one (reward 10), all action 0
    learner.observe(batch([1, 1, 0], [0, 0, 0], [1.0, 3.0, 10.0], [1, 1, 1], terminal=[1, 1, 1]))
    learner.update()
    bias = learner.critic.head.bias.detach().numpy()
    np.testing.assert_allclose(bias[:, 0], [10.0, 2.0, 0.0], rtol=1e-6)  # lr 1: to each mean


def test_central_critic_is_shared_and_trained_on_the_team_average_reward():
    learner = make("central_ac", critic_lr=1.0)
    assert learner.team_reward and learner.critic.n_sets == 1
    tabular(learner.critic, np.zeros((1, A)))
    learner.observe(
        batch([0, 1], [1, 1], [100.0, -100.0], [1, 1], terminal=[1, 1], team=[2.0, 4.0])
    )
    learner.update()
    np.testing.assert_allclose(learner.critic.head.bias.detach().numpy(), [[0.0, 3.0]], rtol=1e-6)
    with pytest.raises(ConfigError, match="team_reward"):
        learner.observe(batch([0], [0], [1.0], [1.0]))


def test_state_value_td_reward_model_and_actor_by_hand():
    learner = make(algorithm="state_value", critic_lr=0.5, ent_coef=0.0)
    tabular(learner.critic, np.array([[2.0], [0.0], [0.0]]))  # V = 2 for agent 0
    tabular(learner.reward_model, np.array([[1.0, 4.0], [0.0, 0.0], [0.0, 0.0]]))  # R̄(·, a)
    actor_logits(learner, np.zeros((N, A)))
    learner.observe(batch([0], [1], [3.0], [1.0]))
    metrics = learner.update()
    y = 3.0 + GAMMA * 2.0  # δ = r + γ^τ V(s') − V(s), V constant
    assert learner.critic.head.bias[0, 0].item() == pytest.approx(2 - 0.5 * (2 - y))
    np.testing.assert_allclose(
        learner.reward_model.head.bias.detach().numpy()[0], [1.0, 4 - 0.5 * (4 - 3)], rtol=1e-6
    )
    # the actor's TD error uses the reward model: δ̃ = R̄(s, a) + γ^τ V(s') − V(s)
    assert metrics["advantage"] == pytest.approx(4.0 + GAMMA * 2.0 - 2.0, rel=1e-6)
    assert metrics["reward_loss"] == pytest.approx(0.5 * (4 - 3) ** 2, rel=1e-6)


def epoch(time, state, action, deciding, episode=0, done=False):
    return DecisionEpoch(
        time=time,
        tau=0.0,
        reward=0.0,
        state=np.asarray(state, np.float32),
        obs=np.zeros((N, D), np.float32),
        mask=np.ones((N, A), bool),
        action=np.asarray(action),
        deciding=np.asarray(deciding),
        alive=np.ones(N, bool),
        done=done,
        terminal=False,
        episode=episode,
    )


def linear_critic(net, weights) -> None:
    """Make ``net`` (one hidden width ≥ its input) compute Σ_k weights[k] · x_k + constant: the
    first layer copies the input shifted by +10 (kept positive through the ReLUs), the second
    passes it on, the head weighs it."""
    with torch.no_grad():
        net.flat.zero_()
        (w1, b1), (w2, _) = net.linears()[0], net.linears()[1]
        w_head = net.head.weight
        n_in = w1.shape[1]
        w1[:, :, :n_in] = torch.eye(n_in)
        b1[:, :n_in] = 10.0
        w2[:] = torch.eye(w2.shape[1])
        w_head[:, :n_in, 0] = torch.as_tensor(weights, dtype=torch.float32)


def test_global_critic_counterfactual_advantage_and_sarsa_target():
    learner = make(critic_input="global", critic_lr=1e-9, ent_coef=0.0, hidden=16)
    assert learner.joint
    # Q(s, a) = Σ u · x with x = (state [3], one-hot joint action [3 × 2])
    u = np.array([0.0, 0.0, 0.0, 1.0, 2.0, 5.0, 7.0, 0.0, 0.0])
    linear_critic(learner.critic, u)
    actor_logits(
        learner, np.array([[0.0, 0.0], [0.0, math.log(4.0)], [0.0, 0.0]])
    )  # π_1 = (.2, .8)
    learner.observe_epoch(epoch(0.0, [1, 0, 0], [0, 0, 1], [1, 1, 1]))
    learner.observe_epoch(epoch(0.5, [0, 0, 1], [0, 1, 0], [0, 1, 0]))
    learner.observe(batch([1], [0], [1.0], [0.7]))  # agent 1's macro-action cut at 0.7
    assert not learner.ready()  # its next state is not known yet
    learner.observe_epoch(epoch(1.0, [0, 1, 0], [1, 1, 1], [1, 1, 1]))
    assert learner.ready()
    metrics = learner.update()
    # agent 1 took action 0 (one-hot slot 5 of x: weight 5); its alternatives: slots 5 and 6
    assert metrics["advantage"] == pytest.approx(5.0 - (0.2 * 5.0 + 0.8 * 7.0), rel=1e-5)
    # SARSA target with the state and joint action of the first epoch at or after the end (1.0)
    q = 0.0 + 1.0 + 5.0 + 0.0  # joint (0, 0, 1): slots 3, 5, 8
    q_next = 2.0 + 7.0 + 0.0  # joint (1, 1, 1): slots 4, 6, 8
    shift = 10.0 * u.sum()  # the +10 of every input coordinate
    y = 1.0 + GAMMA**0.7 * (q_next + shift)
    assert metrics["value_loss"] == pytest.approx(0.5 * (q + shift - y) ** 2, rel=1e-5)


def test_consensus_round_keeps_the_average_of_the_critics():
    learner = make(critic_lr=0.1)
    rng = np.random.default_rng(0)
    with torch.no_grad():
        learner.critic.flat.copy_(torch.as_tensor(rng.normal(size=learner.critic.flat.shape)))
    before = learner.critic.flat.detach().numpy().copy()
    (exchange,) = learner.exchanges()
    assert exchange.name == "critic" and exchange.size == learner.critic.n_params
    sent = learner.outgoing("critic", np.arange(N))
    np.testing.assert_array_equal(sent, before.astype(np.float32))
    topology = ring(N, 1)
    pairs = [(i, j) for i in range(N) for j in topology.neighbors(i).tolist()]
    sent.flags.writeable = False
    arrived = Arrived(
        name="critic",
        size=exchange.size,
        round=1,
        time=1.0,
        agents=np.arange(N),
        indptr=topology.indptr,
        indices=topology.indices,
        receiver=np.array([r for r, _ in pairs]),
        sender=np.array([s for _, s in pairs]),
        entry=np.arange(len(pairs)),
        age=np.zeros(len(pairs), dtype=np.int64),
        sources=(sent,),
        source=np.zeros(len(pairs), dtype=np.int64),
        row=np.array([s for _, s in pairs]),
    )
    metrics = learner.combine(arrived)
    after = learner.critic.flat.detach().numpy()
    np.testing.assert_allclose(after.mean(0), before.mean(0), atol=1e-5)
    np.testing.assert_allclose(after, np.repeat(before.mean(0, keepdims=True), N, 0), atol=1e-5)
    assert metrics["self_weight"] == pytest.approx(1 / 3) and metrics["disagreement"] < 1e-4


def full_ring_round(learner, sent: np.ndarray) -> Arrived:
    """Every agent of the 3-ring hears both others' rows of ``sent`` (one per sender)."""
    topology = ring(N, 1)
    pairs = [(i, j) for i in range(N) for j in topology.neighbors(i).tolist()]
    sent.flags.writeable = False
    return Arrived(
        name="critic",
        size=sent.shape[1],
        round=1,
        time=1.0,
        agents=np.arange(N),
        indptr=topology.indptr,
        indices=topology.indices,
        receiver=np.array([r for r, _ in pairs]),
        sender=np.array([s for _, s in pairs]),
        entry=np.arange(len(pairs)),
        age=np.zeros(len(pairs), dtype=np.int64),
        sources=(sent,),
        source=np.zeros(len(pairs), dtype=np.int64),
        row=np.array([s for _, s in pairs]),
    )


def test_a_parameter_rule_replaces_the_consensus_step():
    """rule = median: every agent's critic becomes the coordinate-wise median of its own and its
    neighbours' (on the 3-ring, all three); with clipped_mean (H = 1) a liar's vector far away
    leaves every coordinate within the two honest critics' range."""
    learner = make(rule="median")
    rng = np.random.default_rng(1)
    with torch.no_grad():
        learner.critic.flat.copy_(torch.as_tensor(rng.normal(size=learner.critic.flat.shape)))
    before = learner.critic.flat.detach().numpy().copy()
    metrics = learner.combine(full_ring_round(learner, learner.outgoing("critic", np.arange(N))))
    after = learner.critic.flat.detach().numpy()
    np.testing.assert_allclose(after, np.repeat(np.median(before, 0, keepdims=True), N, 0))
    assert metrics["self_weight"] is None and metrics["disagreement"] < 1e-6

    learner = make(rule="clipped_mean", H=1)
    with torch.no_grad():
        learner.critic.flat.copy_(torch.as_tensor(rng.normal(size=learner.critic.flat.shape)))
    before = learner.critic.flat.detach().numpy().copy()
    sent = learner.outgoing("critic", np.arange(N)).copy()
    sent[2] = -100.0 * sent[2]  # agent 2 lies to both others
    learner.combine(full_ring_round(learner, sent))
    after = learner.critic.flat.detach().numpy()
    low, high = before[:2].min(0), before[:2].max(0)
    for agent in (0, 1):
        assert np.all(after[agent] >= low - 1e-6) and np.all(after[agent] <= high + 1e-6)
    plain = make()  # the consensus step averages the lie in
    with torch.no_grad():
        plain.critic.flat.copy_(torch.as_tensor(before))
    plain.combine(full_ring_round(plain, sent))
    assert np.any(plain.critic.flat.detach().numpy()[0] < low - 1.0)
    with pytest.raises(ConfigError, match="learner.rule: got 'average'"):
        make(rule="average")


def test_disagreement_is_the_rms_distance_of_the_critics_to_their_mean():
    """A round where nothing arrived keeps every critic; its disagreement is
    sqrt((1/N) Σ_i ||ω_i − ω̄||²), computed by hand."""
    learner = make()
    rng = np.random.default_rng(2)
    with torch.no_grad():
        learner.critic.flat.copy_(torch.as_tensor(rng.normal(size=learner.critic.flat.shape)))
    before = learner.critic.flat.detach().numpy().astype(np.float64)
    arrived = full_ring_round(learner, learner.outgoing("critic", np.arange(N)))
    none = np.zeros(0, dtype=np.int64)
    arrived = dataclasses.replace(
        arrived, receiver=none, sender=none, entry=none, age=none, source=none, row=none
    )
    metrics = learner.combine(arrived)
    np.testing.assert_array_equal(learner.critic.flat.detach().numpy(), before.astype(np.float32))
    expected = np.sqrt(np.mean(np.sum((before - before.mean(0)) ** 2, axis=1)))
    assert metrics["disagreement"] == pytest.approx(expected, rel=1e-5)
    assert metrics["self_weight"] == pytest.approx(1.0)


def test_exchanges_by_learner_and_algorithm():
    assert [e.name for e in make(algorithm="state_value").exchanges()] == ["critic", "reward_model"]
    assert make("independent_ac").exchanges() == ()
    assert make("central_ac").exchanges() == ()
    every = make(consensus_period=0.0, consensus_every=5).exchanges()[0]
    assert (every.period, every.every_updates) == (0.0, 5)
    with pytest.raises(ConfigError, match="consensus_period"):
        make(consensus_period=0.0)
    with pytest.raises(ConfigError, match="critic_input"):
        make_learner(
            learner_config("networked_ac", {"critic_input": "global"}),
            obs_dim=D,
            n_actions=A,
            n_agents=N,
            state_dim=0,
            gamma=GAMMA,
            seed=0,
        )


def test_critics_start_from_one_draw_and_actors_do_not():
    learner = make()
    flat = learner.critic.flat.detach()
    assert torch.equal(flat[0], flat[1]) and torch.equal(flat[0], flat[2])
    assert not torch.equal(learner.actor.flat[0], learner.actor.flat[1])


@pytest.mark.parametrize("name", ["networked_ac", "independent_ac", "central_ac"])
@pytest.mark.parametrize("algorithm", ["action_value", "state_value"])
def test_checkpoints_round_trip(tmp_path, name, algorithm):
    learner = make(name, algorithm=algorithm, critic_optimizer="adam")
    team = [1.0, 2.0] if name == "central_ac" else None
    learner.observe(batch([0, 2], [1, 0], [1.0, 2.0], [1.0, 1.0], team=team))
    learner.update()
    save_checkpoint(tmp_path / "ck", learner, {"world": {"name": "test"}})
    loaded, card = load_checkpoint(tmp_path / "ck", dims=(D, A, N))
    assert card["learner"]["name"] == name
    for key, value in learner.state_dict()["nets"].items():
        for k, v in value.items():
            assert torch.equal(v, loaded.state_dict()["nets"][key][k]), (key, k)
    steps = learner.optimizers["critic"].state_dict()["step"]
    assert torch.equal(steps, loaded.optimizers["critic"].state_dict()["step"])
    obs, idx, mask = np.zeros((N, D), np.float32), np.arange(N), np.ones((N, A), bool)
    np.testing.assert_array_equal(
        learner.act(obs, idx, mask, explore=False), loaded.act(obs, idx, mask, explore=False)
    )


def test_epoch_views_value_a_transition_at_its_start_and_after_its_end():
    from dmarl_des.learn.epoch_views import EpochViews

    views = EpochViews(S, N)
    views.add(epoch(0.0, [1, 0, 0], [0, 0, 0], [1, 1, 1]))
    views.add(epoch(2.0, [0, 2, 0], [1, 0, 0], [1, 0, 0]))
    views.add(epoch(2.0, [0, 3, 0], [1, 1, 0], [0, 1, 0]))  # a second flush at the same instant
    episode, t_start, t_end = np.zeros(3, int), np.array([0.0, 0.5, 2.0]), np.array([1.5, 2.0, 3.0])
    assert views.complete(episode, t_end).tolist() == [True, True, False]
    s, a = views.at(episode, t_start, after=False)
    assert s[:, 1].tolist() == [0, 0, 3] and a[2].tolist() == [1, 1, 0]  # latest at or before
    s, a = views.at(episode[:2], t_end[:2], after=True)
    assert s[:, 1].tolist() == [2, 2]  # the first epoch at or after: a cut at 1.5 too
    views.forget_before(1)
    assert not views.complete(episode, t_end).any()
