"""Krum: the hand-computed choice, the refusal below n = 2f + 3, and robustness to far outliers."""

from __future__ import annotations

import networkx as nx
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from dmarl_des.errors import ConfigError
from dmarl_des.robust import Krum, aggregate


def test_krum_hand_computed(to_csr):
    # Every agent of a 4-clique sees candidates 0, 1, 2, 10. With f=0 the scores (sum of squared
    # distances to the 2 nearest others) are 5, 2, 5, 145: all pick 1.
    indptr, indices = to_csr(nx.complete_graph(4))
    x = np.array([[0.0], [1.0], [2.0], [10.0]])
    assert np.all(Krum(f=0)(x, indptr, indices) == 1.0)


@pytest.mark.parametrize(("n_nodes", "f"), [(4, 1), (6, 2), (3, 1), (1, 0)])
def test_krum_refuses_when_n_is_at_most_2f_plus_2(n_nodes, f, to_csr):
    indptr, indices = to_csr(nx.complete_graph(n_nodes))
    x = np.zeros((n_nodes, 2))
    with pytest.raises(ConfigError) as caught:
        aggregate("krum", x, indptr, indices, f=f)
    message = str(caught.value)
    assert caught.value.field == "krum.f" and caught.value.value == f
    assert f"n = {n_nodes}" in message and f"2f + 2 = {2 * f + 2}" in message


def test_krum_accepts_n_equal_2f_plus_3_and_refuses_when_messages_are_lost(to_csr):
    indptr, indices = to_csr(nx.complete_graph(5))
    x = np.arange(10.0).reshape(5, 2)
    aggregate("krum", x, indptr, indices, f=1)  # n = 5 = 2f + 3
    valid = np.ones(indices.shape[0], dtype=bool)
    valid[indptr[3]] = False  # agent 3 misses one value: n = 4
    with pytest.raises(ConfigError, match=r"agent 3 has n = 4"):
        aggregate("krum", x, indptr, indices, f=1, valid=valid)


@settings(max_examples=60, deadline=None)
@given(
    seed=st.integers(0, 2**32 - 1),
    f=st.integers(0, 3),
    extra=st.integers(0, 4),
    d=st.integers(1, 5),
    colluding=st.booleans(),
)
def test_krum_picks_an_honest_candidate_when_outliers_are_far(seed, f, extra, d, colluding, to_csr):
    rng = np.random.default_rng(seed)
    n = 2 * f + 3 + extra
    honest = rng.normal(size=(n - f, d))
    direction = rng.normal(size=(1 if colluding else f, d))
    outliers = 1e4 * direction / np.linalg.norm(direction, axis=1, keepdims=True)
    outliers = np.broadcast_to(outliers, (f, d)) + rng.normal(size=(f, d)) * (not colluding)
    # A clique: every agent (honest or not) has the same n candidates.
    x = np.concatenate([honest, outliers])
    indptr, indices = to_csr(nx.complete_graph(n))
    chosen = aggregate("krum", x, indptr, indices, f=f)
    is_honest = (chosen[:, None, :] == honest[None, :, :]).all(axis=2).any(axis=1)
    assert is_honest.all()
