"""ClippedGossip: hand-computed steps, the tau → inf limit, the bounded pull of one neighbour."""

from __future__ import annotations

import networkx as nx
import numpy as np
import pytest

from dmarl_des.robust import ClippedGossip, Mean, aggregate


def _listener(own, heard):
    """Agent 0 with value ``own`` hears the rows ``heard``; the other agents hear nobody."""
    x = np.array([own, *heard], dtype=float)
    n = x.shape[0]
    return x, np.concatenate([[0], np.full(n, n - 1)]), np.arange(1, n)


def test_clipped_gossip_hand_computed():
    # Pulls (3, 4) (length 5, clipped to (0.6, 0.8)) and (0.5, 0) (kept); weight 1/3 each.
    x, indptr, indices = _listener([0.0, 0.0], [[3.0, 4.0], [0.5, 0.0]])
    out = aggregate("clipped_gossip", x, indptr, indices, tau=1.0)
    assert out[0] == pytest.approx([(0.6 + 0.5) / 3, 0.8 / 3])
    assert np.array_equal(out[1:], x[1:])  # agents hearing nobody keep their value


def test_auto_radius_keeps_the_closest_and_clips_the_farthest_fraction():
    # Distances 1, 2, 3, 100 along one axis; delta = 0.25 clips ceil(0.25 * 4) = 1 neighbour to
    # the radius of the 3rd closest (3): step = (1 + 2 + 3 + 3) / 5.
    x, indptr, indices = _listener([0.0], [[1.0], [2.0], [3.0], [100.0]])
    out = aggregate("clipped_gossip", x, indptr, indices, tau="auto", delta=0.25)
    assert out[0, 0] == pytest.approx(9 / 5)
    # delta = 0: nobody is clipped, which is plain averaging.
    out0 = aggregate("clipped_gossip", x, indptr, indices, tau="auto", delta=0.0)
    assert out0[0, 0] == pytest.approx(106 / 5)
    # delta = 0.5: 2 clipped to the radius of the 2nd closest: (1 + 2 + 2 + 2) / 5.
    out_half = aggregate("clipped_gossip", x, indptr, indices, tau="auto", delta=0.5)
    assert out_half[0, 0] == pytest.approx(7 / 5)


def test_auto_radius_bounds_attackers_by_the_farthest_honest_neighbour():
    rng = np.random.default_rng(3)
    honest = rng.normal(size=(6, 3))
    attackers = rng.normal(size=(2, 3)) * 1e6
    x, indptr, indices = _listener(np.zeros(3), np.concatenate([honest, attackers]))
    out = aggregate("clipped_gossip", x, indptr, indices, tau="auto", delta=0.25)
    farthest_honest = np.linalg.norm(honest, axis=1).max()
    assert np.linalg.norm(out[0]) <= farthest_honest + 1e-12


def test_infinite_tau_is_plain_gossip_averaging(to_csr, rows_of):
    rng = np.random.default_rng(11)
    indptr, indices = to_csr(nx.gnp_random_graph(50, 0.15, seed=5))
    x = rng.normal(size=(50, 3)) * 10
    valid = rng.random(indices.shape[0]) > 0.3
    received = x[indices] + rng.normal(size=(indices.shape[0], 3))
    clipped = ClippedGossip(tau=np.inf)(x, indptr, indices, received=received, valid=valid)
    plain = Mean()(x, indptr, indices, received=received, valid=valid)
    np.testing.assert_allclose(clipped, plain, rtol=1e-12, atol=1e-12)
    # A finite but huge radius also clips nothing here.
    huge = ClippedGossip(tau=1e9)(x, indptr, indices, received=received, valid=valid)
    np.testing.assert_allclose(huge, plain, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("tau", [0.1, 1.0, 7.5])
def test_one_neighbour_moves_an_agent_by_at_most_w_tau(tau, to_csr, rows_of):
    rng = np.random.default_rng(int(tau * 10))
    graph = nx.circulant_graph(30, [1, 2, 5])
    indptr, indices = to_csr(graph)
    rows = rows_of(indptr)
    x = rng.normal(size=(30, 4))
    byzantine = 4
    from_byzantine = indices == byzantine
    honest_step = x[indices].copy()
    honest_step[from_byzantine] = x[rows[from_byzantine]]  # a silent neighbour: zero pull
    baseline = aggregate("clipped_gossip", x, indptr, indices, received=honest_step, tau=tau)
    weight = 1.0 / (1.0 + np.diff(indptr))
    for scale in (1e-3, 1.0, 1e3, 1e12):
        lies = honest_step.copy()
        lies[from_byzantine] = rng.normal(size=(int(from_byzantine.sum()), 4)) * scale
        attacked = aggregate("clipped_gossip", x, indptr, indices, received=lies, tau=tau)
        moved = np.linalg.norm(attacked - baseline, axis=1)
        assert np.all(moved <= weight * tau * (1 + 1e-9))
        listeners = rows[from_byzantine]
        if scale >= 1e3:  # a far lie is clipped to exactly the radius
            np.testing.assert_allclose(moved[listeners], weight[listeners] * tau, rtol=1e-6)
