"""Delivery: timing (exact and bucketed), same-instant order, liveness, filters, accounting."""

import numpy as np
import pytest
import simpy
from net_testkit import advance, check_invariant, make_network, payload, star

from dmarl_des.net import (
    Arq,
    Bandwidth,
    DelayModel,
    LinkModel,
    LossModel,
    complete,
    ring,
)

DELAYS = [
    DelayModel("constant", mean=0.3),
    DelayModel("exponential", mean=0.4),
    DelayModel("lognormal", mean=0.5, sigma=0.8),
    DelayModel("distance", speed=2.0, jitter=0.2),
]


def busy_link(delay):
    return LinkModel(
        loss=LossModel("gilbert_elliott", p=0.2, r=0.4, k=0.9, h=0.3),
        delay=delay,
        bandwidth=Bandwidth(capacity=200.0, queue_limit=3),
        arq=Arq(max_tries=2, timeout=0.15),
    )


def run_traffic(link, resolution, seed=0, n=12, sends=400, **kw):
    pos = np.random.default_rng(99).random((n, 2))
    env, net = make_network(
        ring(n, 2), link, seed=seed, resolution=resolution, positions=lambda: pos, **kw
    )
    rng = np.random.default_rng(seed + 1000)
    for t in np.sort(rng.uniform(0, 20, size=sends)):
        advance(env, t)
        net.broadcast(int(rng.integers(n)), "vec", payload())
    env.run()
    return net


@pytest.mark.parametrize("delay", DELAYS, ids=lambda d: d.model)
def test_never_early_and_buckets_within_resolution(delay):
    r = 0.25
    exact = run_traffic(busy_link(delay), 0.0).trace_columns()
    bucketed = run_traffic(busy_link(delay), r).trace_columns()
    for cols in (exact, bucketed):
        ok = np.asarray(cols["delivered"])
        assert 0 < ok.sum() < ok.size
        t_sent = np.asarray(cols["t_sent"])[ok]
        t_del = np.asarray(cols["t_delivered"])[ok]
        due = np.asarray(cols["t_due"])[ok]
        drawn = np.asarray(cols["delay"])[ok]
        assert np.all(drawn >= 0)
        assert np.all(t_del >= t_sent + drawn)
        assert np.all(t_del >= due)
    # the resolution changes when messages arrive, never what is drawn
    np.testing.assert_array_equal(exact["t_due"], bucketed["t_due"])
    np.testing.assert_array_equal(exact["attempts"], bucketed["attempts"])
    ok = np.asarray(exact["delivered"])
    np.testing.assert_allclose(
        np.asarray(exact["t_delivered"])[ok], np.asarray(exact["t_due"])[ok], rtol=0, atol=1e-12
    )
    ok = np.asarray(bucketed["delivered"])
    due = np.asarray(bucketed["t_due"])[ok]
    t_del = np.asarray(bucketed["t_delivered"])[ok]
    assert np.all(t_del < due + r)
    np.testing.assert_allclose(t_del / r, np.round(t_del / r), atol=1e-9)


def test_distance_delay_is_distance_over_speed():
    pos = np.array([[0.0, 0.0], [3.0, 4.0], [6.0, 8.0]])
    link = LinkModel(delay=DelayModel("distance", speed=2.0))
    env, net = make_network(complete(3), link, positions=lambda: pos)
    net.broadcast(0, "vec", payload())
    env.run()
    assert net.inbox(1).peek().t_delivered == pytest.approx(2.5)
    assert net.inbox(2).peek().t_delivered == pytest.approx(5.0)


def test_zero_delay_delivery_happens_after_the_current_event():
    env, net = make_network(complete(2))
    seen = []

    def proc():
        yield env.timeout(1.0)
        net.send(0, 1, "vec", payload())
        seen.append(len(net.inbox(1)))  # not yet: delivery is a later event of this instant
        yield env.timeout(0)
        seen.append(len(net.inbox(1)))
        seen.append(net.inbox(1).peek().t_delivered)

    env.process(proc())
    env.run()
    assert seen == [0, 1, 1.0]


def test_same_instant_order_is_send_order_and_bucket_order_is_exact_time():
    overrides = {
        (0, 3): LinkModel(delay=DelayModel(mean=0.05)),
        (1, 3): LinkModel(delay=DelayModel(mean=0.02)),
        (2, 3): LinkModel(delay=DelayModel(mean=0.05)),
    }
    for resolution, expected in ((0.0, [1, 0, 2]), (0.1, [1, 0, 2])):
        env, net = make_network(complete(4), resolution=resolution, overrides=overrides)
        for src in (0, 1, 2):
            net.send(src, 3, "vec", payload())
        env.run()
        msgs = net.inbox(3).drain()
        assert [m.src for m in msgs] == expected
        if resolution:
            assert all(m.t_delivered == pytest.approx(0.1) for m in msgs)
        else:
            assert [m.t_delivered for m in msgs] == [0.02, 0.05, 0.05]


