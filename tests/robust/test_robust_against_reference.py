"""Every rule agrees with a plain per-agent reference on irregular graphs with losses and lies."""

from __future__ import annotations

import math

import networkx as nx
import numpy as np
import pytest
import torch

from dmarl_des.robust import RULES, aggregate


def _reference(rule: str, own: np.ndarray, heard: np.ndarray, **p) -> np.ndarray:
    """One agent's new value, straight from each rule's definition (loops, no tricks)."""
    candidates = np.vstack([own, heard])
    n, d = candidates.shape
    if rule == "mean":
        return candidates.mean(axis=0)
    if rule == "median":
        return np.median(candidates, axis=0)
    if rule == "trimmed_mean":
        b = p["b"]
        if n < 2 * b + 1:
            return np.median(candidates, axis=0)
        ordered = np.sort(candidates, axis=0)
        return ordered[b : n - b].mean(axis=0)
    if rule == "wmsr":
        out = np.empty(d)
        for c in range(d):
            larger = sorted(v for v in heard[:, c] if v > own[c])
            smaller = sorted(v for v in heard[:, c] if v < own[c])
            equal = [v for v in heard[:, c] if v == own[c]]
            kept = smaller[min(p["f"], len(smaller)) :] + equal
            kept += larger[: len(larger) - min(p["f"], len(larger))]
            out[c] = (own[c] + sum(kept)) / (1 + len(kept))
        return out
    if rule == "krum":
        scores = []
        for i in range(n):
            dist = sorted(
                float(np.sum((candidates[i] - candidates[j]) ** 2)) for j in range(n) if j != i
            )
            scores.append(sum(dist[: n - p["f"] - 2]))
        return candidates[int(np.argmin(scores))]
    if rule == "clipped_gossip":
        pulls = heard - own
        lengths = np.linalg.norm(pulls, axis=1)
        tau = p["tau"]
        if tau == "auto":
            m = len(heard)
            unclipped = m - math.ceil(p["delta"] * m - 1e-9)
            tau = np.sort(lengths)[unclipped - 1] if unclipped > 0 else 0.0
        step = np.zeros(d)
        for pull, length in zip(pulls, lengths):
            step += pull * (min(1.0, tau / length) if length > 0 else 1.0)
        return own + step / (1 + len(heard))
    if rule == "clipped_mean":
        out = np.empty(d)
        for c in range(d):
            ordered = sorted(heard[:, c])
            m, h = len(ordered), p["h"]
            lower = min(own[c], ordered[h]) if m > h else own[c]
            upper = max(own[c], ordered[m - 1 - h]) if m > h else own[c]
            out[c] = (own[c] + sum(min(max(v, lower), upper) for v in ordered)) / (1 + m)
        return out
    raise AssertionError(rule)


CASES = [
    ("mean", {}),
    ("median", {}),
    ("trimmed_mean", {"b": 1}),
    ("trimmed_mean", {"b": 3}),
    ("wmsr", {"f": 1}),
    ("wmsr", {"f": 2}),
    ("krum", {"f": 1}),
    ("clipped_gossip", {"tau": 0.5}),
    ("clipped_gossip", {"tau": "auto", "delta": 0.3}),
    ("clipped_mean", {"h": 0}),
    ("clipped_mean", {"h": 1}),
    ("clipped_mean", {"h": 3}),
]


def _irregular_round(seed: int, to_csr, rows_of, min_arrived: int = 0):
    """A graph with a hub, a sparse random part and a few ties; lossy links and per-link lies."""
    rng = np.random.default_rng(seed)
    graph = nx.barabasi_albert_graph(80, 3, seed=seed)
    graph.add_edges_from((0, j) for j in range(1, 80, 2))  # a hub of degree ~40
    graph.add_edges_from((i, (i + k) % 80) for i in range(80) for k in (1, 2, 3))  # degree ≥ 6
    indptr, indices = to_csr(graph)
    rows = rows_of(indptr)
    x = np.round(rng.normal(size=(80, 3)) * 4, 1)  # rounding makes ties with own values
    received = x[indices] + np.round(rng.normal(size=(indices.shape[0], 3)), 1)
    received[rng.random(indices.shape[0]) < 0.05] = np.nan  # corrupt rows count as lost
    valid = rng.random(indices.shape[0]) > 0.25
    arrived = valid & np.isfinite(received).all(axis=1)
    short = np.bincount(rows[arrived], minlength=80) < min_arrived
    valid |= short[rows]
    received[short[rows]] = x[indices][short[rows]]
    return x, indptr, indices, received, valid


