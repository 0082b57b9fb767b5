"""The network's lean paths for the common case give exactly what its general paths give."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
from net_testkit import VEC, advance, make_network

from dmarl_des.net import DelayModel, LinkModel, LossModel, Topology, ring
from dmarl_des.net.channel import Channel
from dmarl_des.net.fanout import neighbour_pairs
from dmarl_des.net.inbox_store import InboxStore, Incoming
from dmarl_des.net.payloads import PayloadBlock

STATELESS_LINKS = [
    LinkModel(loss=LossModel("bernoulli", p=0.3), delay=DelayModel("exponential", mean=0.05)),
    LinkModel(loss=LossModel("bernoulli", p=0.3), delay=DelayModel("constant", mean=1)),  # int
    LinkModel(loss=LossModel("bernoulli", p=0.5), delay=DelayModel("constant", jitter=0.02)),
    LinkModel(delay=DelayModel("lognormal", mean=0.2, sigma=0.4, jitter=0.01)),
    LinkModel(loss=LossModel("bernoulli", p=0.2, symmetric=True), delay=DelayModel("constant")),
    LinkModel(
        loss=LossModel("gilbert_elliott", p=0.3, r=0.4, k=0.9, h=0.2, symmetric=True, period=0.1),
        delay=DelayModel("exponential", mean=0.1),
    ),
]


@pytest.mark.parametrize("link", STATELESS_LINKS)
def test_stateless_channel_matches_the_general_path(link):
    lean = Channel(50, [link], np.random.default_rng(4), (7, 9), None)
    general = Channel(50, [link], np.random.default_rng(4), (7, 9), None)
    general._stateless = [False]  # the per-link path, with its (here inert) link state
    rng = np.random.default_rng(0)
    for call in range(30):
        m = 40 if call % 5 else 1 + call % 4  # small calls too (one sender in continuous time)
        srcs = rng.integers(0, 50, size=m)
        dsts = (srcs + rng.integers(1, 50, size=m)) % 50
        allowed = None if call % 3 else rng.random(m) < 0.7
        passes = None if call % 2 or m < 40 else np.repeat(np.arange(4), 10)
        sizes = np.full(m, 16, dtype=np.int64)
        a = lean.transmit(0.1 * call, srcs, dsts, sizes, None, allowed, passes)
        b = general.transmit(0.1 * call, srcs, dsts, sizes, None, allowed, passes)
        for field in dataclasses.fields(a):
            got, want = getattr(a, field.name), getattr(b, field.name)
            assert np.array_equal(got, want, equal_nan=True), field.name
            # (an integer constant delay stays integer where no message is lost)
            assert got.dtype == want.dtype or field.name == "delay", field.name


def test_uniform_degree_pairs_match_the_csr_walk():
    topology = ring(30, 3)
    assert topology.uniform_degree == 6
    walk = Topology(topology.indptr, topology.indices)
    object.__setattr__(walk, "uniform_degree", -1)  # the general CSR walk
    ids = np.array([4, 0, 29, 4, 17], dtype=np.int64)
    for got, want in zip(neighbour_pairs(topology, ids), neighbour_pairs(walk, ids), strict=True):
        assert np.array_equal(got, want)
    uneven = Topology.from_edges(3, np.array([0, 0, 1]), np.array([1, 2, 2]))
    assert uneven.uniform_degree == -1


def _arrivals(store_rng, n, m, block_number):
    recv = store_rng.integers(0, n, size=m)
    return Incoming(
        recv,
        np.arange(m),
        store_rng.integers(0, n, size=m),
        np.zeros(m),
        np.full(m, 12, dtype=np.int64),
        np.ones(m, dtype=np.int64),
        np.zeros(m, dtype=np.int64),
        np.zeros(m, dtype=np.int64),
        np.arange(m) % block_number,
    )


@pytest.mark.parametrize("limit", [64, 3])
def test_inbox_store_lean_paths_match_the_general_ones(limit):
    n = 20
    lean, general = InboxStore(n, limit), InboxStore(n, limit)
    rng = np.random.default_rng(1)
    for step in range(300):
        general._wrapped = True  # rings read and written through their heads, modulo the width
        general._arena.uniform = False  # payloads gathered block by block
        stack = rng.normal(size=(5, 3)).astype(np.float32)
        stack.flags.writeable = False
        batch = _arrivals(rng, n, int(rng.integers(1, 30)), 5)
        a = lean.arrive(float(step), batch, [PayloadBlock(stack)])
        b = general.arrive(float(step), batch, [PayloadBlock(stack)])
        for x, y in zip(a, b, strict=True):
            assert (x is None and y is None) or np.array_equal(x, y)
        if step % 4 == 0:
            who = rng.permutation(n)[: int(rng.integers(1, n))]
            rows_a, rows_b = lean.take(who), general.take(who)
            for name in ("recv", "seq", "src", "t_delivered"):
                assert np.array_equal(lean.column(name, rows_a), general.column(name, rows_b))
            assert np.array_equal(lean.payloads(rows_a), general.payloads(rows_b))
    assert lean.resident_seqs().tolist() == general.resident_seqs().tolist()


def test_network_lean_path_matches_the_filtered_path():
    """No filters (lean) vs pass-through outgoing and link filters (general per-pair paths)."""
    link = LinkModel(loss=LossModel("bernoulli", p=0.2), delay=DelayModel("exponential", mean=0.05))
    runs = []
    for filtered in (False, True):
        env, net = make_network(ring(40, 4), link, seed=5, resolution=0.1, kinds={"vec": VEC})
        if filtered:
            net.set_outgoing_filter(lambda src, dsts, payloads, kind: (dsts, payloads))
            net.set_link_filter(lambda src, dsts: np.ones(dsts.size, dtype=bool))
        rng = np.random.default_rng(2)
        drained = []
        for r in range(60):
            advance(env, 0.1 * r)
            senders = np.flatnonzero(rng.random(40) < 0.5)
            net.broadcast_many(senders, "vec", rng.normal(size=(senders.size, 3)).astype("f4"))
            d = net.drain_many(np.flatnonzero(rng.random(40) < 0.3))
            drained.append([c.tolist() for c in d])
        env.run()
        runs.append((net.trace_columns(), net.stats(), drained))
    (trace_a, stats_a, drained_a), (trace_b, stats_b, drained_b) = runs
    for name, column in trace_a.items():
        a, b = np.asarray(column), np.asarray(trace_b[name])
        assert np.array_equal(a, b, equal_nan=a.dtype.kind == "f"), name
    assert stats_a == stats_b
    assert drained_a == drained_b