def test_receiver_liveness_is_checked_at_delivery_time():
    down = np.zeros(3, dtype=bool)
    env, net = make_network(
        complete(3), LinkModel(delay=DelayModel(mean=1.0)), is_up=lambda d: ~down[d]
    )
    down[1] = True  # down when sent, up on arrival -> delivered
    net.send(0, 1, "vec", payload())
    net.send(0, 2, "vec", payload())
    advance(env, 0.5)
    down[:] = [False, False, True]  # 2 crashes while its message is in flight
    env.run()
    s = net.stats()
    assert len(net.inbox(1)) == 1 and len(net.inbox(2)) == 0
    assert s["delivered"] == 1 and s["dropped_crash"] == 1
    assert net.trace_columns()["drop_cause"] == ["", "crash"]


def test_outgoing_filter_omits_and_equivocates():
    env, net = make_network(star(4))

    def byzantine(src, dsts, payloads, kind):
        keep = dsts != 2  # omission towards agent 2
        lies = [np.full(3, float(d), dtype=np.float32) for d in dsts[keep]]
        return dsts[keep], lies

    net.set_outgoing_filter(byzantine)
    assert net.broadcast(0, "vec", payload()) == 3
    env.run()
    s = net.stats()
    assert s["omitted"] == 1 and s["sent"] == 3 and s["delivered"] == 3
    assert len(net.inbox(2)) == 0
    for j in (1, 3, 4):
        assert net.inbox(j).peek().payload.tolist() == [j, j, j]
    net.set_outgoing_filter(lambda s, d, p, k: (d, [np.full(3, np.nan, np.float32)] * d.size))
    net.broadcast(0, "vec", payload())
    env.run()
    assert net.stats()["rejected_invalid"] == 4
    check_invariant(net.stats())


def test_per_recipient_payloads():
    env, net = make_network(star(3))
    values = [np.full(3, v, dtype=np.float32) for v in (7.0, 8.0, 9.0)]
    net.broadcast(0, "vec", values, per_recipient=True)
    env.run()
    assert [net.inbox(j).peek().payload[0] for j in (1, 2, 3)] == [7.0, 8.0, 9.0]


def test_link_filter_cuts_links():
    env, net = make_network(star(4))
    net.set_link_filter(lambda src, dsts: dsts % 2 == 0)
    net.broadcast(0, "vec", payload())
    env.run()
    s = net.stats()
    assert s["dropped_cut"] == 2 and s["delivered"] == 2
    assert [len(net.inbox(j)) for j in (1, 2, 3, 4)] == [0, 1, 0, 1]
    assert net.trace_columns()["drop_cause"] == ["cut", "", "cut", ""]


def test_topology_is_settable():
    _, net = make_network(complete(4))
    net.topology = star(3)
    assert net.broadcast(0, "vec", payload()) == 3
    assert net.broadcast(1, "vec", payload()) == 0


def messy_network(seed=0, trace=True):
    down = np.zeros(10, dtype=bool)
    link = LinkModel(
        loss=LossModel("bernoulli", p=0.2),
        delay=DelayModel("exponential", mean=0.5),
        bandwidth=Bandwidth(capacity=500.0, queue_limit=2),
        arq=Arq(max_tries=2, timeout=0.2),
    )
    env, net = make_network(
        complete(10), link, seed=seed, inbox_limit=3, is_up=lambda d: ~down[d], trace=trace
    )
    net.set_link_filter(lambda src, dsts: (src + dsts) % 7 != 0)
    rng = np.random.default_rng(seed)
    bad = np.array([np.nan, 0, 0], dtype=np.float32)

    def traffic():
        for _ in range(300):
            yield env.timeout(rng.exponential(0.05))
            down[:] = rng.random(10) < 0.1
            src = int(rng.integers(10))
            net.broadcast(src, "vec", bad if rng.random() < 0.1 else payload())
            if rng.random() < 0.2:
                net.inbox(int(rng.integers(10))).drain()

    env.process(traffic())
    return env, net


def test_accounting_invariant_holds_at_all_times():
    env, net = messy_network()
    saw_in_flight = False
    for t in np.arange(0.5, 20, 0.5):
        advance(env, t)
        s = net.stats()
        check_invariant(s)
        saw_in_flight |= s["in_flight"] > 0
    assert saw_in_flight
    s = net.stats()
    for key in (
        "dropped_loss",
        "dropped_crash",
        "dropped_overflow",
        "dropped_inbox",
        "dropped_cut",
        "rejected_invalid",
        "retransmissions",
    ):
        assert s[key] > 0, key
    assert net.stats()["in_flight"] == 0 or net.drop_pending() > 0
    s = net.stats()
    check_invariant(s)
    assert s["in_flight"] == 0
    cols = net.trace_columns()
    assert len(cols["seq"]) == s["sent"]
    causes = cols["drop_cause"]
    assert sum(cols["delivered"]) == s["delivered"]
    assert causes.count("loss") == s["dropped_loss"]
    assert causes.count("inbox") == s["dropped_inbox"]
    assert causes.count("invalid") == s["rejected_invalid"]
    assert s["latency_p50"] <= s["latency_p90"] <= s["latency_p99"]


