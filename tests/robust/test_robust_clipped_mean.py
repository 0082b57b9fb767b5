"""Clipped mean around the own value (Figura et al.): hand-computed rounds and its two properties."""

from __future__ import annotations

import networkx as nx
import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from dmarl_des.errors import ConfigError
from dmarl_des.robust import ClippedMean, aggregate, make_aggregator


def _listener(own: float, heard: list[float]):
    """Agent 0 with value ``own`` hears ``heard``; the other agents hear nobody."""
    x = np.array([[own]] + [[v] for v in heard])
    n = x.shape[0]
    return x, np.concatenate([[0], np.full(n, n - 1)]), np.arange(1, n)


@pytest.mark.parametrize(
    ("h", "expected"),
    [
        (0, (0 - 5 - 1 + 1 + 2 + 10) / 6),  # nothing clipped: the plain average
        (1, (0 - 1 - 1 + 1 + 2 + 2) / 6),  # bounds [min(0, -1), max(0, 2)] = [-1, 2]
        (2, (0 + 0 + 0 + 1 + 1 + 1) / 6),  # bounds [min(0, 1), max(0, 1)] = [0, 1]
        (3, 0.0),  # bounds [min(0, 2), max(0, -5)] = [0, 0]: the own value
        (5, 0.0),  # fewer than h + 1 neighbours: the own value
    ],
)
def test_hand_computed(h, expected):
    x, indptr, indices = _listener(0.0, [-5.0, -1.0, 1.0, 2.0, 10.0])
    assert aggregate("clipped_mean", x, indptr, indices, h=h)[0, 0] == pytest.approx(expected)


def test_own_value_widens_the_bounds():
    # own 7 lies above every neighbour: upper = max(7, 2nd largest 3) = 7, so nothing on the
    # high side is cut below 7; lower = min(7, 2nd smallest 2) = 2
    x, indptr, indices = _listener(7.0, [1.0, 2.0, 3.0, 9.0])
    out = aggregate("clipped_mean", x, indptr, indices, h=1)[0, 0]
    assert out == pytest.approx((7 + 2 + 2 + 3 + 7) / 5)


def test_clipped_values_still_count():
    # a trimmed mean would drop the outlier; the clipped mean keeps its weight at the bound
    x, indptr, indices = _listener(0.0, [1.0, 1.0, 100.0])
    assert aggregate("clipped_mean", x, indptr, indices, h=1)[0, 0] == pytest.approx(3 / 4)


@pytest.mark.parametrize("seed", range(4))
def test_h_zero_is_the_plain_average_with_losses(seed, to_csr):
    rng = np.random.default_rng(seed)
    graph = nx.gnp_random_graph(40, 0.15, seed=seed)
    indptr, indices = to_csr(graph)
    x = rng.normal(size=(40, 3))
    received = x[indices] + rng.normal(size=(indices.shape[0], 3))
    valid = rng.random(indices.shape[0]) > 0.3
    got = aggregate("clipped_mean", x, indptr, indices, received=received, valid=valid, h=0)
    mean = aggregate("mean", x, indptr, indices, received=received, valid=valid)
    np.testing.assert_allclose(got, mean, rtol=1e-12, atol=1e-12)


honest_values = st.floats(-1e6, 1e6, allow_nan=False)
attack_values = st.one_of(
    st.floats(-1e300, 1e300, allow_nan=False), st.sampled_from([1e300, -1e300, 0.0])
)


@settings(max_examples=80, deadline=None)
@given(data=st.data(), h=st.integers(0, 3), d=st.integers(1, 3))
def test_at_most_h_byzantine_stay_inside_the_honest_range(data, h, d):
    f = data.draw(st.integers(0, h))  # Byzantine neighbours: at most h
    n_honest = data.draw(st.integers(1, 6))  # own value + honest neighbours
    rows = st.lists(honest_values, min_size=d, max_size=d)
    honest = np.array(data.draw(st.lists(rows, min_size=n_honest, max_size=n_honest)))
    bad_rows = st.lists(attack_values, min_size=d, max_size=d)
    bad = np.array(data.draw(st.lists(bad_rows, min_size=f, max_size=f))).reshape(f, d)
    heard = np.concatenate([honest[1:], bad])
    order = np.array(data.draw(st.permutations(list(range(heard.shape[0])))), dtype=np.int64)
    x = np.concatenate([honest[:1], np.zeros_like(heard)])
    n = x.shape[0]
    indptr = np.concatenate([[0], np.full(n, n - 1)])
    out = aggregate("clipped_mean", x, indptr, np.arange(1, n), received=heard[order], h=h)[0]
    slack = 1e-12 * (1.0 + np.abs(honest).max(axis=0))  # rounding of the average
    assert np.all(out >= honest.min(axis=0) - slack)
    assert np.all(out <= honest.max(axis=0) + slack)


def test_the_mean_leaves_the_honest_range_where_the_clipped_mean_does_not():
    x, indptr, indices = _listener(0.0, [1.0, 2.0, 1e6])
    assert aggregate("mean", x, indptr, indices)[0, 0] > 2.0
    assert aggregate("clipped_mean", x, indptr, indices, h=1)[0, 0] <= 2.0


def test_torch_gradients_and_devices_follow_the_values():
    x = torch.tensor([[0.0], [1.0], [5.0]], requires_grad=True)
    indptr, indices = np.array([0, 2, 2, 2]), np.array([1, 2])
    out = ClippedMean(h=1)(x, indptr, indices)
    assert isinstance(out, torch.Tensor)
    # bounds [min(0, 5), max(0, 1)] = [0, 1]: 5 is clipped to the bound 1
    assert float(out[0, 0].detach()) == pytest.approx(2 / 3)
    out[0, 0].backward()
    assert x.grad is not None and torch.isfinite(x.grad).all()


def test_bad_h_is_a_config_error():
    with pytest.raises(ConfigError, match=r"clipped_mean\.h"):
        make_aggregator("clipped_mean", h=-1)
    with pytest.raises(ConfigError, match=r"clipped_mean\.h"):
        make_aggregator("clipped_mean")
