"""Communication graphs over agents 0..N-1, stored as CSR arrays, and their builders."""

from __future__ import annotations

from dataclasses import dataclass, field

import networkx as nx
import numpy as np
import scipy.sparse as sp

from dmarl_des.errors import ConfigError

__all__ = [
    "Topology",
    "complete",
    "grid",
    "random_geometric",
    "ring",
    "scale_free",
    "small_world",
]


def _readonly(a: np.ndarray) -> np.ndarray:
    a.flags.writeable = False
    return a


@dataclass(frozen=True, eq=False)
class Topology:
    """Directed neighbour lists: agent ``i`` sends to ``indices[indptr[i]:indptr[i+1]]``.

    Neighbour lists are sorted and free of duplicates and self-loops. An undirected graph is stored
    with both directions. The arrays are read-only; a new topology is a new object.
    """

    indptr: np.ndarray
    indices: np.ndarray
    uniform_degree: int = field(init=False, repr=False, compare=False)
    """The out-degree shared by every agent, or -1 when degrees differ."""

    def __post_init__(self) -> None:
        indptr = np.ascontiguousarray(self.indptr, dtype=np.int64)
        indices = np.ascontiguousarray(self.indices, dtype=np.int64)
        if indptr.ndim != 1 or indptr.size < 1 or indptr[0] != 0:
            raise ConfigError("topology.indptr", self.indptr, "a 1-d array of length N+1 from 0")
        if np.any(np.diff(indptr) < 0) or indptr[-1] != indices.size:
            raise ConfigError(
                "topology.indptr", self.indptr, "non-decreasing, ending at len(indices)"
            )
        n = indptr.size - 1
        if indices.ndim != 1 or (indices.size and (indices.min() < 0 or indices.max() >= n)):
            raise ConfigError("topology.indices", self.indices, f"agent ids in [0, {n})")
        object.__setattr__(self, "indptr", _readonly(indptr.copy()))
        object.__setattr__(self, "indices", _readonly(indices.copy()))
        degree = np.diff(indptr)
        uniform = n == 0 or bool((degree == degree[0]).all())
        object.__setattr__(self, "uniform_degree", int(degree[0]) if n and uniform else -1)

    # -- views ---------------------------------------------------------------------------------

    @property
    def n(self) -> int:
        """Number of agents."""
        return int(self.indptr.size - 1)

    @property
    def n_edges(self) -> int:
        """Number of directed edges."""
        return int(self.indices.size)

    def degree(self) -> np.ndarray:
        """Out-degree of every agent, [N] int64."""
        return np.diff(self.indptr)

    def neighbors(self, i: int) -> np.ndarray:
        """Agents that ``i`` sends to (sorted, read-only view)."""
        if not 0 <= i < self.n:
            raise ConfigError("agent", i, f"an agent id in [0, {self.n})")
        return self.indices[self.indptr[i] : self.indptr[i + 1]]

    def edges(self) -> tuple[np.ndarray, np.ndarray]:
        """All directed edges as (src, dst) int64 arrays, sorted by src then dst."""
        src = np.repeat(np.arange(self.n, dtype=np.int64), self.degree())
        return src, self.indices.copy()

    def adjacency(self) -> sp.csr_matrix:
        """The adjacency matrix as a scipy CSR matrix of ones (row = sender)."""
        data = np.ones(self.indices.size, dtype=np.int64)
        return sp.csr_matrix((data, self.indices, self.indptr), shape=(self.n, self.n))

    def is_symmetric(self) -> bool:
        """True when every edge (i, j) has its reverse (j, i)."""
        a = self.adjacency()
        return (a != a.T).nnz == 0

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Topology):
            return NotImplemented
        return np.array_equal(self.indptr, other.indptr) and np.array_equal(
            self.indices, other.indices
        )

    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        return f"Topology(n={self.n}, edges={self.n_edges})"

    # -- derived topologies --------------------------------------------------------------------

    def khop(self, k: int) -> Topology:
        """Agents reachable in 1..k hops, excluding the agent itself (boolean sparse powers)."""
        if isinstance(k, bool) or not isinstance(k, int | np.integer) or k < 1:
            raise ConfigError("k", k, "an integer >= 1")
        a = self.adjacency().astype(np.int32)
        reach = a.copy()
        power = a
        for _ in range(int(k) - 1):
            power = power @ a
            power.data[:] = 1
            reach = reach + power
            reach.data[:] = 1
        reach = reach.tocoo()
        return Topology.from_edges(self.n, reach.row, reach.col)

    # -- construction --------------------------------------------------------------------------

    @classmethod
    def from_edges(
        cls, n: int, src: np.ndarray, dst: np.ndarray, *, undirected: bool = False
    ) -> Topology:
        """Build from edge lists; duplicates and self-loops are removed, both ways if undirected."""
        if isinstance(n, bool) or not isinstance(n, int | np.integer) or n < 0:
            raise ConfigError("n", n, "an integer >= 0")
        n = int(n)
        src = np.asarray(src, dtype=np.int64).ravel()
        dst = np.asarray(dst, dtype=np.int64).ravel()
        if src.shape != dst.shape:
            raise ConfigError("dst", dst.shape, f"the same length as src ({src.size})")
        if src.size and (min(src.min(), dst.min()) < 0 or max(src.max(), dst.max()) >= n):
            raise ConfigError("edges", "out of range", f"agent ids in [0, {n})")
        if undirected:
            src, dst = np.concatenate([src, dst]), np.concatenate([dst, src])
        keep = src != dst
        keys = np.sort(src[keep] * n + dst[keep])
        if keys.size > 1:
            keys = keys[np.concatenate(([True], keys[1:] != keys[:-1]))]
        s, d = np.divmod(keys, n) if n else (keys, keys)
        indptr = np.zeros(n + 1, dtype=np.int64)
        np.cumsum(np.bincount(s, minlength=n), out=indptr[1:])
        return cls(indptr, d)

    @classmethod
    def from_networkx(cls, g: nx.Graph) -> Topology:
        """Convert a networkx graph; nodes are relabelled 0..N-1 in sorted order.

        Undirected edges give both directions; directed edges keep their direction.
        """
        nodes = sorted(g.nodes())
        index = {v: i for i, v in enumerate(nodes)}
        pairs = np.array([(index[u], index[v]) for u, v in g.edges()], dtype=np.int64)
        pairs = pairs.reshape(-1, 2)
        return cls.from_edges(len(nodes), pairs[:, 0], pairs[:, 1], undirected=not g.is_directed())

    def to_networkx(self) -> nx.DiGraph:
        """A networkx DiGraph with nodes 0..N-1 and one edge per directed link."""
        g = nx.DiGraph()
        g.add_nodes_from(range(self.n))
        src, dst = self.edges()
        g.add_edges_from(zip(src.tolist(), dst.tolist()))
        return g


