"""broadcast_many equals sequential broadcasts; drain_many equals per-inbox drains; bulk checks."""

import numpy as np
import pytest
from net_testkit import VEC, advance, check_invariant, make_network

from dmarl_des.errors import ConfigError
from dmarl_des.net import (
    Arq,
    Bandwidth,
    DelayModel,
    LinkModel,
    LossModel,
    MessageKind,
    Topology,
    complete,
    ring,
)

N = 12
ROUNDS = 6

LINKS = {
    "bernoulli_exponential": LinkModel(
        loss=LossModel("bernoulli", p=0.2), delay=DelayModel("exponential", mean=0.05)
    ),
    "busy_gilbert_elliott": LinkModel(
        loss=LossModel("gilbert_elliott", p=0.2, r=0.4, k=0.9, h=0.3),
        delay=DelayModel("lognormal", mean=0.05, sigma=0.7, jitter=0.01),
        bandwidth=Bandwidth(capacity=400.0, queue_limit=2),
        arq=Arq(max_tries=3, timeout=0.02),
    ),
    "symmetric": LinkModel(
        loss=LossModel("gilbert_elliott", p=0.3, r=0.3, k=0.8, h=0.2, symmetric=True),
        delay=DelayModel("distance", speed=20.0),
        arq=Arq(max_tries=2, timeout=0.01),
    ),
    "symmetric_bernoulli_period": LinkModel(
        loss=LossModel("bernoulli", p=0.4, symmetric=True, period=0.1),
        delay=DelayModel("constant", mean=0.03, jitter=0.02),
    ),
}
# a few directed links behave differently (mixed link models within one call)
OVERRIDES = {
    (0, 1): LinkModel(loss=LossModel("bernoulli", p=0.9), delay=DelayModel(mean=0.001)),
    (3, 2): LinkModel(delay=DelayModel("exponential", mean=0.5)),
    (5, 6): LinkModel(bandwidth=Bandwidth(capacity=100.0, queue_limit=0)),
}


def rows(round_: int, senders: np.ndarray) -> np.ndarray:
    """Payload rows that name their sender and round (row 2 of round 3 is hostile)."""
    out = np.stack([senders.astype(np.float32), np.full(senders.size, round_, np.float32)], 1)
    out = np.concatenate([out, np.ones((senders.size, 1), np.float32)], axis=1)
    if round_ == 3:
        out[2, 1] = np.nan
    return out


def build(link, resolution, seed, *, many_filters, inbox_limit=4, policy="drop_oldest"):
    pos = np.random.default_rng(5).random((N, 2))
    down = {"mask": np.zeros(N, dtype=bool)}
    env, net = make_network(
        ring(N, 3),
        link,
        seed=seed,
        resolution=resolution,
        positions=lambda: pos,
        overrides=OVERRIDES,
        inbox_limit=inbox_limit,
        inbox_policy=policy,
        is_up=lambda d: ~down["mask"][d],
    )

    def liar(src, dsts, payloads, kind):
        keep = dsts % 4 != 1  # omission
        lies = [
            np.full(3, -float(d), np.float32) if d % 3 == 0 else p for d, p in zip(dsts, payloads)
        ]
        return dsts[keep], [p for p, k in zip(lies, keep) if k]

    net.set_outgoing_filter(liar, senders=[2, 7])
    if many_filters:
        net.set_link_filter(lambda srcs, dsts: (srcs + 2 * dsts) % 5 != 0, pairwise=True)
    else:
        net.set_link_filter(lambda src, dsts: (src + 2 * dsts) % 5 != 0)
    return env, net, down


def run(link, resolution, use_many, seed=3, **kw):
    env, net, down = build(link, resolution, seed, many_filters=use_many, **kw)
    order = np.random.default_rng(11)
    drained = []
    for r in range(ROUNDS):
        advance(env, 0.1 * r)
        down["mask"][:] = order.random(N) < 0.15
        senders = order.permutation(N)[:9]
        senders = np.concatenate([senders, senders[:2]])  # two senders broadcast twice
        payloads = rows(r, senders)
        if use_many:
            net.broadcast_many(senders, "vec", payloads)
        else:
            for s, p in zip(senders, payloads):
                net.broadcast(int(s), "vec", p)
        if r % 2:
            drained.append([(m.seq, m.src, m.t_delivered) for m in net.inbox(r % N).drain()])
    env.run()
    inboxes = [[(m.seq, m.payload.tolist()) for m in net.inbox(i)] for i in range(N)]
    return net, drained, inboxes


