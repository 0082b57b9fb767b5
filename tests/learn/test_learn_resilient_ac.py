"""Resilient projection-based consensus actor-critic on hand-computed cases: recent inputs, batched
candidate values, the robust per-sample targets and the projection from the anchor."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from dmarl_des.errors import ConfigError
from dmarl_des.learn import TransitionBatch, learner_config, make_learner
from dmarl_des.learn.checkpoint import load_checkpoint, save_checkpoint
from dmarl_des.learn.exchange import Arrived
from dmarl_des.learn.resilient_ac import RecentInputs, candidate_values
from dmarl_des.net import complete

N, D, A = 3, 2, 2


def make(**values):
    values.setdefault("hidden", 8)
    values.setdefault("consensus_every", 1)
    values.setdefault("consensus_period", 0.0)
    values.setdefault("hidden_layers", "aggregate")  # the paper's deep variant; fit below
    config = learner_config("resilient_ac", values)
    return make_learner(config, obs_dim=D, n_actions=A, n_agents=N, gamma=0.8, seed=3)


def tabular(net, bias) -> None:
    """Every layer zero but the head's bias: the net outputs ``bias`` whatever its input, and a
    fit moves that bias only (hidden units are relu(0) = 0)."""
    with torch.no_grad():
        net.flat.zero_()
        net.head.bias.copy_(torch.as_tensor(bias, dtype=torch.float32))


def arrived(learner, name, pairs, vectors) -> Arrived:
    """Receiver r got ``vectors[k]`` from s for the k-th pair (r, s), on the complete graph."""
    topology = complete(N)
    receiver = np.array([r for r, _ in pairs], dtype=np.int64)
    sender = np.array([s for _, s in pairs], dtype=np.int64)
    entry = np.array(
        [topology.indptr[r] + list(topology.neighbors(r)).index(s) for r, s in pairs],
        dtype=np.int64,
    )
    stack = np.asarray(vectors, dtype=np.float32)
    stack.flags.writeable = False
    return Arrived(
        name=name,
        size=stack.shape[1],
        round=1,
        time=1.0,
        agents=np.arange(N),
        indptr=topology.indptr,
        indices=topology.indices,
        receiver=receiver,
        sender=sender,
        entry=entry,
        age=np.zeros(len(pairs), dtype=np.int64),
        sources=(stack,),
        source=np.zeros(len(pairs), dtype=np.int64),
        row=np.arange(len(pairs)),
    )


def with_samples(learner, agents=range(N)) -> None:
    for recent in learner.recent.values():
        idx = torch.as_tensor(list(agents))
        x = torch.ones(len(idx), recent.x.shape[2])
        recent.add(idx, x, torch.zeros(len(idx), dtype=torch.int64))


def row_with_bias(learner, bias: float) -> np.ndarray:
    """A critic parameter row that outputs ``bias`` everywhere."""
    net = learner.critic
    keep = net.flat.detach().clone()
    tabular(net, [[bias]] * N)
    row = net.flat.detach()[0].numpy().copy()
    with torch.no_grad():
        net.flat.copy_(keep)
    return row


def critic_values(learner) -> list[float]:
    """Each agent's critic value on one input of ones (any input, for tabular critics)."""
    net = learner.critic
    x = torch.ones(N, 1, net.maps[0].in_dim)
    values = candidate_values(net, net.flat.detach(), x, torch.zeros(N, 1, dtype=torch.int64))
    return values[:, 0].tolist()


def test_recent_inputs_keep_each_agents_last_rows_in_a_ring():
    recent = RecentInputs(3, 4, 1, torch.device("cpu"))
    agent = torch.tensor([0, 1, 0, 0, 0, 0, 1])
    x = torch.arange(7, dtype=torch.float32).unsqueeze(1)
    recent.add(agent, x, torch.arange(7))
    assert recent.count.tolist() == [4, 2, 0]
    x_batch, action = recent.batch(torch.tensor([0, 1]), 5)
    # agent 0 had rows 0, 2, 3, 4, 5: its last four fill the ring; agent 1's two repeat
    assert sorted(x_batch[0, :4, 0].tolist()) == [2.0, 3.0, 4.0, 5.0]
    assert x_batch[1, :, 0].tolist() == [1.0, 6.0, 1.0, 6.0, 1.0]
    assert action[1].tolist() == [1, 6, 1, 6, 1]
    recent.add(torch.tensor([0]), torch.tensor([[9.0]]), torch.tensor([9]))
    assert sorted(recent.batch(torch.tensor([0]), 4)[0][0, :, 0].tolist()) == [3, 4, 5, 9]