def _check_int(field: str, value: object, low: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int | np.integer) or value < low:
        raise ConfigError(field, value, f"an integer >= {low}")
    return int(value)


def _check_prob(field: str, value: object) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or not 0.0 <= value <= 1.0:
        raise ConfigError(field, value, "a number in [0, 1]")
    return float(value)


def _seed(rng: np.random.Generator) -> int:
    return int(rng.integers(2**32))


def ring(n: int, k: int = 1) -> Topology:
    """Each agent linked (both ways) to its k nearest agents on each side of a cycle."""
    n = _check_int("n", n, 1)
    k = _check_int("k", k, 1)
    i = np.repeat(np.arange(n, dtype=np.int64), k)
    off = np.tile(np.arange(1, k + 1, dtype=np.int64), n)
    return Topology.from_edges(n, i, (i + off) % n, undirected=True)


def grid(rows: int, cols: int) -> Topology:
    """A rows x cols lattice with 4-neighbour links; agent r*cols + c sits at row r, column c."""
    rows = _check_int("rows", rows, 1)
    cols = _check_int("cols", cols, 1)
    ids = np.arange(rows * cols, dtype=np.int64).reshape(rows, cols)
    src = np.concatenate([ids[:, :-1].ravel(), ids[:-1, :].ravel()])
    dst = np.concatenate([ids[:, 1:].ravel(), ids[1:, :].ravel()])
    return Topology.from_edges(rows * cols, src, dst, undirected=True)


def complete(n: int) -> Topology:
    """Every agent linked to every other agent."""
    n = _check_int("n", n, 1)
    src, dst = np.divmod(np.arange(n * n, dtype=np.int64), n)
    return Topology.from_edges(n, src, dst)


def random_geometric(n: int, radius: float, rng: np.random.Generator) -> Topology:
    """Random points in the unit square, linked when closer than ``radius`` (networkx model)."""
    n = _check_int("n", n, 1)
    if isinstance(radius, bool) or not isinstance(radius, int | float) or radius < 0:
        raise ConfigError("radius", radius, "a number >= 0")
    return Topology.from_networkx(nx.random_geometric_graph(n, float(radius), seed=_seed(rng)))


def small_world(n: int, k: int, p: float, rng: np.random.Generator) -> Topology:
    """Watts-Strogatz graph: a ring of k nearest neighbours, edges rewired with probability p."""
    n = _check_int("n", n, 1)
    k = _check_int("k", k, 0)
    if k >= n:
        raise ConfigError("k", k, f"an integer < n ({n})")
    p = _check_prob("p", p)
    return Topology.from_networkx(nx.watts_strogatz_graph(n, k, p, seed=_seed(rng)))


def scale_free(n: int, m: int, rng: np.random.Generator) -> Topology:
    """Barabási-Albert graph: each new agent attaches to m existing ones, preferentially."""
    n = _check_int("n", n, 1)
    m = _check_int("m", m, 1)
    if m >= n:
        raise ConfigError("m", m, f"an integer in [1, n) with n = {n}")
    return Topology.from_networkx(nx.barabasi_albert_graph(n, m, seed=_seed(rng)))