def assert_same_trace(a, b):
    ta, tb = a.trace_columns(), b.trace_columns()
    assert ta.keys() == tb.keys()
    for col in ta:
        np.testing.assert_array_equal(np.asarray(ta[col]), np.asarray(tb[col]), err_msg=col)
    sa, sb = a.stats(), b.stats()
    assert sa.keys() == sb.keys()
    for key in sa:
        assert sa[key] == sb[key] or (np.isnan(sa[key]) and np.isnan(sb[key])), key


@pytest.mark.parametrize("resolution", [0.0, 0.05])
@pytest.mark.parametrize("name", list(LINKS))
def test_broadcast_many_equals_sequential_broadcasts(name, resolution):
    a, drained_a, boxes_a = run(LINKS[name], resolution, use_many=False)
    b, drained_b, boxes_b = run(LINKS[name], resolution, use_many=True)
    assert len(a.trace_columns()["seq"]) > 100
    assert_same_trace(a, b)
    assert a.rejections() == b.rejections() and a.rejections().get("not_finite", 0) > 0
    assert drained_a == drained_b and boxes_a == boxes_b
    assert {"cut", "crash", "invalid"} <= set(a.trace_columns()["drop_cause"])
    assert a.stats()["omitted"] > 0
    check_invariant(b.stats())


@pytest.mark.parametrize("policy", ["drop_oldest", "drop_newest"])
def test_broadcast_many_inbox_overflow_matches_sequential(policy):
    link = LINKS["bernoulli_exponential"]
    a, _, boxes_a = run(link, 1.0, use_many=False, inbox_limit=2, policy=policy)
    b, _, boxes_b = run(link, 1.0, use_many=True, inbox_limit=2, policy=policy)
    assert_same_trace(a, b)
    assert boxes_a == boxes_b
    assert b.stats()["dropped_inbox"] > 0
    check_invariant(b.stats())


def test_outgoing_filter_applies_only_to_its_senders():
    _, net = make_network(complete(4))
    calls = []

    def spy(src, dsts, payloads, kind):
        calls.append(src)
        return dsts, payloads

    net.set_outgoing_filter(spy, senders=[1])
    net.broadcast_many(np.arange(4), "vec", np.ones((4, 3), np.float32))
    net.broadcast(2, "vec", np.ones(3, np.float32))
    net.broadcast(1, "vec", np.ones(3, np.float32))
    assert calls == [1, 1]
    net.set_outgoing_filter(spy)
    net.broadcast_many(np.array([3, 0]), "vec", np.ones((2, 3), np.float32))
    assert calls == [1, 1, 3, 0]


def test_hostile_rows_are_rejected_individually():
    env, net = make_network(complete(5), inbox_limit=100)
    payloads = np.ones((5, 3), np.float32)
    payloads[1, 2] = np.nan
    payloads[3, 0] = np.inf
    assert net.broadcast_many(np.arange(5), "vec", payloads) == 20
    env.run()
    s = net.stats()
    assert s["rejected_invalid"] == 8 and s["delivered"] == 12
    assert net.rejections() == {"not_finite": 8}
    d = net.drain_many()
    assert set(d.sender.tolist()) == {0, 2, 4}
    assert np.isfinite(d.payloads).all() and d.payloads.shape == (12, 3)
    cols = net.trace_columns()
    bad = np.isin(np.asarray(cols["src"]), [1, 3])
    assert set(np.asarray(cols["drop_cause"])[bad]) == {"invalid"}
    assert not np.asarray(cols["delivered"])[bad].any()
    check_invariant(s)


