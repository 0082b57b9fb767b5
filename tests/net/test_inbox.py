"""Inboxes: bounded with an overflow policy; waits fire on the next arrival and can be cancelled."""

import numpy as np
import pytest
import simpy
from net_testkit import check_invariant, make_network, payload

from dmarl_des.net import DelayModel, Inbox, LinkModel, Message, complete
from dmarl_des.net.inbox_store import InboxStore, Incoming
from dmarl_des.net.payloads import PayloadBlock


def msg(i: int) -> Message:
    return Message(0, 1, "vec", np.zeros(3), 12, 0.0, 0.0, 1, i)


@pytest.mark.parametrize(
    ("policy", "kept"), [("drop_oldest", [3, 4, 5]), ("drop_newest", [0, 1, 2])]
)
def test_overflow_policy(policy, kept):
    box = Inbox(limit=3, policy=policy)
    dropped = [box.put(msg(i)) for i in range(6)]
    assert [m.seq for m in box] == kept
    assert len(box) == 3 and box.peek().seq == kept[0]
    if policy == "drop_oldest":
        assert [d.seq if d else None for d in dropped] == [None, None, None, 0, 1, 2]
    else:
        assert [d.seq if d else None for d in dropped] == [None, None, None, 3, 4, 5]
    assert [m.seq for m in box.drain()] == kept and len(box) == 0 and box.peek() is None


@pytest.mark.parametrize("policy", ["drop_oldest", "drop_newest"])
def test_network_counts_inbox_overflow(policy):
    env, net = make_network(complete(2), inbox_limit=2, inbox_policy=policy)
    for _ in range(5):
        net.send(0, 1, "vec", payload())
    env.run()
    s = net.stats()
    assert s["delivered"] == 2 and s["dropped_inbox"] == 3
    check_invariant(s)
    seqs = [m.seq for m in net.inbox(1).drain()]
    assert seqs == ([3, 4] if policy == "drop_oldest" else [0, 1])
    cols = net.trace_columns()
    assert [d for d, c in zip(cols["seq"], cols["delivered"]) if c] == seqs
    assert cols["drop_cause"].count("inbox") == 3


def test_wait_fires_on_next_delivery():
    env, net = make_network(complete(2), LinkModel(delay=DelayModel(mean=1.5)))
    got = []

    def receiver():
        ev = net.inbox(1).wait(env)
        first = yield ev
        got.append((env.now, first.seq, len(net.inbox(1).drain())))

    env.process(receiver())
    net.send(0, 1, "vec", payload())
    env.run()
    assert got == [(1.5, 0, 1)]


def test_interrupted_wait_does_not_swallow_the_next_message():
    env, net = make_network(complete(2), LinkModel(delay=DelayModel(mean=1.0)))
    box = net.inbox(1)
    log = []

    def receiver():
        try:
            with box.wait(env) as ev:
                yield ev
            log.append("woke")
        except simpy.Interrupt:
            log.append("interrupted")
        assert box.waiting == 0  # the with-block cancelled the stale wait
        yield env.timeout(5.0)
        log.append([m.seq for m in box.drain()])

    def interrupter(p):
        yield env.timeout(0.5)
        p.interrupt()

    proc = env.process(receiver())
    env.process(interrupter(proc))
    net.send(0, 1, "vec", payload())  # arrives at 1.0, after the interrupt

    def second_waiter():
        yield env.timeout(0.7)
        m = yield box.wait(env)
        log.append(("second", m.seq, env.now))

    env.process(second_waiter())
    env.run()
    assert log == ["interrupted", ("second", 0, 1.0), [0]]
    check_invariant(net.stats())


def test_cancel_detaches_and_uncancelled_stale_wait_is_harmless():
    env = simpy.Environment()
    box = Inbox(limit=4)
    ev = box.wait(env)
    ev.cancel()
    ev.cancel()
    box.put(msg(0))
    assert not ev.triggered and len(box) == 1
    stale = box.wait(env)
    box.put(msg(1))
    assert stale.triggered and stale.value.seq == 1
    assert [m.seq for m in box.drain()] == [0, 1]


