"""Named inboxes keep their own kinds apart; counters split by kind add up to the totals."""

from __future__ import annotations

import numpy as np
import pytest
from net_testkit import check_invariant, make_network, payload

from dmarl_des.errors import ConfigError
from dmarl_des.faults.message_attacks import MessageAttack
from dmarl_des.net import (
    Arq,
    Bandwidth,
    DelayModel,
    LinkModel,
    LossModel,
    MessageKind,
    complete,
    ring,
)

PARAMS = MessageKind("params", (5,), "float32", 20, bound=100.0)


def vector(value: float) -> np.ndarray:
    return np.full(5, value, dtype=np.float32)


def test_named_inbox_is_never_read_nor_evicted_by_the_default_one():
    env, net = make_network(complete(2), inbox_limit=2)
    net.open_inbox("learning", {"params": PARAMS}, limit=3)
    for k in range(5):
        net.send(0, 1, "vec", payload() * k)
    for k in range(4):
        net.send(0, 1, "params", vector(k))
    env.run()
    # the default inbox overflowed (limit 2): the learning inbox lost only its own oldest
    got = net.drain_many([1])
    assert got.payloads[:, 0].tolist() == [3.0, 4.0]
    learned = net.drain_many([1], inbox="learning")
    assert learned.payloads[:, 0].tolist() == [1.0, 2.0, 3.0]
    assert learned.payloads.shape == (3, 5)
    assert len(net.drain_many([1]).receiver) == 0
    rows = {r["kind"]: r for r in net.stats_by_kind()}
    assert (rows["vec"]["sent"], rows["vec"]["delivered"], rows["vec"]["dropped_inbox"]) == (
        5,
        2,
        3,
    )
    assert (rows["params"]["sent"], rows["params"]["delivered"]) == (4, 3)
    assert rows["params"]["dropped_inbox"] == 1
    assert rows["params"]["bytes_sent"] == 4 * 20 and rows["params"]["bytes_delivered"] == 3 * 20
    assert rows["vec"]["bytes_sent"] == 5 * 12 and rows["vec"]["bytes_delivered"] == 2 * 12
    total = net.stats()
    assert total["bytes_sent"] == 4 * 20 + 5 * 12 and total["delivered"] == 5
    check_invariant(total)


def test_empty_drain_of_a_named_inbox_has_its_kinds_shape():
    env, net = make_network(complete(3))
    net.open_inbox("learning", {"params": PARAMS}, limit=4)
    net.send(0, 1, "vec", payload())
    env.run()
    assert net.drain_many([1], inbox="learning").payloads.shape == (0, 5)
    assert net.drain_many([2]).payloads.shape == (0,)  # two kinds once: no single shape


def test_waits_and_clear_of_a_named_inbox():
    env, net = make_network(complete(2), LinkModel(delay=DelayModel(mean=1.0)))
    net.open_inbox("learning", {"params": PARAMS}, limit=4)
    box = net.inbox(1, "learning")
    got = []

    def receiver():
        message = yield box.wait(env)
        got.append((env.now, message.kind))

    env.process(receiver())
    net.send(0, 1, "vec", payload())
    env.run(until=0.5)
    net.send(0, 1, "params", vector(1.0))
    env.run()
    assert got == [(1.5, "params")]  # the world's message did not wake it
    assert len(net.inbox(1)) == 1 and len(box) == 1
    net.clear_inboxes(1)
    assert len(net.inbox(1)) == 0 and len(box) == 0


def test_open_inbox_refuses_clashes():
    _, net = make_network(complete(2))
    with pytest.raises(ConfigError, match="inbox"):
        net.open_inbox("learning", {"vec": MessageKind("vec", (3,), "float32", 64)}, limit=2)
    net.open_inbox("learning", {"params": PARAMS}, limit=2)
    with pytest.raises(ConfigError, match="inbox"):
        net.open_inbox("learning", {"other": MessageKind("other", (1,), "float32", 4)}, limit=2)
    with pytest.raises(ConfigError, match="inbox_limit"):
        net.open_inbox("more", {"other": MessageKind("other", (1,), "float32", 4)}, limit=0)
    with pytest.raises(ConfigError, match="inbox"):
        net.drain_many([0], inbox="nope")


def test_one_kind_has_one_row_equal_to_the_totals():
    env, net = make_network(ring(6, 1), LinkModel(loss=LossModel("bernoulli", p=0.3)))
    for i in range(6):
        net.broadcast(i, "vec", payload())
    env.run()
    (row,) = net.stats_by_kind()
    total = net.stats()
    assert row["kind"] == "vec"
    for key in ("sent", "delivered", "dropped_loss", "bytes_sent", "bytes_delivered"):
        assert row[key] == total[key]
    assert row["latency_mean"] == pytest.approx(total["latency_mean"])