@pytest.mark.parametrize(
    ("kind", "payloads", "size", "reason"),
    [
        ("vec", np.zeros((3, 4), np.float32), None, "wrong_shape"),
        ("vec", np.zeros((3, 3), np.float64), None, "wrong_dtype"),
        ("vec", np.zeros((3, 3), np.float32), 65, "oversize"),
        ("nope", np.zeros((3, 3), np.float32), None, "unknown_kind"),
    ],
)
def test_a_malformed_stack_is_rejected_like_its_rows(kind, payloads, size, reason):
    env, net = make_network(complete(3))
    net.broadcast_many(np.arange(3), kind, payloads, size)
    env.run()
    assert net.rejections() == {reason: 6} and net.stats()["delivered"] == 0


def test_object_rows_are_checked_one_at_a_time():
    env, net = make_network(complete(3), inbox_limit=100)
    payloads = np.empty(3, dtype=object)
    payloads[0] = np.ones(3, np.float32)
    payloads[1] = {"x": np.zeros(1)}  # a mapping: wrong type for "vec"
    payloads[2] = np.array([0, np.nan, 0], np.float32)
    net.broadcast_many(np.arange(3), "vec", payloads)
    env.run()
    assert net.stats()["delivered"] == 2
    assert net.rejections() == {"wrong_type": 2, "not_finite": 2}
    assert [m.payload.tolist() for m in net.inbox(1)] == [[1.0, 1.0, 1.0]]


def test_payload_rows_are_snapshots():
    env, net = make_network(complete(2), inbox_limit=100)
    payloads = np.ones((2, 3), np.float32)
    net.broadcast_many(np.arange(2), "vec", payloads)
    payloads[:] = 7.0
    env.run()
    m = net.inbox(1).peek()
    assert m.payload.tolist() == [1.0, 1.0, 1.0]
    with pytest.raises(ValueError):
        m.payload[0] = 2.0


def test_bad_broadcast_many_arguments():
    _, net = make_network(complete(3))
    with pytest.raises(ConfigError, match="payloads"):
        net.broadcast_many(np.arange(3), "vec", np.ones((2, 3), np.float32))
    with pytest.raises(ConfigError, match="payloads"):
        net.broadcast_many(np.arange(3), "vec", [np.ones(3)] * 3)
    with pytest.raises(ConfigError, match="srcs"):
        net.broadcast_many(np.array([0, 3]), "vec", np.ones((2, 3), np.float32))
    with pytest.raises(ConfigError, match="srcs"):
        net.broadcast_many(np.array([0.0, 1.0]), "vec", np.ones((2, 3), np.float32))
    with pytest.raises(ConfigError, match="receivers"):
        net.drain_many([1, 1])
    assert net.broadcast_many(np.empty(0, np.int64), "vec", np.ones((0, 3), np.float32)) == 0


# -- drain_many ------------------------------------------------------------------------------------


def traffic(seed=0, **kw):
    link = LinkModel(loss=LossModel("bernoulli", p=0.3), delay=DelayModel("exponential", mean=0.2))
    env, net = make_network(
        ring(20, 2), link, seed=seed, resolution=0.05, inbox_limit=5, kinds={"vec": VEC}, **kw
    )
    rng = np.random.default_rng(seed)
    for r in range(8):
        advance(env, 0.1 * r)
        senders = rng.permutation(20)[:15]
        net.broadcast_many(senders, "vec", rng.random((15, 3)).astype(np.float32))
    advance(env, 0.75)
    return env, net


def test_drain_many_equals_per_inbox_drains():
    receivers = np.random.default_rng(1).permutation(20)[:13]
    _, a = traffic()
    _, b = traffic()
    expected = [m for i in receivers.tolist() for m in a.inbox(i).drain()]
    got = b.drain_many(receivers)
    assert len(expected) > 20
    assert got.receiver.tolist() == [m.dst for m in expected]
    assert got.sender.tolist() == [m.src for m in expected]
    assert got.t_delivered.tolist() == [m.t_delivered for m in expected]
    np.testing.assert_array_equal(got.payloads, np.stack([m.payload for m in expected]))
    assert got.payloads.dtype == np.float32
    # those inboxes are now empty, the others untouched
    for i in range(20):
        assert len(b.inbox(i)) == (0 if i in receivers else len(a.inbox(i)))
    rest = b.drain_many()
    assert rest.receiver.size == sum(len(a.inbox(i)) for i in range(20))
    empty = b.drain_many().payloads  # one kind of fixed shape: typed even when empty
    assert empty.shape == (0, 3) and empty.dtype == np.float32
    check_invariant(b.stats())