@pytest.mark.parametrize(("rule", "params"), CASES)
def test_rule_matches_per_agent_reference(rule, params, to_csr, rows_of):
    x, indptr, indices, received, valid = _irregular_round(1, to_csr, rows_of, min_arrived=4)
    out = aggregate(rule, x, indptr, indices, received=received, valid=valid, **params)
    for i in range(x.shape[0]):
        edge = slice(indptr[i], indptr[i + 1])
        keep = valid[edge] & np.isfinite(received[edge]).all(axis=1)
        expected = _reference(rule, x[i], received[edge][keep], **params)
        np.testing.assert_allclose(out[i], expected, rtol=1e-12, atol=1e-12, err_msg=f"agent {i}")


@pytest.mark.parametrize(("rule", "params"), CASES)
def test_numpy_and_torch_give_the_same_result(rule, params, to_csr, rows_of):
    x, indptr, indices, received, valid = _irregular_round(2, to_csr, rows_of, min_arrived=4)
    out_np = aggregate(rule, x, indptr, indices, received=received, valid=valid, **params)
    out_t = aggregate(
        rule,
        torch.from_numpy(x),
        torch.from_numpy(indptr),
        indices,
        received=torch.from_numpy(received),
        valid=torch.from_numpy(valid),
        **params,
    )
    assert isinstance(out_np, np.ndarray) and isinstance(out_t, torch.Tensor)
    assert out_t.dtype == torch.float64 and out_t.device.type == "cpu"
    np.testing.assert_allclose(out_t.numpy(), out_np, rtol=1e-12, atol=1e-12)
    out32 = aggregate(rule, x.astype(np.float32), indptr, indices, **params)
    assert out32.dtype == np.float32


@pytest.mark.parametrize(("rule", "params"), CASES)
def test_lost_values_are_the_same_as_absent_edges(rule, params, to_csr, rows_of):
    x, indptr, indices, received, valid = _irregular_round(3, to_csr, rows_of, min_arrived=4)
    valid &= np.isfinite(received).all(axis=1)
    rows = rows_of(indptr)
    with_mask = aggregate(rule, x, indptr, indices, received=received, valid=valid, **params)
    pruned_indptr = np.concatenate([[0], np.cumsum(np.bincount(rows[valid], minlength=80))])
    pruned = aggregate(rule, x, pruned_indptr, indices[valid], received=received[valid], **params)
    np.testing.assert_allclose(with_mask, pruned, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize(("rule", "params"), CASES)
def test_received_defaults_to_the_senders_values_and_overrides_them(rule, params, to_csr, rows_of):
    x, indptr, indices, _, _ = _irregular_round(4, to_csr, rows_of)
    default = aggregate(rule, x, indptr, indices, **params)
    explicit = aggregate(rule, x, indptr, indices, received=x[indices], **params)
    np.testing.assert_array_equal(default, explicit)
    # One agent (number 5) reports a different value to each recipient: only they change.
    lies = x[indices].copy()
    from_five = indices == 5
    lies[from_five] += 50.0 * np.arange(1, from_five.sum() + 1)[:, None]
    attacked = aggregate(rule, x, indptr, indices, received=lies, **params)
    changed = np.flatnonzero(~np.isclose(attacked, default).all(axis=1))
    assert set(changed) <= set(rows_of(indptr)[from_five])
    listens = rule in ("mean", "clipped_gossip") or params == {"h": 0}
    if listens:  # rules that always listen to every neighbour
        assert set(changed) == set(rows_of(indptr)[from_five])


def test_one_dimensional_values_come_back_one_dimensional():
    indptr, indices = np.array([0, 1, 2]), np.array([1, 0])
    out = aggregate("mean", np.array([0.0, 2.0]), indptr, indices)
    assert out.shape == (2,) and np.array_equal(out, [1.0, 1.0])


def test_every_rule_is_covered():
    assert {rule for rule, _ in CASES} == set(RULES)