def test_bad_inbox_arguments():
    from dmarl_des.errors import ConfigError

    with pytest.raises(ConfigError, match="inbox_limit"):
        Inbox(limit=0)
    with pytest.raises(ConfigError, match="inbox_policy"):
        Inbox(policy="random")


def reference_arrivals(queues, limit, policy, batch):
    """What a deque per inbox does with a batch: (refused seqs, evicted seqs)."""
    refused, evicted = [], []
    for r, seq in batch:
        q = queues[r]
        if len(q) >= limit:
            if policy == "drop_newest":
                refused.append(seq)
                continue
            evicted.append(q.popleft())
        q.append(seq)
    return refused, evicted


def incoming(batch, block):
    recv = np.array([r for r, _ in batch], dtype=np.int64)
    seq = np.array([s for _, s in batch], dtype=np.int64)
    k = recv.size
    return Incoming(
        recv=recv,
        seq=seq,
        src=seq % 7,
        t_sent=np.zeros(k),
        size=np.full(k, 4),
        attempts=np.ones(k, dtype=np.int64),
        kind=np.zeros(k, dtype=np.int64),
        call=np.zeros(k, dtype=np.int64),
        entry=seq,
    ), [block]


@pytest.mark.parametrize("policy", ["drop_oldest", "drop_newest"])
@pytest.mark.parametrize("batched", [True, False])
def test_store_matches_a_deque_per_inbox(policy, batched):
    from collections import deque

    n, limit = 6, 3
    rng = np.random.default_rng(4)
    store = InboxStore(n, limit, policy)
    store.kind_code("vec")
    block = PayloadBlock(np.arange(5000, dtype=np.float64).reshape(-1, 1))
    queues = [deque() for _ in range(n)]
    seq = 0
    for step in range(400):  # enough arrivals for several compactions of the store
        size = int(rng.integers(1, 12))
        batch = [(int(rng.integers(n)), seq + j) for j in range(size)]
        seq += size
        want_refused, want_evicted = reference_arrivals(queues, limit, policy, batch)
        if batched:
            cols, blocks = incoming(batch, block)
            arrived, evicted_rows, evicted_new = store.arrive(float(step), cols, blocks)
            refused = [] if arrived is None else cols.seq[~arrived].tolist()
            evicted = store.column("seq", evicted_rows).tolist() + cols.seq[evicted_new].tolist()
        else:
            refused, evicted = [], []
            for r, s in batch:
                entered, out = store.put_one(float(step), r, s, s % 7, 0.0, 4, 1, 0, block, s)
                if not entered:
                    refused.append(s)
                elif out >= 0:
                    evicted.append(int(store.value("seq", out)))
        assert refused == want_refused
        assert sorted(evicted) == sorted(want_evicted)
        if step % 5 == 4:  # drain a few inboxes, one at a time or together
            who = rng.permutation(n)[:3]
            got = [m.seq for i in who.tolist() for m in Inbox.of(store, i).drain()]
            want = [s for i in who.tolist() for s in queues[i]]
            for i in who.tolist():
                queues[i].clear()
            assert got == want
        for i in range(n):
            box = Inbox.of(store, i)
            assert [m.seq for m in box] == list(queues[i])
            assert [m.payload.item() for m in box] == [float(s) for s in queues[i]]


def test_waits_fire_with_each_inbox_first_arrival_of_a_batch():
    env = simpy.Environment()
    store = InboxStore(3, 2, "drop_newest")
    store.kind_code("vec")
    block = PayloadBlock(np.zeros((10, 1)))
    Inbox.of(store, 0).put(msg(99))
    Inbox.of(store, 0).put(msg(98))  # full: a batch cannot enter inbox 0
    fired = []
    for i in range(3):
        Inbox.of(store, i).wait(env).callbacks.append(
            lambda ev, i=i: fired.append((i, ev.value.seq))
        )
    cols, blocks = incoming([(2, 5), (0, 6), (1, 7), (2, 8)], block)
    store.arrive(1.0, cols, blocks)
    env.run()
    assert fired == [(2, 5), (1, 7)]  # in arrival order; inbox 0 refused its message
    assert Inbox.of(store, 0).waiting == 1 and Inbox.of(store, 2).waiting == 0
