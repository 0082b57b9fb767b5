"""W-MSR: the hand-computed update and the invariants and convergence of LeBlanc et al. (2013)."""

from __future__ import annotations

import networkx as nx
import numpy as np
import pytest

from dmarl_des.robust import WMSR, Mean, aggregate


def _listener(own: float, heard: list[float]):
    """Agent 0 with value ``own`` hears ``heard``; the other agents hear nobody."""
    x = np.array([[own]] + [[v] for v in heard])
    n = x.shape[0]
    indptr = np.concatenate([[0], np.full(n, n - 1)])
    return x, indptr, np.arange(1, n)


@pytest.mark.parametrize(
    ("f", "expected"),
    [
        (0, (0 - 5 - 1 + 1 + 2 + 10 + 0) / 7),  # nothing removed
        (1, (0 - 1 + 0 + 1 + 2) / 5),  # drop -5 and 10
        (2, (0 + 0 + 1) / 3),  # drop -5, -1 and 10, 2
        (3, (0 + 0) / 2),  # only 2 smaller and 3 larger: all of them go
    ],
)
def test_wmsr_hand_computed(f, expected):
    x, indptr, indices = _listener(0.0, [-5.0, -1.0, 1.0, 2.0, 10.0, 0.0])
    assert aggregate("wmsr", x, indptr, indices, f=f)[0, 0] == pytest.approx(expected)


def test_wmsr_removes_only_values_beyond_own():
    # All three neighbours are larger; with f=1 only the largest goes, the other two stay.
    x, indptr, indices = _listener(1.0, [2.0, 3.0, 30.0])
    assert aggregate("wmsr", x, indptr, indices, f=1)[0, 0] == pytest.approx((1 + 2 + 3) / 3)


def _adversarial_received(x, indptr, indices, rows, malicious, honest, rng):
    """What every agent hears: honest senders tell the truth, malicious ones lie per recipient.

    Each lie is one of: a huge random value, the honest minimum, the honest maximum (a split that
    pushes low agents down and high agents up), or just beyond the recipient's own value.
    """
    received = x[indices].copy()
    lying = malicious[indices]
    n_lies, d = int(lying.sum()), x.shape[1]
    low, high = x[honest].min(axis=0), x[honest].max(axis=0)
    own = x[rows[lying]]
    mid = 0.5 * (low + high)
    choices = np.stack(
        [
            rng.uniform(-1e3, 1e3, size=(n_lies, d)),
            np.broadcast_to(low, (n_lies, d)),
            np.broadcast_to(high, (n_lies, d)),
            np.where(own < mid, low, high),
            own + rng.choice([-1e-3, 1e-3], size=(n_lies, d)),
        ]
    )
    pick = rng.integers(0, choices.shape[0], size=n_lies)
    received[lying] = choices[pick, np.arange(n_lies)]
    return received


def _run(graph, malicious_ids, rounds, rng, rule, rows_of, to_csr, d=2, x0=None):
    """Synchronous rounds: honest agents apply the built ``rule``, malicious ones lie each round.

    Returns the honest values after every round, shape [rounds + 1, n_honest, d].
    """
    indptr, indices = to_csr(graph)
    n = graph.number_of_nodes()
    rows = rows_of(indptr)
    malicious = np.zeros(n, dtype=bool)
    malicious[list(malicious_ids)] = True
    honest = ~malicious
    x = rng.uniform(0.0, 1.0, size=(n, d)) if x0 is None else np.array(x0, dtype=float)
    history = [x[honest].copy()]
    for _ in range(rounds):
        received = _adversarial_received(x, indptr, indices, rows, malicious, honest, rng)
        new = rule(x, indptr, indices, received=received)
        x[honest] = new[honest]
        x[malicious] = rng.uniform(-1e3, 1e3, size=(int(malicious.sum()), x.shape[1]))
        history.append(x[honest].copy())
    return np.array(history)


def _max_local_malicious(graph, malicious_ids):
    bad = set(malicious_ids)
    honest = [i for i in graph.nodes if i not in bad]
    return max(len(bad.intersection(graph.neighbors(i))) for i in honest)


ROBUST_CASES = [
    # F-total: a complete graph of 3F + 1 nodes with F Byzantine agents.
    pytest.param(nx.complete_graph(7), 2, [1, 4], id="complete7-F2-total"),
    # F-local: 3 malicious agents in all, but at most 1 in any honest neighbourhood.
    pytest.param(nx.circulant_graph(40, [1, 2, 3, 4]), 1, [0, 13, 26], id="circulant40-F1-local"),
]


@pytest.mark.parametrize(("graph", "f", "malicious_ids"), ROBUST_CASES)
def test_honest_range_never_grows_and_agreement_is_reached(
    graph, f, malicious_ids, rows_of, to_csr
):
    assert _max_local_malicious(graph, malicious_ids) <= f
    rng = np.random.default_rng(7)
    history = _run(graph, malicious_ids, 400, rng, WMSR(f), rows_of, to_csr)
    highs, lows = history.max(axis=1), history.min(axis=1)  # [rounds + 1, d]
    assert np.all(np.diff(highs, axis=0) <= 1e-12), "honest maximum rose"
    assert np.all(np.diff(lows, axis=0) >= -1e-12), "honest minimum fell"
    final = history[-1]
    assert np.all(final.max(axis=0) - final.min(axis=0) < 1e-6), "no agreement"
    assert np.all(final >= history[0].min(axis=0)) and np.all(final <= history[0].max(axis=0))


def test_plain_mean_is_pulled_outside_the_honest_range(rows_of, to_csr):
    graph, malicious_ids = nx.complete_graph(7), [1, 4]
    rng = np.random.default_rng(7)
    history = _run(graph, malicious_ids, 5, rng, Mean(), rows_of, to_csr)
    initial_low, initial_high = history[0].min(axis=0), history[0].max(axis=0)
    outside = (history[1:] < initial_low) | (history[1:] > initial_high)
    assert outside.any(axis=(1, 2)).all(), "mean stayed inside the honest range"
    assert np.abs(history[-1]).max() > 10.0


@pytest.mark.parametrize(
    ("graph", "x0"),
    [
        # Two 5-cliques joined by one edge (1-robust, not 2-robust): cliques at 0 and 1.
        pytest.param(nx.barbell_graph(5, 0), [[0.0]] * 5 + [[1.0]] * 5, id="two-cliques"),
        # A ring with F=1: two arcs at 0 and 1.
        pytest.param(nx.cycle_graph(10), [[0.0]] * 5 + [[1.0]] * 5, id="ring"),
    ],
)
def test_a_graph_that_is_not_robust_enough_stalls(graph, x0, rows_of, to_csr):
    rng = np.random.default_rng(0)
    stalled = _run(graph, [], 200, rng, WMSR(1), rows_of, to_csr, d=1, x0=x0)
    spread = stalled.max(axis=1) - stalled.min(axis=1)
    assert np.all(spread >= 0.5), "W-MSR reached agreement on a graph that is not robust"
    # The same graph is connected: plain averaging (no attackers here) does agree.
    averaged = _run(graph, [], 2000, rng, Mean(), rows_of, to_csr, d=1, x0=x0)
    assert averaged[-1].max() - averaged[-1].min() < 1e-3


def test_wmsr_is_coordinatewise():
    x, indptr, indices = _listener(0.0, [1.0, 2.0])
    x = np.concatenate([x, -x], axis=1)  # second coordinate mirrored
    out = WMSR(f=1)(x, indptr, indices)
    assert out[0] == pytest.approx([0.5, -0.5])