def _expected_from_trace(net) -> dict[str, dict[str, float]]:
    """Per-kind counters recomputed from the per-message trace."""
    cols = {k: np.asarray(v) for k, v in net.trace_columns().items()}
    out = {}
    for kind in np.unique(cols["kind"]):
        sel = cols["kind"] == kind
        cause = cols["drop_cause"][sel]
        delivered = cols["delivered"][sel]
        row = {
            "sent": int(sel.sum()),
            "delivered": int(delivered.sum()),
            "bytes_sent": int(cols["bytes"][sel].sum()),
            "bytes_delivered": int(cols["bytes"][sel][delivered].sum()),
            "in_flight": int(((cause == "") & ~delivered).sum()),
        }
        for name in ("loss", "crash", "overflow", "inbox", "cut", "pending", "invalid"):
            key = "rejected_invalid" if name == "invalid" else f"dropped_{name}"
            row[key] = int((cause == name).sum())
        out[str(kind)] = row
    return out


@pytest.mark.parametrize("resolution", [0.0, 0.05])
def test_counters_by_kind_match_the_trace_under_every_fate(resolution):
    """World messages first, learning messages later (the window splits at the second kind), over
    lossy, queued, delayed links with retransmissions, a crashed receiver, a cut link, invalid
    payloads and small inboxes that overflow."""
    down = np.zeros(8, dtype=bool)
    link = LinkModel(
        loss=LossModel("bernoulli", p=0.3),
        delay=DelayModel("exponential", mean=0.1),
        bandwidth=Bandwidth(capacity=400.0, queue_limit=3),
        arq=Arq(max_tries=2, timeout=0.05),
    )
    env, net = make_network(
        ring(8, 2), link, seed=3, inbox_limit=2, resolution=resolution, is_up=lambda d: ~down[d]
    )
    net.open_inbox("learning", {"params": PARAMS}, limit=3)
    net.set_link_filter(lambda src, dsts: ~((src == 0) & (dsts == 1)), pairwise=True)
    rng = np.random.default_rng(0)
    for step in range(40):
        t = 0.1 * step
        env.run(until=t) if t > env.now else None
        down[5] = 10 <= step < 20
        ids = rng.choice(8, size=4, replace=False)
        net.broadcast_many(ids, "vec", np.ones((4, 3), dtype=np.float32))
        if step >= 5:
            stack = rng.normal(size=(8, 5)).astype(np.float32)
            stack[2] = np.nan if step % 7 == 0 else stack[2]
            net.broadcast_many(np.arange(8), "params", stack)
            net.send(3, 4, "params", vector(1e6))  # out of bound
        if step % 9 == 0:
            net.drain_many(np.arange(8))
    env.run(until=4.03)
    net.drop_pending()
    expected = _expected_from_trace(net)
    rows = {r["kind"]: r for r in net.stats_by_kind()}
    assert set(rows) == {"vec", "params"}
    for kind, want in expected.items():
        got = rows[kind]
        for key, value in want.items():
            assert got[key] == value, (kind, key)
        check_invariant(got)
    total = net.stats()
    for key in ("sent", "delivered", "dropped_loss", "bytes_sent", "bytes_delivered"):
        assert total[key] == sum(r[key] for r in rows.values())
    assert rows["params"]["rejected_invalid"] > 0 and rows["params"]["dropped_crash"] > 0
    assert rows["vec"]["dropped_inbox"] > 0 and rows["params"]["dropped_cut"] > 0


def test_reset_stats_carries_messages_per_kind():
    env, net = make_network(complete(3), LinkModel(delay=DelayModel(mean=1.0)))
    net.open_inbox("learning", {"params": PARAMS}, limit=4)
    net.send(0, 1, "vec", payload())
    net.send(0, 1, "params", vector(2.0))
    env.run(until=1.5)
    net.send(0, 2, "params", vector(3.0))  # still in flight at the reset
    net.reset_stats()
    rows = {r["kind"]: r for r in net.stats_by_kind()}
    assert (rows["vec"]["sent"], rows["vec"]["delivered"]) == (1, 1)
    assert (rows["params"]["sent"], rows["params"]["delivered"]) == (2, 1)
    assert rows["params"]["in_flight"] == 1 and rows["params"]["bytes_sent"] == 40
    env.run()
    rows = {r["kind"]: r for r in net.stats_by_kind()}
    assert rows["params"]["delivered"] == 2 and rows["params"]["in_flight"] == 0
    check_invariant(net.stats())


def test_stale_replays_the_same_kind_only():
    """Two kinds of one shape: a stale attack replays each kind's own history."""
    attack = MessageAttack(["stale"], np.random.default_rng(0), lag=1)
    a0, b0, a1, b1 = vector(1.0), vector(-1.0), vector(2.0), vector(-2.0)
    assert attack(0, [a0], "critic")[0].tolist() == a0.tolist()
    assert attack(0, [b0], "reward_model")[0].tolist() == b0.tolist()
    assert attack(0, [a1], "critic")[0].tolist() == a0.tolist()
    assert attack(0, [b1], "reward_model")[0].tolist() == b0.tolist()
