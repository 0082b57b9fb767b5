"""Graph attention and the communication network: permutations, absent neighbours, the differentiable channel."""

from __future__ import annotations

import numpy as np
import torch

from dmarl_des.learn.attention import attend, segment_softmax
from dmarl_des.learn.comm_net import CommNet
from dmarl_des.learn.gnn_ippo import channel_vectors
from dmarl_des.learn.heard_log import HeardLog
from dmarl_des.learn.messaging import Heard


def random_inputs(seed: int = 0, rows: int = 5, per_row=(3, 0, 1, 4, 2), heads=2, dim=4):
    g = torch.Generator().manual_seed(seed)
    row = torch.repeat_interleave(torch.arange(rows), torch.tensor(per_row))
    m = row.numel()
    return (
        torch.randn(rows, heads, dim, generator=g),
        torch.randn(m, heads, dim, generator=g),
        torch.randn(m, heads, 3, generator=g),
        row,
    )


def test_attention_by_hand():
    query = torch.tensor([[[1.0, 0.0]]])
    key = torch.tensor([[[2.0, 0.0]], [[0.0, 0.0]]])
    value = torch.tensor([[[1.0]], [[3.0]]])
    out = attend(query, key, value, torch.tensor([0, 0]))
    s = torch.tensor([2.0, 0.0]) / np.sqrt(2)
    w = torch.softmax(s, 0)
    torch.testing.assert_close(out[0, 0, 0], w[0] * 1.0 + w[1] * 3.0)


def test_segment_softmax_sums_to_one_per_row():
    scores = torch.randn(7, 2)
    row = torch.tensor([0, 0, 2, 2, 2, 3, 3])
    w = segment_softmax(scores, row, 4)
    totals = torch.zeros(4, 2).index_add(0, row, w)
    torch.testing.assert_close(totals[[0, 2, 3]], torch.ones(3, 2))
    assert totals[1].abs().max() == 0  # row 1 has no message


def test_attention_is_permutation_equivariant():
    query, key, value, row = random_inputs()
    out = attend(query, key, value, row)
    # shuffle the messages: each receiver's result is unchanged
    perm = torch.randperm(row.numel(), generator=torch.Generator().manual_seed(1))
    torch.testing.assert_close(attend(query, key[perm], value[perm], row[perm]), out)
    # relabel the receivers: the results follow them
    relabel = torch.tensor([3, 0, 4, 1, 2])  # old receiver i becomes relabel[i]
    new_query = torch.empty_like(query)
    new_query[relabel] = query
    torch.testing.assert_close(attend(new_query, key, value, relabel[row])[relabel], out)


def test_attention_ignores_absent_neighbours():
    query, key, value, row = random_inputs()
    out = attend(query, key, value, row)
    assert out[1].abs().max() == 0  # receiver 1 heard nothing: zero aggregate
    keep = row != 3  # receiver 3's messages never arrived
    partial = attend(query, key[keep], value[keep], row[keep])
    torch.testing.assert_close(partial[[0, 1, 2, 4]], out[[0, 1, 2, 4]])
    assert partial[3].abs().max() == 0
    # dropping one neighbour of receiver 0 equals attending over the others only
    drop = torch.ones(row.numel(), dtype=torch.bool)
    drop[1] = False
    only = attend(
        query[:1],
        key[drop][row[drop] == 0],
        value[drop][row[drop] == 0],
        torch.zeros(2, dtype=torch.int64),
    )
    torch.testing.assert_close(attend(query, key[drop], value[drop], row[drop])[0], only[0])


def make_net(gate: bool = False, offsets: bool = True) -> CommNet:
    return CommNet(5, 3, 4, 6, 16, 2, offsets, 1.0, gate, torch.Generator().manual_seed(0))