def test_drain_many_with_heterogeneous_payloads_returns_objects():
    kinds = {
        "vec": MessageKind("vec", (3,), "float32", 64),
        "any": MessageKind("any", None, "float64", 4096),
    }
    env, net = make_network(complete(3), kinds=kinds)
    net.send(0, 1, "vec", np.ones(3, np.float32))
    net.send(0, 1, "any", np.zeros(5))
    net.send(2, 1, "any", {"a": np.zeros(2)})
    env.run()
    d = net.drain_many([1])
    assert d.payloads.dtype == object and d.payloads.shape == (3,)
    assert d.payloads[1].tolist() == [0.0] * 5 and d.sender.tolist() == [0, 0, 2]
    assert net.drain_many([1]).payloads.shape == (0,)


# -- statistics of the draws -----------------------------------------------------------------------


def hub_network(link, seed):
    n = 2000
    hub = Topology.from_edges(n + 1, np.zeros(n), np.arange(1, n + 1))
    return make_network(hub, link, seed=seed, inbox_limit=10, trace=True)


@pytest.mark.parametrize(
    "delay",
    [DelayModel("exponential", mean=0.4), DelayModel("lognormal", mean=0.4, sigma=0.6)],
    ids=lambda d: d.model,
)
def test_delay_distribution(delay):
    link = LinkModel(loss=LossModel("bernoulli", p=0.25), delay=delay)
    env, net = hub_network(link, seed=21)
    for r in range(5):
        advance(env, 10.0 * r)
        net.broadcast_many(np.array([0]), "vec", np.ones((1, 3), np.float32))
    env.run()
    cols = net.trace_columns()
    ok = np.asarray(cols["delivered"])
    m = ok.size
    assert abs(ok.mean() - 0.75) < 4 * np.sqrt(0.75 * 0.25 / m)
    d = np.asarray(cols["delay"])[ok]
    k = d.size
    if delay.model == "exponential":
        assert abs(d.mean() - 0.4) < 4 * 0.4 / np.sqrt(k)
        # P(D > mean) = e^-1
        q = np.exp(-1)
        assert abs((d > 0.4).mean() - q) < 4 * np.sqrt(q * (1 - q) / k)
    else:
        mu = np.log(0.4) - 0.6**2 / 2
        logs = np.log(d)
        assert abs(logs.mean() - mu) < 4 * 0.6 / np.sqrt(k)
        assert abs(logs.std(ddof=1) - 0.6) < 4 * 0.6 / np.sqrt(2 * (k - 1))
        assert abs(d.mean() - 0.4) < 5 * d.std() / np.sqrt(k)


def test_long_bucketed_run_keeps_every_message_with_its_row():
    # enough traffic for the in-flight table and the inbox store to compact several times
    link = LinkModel(loss=LossModel("bernoulli", p=0.2), delay=DelayModel("exponential", mean=0.3))
    env, net = make_network(
        ring(60, 4), link, seed=2, resolution=0.01, inbox_limit=8, trace=False, kinds={"vec": VEC}
    )
    senders = np.arange(60)
    got = 0
    saw_in_flight = False
    for r in range(120):
        advance(env, 0.1 * r)
        s = net.stats()
        check_invariant(s)  # at every step, messages in flight and in inboxes included
        saw_in_flight |= s["in_flight"] > 0
        if r % 3 == 0:
            d = net.drain_many(senders[r % 2 :: 2])
            # a payload names its sender and its send round: t_delivered follows the send
            assert np.array_equal(d.payloads[:, 0], d.sender)
            assert np.all(d.t_delivered >= 0.1 * d.payloads[:, 1] - 1e-9)
            assert np.all(d.t_delivered < 0.1 * d.payloads[:, 1] + 5.0)
            got += d.receiver.size
        payloads = np.stack([senders, np.full(60, r), np.zeros(60)], 1).astype(np.float32)
        net.broadcast_many(senders, "vec", payloads)
    env.run()
    s = net.stats()
    check_invariant(s)
    assert saw_in_flight and s["dropped_inbox"] > 0 and s["dropped_loss"] > 0
    assert s["sent"] == 120 * 60 * 8 and got > 5000
