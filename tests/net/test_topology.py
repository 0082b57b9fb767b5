"""Topologies: CSR structure, builders and k-hop neighbourhoods against networkx."""

import networkx as nx
import numpy as np
import pytest

from dmarl_des.errors import ConfigError
from dmarl_des.net import (
    Topology,
    complete,
    grid,
    random_geometric,
    ring,
    scale_free,
    small_world,
)


def same_graph(top: Topology, g: nx.Graph) -> bool:
    return top == Topology.from_networkx(g)


def edge_set(top: Topology) -> set[tuple[int, int]]:
    s, d = top.edges()
    return set(zip(s.tolist(), d.tolist()))


@pytest.mark.parametrize(("n", "k"), [(2, 1), (7, 1), (10, 3), (5, 2)])
def test_ring_matches_circulant(n, k):
    top = ring(n, k)
    assert same_graph(top, nx.circulant_graph(n, range(1, k + 1)))
    assert np.all(top.degree() == min(2 * k, n - 1))


def test_ring_wider_than_half_is_complete():
    assert ring(5, 4) == complete(5)


def test_grid_and_complete_match_networkx():
    g = nx.grid_2d_graph(4, 6)
    assert same_graph(grid(4, 6), g)
    top = grid(4, 6)
    assert set(top.neighbors(1 * 6 + 2).tolist()) == {2, 6 + 1, 6 + 3, 12 + 2}
    assert same_graph(complete(9), nx.complete_graph(9))
    assert complete(9).n_edges == 72


def test_random_builders_follow_networkx_with_seed_from_rng():
    def seed(s):
        return int(np.random.default_rng(s).integers(2**32))

    rng = np.random.default_rng(3)
    assert same_graph(
        random_geometric(60, 0.2, rng), nx.random_geometric_graph(60, 0.2, seed=seed(3))
    )
    rng = np.random.default_rng(4)
    assert same_graph(
        small_world(50, 4, 0.2, rng), nx.watts_strogatz_graph(50, 4, 0.2, seed=seed(4))
    )
    rng = np.random.default_rng(5)
    assert same_graph(scale_free(80, 2, rng), nx.barabasi_albert_graph(80, 2, seed=seed(5)))
    # a different stream gives a different graph
    assert scale_free(80, 2, np.random.default_rng(6)) != scale_free(
        80, 2, np.random.default_rng(5)
    )


def test_csr_views_are_consistent():
    top = small_world(40, 4, 0.3, np.random.default_rng(0))
    assert top.indptr.dtype == np.int64 and top.indices.dtype == np.int64
    assert top.indptr.shape == (41,)
    src, dst = top.edges()
    assert np.array_equal(np.bincount(src, minlength=40), top.degree())
    for i in range(40):
        nb = top.neighbors(i)
        assert np.all(np.diff(nb) > 0) and i not in nb
        assert np.array_equal(nb, dst[src == i])
    assert top.is_symmetric()
    with pytest.raises(ValueError):
        top.indices[0] = 5  # read-only


def test_from_networkx_relabels_sorted_and_keeps_direction():
    g = nx.DiGraph()
    g.add_edges_from([("c", "a"), ("a", "b"), ("b", "b")])  # self-loop dropped
    top = Topology.from_networkx(g)
    assert top.n == 3
    assert edge_set(top) == {(2, 0), (0, 1)}
    assert not top.is_symmetric()
    u = nx.Graph([(10, 30), (30, 20)])
    assert edge_set(Topology.from_networkx(u)) == {(0, 2), (2, 0), (2, 1), (1, 2)}
    back = top.to_networkx()
    assert isinstance(back, nx.DiGraph) and set(back.edges()) == {(2, 0), (0, 1)}
    assert Topology.from_networkx(back) == top


def test_from_edges_dedupes_and_validates():
    top = Topology.from_edges(4, [0, 0, 1, 2, 3], [1, 1, 1, 3, 0])
    assert edge_set(top) == {(0, 1), (2, 3), (3, 0)}
    with pytest.raises(ConfigError, match="edges"):
        Topology.from_edges(3, [0], [3])
    with pytest.raises(ConfigError, match="indptr"):
        Topology(np.array([0, 2, 1]), np.array([1, 0]))
    with pytest.raises(ConfigError, match="indices"):
        Topology(np.array([0, 1]), np.array([4]))
    with pytest.raises(ConfigError, match="k"):
        ring(5).khop(0)
    with pytest.raises(ConfigError, match="n"):
        ring(0)


@pytest.mark.parametrize("directed", [False, True])
@pytest.mark.parametrize("k", [1, 2, 3])
def test_khop_matches_bfs(directed, k):
    g = nx.gnp_random_graph(35, 0.08, seed=11, directed=directed)
    top = Topology.from_networkx(g)
    hop = top.khop(k)
    for i in range(35):
        reach = nx.single_source_shortest_path_length(g, i, cutoff=k)
        expected = sorted(j for j in reach if j != i)
        assert hop.neighbors(i).tolist() == expected
    if k == 1:
        assert hop == top