def test_nothing_heard_means_own_observation_only():
    net = make_net()
    obs = torch.randn(4, 5, generator=torch.Generator().manual_seed(2))
    empty = torch.zeros(0, dtype=torch.int64)
    alone, _, h = net(obs[:1], torch.zeros(0, 6), torch.zeros(0, 2), empty)
    # the same agent, deciding beside others that heard plenty
    vec = torch.randn(5, 6)
    row = torch.tensor([1, 1, 2, 3, 3])
    batch, _, _ = net(obs, vec, torch.randn(5, 2), row)
    torch.testing.assert_close(batch[0], alone[0])
    # and exactly the head on its own encoding with a zero aggregate
    z = torch.cat([h, torch.zeros(1, net.attention.out_dim)], dim=1)
    torch.testing.assert_close(alone, net.head(z))


def test_messages_change_the_decision_of_who_heard_them():
    net = make_net()
    obs = torch.randn(2, 5)
    empty = torch.zeros(0, dtype=torch.int64)
    silent, _, _ = net(obs, torch.zeros(0, 6), None, empty)
    heard, _, _ = net(obs, torch.ones(2, 6), torch.zeros(2, 2), torch.tensor([1, 1]))
    torch.testing.assert_close(heard[0], silent[0])
    assert (heard[1] - silent[1]).abs().max() > 1e-4


def heard_of(time, agents, row, sender, age, vectors):
    return Heard(
        time=time,
        agents=np.asarray(agents),
        row=np.asarray(row, dtype=np.int64),
        sender=np.asarray(sender, dtype=np.int64),
        age=np.asarray(age, dtype=np.float64),
        fresh=np.ones(len(row), dtype=bool),
        vectors=np.asarray(vectors, dtype=np.float32),
        offset=np.zeros((len(row), 2), dtype=np.float32),
    )


def test_differentiable_channel_keeps_what_arrived_and_trains_the_sender():
    """m_train = m_received + msg_θ(o_j, a_j) − said_j: equal to what arrived (a tampered one
    included) while the gradient reaches the sender's encoder."""
    net = make_net()
    log = HeardLog(1024, 3, 5, 3, 6, 8, True)
    obs = np.random.default_rng(0).normal(size=(3, 5)).astype(np.float32)
    with torch.no_grad():
        said = net.speak_from(torch.from_numpy(obs[:2]), torch.tensor([0, 2])).numpy()
    nothing = heard_of(1.0, [0, 1], [], [], [], np.zeros((0, 6)))
    log.add(nothing, obs=obs[:2], action=np.array([0, 2]), mask=np.ones((2, 3), bool), said=said)
    # agent 2 hears agent 0's message intact and agent 1's tampered (+0.5) at time 3
    received = np.stack([said[0], said[1] + 0.5])
    heard = heard_of(3.0, [2], [0, 0], [0, 1], [2.0, 2.0], received)
    (rec,) = log.add(
        heard, obs=obs[2:], action=np.array([1]), mask=np.ones((1, 3), bool), said=said[:1]
    )
    b = log.batch(np.array([rec]), torch.device("cpu"))
    assert b["src_at"].tolist() == [0, 1]  # both sources found (agents 0 and 1 at time 1)
    vec = channel_vectors(net, b)
    torch.testing.assert_close(vec, torch.from_numpy(received), atol=1e-6, rtol=0)
    out, _, _ = net(b["obs"], vec, b["off"], b["row"])
    net.zero_grad()
    out.sum().backward()
    assert net.say.weight.grad is not None and net.say.weight.grad.abs().sum() > 0


def test_heard_log_finds_the_sender_decision_at_send_time():
    log = HeardLog(1024, 2, 1, 2, 1, 4, False)

    def decide(t, agent):
        heard = heard_of(t, [agent], [], [], [], np.zeros((0, 1)))
        obs = np.array([[t]], dtype=np.float32)
        return log.add(heard, obs=obs, action=np.array([0]), mask=np.ones((1, 2), bool), said=obs)[
            0
        ]

    r1, r2, r3 = decide(1.0, 0), decide(2.5, 0), decide(4.0, 0)
    found = log.sources(np.array([0, 0, 0, 0, 1]), np.array([0.5, 1.0, 3.0, 9.0, 3.0]))
    assert found.tolist() == [-1, r1, r2, r3, -1]
