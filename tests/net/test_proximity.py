"""Proximity topology: equal to brute force on random points; fast at N = 10,000."""

import time

import numpy as np
import pytest

from dmarl_des.errors import ConfigError
from dmarl_des.net import ProximityTopology


def brute_force(pos, radius, torus=None, present=None):
    d = pos[:, None, :] - pos[None, :, :]
    if torus is not None:
        d = np.abs(d)
        d = np.minimum(d, torus - d)
    dist = np.sqrt((d**2).sum(-1))
    adj = dist <= radius
    np.fill_diagonal(adj, False)
    if present is not None:
        adj &= present[:, None] & present[None, :]
    return adj


@pytest.mark.parametrize("torus", [None, 10.0])
@pytest.mark.parametrize("with_mask", [False, True])
def test_matches_brute_force(torus, with_mask):
    rng = np.random.default_rng(1)
    pos = rng.random((300, 2)) * 10.0
    present = rng.random(300) < 0.7 if with_mask else None
    top = ProximityTopology(1.3, torus_size=torus).update(pos, present)
    adj = brute_force(pos, 1.3, torus, present)
    for i in range(300):
        assert top.neighbors(i).tolist() == np.flatnonzero(adj[i]).tolist()
    if present is not None:
        assert np.all(top.degree()[~present] == 0)
    assert top.is_symmetric()


def test_torus_wraps_positions_outside_the_box():
    prox = ProximityTopology(1.0, torus_size=10.0)
    top = prox.update(np.array([[0.2, 5.0], [9.7, 5.0], [-0.4, 5.0], [5.0, 5.0]]))
    assert top.neighbors(0).tolist() == [1, 2]
    assert top.neighbors(3).tolist() == []


def test_bad_arguments():
    with pytest.raises(ConfigError, match="radius"):
        ProximityTopology(-1.0)
    with pytest.raises(ConfigError, match="torus_size"):
        ProximityTopology(1.0, torus_size=0.0)
    with pytest.raises(ConfigError, match="positions"):
        ProximityTopology(1.0).update(np.zeros((5, 3)))
    with pytest.raises(ConfigError, match="present"):
        ProximityTopology(1.0).update(np.zeros((5, 2)), np.ones(4, bool))


def test_fast_at_ten_thousand_agents():
    n, side = 10_000, 100.0
    rng = np.random.default_rng(0)
    pos = rng.random((n, 2)) * side
    radius = side * np.sqrt(8 / (np.pi * n))  # about 8 neighbours each
    prox = ProximityTopology(radius, torus_size=side)
    best = np.inf
    for _ in range(3):
        t0 = time.perf_counter()
        top = prox.update(pos)
        best = min(best, time.perf_counter() - t0)
    print(f"proximity update N={n}, mean degree {top.degree().mean():.1f}: {best * 1e3:.1f} ms")
    assert 6 < top.degree().mean() < 10
    assert best < 0.1
