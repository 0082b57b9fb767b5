"""Extreme but finite candidates: every rule stays finite, in range, and exact to a power of two."""

from __future__ import annotations

import networkx as nx
import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from test_robust_against_reference import CASES, _irregular_round

from dmarl_des.errors import ConfigError
from dmarl_des.robust import (
    RULES,
    WMSR,
    ClippedGossip,
    ClippedMean,
    Krum,
    Mean,
    Median,
    TrimmedMean,
    aggregate,
    make_aggregator,
)

MAX = float(np.finfo(np.float64).max)


def _listener(own, heard):
    """Agent 0 with value ``own`` hears the rows ``heard``; the other agents hear nobody."""
    x = np.array([own, *heard], dtype=np.float64).reshape(1 + len(heard), -1)
    n = x.shape[0]
    return x, np.concatenate([[0], np.full(n, n - 1)]), np.arange(1, n)


# Agent 0's new value, hand-computed. Plain float arithmetic overflows on each of them: sums of
# large values of one sign, differences of large values of opposite signs, squared distances.
HAND = [
    ("mean", {}, MAX, [MAX, MAX], MAX),
    ("mean", {}, -MAX, [MAX, MAX], MAX / 3),
    ("mean", {}, 1e308, [1e308, -1e308, 1e308], 0.5e308),
    ("median", {}, 1.5e308, [1.7e308], 1.6e308),
    ("median", {}, -MAX, [MAX], 0.0),
    ("trimmed_mean", {"b": 1}, 1e308, [MAX, -MAX, 1e308, 1e308], 1e308),
    ("trimmed_mean", {"b": 1}, 1.2e308, [1.6e308, MAX, -MAX], 1.4e308),  # 2b+1 = 3 of 4 kept
    ("trimmed_mean", {"b": 2}, 1.2e308, [1.6e308], 1.4e308),  # too few: the median
    ("wmsr", {"f": 1}, 1e308, [1.2e308, 1.4e308, MAX, -MAX], 1.2e308),
    ("wmsr", {"f": 0}, -MAX, [MAX, MAX], MAX / 3),
    ("clipped_gossip", {"tau": float("inf")}, -MAX, [MAX, MAX], MAX / 3),
    ("clipped_gossip", {"tau": 1e308}, -1e308, [1e308], -0.5e308),  # pull 2e308, clipped to 1e308
    # radius: the distance 1e308 to the closer neighbour; both pulls 1e308 long after clipping
    ("clipped_gossip", {"tau": "auto", "delta": 0.5}, -1e308, [1e308, 0.0], -1e308 / 3),
    # squared distances overflow; scores (f = 0: two nearest) 5, 2, 5, 145 times 1e600
    ("krum", {"f": 0, "too_few": "keep"}, 0.0, [1e300, 2e300, 10e300], 1e300),
    ("krum", {"f": 0, "too_few": "keep"}, -MAX, [MAX, 0.9 * MAX, 0.8 * MAX], 0.9 * MAX),
    ("clipped_mean", {"h": 0}, -MAX, [MAX, MAX], MAX / 3),
    # bounds [1e308, 1.2e308]: MAX clipped to 1.2e308, -MAX to 1e308
    ("clipped_mean", {"h": 1}, 1e308, [1.2e308, MAX, -MAX], 1.1e308),
]


@pytest.mark.parametrize(("rule", "params", "own", "heard", "expected"), HAND)
def test_hand_computed_extreme_rounds(rule, params, own, heard, expected):
    x, indptr, indices = _listener(own, heard)
    out = aggregate(rule, x, indptr, indices, **params)
    assert np.isfinite(out).all()
    assert out[0, 0] == pytest.approx(expected, rel=1e-15, abs=0.0)
    np.testing.assert_array_equal(out[1:], x[1:])  # agents hearing nobody keep their value


def _keeping(rule: str, params: dict) -> dict:
    """Krum lets agents with too few candidates keep their value instead of refusing."""
    return {**params, "too_few": "keep"} if rule == "krum" else params


def test_identical_largest_values_come_back_exactly():
    # Rounding of the rescued average must never leave the candidates' range (here one point).
    for rule, params in CASES:
        params = _keeping(rule, params)
        x, indptr, indices = _listener([MAX, -MAX], [[MAX, -MAX]] * 5)
        out = aggregate(rule, x, indptr, indices, **params)
        np.testing.assert_array_equal(out, x, err_msg=rule)


def _scaled_rule(rule: str, params: dict, factor: float) -> dict:
    """Parameters in value units (clipped gossip's tau) scale with the values."""
    tau = params.get("tau")
    if isinstance(tau, float):
        return {**params, "tau": tau * factor}
    return params


@pytest.mark.parametrize("sign", [1.0, -1.0])
@pytest.mark.parametrize(("rule", "params"), CASES)
def test_rules_are_exact_at_the_edge_of_float64(rule, params, sign, to_csr, rows_of):
    # Multiplying every value by a power of two is exact, and so is every rule's answer up to the
    # rounding of its sums: pushing the largest value to just under the largest float64 must
    # scale the result and nothing else, although plain arithmetic on such values overflows.
    x, indptr, indices, received, valid = _irregular_round(5, to_csr, rows_of, min_arrived=4)
    received[::7] *= -1.0  # more values of both signs
    top = max(np.abs(x).max(), np.nanmax(np.abs(received)))
    factor = sign * 2.0 ** (1023 - int(np.ceil(np.log2(top))))
    out = aggregate(rule, x, indptr, indices, received=received, valid=valid, **params)
    big = aggregate(
        rule,
        x * factor,
        indptr,
        indices,
        received=received * factor,
        valid=valid,
        **_scaled_rule(rule, params, abs(factor)),
    )
    assert np.isfinite(big).all()
    rounding = 1e-14 * abs(factor) * top  # sums of ~40 values, added in another order
    np.testing.assert_allclose(big, out * factor, rtol=1e-14, atol=rounding)


