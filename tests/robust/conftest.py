"""Shared fixtures of the robust-aggregation tests: graphs as CSR neighbourhoods."""

from __future__ import annotations

from collections.abc import Callable

import networkx as nx
import numpy as np
import pytest

Csr = tuple[np.ndarray, np.ndarray]


def graph_to_csr(graph: nx.Graph) -> Csr:
    """CSR neighbourhoods of a graph on nodes 0..n-1, neighbours in ascending order."""
    n = graph.number_of_nodes()
    neighbours = [sorted(graph.neighbors(i)) for i in range(n)]
    degree = np.array([len(nb) for nb in neighbours], dtype=np.int64)
    indptr = np.concatenate([[0], np.cumsum(degree)]).astype(np.int64)
    indices = np.array([j for nb in neighbours for j in nb], dtype=np.int64)
    return indptr, indices


def csr_rows(indptr: np.ndarray) -> np.ndarray:
    """The recipient of every CSR entry."""
    return np.repeat(np.arange(indptr.shape[0] - 1), np.diff(indptr))


@pytest.fixture(scope="session")
def to_csr() -> Callable[[nx.Graph], Csr]:
    """Turn a networkx graph into (indptr, indices)."""
    return graph_to_csr


@pytest.fixture(scope="session")
def rows_of() -> Callable[[np.ndarray], np.ndarray]:
    """Map indptr to the recipient of each CSR entry."""
    return csr_rows