def test_candidate_values_are_one_batched_pass_of_each_candidates_net():
    learner = make()
    net = learner.reward_model  # local: one output per action
    gen = torch.Generator().manual_seed(0)
    theta = torch.randn(5, net.n_params, generator=gen) * 0.3
    x = torch.randn(5, 7, net.maps[0].in_dim, generator=gen)
    action = torch.randint(0, A, (5, 7), generator=gen)
    got = candidate_values(net, theta, x, action)
    for r in range(5):
        out = net.forward(x[r], None, layers=net.linears(theta[r : r + 1]))[0]
        expected = out.gather(1, action[r].unsqueeze(1)).squeeze(1)
        torch.testing.assert_close(got[r], expected)


@pytest.mark.parametrize(
    ("rule", "H", "expected"),
    [
        ("clipped_mean", 0, (1.0 + 2.0 + 100.0) / 3),  # the plain average
        ("mean", 0, (1.0 + 2.0 + 100.0) / 3),
        ("clipped_mean", 1, (1.0 + 2.0 + 2.0) / 3),  # bounds [min(1, 100), max(1, 2)] = [1, 2]
        ("median", 1, 2.0),
    ],
)
def test_targets_are_the_rule_over_values_and_the_fit_reaches_them(rule, H, expected):
    learner = make(rule=rule, H=H, critic_lr=1.0, fit_steps=1, grad_clip=1e3)
    tabular(learner.critic, [[1.0], [2.0], [3.0]])
    learner.anchor["critic"] = learner.critic.flat.detach().clone()
    with_samples(learner)
    honest, liar = row_with_bias(learner, 2.0), row_with_bias(learner, 100.0)
    # agent 0 hears agent 1's candidate (value 2) and a lie (value 100) from agent 2
    learner.combine(arrived(learner, "critic", [(0, 1), (0, 2)], [honest, liar]))
    value = critic_values(learner)
    assert value[0] == pytest.approx(expected, rel=1e-5)
    # agents that heard nothing fit their own values: they keep them
    assert value[1:] == pytest.approx([2.0, 3.0])


def test_the_projection_starts_from_the_anchor_not_from_the_candidate():
    learner = make(rule="mean", H=0, critic_lr=0.5, fit_steps=1)
    tabular(learner.critic, [[1.0], [2.0], [3.0]])  # candidates
    anchor = learner.critic.flat.detach().clone()
    anchor[0] = torch.as_tensor(row_with_bias(learner, -5.0))
    learner.anchor["critic"] = anchor
    with_samples(learner)
    learner.combine(
        arrived(
            learner,
            "critic",
            [(0, 1), (0, 2)],
            [row_with_bias(learner, 2.0), row_with_bias(learner, 3.0)],
        )
    )
    # target (1 + 2 + 3) / 3 = 2; one step of half the error from the anchor's −5: −5 + 0.5·7
    values = critic_values(learner)
    assert values[0] == pytest.approx(-1.5, rel=1e-5)
    np.testing.assert_array_equal(
        learner.anchor["critic"].numpy(), learner.critic.flat.detach().numpy()
    )


def test_agents_without_samples_keep_their_candidates():
    learner = make(critic_lr=1.0, fit_steps=1)
    tabular(learner.critic, [[1.0], [2.0], [3.0]])
    before = learner.critic.flat.detach().clone()
    with_samples(learner, agents=[1])
    learner.combine(
        arrived(learner, "critic", [(0, 1), (1, 0)], [before[1].numpy(), before[0].numpy()])
    )
    after = learner.critic.flat.detach()
    torch.testing.assert_close(after[[0, 2]], before[[0, 2]])
    assert not torch.equal(after[1], before[1])


def test_with_at_most_h_liars_every_target_stays_within_the_honest_values():
    learner = make(rule="clipped_mean", H=1)
    gen = torch.Generator().manual_seed(1)
    with torch.no_grad():
        learner.critic.flat.copy_(torch.randn(N, learner.critic.n_params, generator=gen) * 0.5)
    recent = learner.recent["critic"]
    recent.add(
        torch.arange(N).repeat(10),
        torch.randn(30, recent.x.shape[2], generator=gen),
        torch.zeros(30, dtype=torch.int64),
    )
    honest = learner.critic.flat.detach()[1].numpy()
    liar = honest * -40.0 + 3.0
    record = arrived(learner, "critic", [(0, 1), (0, 2)], [honest, liar])
    candidates = torch.as_tensor(record.vectors())
    target, x, action = learner._targets(
        learner.critic, recent, record, candidates, torch.arange(N)
    )
    rows = learner.critic.flat.detach()
    own, other = (
        candidate_values(learner.critic, rows[[k]].expand(N, -1), x, action)[0] for k in (0, 1)
    )
    low, high = torch.minimum(own, other), torch.maximum(own, other)
    assert bool(((target[0] >= low - 1e-5) & (target[0] <= high + 1e-5)).all())
    mean_target, *_ = make(rule="mean", H=0)._targets(
        learner.critic, recent, record, candidates, torch.arange(N)
    )
    assert not bool(((mean_target[0] >= low - 1e-5) & (mean_target[0] <= high + 1e-5)).all())