FINITE = st.floats(allow_nan=False, allow_infinity=False, width=64)
EXTREME = st.one_of(
    FINITE,
    st.sampled_from([MAX, -MAX, 1e308, -1e308, 1e300, -1e300, 5e-324, 0.0, 1.0]),
)


@settings(max_examples=150, deadline=None)
@given(
    rule=st.sampled_from(CASES),
    d=st.integers(1, 3),
    values=st.lists(st.lists(EXTREME, min_size=3, max_size=3), min_size=7, max_size=7),
)
def test_finite_candidates_give_finite_values_within_their_range(rule, d, values, to_csr):
    name, params = rule
    params = _keeping(name, params)
    graph = nx.cycle_graph(7)
    graph.add_edges_from([(0, 2), (0, 3), (0, 4), (0, 5), (1, 4)])  # degrees 2 to 6
    indptr, indices = to_csr(graph)
    x = np.array(values)[:, :d]
    out = aggregate(name, x, indptr, indices, **params)
    assert np.isfinite(out).all()
    for i in range(x.shape[0]):
        candidates = np.vstack([x[i], x[indices[indptr[i] : indptr[i + 1]]]])
        lo, hi = candidates.min(axis=0), candidates.max(axis=0)
        with np.errstate(over="ignore"):  # the slack of the largest floats is infinite
            slack = 4 * np.spacing(np.maximum(np.abs(lo), np.abs(hi)))  # rounding of plain sums
            assert np.all(out[i] >= lo - slack) and np.all(out[i] <= hi + slack), (i, out[i])


def test_tiny_coordinates_beside_a_huge_one_stay_within_the_candidates_range(to_csr):
    # scaling an agent's candidates down by 2^515 turns 7.2e-168 into a subnormal: its lost bits
    # must not carry the result outside the candidates' range (a case found by the test above)
    graph = nx.cycle_graph(7)
    graph.add_edges_from([(0, 2), (0, 3), (0, 4), (0, 5), (1, 4)])
    indptr, indices = to_csr(graph)
    x = np.zeros((7, 3))
    x[6] = [0.0, 4.49423283715579e307, 7.228365844491276e-168]
    for name, params in CASES:
        out = aggregate(name, x, indptr, indices, **_keeping(name, params))
        assert np.all(out[6] <= x[6]) and np.all(out[6] >= 0.0), (name, out[6])


def test_torch_float32_values_near_its_largest_stay_finite():
    big = float(torch.finfo(torch.float32).max)
    x, indptr, indices = _listener([-big, big], [[big, big], [big, -big], [-big, big]])
    for rule, params in CASES:
        out = aggregate(
            rule, torch.from_numpy(x).float(), indptr, indices, **_keeping(rule, params)
        )
        assert out.dtype == torch.float32 and bool(torch.isfinite(out).all()), rule


# ------------------------------------------------------------------ too few candidates
def test_min_candidates_of_each_rule():
    assert Krum(f=2).min_candidates == 7
    assert TrimmedMean(b=2).min_candidates == 5
    for rule in (Mean(), Median(), WMSR(f=3), ClippedGossip(tau="auto"), ClippedMean(h=2)):
        assert rule.min_candidates == 1  # never falls back
    assert {type(r) for r in (Krum(f=0), TrimmedMean(b=0), Mean())} <= set(RULES.values())


def test_krum_keeps_the_own_value_of_agents_with_too_few_candidates(to_csr):
    indptr, indices = to_csr(nx.complete_graph(6))
    x = np.random.default_rng(0).normal(size=(6, 2))
    valid = np.ones(indices.shape[0], dtype=bool)
    valid[indptr[3] : indptr[3] + 2] = False  # agent 3 misses two values: n = 4 <= 2f + 2
    with pytest.raises(ConfigError, match=r"agent 3 has n = 4"):
        aggregate("krum", x, indptr, indices, f=1, valid=valid)
    kept = aggregate("krum", x, indptr, indices, f=1, valid=valid, too_few="keep")
    np.testing.assert_array_equal(kept[3], x[3])
    # the others have n = 6 > 4 and adopt what refusing Krum adopts when nobody is short
    full = aggregate("krum", x, indptr, indices, f=1)
    others = [0, 1, 2, 4, 5]
    np.testing.assert_array_equal(kept[others], full[others])
    assert not np.array_equal(full[3], x[3])  # agent 3 would have moved with all its values


def test_krum_too_few_is_checked():
    with pytest.raises(ConfigError, match=r"krum.too_few"):
        make_aggregator("krum", f=1, too_few="median")


@pytest.mark.parametrize(("rule", "params"), CASES)
def test_gradients_through_rescued_rounds_are_finite(rule, params, to_csr):
    indptr, indices = to_csr(nx.complete_graph(6))
    torch.manual_seed(0)
    x = (torch.randn(6, 2, dtype=torch.float64) * 1e307).requires_grad_()
    out = aggregate(rule, x, indptr, indices, **params)
    out.sum().backward()
    assert bool(torch.isfinite(out).all()) and bool(torch.isfinite(x.grad).all())
    # every rule is shift-equivariant (adding e to every value adds e to every output): Σ grad = 12
    assert float(x.grad.sum()) == pytest.approx(12.0)
