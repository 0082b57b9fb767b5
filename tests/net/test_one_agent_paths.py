"""One-sender, one-receiver and one-call paths (continuous time) against the general paths."""

from __future__ import annotations

import math

import numpy as np
import pytest
from net_testkit import make_network

from dmarl_des.macro import RewardLedger
from dmarl_des.net import Arq, Bandwidth, DelayModel, LinkModel, LossModel, Topology, ring
from dmarl_des.net.fanout import neighbour_pairs
from dmarl_des.net.inflight import _FAR_BUCKET, bucket_key, bucket_keys


@pytest.mark.parametrize("r", [0.01, 0.1, 0.3, 1.0, 1e-7, 7.0])
def test_one_bucket_key_matches_the_array_keys(r):
    rng = np.random.default_rng(3)
    k = rng.integers(0, 10**6, size=400).astype(np.float64)
    exact = k * r  # on (or by rounding next to) a bucket edge
    times = np.concatenate(
        [
            rng.uniform(0.0, 50.0, size=400),
            exact,
            np.nextafter(exact, np.inf),
            np.nextafter(exact, -np.inf).clip(0.0),
            [0.0, 5e-324, _FAR_BUCKET * r, _FAR_BUCKET * r * 4.0, 1e300, math.inf],
        ]
    )
    want = bucket_keys(times.copy(), r)
    got = [bucket_key(t, r) for t in times.tolist()]
    assert got == want.tolist()
    # the defining property: (key - 1) * r < t <= key * r, below the far bucket
    for t, key in zip(times.tolist(), got):
        assert type(key) is int
        if key < _FAR_BUCKET:
            assert (key - 1) * r < t <= key * r


def test_one_sender_pairs_match_the_csr_walk():
    topology = ring(30, 4)
    walk = Topology(topology.indptr, topology.indices)
    object.__setattr__(walk, "uniform_degree", -1)  # the general CSR walk
    for i in (0, 7, 29):
        ids = np.array([i], dtype=np.int64)
        sender, dsts = neighbour_pairs(topology, ids)
        want_sender, want_dsts = neighbour_pairs(walk, ids)
        assert np.array_equal(sender, want_sender) and sender.dtype == want_sender.dtype
        assert np.array_equal(dsts, want_dsts) and dsts.dtype == want_dsts.dtype
        dsts[:] = -1  # a copy: the topology is untouched
        assert np.array_equal(neighbour_pairs(walk, ids)[1], want_dsts)


def _traffic(net, env, rounds, receivers):
    """Broadcasts of one sender at a time (continuous time), draining ``receivers`` now and
    then; returns everything drained and the network's counters."""
    rng = np.random.default_rng(9)
    drained = []
    for step in range(rounds):
        src = int(rng.integers(0, net.n))
        payload = rng.normal(size=(1, 3)).astype(np.float32)
        net.broadcast_many(np.array([src], dtype=np.int64), "vec", payload)
        env.run(until=env.now + float(rng.exponential(0.02)))
        if step % 3 == 0:  # every inbox drained, in the order 0, 1, ..., each round
            columns = zip(*(net.drain_many(who) for who in receivers), strict=True)
            drained.append([[x for part in c for x in np.asarray(part).tolist()] for c in columns])
    return drained, net.stats()


@pytest.mark.parametrize(("inbox_limit", "resolution"), [(64, 0.01), (2, 0.01), (64, 0.0)])
def test_one_receiver_drains_match_the_many_receiver_drains(inbox_limit, resolution):
    # inbox_limit 2 evicts the oldest messages: rings whose heads move (wrapped inboxes)
    link = LinkModel(
        loss=LossModel(model="bernoulli", p=0.3), delay=DelayModel("exponential", 0.05)
    )
    kw = {"inbox_limit": inbox_limit, "resolution": resolution}
    one = [np.array([i], dtype=np.int64) for i in range(12)]
    env_a, net_a = make_network(ring(12, 2), link, seed=4, **kw)
    drained_a, stats_a = _traffic(net_a, env_a, 120, one)
    # the same inboxes drained two at a time: the many-receiver path
    pairs = [np.array([i, i + 1], dtype=np.int64) for i in range(0, 12, 2)]
    env_b, net_b = make_network(ring(12, 2), link, seed=4, **kw)
    drained_b, stats_b = _traffic(net_b, env_b, 120, pairs)
    assert sum(len(d[0]) for d in drained_a) > 100  # messages were drained
    assert drained_a == drained_b
    assert stats_a == stats_b


