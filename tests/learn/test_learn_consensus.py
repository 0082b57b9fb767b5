"""The consensus step over arrived vectors, on hand-computed cases."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from dmarl_des.errors import ConfigError
from dmarl_des.learn.consensus import arrived_weights, consensus_step
from dmarl_des.learn.exchange import Arrived, Exchange
from dmarl_des.learn.mixing import metropolis_weights, mix, mixing_matrix
from dmarl_des.net import ring


def arrived_from(theta: np.ndarray, topology, pairs, agents=None, sources=None) -> Arrived:
    """An Arrived record where receiver r got sender s's row of ``theta`` for each (r, s)."""
    n = topology.n
    agents = np.arange(n) if agents is None else np.asarray(agents)
    receiver = np.array([r for r, _ in pairs], dtype=np.int64)
    sender = np.array([s for _, s in pairs], dtype=np.int64)
    entry = np.array(
        [topology.indptr[r] + list(topology.neighbors(r)).index(s) for r, s in pairs],
        dtype=np.int64,
    )
    stack = np.array(theta, dtype=np.float32)
    stack.flags.writeable = False
    return Arrived(
        name="critic",
        size=int(np.shape(theta)[1]),
        round=1,
        time=1.0,
        agents=agents,
        indptr=topology.indptr,
        indices=topology.indices,
        receiver=receiver,
        sender=sender,
        entry=entry,
        age=np.zeros(len(pairs), dtype=np.int64),
        sources=(stack,) if sources is None else sources,
        source=np.zeros(len(pairs), dtype=np.int64),
        row=sender.copy(),
    )


def test_full_round_on_a_ring_is_metropolis_mixing_and_keeps_the_average():
    topology = ring(4, 1)  # every agent has 2 neighbours: Metropolis weights 1/3 everywhere
    theta = np.array([[0.0, 3.0], [3.0, 6.0], [6.0, 0.0], [9.0, 3.0]], dtype=np.float32)
    pairs = [(i, j) for i in range(4) for j in topology.neighbors(i).tolist()]
    arrived = arrived_from(theta, topology, pairs)
    t = torch.tensor(theta)
    self_weight = consensus_step(t, arrived)
    np.testing.assert_allclose(self_weight, np.full(4, 1.0 / 3.0), rtol=1e-6)
    # by hand: agent 0 averages itself, agent 1 and agent 3
    expected = np.array(
        [
            [(0 + 3 + 9) / 3, (3 + 6 + 3) / 3],
            [(3 + 0 + 6) / 3, (6 + 3 + 0) / 3],
            [(6 + 3 + 9) / 3, (0 + 6 + 3) / 3],
            [(9 + 6 + 0) / 3, (3 + 0 + 3) / 3],
        ]
    )
    np.testing.assert_allclose(t.numpy(), expected, rtol=1e-6)
    np.testing.assert_allclose(t.numpy().mean(axis=0), theta.mean(axis=0), rtol=1e-6)
    weights = metropolis_weights(topology.indptr, topology.indices)
    reference = mix(mixing_matrix(topology.indptr, topology.indices, weights), torch.tensor(theta))
    np.testing.assert_allclose(t.numpy(), reference.numpy(), rtol=1e-6)


def test_doubly_stochastic_round_keeps_the_average_on_an_irregular_graph():
    from dmarl_des.net import Topology

    rng = np.random.default_rng(0)
    edges = [(0, 1), (0, 2), (0, 3), (1, 2), (3, 4), (4, 5)]  # degrees 3, 2, 2, 2, 2, 1
    src = [a for a, b in edges] + [b for a, b in edges]
    dst = [b for a, b in edges] + [a for a, b in edges]
    topology = Topology.from_edges(6, np.array(src), np.array(dst))
    theta = rng.normal(size=(6, 7)).astype(np.float32)
    pairs = [(i, j) for i in range(6) for j in topology.neighbors(i).tolist()]
    t = torch.tensor(theta)
    consensus_step(t, arrived_from(theta, topology, pairs))
    np.testing.assert_allclose(t.numpy().mean(axis=0), theta.mean(axis=0), atol=1e-6)
    assert not np.allclose(t.numpy(), theta)


