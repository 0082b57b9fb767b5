"""Choosing faulty agents: bounds always hold, the greedy draw is maximal, ids are respected."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from dmarl_des.errors import ConfigError
from dmarl_des.faults import FaultBounds, FaultySet, bounds_hold
from dmarl_des.net import random_geometric, ring, small_world


def brute_force_ok(chosen, topology, bounds):
    """F-total and F-local checked directly from the definitions, agent by agent."""
    faulty = set(int(i) for i in chosen)
    if bounds.total is not None and len(faulty) > bounds.total:
        return False
    if bounds.local is not None:
        for j in range(topology.n):
            if j in faulty:
                continue
            heard = sum(1 for i in faulty if j in set(topology.neighbors(i).tolist()))
            if heard > bounds.local:
                return False
    return True


topologies = st.sampled_from(["ring1", "ring2", "geometric", "small_world"])


def make_topology(kind, n, seed):
    rng = np.random.default_rng(seed)
    if kind == "ring1":
        return ring(n, 1)
    if kind == "ring2":
        return ring(n, 2)
    if kind == "geometric":
        return random_geometric(n, 0.35, rng)
    return small_world(n, 4, 0.3, rng)


@settings(max_examples=60, deadline=None)
@given(
    kind=topologies,
    n=st.integers(6, 30),
    seed=st.integers(0, 2**31),
    local=st.one_of(st.none(), st.integers(0, 3)),
    total=st.one_of(st.none(), st.integers(0, 12)),
    wants=st.lists(st.integers(0, 30), min_size=1, max_size=3),
)
def test_bounds_hold_on_every_draw_and_the_draw_is_maximal(kind, n, seed, local, total, wants):
    topology = make_topology(kind, n, seed)
    bounds = FaultBounds(total=total, local=local)
    chosen = FaultySet(n, bounds, topology)
    rng = np.random.default_rng(seed + 1)
    picks = [chosen.draw(w, rng) for w in wants]
    everyone = np.concatenate(picks)
    assert len(set(everyone.tolist())) == everyone.size  # kinds are disjoint
    assert brute_force_ok(everyone, topology, bounds)
    assert bounds_hold(chosen.faulty, bounds, topology)
    assert bounds_hold(everyone, bounds, topology)
    for want, got in zip(wants, picks, strict=True):
        assert got.size <= want
    # maximal: when the last draw fell short, no remaining agent could have been added
    if picks[-1].size < wants[-1]:
        for i in np.flatnonzero(~chosen.faulty).tolist():
            assert not brute_force_ok([*everyone.tolist(), i], topology, bounds)


def test_without_bounds_the_draw_is_a_uniform_subset():
    counts = np.zeros(10)
    rng = np.random.default_rng(0)
    for _ in range(4000):
        counts[FaultySet(10, FaultBounds()).draw(3, rng)] += 1
    # each agent is chosen with probability 3/10: binomial(4000, 0.3), sd ~ 29
    assert np.all(np.abs(counts - 1200) < 5 * 29)


def test_f_local_on_a_ring_allows_every_other_agent_at_most():
    # ring(n, 1): each agent hears its two neighbours; with local=1 no honest agent sits between
    # two faulty ones. In a maximal set every run of honest agents has length exactly 2 (a single
    # honest agent could be added; the end of a longer run could too), so >= n/3 are faulty.
    topology = ring(12, 1)
    for seed in range(20):
        s = FaultySet(12, FaultBounds(local=1), topology)
        got = s.draw(12, np.random.default_rng(seed))
        f = np.zeros(12, bool)
        f[got] = True
        for j in range(12):
            if not f[j]:
                assert f[(j - 1) % 12] + f[(j + 1) % 12] <= 1
        assert got.size >= 4


def test_explicit_ids_are_taken_and_checked_against_the_bounds():
    topology = ring(8, 1)
    s = FaultySet(8, FaultBounds(local=1), topology)
    assert s.take_ids((0, 3), "faults.crash.ids").tolist() == [0, 3]
    with pytest.raises(ConfigError) as err:
        s.take_ids((5,), "faults.omission.ids")  # agent 4 would hear 3 and 5
    assert err.value.field == "faults.omission.ids"
    with pytest.raises(ConfigError, match="agent ids in"):
        FaultySet(8, FaultBounds()).take_ids((8,), "faults.crash.ids")


def test_f_total_caps_all_kinds_together():
    s = FaultySet(20, FaultBounds(total=5))
    rng = np.random.default_rng(1)
    a, b, c = s.draw(3, rng), s.draw(3, rng), s.draw(3, rng)
    assert (a.size, b.size, c.size) == (3, 2, 0)


def test_the_injector_keeps_kinds_disjoint_and_uses_the_world_topology_for_f_local():
    from fault_worlds import run_world, share_scenario

    sc = share_scenario(
        faults={"crash": {"ids": [0, 1]}, "byzantine": {"count": 4}, "omission": {"count": 3}},
    )
    targets = run_world(sc).injectors[0].targets
    assert targets["crash"].tolist() == [0, 1]
    assert sorted(targets["byzantine"].tolist()) == [2, 3, 4, 5]
    assert targets["omission"].size == 0  # nobody left
    sc = share_scenario(
        n_agents=12,
        net={"topology": {"kind": "ring", "k": 2}},
        faults={"byzantine": {"fraction": 1.0}, "bound": {"local": 1, "total": 3}},
    )
    for seed in range(5):
        world = run_world(sc.with_overrides({"seed": seed}))
        chosen = world.injectors[0].targets["byzantine"]
        topology = world.network.topology
        assert 0 < chosen.size <= 3
        assert brute_force_ok(chosen, topology, FaultBounds(total=3, local=1))
