"""Bandwidth: FIFO serialization per directed link, queue limits and stop-and-wait ARQ."""

import numpy as np
import pytest
from net_testkit import advance, check_invariant, make_network, star

from dmarl_des.net import Arq, Bandwidth, DelayModel, LinkModel, LossModel, complete

BYTES = 100
CAPACITY = 1000.0  # serialization of one message: 0.1
DELAY = 0.5


def burst_link(queue_limit):
    return LinkModel(
        delay=DelayModel(mean=DELAY),
        bandwidth=Bandwidth(capacity=CAPACITY, queue_limit=queue_limit),
    )


def msg():
    return np.zeros(12)  # sent with a declared size of BYTES


@pytest.mark.parametrize(("queue_limit", "kept"), [(np.inf, 10), (4, 5), (0, 1), (1, 2)])
def test_burst_arrives_serialized_and_excess_overflows(queue_limit, kept):
    env, net = make_network(complete(2), burst_link(queue_limit), inbox_limit=100)
    m = 10
    for _ in range(m):
        net.send(0, 1, "any", msg(), BYTES)
    env.run()
    times = [x.t_delivered for x in net.inbox(1).drain()]
    # message i (0-based) of the burst arrives at (i + 1) * b / c + delay
    np.testing.assert_allclose(times, [(i + 1) * BYTES / CAPACITY + DELAY for i in range(kept)])
    s = net.stats()
    assert s["delivered"] == kept and s["dropped_overflow"] == m - kept  # = m - q - 1
    check_invariant(s)


def test_queue_drains_as_time_passes():
    # starts: 0, .1, .2, .3, .4; at t = .25 two messages still wait (.3, .4), so with q = 4 a
    # sixth message is accepted and starts when the link frees at .5
    env, net = make_network(complete(2), burst_link(4), inbox_limit=100)
    for _ in range(6):
        net.send(0, 1, "any", msg(), BYTES)
    assert net.stats()["dropped_overflow"] == 1
    advance(env, 0.25)
    net.send(0, 1, "any", msg(), BYTES)
    net.send(0, 1, "any", msg(), BYTES)
    net.send(0, 1, "any", msg(), BYTES)  # waiting now: .3, .4, .5, .6 -> full
    assert net.stats()["dropped_overflow"] == 2
    env.run()
    times = [x.t_delivered for x in net.inbox(1).drain()]
    expected = [0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7]
    np.testing.assert_allclose(times, np.array(expected) + DELAY)


def test_links_are_independent_across_a_broadcast_and_directions():
    env, net = make_network(star(20), burst_link(0), inbox_limit=100)
    net.broadcast(0, "any", msg(), BYTES)
    net.broadcast(0, "any", msg(), BYTES)  # every link is busy: all 20 overflow
    env.run()
    for j in range(1, 21):
        assert [x.t_delivered for x in net.inbox(j).drain()] == [pytest.approx(0.6)]
    assert net.stats()["dropped_overflow"] == 20
    env2, net2 = make_network(complete(2), burst_link(0))
    net2.send(0, 1, "any", msg(), BYTES)
    net2.send(1, 0, "any", msg(), BYTES)  # the reverse direction is another link
    env2.run()
    assert net2.stats()["delivered"] == 2


def test_fifo_recursion_with_retransmissions():
    # stop-and-wait: start_k = max(t_k, end_{k-1}); end_k = start_k + (A_k - 1) T + b / c;
    # delivery at end_k + delay for delivered messages
    timeout = 0.3
    link = LinkModel(
        loss=LossModel("bernoulli", p=0.5),
        delay=DelayModel(mean=DELAY),
        bandwidth=Bandwidth(capacity=CAPACITY),
        arq=Arq(max_tries=3, timeout=timeout),
    )
    env, net = make_network(complete(2), link, seed=9, inbox_limit=1000)
    rng = np.random.default_rng(1)
    for t in np.sort(rng.uniform(0, 30, size=200)):
        advance(env, t)
        net.send(0, 1, "any", msg(), BYTES)
    env.run()
    cols = net.trace_columns()
    end = -np.inf
    for t, a, due, ok in zip(cols["t_sent"], cols["attempts"], cols["t_due"], cols["delivered"]):
        start = max(t, end)
        end = start + (a - 1) * timeout + BYTES / CAPACITY
        if ok:
            assert due == pytest.approx(end + DELAY)
        else:
            assert a == 3 and np.isnan(due)
    assert net.stats()["retransmissions"] == sum(a - 1 for a in cols["attempts"])
