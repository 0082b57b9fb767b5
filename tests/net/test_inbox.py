"""Inboxes: bounded with an overflow policy; waits fire on the next arrival and can be cancelled."""

import numpy as np
import pytest
import simpy
from net_testkit import check_invariant, make_network, payload

from dmarl_des.net import DelayModel, Inbox, LinkModel, Message, complete


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
        assert box._waiters == []  # the with-block cancelled the stale wait
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