def _log(rng, n):
    log = RewardLedger()
    for stamp in np.sort(rng.uniform(0.0, 10.0, size=n)).tolist():
        log.add(float(rng.normal()), stamp)
    for stamp in rng.choice(np.sort(rng.uniform(0.0, 10.0, size=5)), size=5).tolist():
        log.add(1.5, stamp)  # out of order and ties
    return log


def test_one_row_totals_match_the_rows_of_a_batch():
    rng = np.random.default_rng(2)
    log = _log(rng, 300)
    stamps = log._stamps[: len(log)]
    cases = [(a, b, c) for a, b in rng.uniform(-1.0, 11.0, size=(60, 2)) for c in (False, True)]
    cases += [(float(s), float(s), c) for s in stamps[:5] for c in (False, True)]  # on stamps
    cases += [(float(stamps[3]), float(stamps[40]), c) for c in (False, True)]
    for t0, t1, closed in cases:
        lo, hi = min(t0, t1), max(t0, t1)
        got = log.totals(np.array([lo]), np.array([hi]), np.array([closed]))
        # the general path on this one row: array bounds, prefix sums over the rows' cover
        a, b, c = np.array([lo]), np.array([hi]), np.array([closed])
        want = log._covered_sums(*log._bounds(a, b, c))
        assert got.shape == (1,) and got.dtype == np.float64
        assert got[0] == want[0]  # bit for bit
    assert RewardLedger().totals(np.array([0.0]), np.array([1.0]), np.array([True])).tolist() == [
        0.0
    ]


def _one_sender_run(link, resolution, one_call):
    """Senders in random order, one at a time (continuous time): ``broadcast_many`` of one
    sender, or ``broadcast`` (the single-send path that it equals)."""
    env, net = make_network(ring(12, 3), link, seed=6, resolution=resolution, inbox_limit=3)
    order = np.random.default_rng(8)
    for k in range(150):
        src = int(order.integers(0, 12))
        row = order.normal(size=(1, 3)).astype(np.float32)
        if k % 37 == 5:
            row[0, 1] = np.nan  # a hostile row: rejected at its recipients
        if one_call:
            net.broadcast_many(np.array([src], dtype=np.int64), "vec", row)
        else:
            net.broadcast(src, "vec", row[0])
        env.run(until=env.now + float(order.exponential(0.01)))
        if k % 10 == 0:
            net.drain_many(np.array([int(order.integers(0, 12))], dtype=np.int64))
    env.run()
    boxes = [
        [(m.seq, m.src, m.t_delivered, m.payload.tolist()) for m in net.inbox(i)] for i in range(12)
    ]
    return net, boxes


@pytest.mark.parametrize("resolution", [0.0, 0.01])
@pytest.mark.parametrize(
    "link",
    [
        LinkModel(loss=LossModel("bernoulli", p=0.2), delay=DelayModel("exponential", mean=0.05)),
        LinkModel(
            loss=LossModel("gilbert_elliott", p=0.2, r=0.4, k=0.9, h=0.3),
            delay=DelayModel("lognormal", mean=0.05, sigma=0.7),
            bandwidth=Bandwidth(capacity=400.0, queue_limit=2),
            arq=Arq(max_tries=3, timeout=0.02),
        ),
    ],
)
def test_one_sender_broadcast_many_equals_broadcast(link, resolution):
    a, boxes_a = _one_sender_run(link, resolution, one_call=False)
    b, boxes_b = _one_sender_run(link, resolution, one_call=True)
    ta, tb = a.trace_columns(), b.trace_columns()
    assert len(ta["seq"]) > 500
    for col in ta:
        np.testing.assert_array_equal(np.asarray(ta[col]), np.asarray(tb[col]), err_msg=col)
    assert boxes_a == boxes_b and any(boxes_a)
    sa, sb = a.stats(), b.stats()
    assert sa["dropped_loss"] > 0 and sa["delivered"] > 0
    assert a.rejections() == b.rejections() and a.rejections().get("not_finite", 0) > 0
    for key in sa:
        assert sa[key] == sb[key] or (np.isnan(sa[key]) and np.isnan(sb[key])), key
    if link.arq.max_tries > 1:  # counted as every attempt but the first of each message
        assert sa["retransmissions"] == int((np.asarray(ta["attempts"]) - 1).clip(0).sum()) > 0