def test_updates_fill_each_agents_recent_inputs_and_step_locally():
    learner = make()
    b = 4
    batch = TransitionBatch(
        agent_idx=np.array([0, 1, 1, 2]),
        obs=np.arange(b * D, dtype=np.float32).reshape(b, D),
        action=np.array([0, 1, 0, 1]),
        mask=np.ones((b, A), bool),
        reward=np.ones(b),
        obs_next=np.zeros((b, D), np.float32),
        mask_next=np.ones((b, A), bool),
        tau=np.ones(b),
        done=np.zeros(b, bool),
        terminal=np.zeros(b, bool),
        t_start=np.zeros(b),
        t_end=np.ones(b),
    )
    before = learner.critic.flat.detach().clone()
    learner.observe(batch)
    learner.update()
    assert learner.recent["critic"].count.tolist() == [1, 2, 1]
    np.testing.assert_array_equal(learner.recent["reward_model"].action[1, :2].numpy(), [1, 0])
    assert not torch.equal(learner.critic.flat.detach(), before)
    np.testing.assert_array_equal(learner.anchor["critic"].numpy(), before.numpy())  # kept


def test_config_and_checkpoints(tmp_path):
    with pytest.raises(ConfigError, match=r"learner\.rule"):
        learner_config("resilient_ac", {"rule": "avg"})
    with pytest.raises(ConfigError, match=r"learner\.algorithm"):
        learner_config("resilient_ac", {"algorithm": "action_value"})
    assert learner_config("resilient_ac", {"H": 2}).H == 2
    learner = make()
    exchanges = {e.name for e in learner.exchanges()}
    assert exchanges == {"critic", "reward_model"}
    with torch.no_grad():
        learner.critic.flat.add_(1.0)
    save_checkpoint(tmp_path / "ck", learner, {"world": {"name": "test"}})
    loaded, card = load_checkpoint(tmp_path / "ck", dims=(D, A, N))
    assert card["learner"]["name"] == "resilient_ac"
    torch.testing.assert_close(loaded.critic.flat, learner.critic.flat)
    torch.testing.assert_close(loaded.anchor["critic"], learner.critic.flat.detach())


def test_hidden_layers_take_the_rule_over_parameters_and_only_the_head_is_fitted():
    gen = torch.Generator().manual_seed(2)
    rows = torch.randn(N, make().critic.n_params, generator=gen)
    head = make()._head_size(make().critic)
    hidden = rows.shape[1] - head
    liar = rows[2] * 0 + 50.0
    for rule, H in (("mean", 0), ("clipped_mean", 1)):
        learner = make(rule=rule, H=H, fit_steps=3, critic_lr=1e-4)
        with torch.no_grad():
            learner.critic.flat.copy_(rows)
        learner.anchor["critic"] = rows.clone() + 1.0  # the heads start from here
        with_samples(learner)
        record = arrived(learner, "critic", [(0, 1), (0, 2)], [rows[1].numpy(), liar.numpy()])
        learner.combine(record)
        got = learner.critic.flat.detach()
        candidates = torch.stack([rows[0], rows[1], liar])[:, :hidden]
        if rule == "mean":
            torch.testing.assert_close(got[0, :hidden], candidates.mean(0))
        else:  # bounds per coordinate: [min(own, agent 1's), max(own, agent 1's)]
            low = torch.minimum(rows[0, :hidden], rows[1, :hidden])
            high = torch.maximum(rows[0, :hidden], rows[1, :hidden])
            assert bool(((got[0, :hidden] >= low - 1e-6) & (got[0, :hidden] <= high + 1e-6)).all())
        # agents 1 and 2 heard nothing: their hidden layers are their own
        torch.testing.assert_close(got[1:, :hidden], rows[1:, :hidden])
        # the heads were fitted, three small steps from their anchors (not from the candidates)
        moved = (got[:, hidden:] - (rows[:, hidden:] + 1.0)).abs().amax(1)
        assert bool((moved > 0).all()) and bool((moved < 1e-2).all())


def test_fit_mode_fits_the_whole_network_from_its_anchor():
    learner = make(hidden_layers="fit", rule="mean", H=0, fit_steps=1, critic_lr=1e-12)
    gen = torch.Generator().manual_seed(3)
    anchor = torch.randn(N, learner.critic.n_params, generator=gen)
    learner.anchor["critic"] = anchor.clone()
    with_samples(learner)
    learner.combine(arrived(learner, "critic", [(0, 1)], [anchor[1].numpy() * 3]))
    # a vanishing step: every agent with data is back at its anchor, hidden layers included
    torch.testing.assert_close(learner.critic.flat.detach(), anchor)
