"""Messages: hostile payloads are rejected at the receiver, counted, and never reach an inbox."""

import numpy as np
import pytest
import torch
from net_testkit import check_invariant, make_network, payload

from dmarl_des.net import MessageKind, check_payload, complete
from dmarl_des.net.messages import payload_nbytes, snapshot

VEC = MessageKind("vec", (3,), "float32", 64)
ANY = MessageKind("any", None, "float64", 4096)

HOSTILE = [
    ("vec", np.array([np.nan, 0, 0], np.float32), None, "not_finite"),
    ("vec", np.array([np.inf, 0, 0], np.float32), None, "not_finite"),
    ("vec", np.array([0, -np.inf, 0], np.float32), None, "not_finite"),
    ("vec", np.zeros(4, np.float32), None, "wrong_shape"),
    ("vec", np.zeros((3, 1), np.float32), None, "wrong_shape"),
    ("vec", np.zeros(3, np.float64), None, "wrong_dtype"),
    ("vec", np.zeros(3, np.int32), None, "wrong_dtype"),
    ("vec", np.array([1, "a", None], dtype=object), None, "wrong_dtype"),
    ("vec", torch.tensor([0.0, float("nan"), 1.0]), None, "not_finite"),
    ("vec", torch.zeros(3, dtype=torch.float64), None, "wrong_dtype"),
    ("vec", np.zeros(3, np.float32), 65, "oversize"),
    ("any", np.zeros(600), None, "oversize"),
    ("any", {"x": np.zeros(2), "y": np.array([np.nan])}, None, "not_finite"),
    ("any", {"x": np.array([1 + 2j])}, None, "wrong_dtype"),
    ("any", {3: np.zeros(2)}, None, "wrong_type"),
    ("any", {"x": "text"}, None, "wrong_type"),
    ("any", "just a string", None, "wrong_type"),
    ("any", [1.0, 2.0], None, "wrong_type"),
    ("vec", {"x": np.zeros(3, np.float32)}, None, "wrong_type"),
    ("nope", np.zeros(3, np.float32), None, "unknown_kind"),
]


def test_hostile_payloads_are_rejected_counted_and_kept_out_of_inboxes():
    env, net = make_network(complete(2), kinds={"vec": VEC, "any": ANY})
    for kind, value, size, _ in HOSTILE:
        net.send(0, 1, kind, value, size)
    net.send(0, 1, "vec", payload())
    env.run()
    s = net.stats()
    assert s["rejected_invalid"] == len(HOSTILE) and s["delivered"] == 1
    msgs = net.inbox(1).drain()
    assert len(msgs) == 1 and msgs[0].payload.tolist() == [1.0, 1.0, 1.0]
    expected: dict[str, int] = {}
    for *_, reason in HOSTILE:
        expected[reason] = expected.get(reason, 0) + 1
    assert net.rejections() == expected
    assert net.trace_columns()["drop_cause"] == ["invalid"] * len(HOSTILE) + [""]
    check_invariant(s)


@pytest.mark.parametrize(("kind", "value", "size", "reason"), HOSTILE)
def test_check_payload_reason_codes(kind, value, size, reason):
    spec = {"vec": VEC, "any": ANY}.get(kind)
    shot = snapshot(value)
    assert check_payload(spec, shot, payload_nbytes(shot) if size is None else size) == reason


def test_valid_payload_forms():
    assert check_payload(VEC, snapshot(np.zeros(3, np.float32)), 12) == "ok"
    assert check_payload(VEC, snapshot(torch.ones(3)), 12) == "ok"
    mapping = snapshot({"value": np.ones(4), "round": 3, "flag": True, "w": np.float32(2)})
    assert check_payload(ANY, mapping, payload_nbytes(mapping)) == "ok"
    assert payload_nbytes(mapping) == 32 + 8 + 1 + 4
    assert payload_nbytes(torch.ones(5, dtype=torch.float16)) == 10
    assert check_payload(ANY, snapshot(2.5), 8) == "ok"


def test_payload_is_a_read_only_snapshot_taken_at_send_time():
    env, net = make_network(complete(3))
    x = np.array([1.0, 2.0, 3.0], np.float32)
    net.broadcast(0, "vec", x)
    x[0] = 99.0  # the sender changes its buffer after sending
    env.run()
    got = [net.inbox(j).peek().payload for j in (1, 2)]
    assert all(g.tolist() == [1.0, 2.0, 3.0] for g in got)
    with pytest.raises(ValueError):
        got[0][0] = 5.0
    t = torch.ones(3)
    net.send(0, 1, "vec", t)
    t.add_(1.0)
    env.run()
    assert net.inbox(1).drain()[-1].payload.tolist() == [1.0, 1.0, 1.0]


def test_size_is_derived_from_the_payload_unless_given():
    env, net = make_network(complete(2))
    net.send(0, 1, "vec", payload())
    net.send(0, 1, "vec", payload(), size=40)
    env.run()
    assert [m.size for m in net.inbox(1).drain()] == [12, 40]
    assert net.trace_columns()["bytes"] == [12, 40]