def test_reset_stats_carries_messages_still_in_the_system():
    env, net = messy_network()
    advance(env, 5.0)
    in_flight = net.stats()["in_flight"]
    resident = sum(len(net.inbox(i)) for i in range(10))
    assert in_flight > 0 and resident > 0
    net.reset_stats()
    s = net.stats()
    assert s["sent"] == in_flight + resident and s["delivered"] == resident
    assert len(net.trace_columns()["seq"]) == in_flight + resident
    check_invariant(s)
    advance(env, 30.0)
    s = net.stats()
    check_invariant(s)
    assert len(net.trace_columns()["seq"]) == s["sent"]
    assert sum(net.trace_columns()["delivered"]) == s["delivered"]


def test_drop_pending_and_reset_between_episodes():
    env, net = make_network(star(5), LinkModel(delay=DelayModel(mean=2.0)))
    net.broadcast(0, "vec", payload())
    advance(env, 1.0)
    assert net.drop_pending() == 5
    s = net.stats()
    assert s["dropped_pending"] == 5 and s["in_flight"] == 0
    check_invariant(s)
    net.broadcast(0, "vec", payload())
    env.run()
    assert net.stats()["delivered"] == 5  # the old timer fired but delivered nothing stale
    assert net.trace_columns()["drop_cause"][:5] == ["pending"] * 5

    net.broadcast(0, "vec", payload())
    env2 = simpy.Environment()
    net.reset(env=env2)
    assert net.stats()["sent"] == 0 and net.trace_columns()["seq"] == []
    assert all(len(net.inbox(j)) == 0 for j in range(6))
    net.broadcast(0, "vec", payload())
    env2.run()
    assert net.stats()["delivered"] == 5 and net.trace_columns()["seq"] == list(range(5))


def test_same_seed_same_trace_and_different_seed_differs():
    a = messy_network(seed=3)
    a[0].run(until=30)
    b = messy_network(seed=3)
    b[0].run(until=30)
    ta, tb = a[1].trace_columns(), b[1].trace_columns()
    assert ta.keys() == tb.keys()
    for name in ta:
        np.testing.assert_array_equal(np.asarray(ta[name]), np.asarray(tb[name]), err_msg=name)
    c = messy_network(seed=4)
    c[0].run(until=30)
    assert c[1].trace_columns()["t_due"] != ta["t_due"]


def test_trace_is_off_by_default_but_stats_are_kept():
    env, net = messy_network(trace=False)
    env.run(until=30)
    assert all(col == [] for col in net.trace_columns().values())
    assert net.stats()["sent"] > 0
    check_invariant(net.stats())


def test_timer_of_dropped_messages_does_not_serve_later_messages():
    # The bucket [0, 1] gets a timer when the first message is sent (t = 0.2). After
    # drop_pending(), new messages of the same bucket get their own timer, created after the
    # probe below, so at t = 1 the probe still sees an empty inbox.
    env, net = make_network(complete(2), LinkModel(delay=DelayModel(mean=0.5)), resolution=1.0)
    seen = []

    def probe():
        yield env.timeout(0.75)  # scheduled at 0.25 for t = 1.0
        seen.append(len(net.inbox(1)))

    advance(env, 0.2)
    net.send(0, 1, "vec", payload())
    advance(env, 0.25)
    env.process(probe())
    advance(env, 0.3)
    assert net.drop_pending() == 1
    net.send(0, 1, "vec", payload())
    env.run()
    assert seen == [0]
    assert [m.t_delivered for m in net.inbox(1).drain()] == [1.0]


def test_cut_links_do_not_shift_the_draws_of_other_links():
    link = LinkModel(loss=LossModel("bernoulli", p=0.3), delay=DelayModel("exponential", mean=1.0))
    traces = []
    for cut in (False, True):
        env, net = make_network(star(30), link, seed=12, inbox_limit=1000)
        if cut:
            net.set_link_filter(lambda src, dsts: dsts > 10)
        for r in range(10):
            advance(env, r)
            net.broadcast(0, "vec", payload())
        env.run()
        traces.append(net.trace_columns())
    dst = np.asarray(traces[0]["dst"])
    keep = dst > 10
    for name in ("delivered", "t_due", "delay"):
        np.testing.assert_array_equal(
            np.asarray(traces[0][name])[keep], np.asarray(traces[1][name])[keep]
        )
    assert set(np.asarray(traces[1]["drop_cause"])[~keep]) == {"cut"}


def test_late_in_a_long_run_delivery_is_not_early_nor_late_by_more_than_an_ulp():
    link = LinkModel(delay=DelayModel("exponential", mean=1e-3))
    env, net = make_network(star(50), link, seed=4, inbox_limit=1000)
    advance(env, 123456.789)
    for _ in range(5):
        net.broadcast(0, "vec", payload())
    env.run()
    cols = net.trace_columns()
    due, got = np.asarray(cols["t_due"]), np.asarray(cols["t_delivered"])
    assert np.all(got >= due)
    assert np.all(got - due <= np.spacing(due))