def test_a_lost_neighbours_weight_goes_to_the_agent_itself():
    topology = ring(4, 1)
    theta = np.array([[0.0], [3.0], [6.0], [9.0]], dtype=np.float32)
    # agent 0 got only agent 1's vector (agent 3's was lost); agent 2 got nothing at all
    pairs = [(0, 1), (1, 0), (1, 2), (3, 2), (3, 0)]
    arrived = arrived_from(theta, topology, pairs)
    weights, self_weight = arrived_weights(arrived)
    np.testing.assert_allclose(weights, np.full(5, 1 / 3), rtol=1e-6)
    np.testing.assert_allclose(self_weight, [2 / 3, 1 / 3, 1.0, 1 / 3], rtol=1e-6)
    t = torch.tensor(theta)
    consensus_step(t, arrived)
    np.testing.assert_allclose(
        t.numpy().ravel(),
        [2 / 3 * 0 + 1 / 3 * 3, (3 + 0 + 6) / 3, 6.0, (9 + 6 + 0) / 3],
        rtol=1e-6,
    )


def test_only_combining_agents_change_and_stale_vectors_are_used_as_they_are():
    topology = ring(4, 1)
    theta = np.array([[0.0], [3.0], [6.0], [9.0]], dtype=np.float32)
    old = np.array([[30.0], [60.0]], dtype=np.float32)  # vectors sent at an earlier round
    old.flags.writeable = False
    pairs = [(0, 1), (0, 3)]
    arrived = arrived_from(theta, topology, pairs, agents=[0, 2])
    arrived = Arrived(
        **{
            **{f: getattr(arrived, f) for f in arrived.__dataclass_fields__},
            "sources": (old,),
            "row": np.array([0, 1]),
            "age": np.array([2, 1]),
        }
    )
    t = torch.tensor(theta)
    consensus_step(t, arrived)
    np.testing.assert_allclose(t.numpy().ravel(), [(0 + 30 + 60) / 3, 3.0, 6.0, 9.0], rtol=1e-6)


def test_vectors_from_several_sources_are_summed_without_a_copy_per_message():
    topology = ring(3, 1)
    a = np.array([[1.0, 1.0], [2.0, 2.0], [3.0, 3.0]], dtype=np.float32)
    b = np.array([[10.0, -10.0]], dtype=np.float32)  # a tampered copy of agent 2's vector
    arrived = arrived_from(a, topology, [(0, 1), (0, 2), (1, 0), (1, 2)])
    arrived = Arrived(
        **{
            **{f: getattr(arrived, f) for f in arrived.__dataclass_fields__},
            "sources": (a, b),
            "source": np.array([0, 1, 0, 0]),
            "row": np.array([1, 0, 0, 2]),
        }
    )
    np.testing.assert_array_equal(
        arrived.vectors(), [[2.0, 2.0], [10.0, -10.0], [1.0, 1.0], [3.0, 3.0]]
    )
    t = torch.tensor(a)
    consensus_step(t, arrived)
    np.testing.assert_allclose(
        t.numpy(), [[(1 + 2 + 10) / 3, (1 + 2 - 10) / 3], [2.0, 2.0], [3.0, 3.0]], rtol=1e-6
    )
    # agent 1 combined too: itself, 0 and 2
    # (agent 1's row was computed from the old values: (2 + 1 + 3) / 3 = 2)


@pytest.mark.parametrize(
    "kwargs",
    [
        {"size": 0, "period": 1.0},
        {"size": 4},
        {"size": 4, "period": 1.0, "every_updates": 2},
        {"size": 4, "period": 1.0, "bound": 0.0},
    ],
)
def test_exchange_declarations_are_checked(kwargs):
    with pytest.raises(ConfigError):
        Exchange("critic", **kwargs)
