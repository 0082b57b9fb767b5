"""Messages: hostile payloads are rejected at the receiver, counted, and never reach an inbox."""

import itertools
import warnings
from collections.abc import Mapping

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from net_testkit import check_invariant, make_network, payload

from dmarl_des.errors import ConfigError
from dmarl_des.net import REJECT_REASONS, MessageKind, check_payload, complete
from dmarl_des.net.messages import payload_nbytes, snapshot
from dmarl_des.net.payloads import REASON_CODES, check_rows

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


# ------------------------------------------------------------------ hostile types and value bounds
BOUNDED = MessageKind("bounded", (2,), "float64", 16, bound=10.0)
COUNT = MessageKind("count", (2,), "int64", 16, bound=100)
FREE = MessageKind("free", None, "float64", 4096, bound=10.0)
FLAGS = MessageKind("flags", (2,), "bool", 2, bound=0.5)
ALL_KINDS = {"vec": VEC, "any": ANY, "bounded": BOUNDED, "count": COUNT, "free": FREE}


class _ItemsRaise(dict):
    def items(self):
        raise RuntimeError("items() refuses")


class _Endless(Mapping):
    """A mapping that claims one entry and iterates forever."""

    def __getitem__(self, key):
        return np.zeros(1)

    def __iter__(self):
        return (f"k{i}" for i in itertools.count())

    def __len__(self):
        return 1


class _ArrayRaise:
    def __array__(self, *args, **kwargs):
        raise RuntimeError("__array__ refuses")


class _LyingArray(np.ndarray):
    @property
    def dtype(self):
        raise RuntimeError("dtype refuses")


class _TensorSubclass(torch.Tensor):
    pass


def _recursive() -> dict:
    loop: dict = {"x": np.zeros(1)}
    loop["self"] = loop
    return loop


def _quietly(build):
    """``build`` with torch's warnings about beta and deprecated tensor types silenced."""

    def quiet():
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            return build()

    return quiet


def _array(dtype: str, shape: tuple, fill: int) -> np.ndarray:
    if np.dtype(dtype).kind in "OV":
        return np.zeros(shape, dtype=dtype)
    with np.errstate(over="ignore"):
        return np.full(shape, fill).astype(dtype, copy=False)


HOSTILE_TYPES = [
    ("sparse_coo", "vec", lambda: torch.tensor([1.0, 0.0, 2.0]).to_sparse(), "wrong_type"),
    ("sparse_csr", "any", _quietly(lambda: torch.eye(2).double().to_sparse_csr()), "wrong_type"),
    ("meta", "vec", lambda: torch.empty(3, device="meta"), "wrong_type"),
    ("nested", "vec", _quietly(lambda: torch.nested.nested_tensor([torch.ones(1)])), "wrong_type"),
    (
        "quantized",
        "vec",
        _quietly(lambda: torch.quantize_per_tensor(torch.ones(3), 0.1, 0, torch.qint8)),
        "wrong_type",
    ),
    ("tensor_subclass", "vec", lambda: torch.ones(3).as_subclass(_TensorSubclass), "wrong_type"),
    ("items_raise", "any", lambda: _ItemsRaise(x=np.zeros(2)), "wrong_type"),
    ("endless_mapping", "any", _Endless, "oversize"),
    ("many_entries", "any", lambda: {f"k{i}": np.zeros(0) for i in range(5000)}, "oversize"),
    ("recursive_mapping", "any", _recursive, "wrong_type"),
    ("nested_mapping", "any", lambda: {"a": {"b": np.zeros(2)}}, "wrong_type"),
    ("array_raise", "vec", _ArrayRaise, "wrong_type"),
    ("lying_ndarray", "vec", lambda: np.zeros(3, np.float32).view(_LyingArray), "ok"),
    ("object_array", "any", lambda: np.array([np.zeros(2), None], dtype=object), "wrong_dtype"),
    ("complex_array", "any", lambda: np.zeros(2, np.complex128), "wrong_dtype"),
    ("complex_tensor", "any", lambda: torch.zeros(2, dtype=torch.complex128), "wrong_dtype"),
    ("complex_number", "any", lambda: 1 + 2j, "wrong_type"),
    ("huge_int", "any", lambda: 10**400, "wrong_dtype"),
    ("structured", "any", lambda: np.zeros(2, dtype=[("a", "f8")]), "wrong_dtype"),
    ("bytes", "any", lambda: b"\x00" * 8, "wrong_type"),
    ("beyond_bound", "bounded", lambda: np.array([10.5, 0.0]), "out_of_bound"),
    (
        "beyond_bound_tensor",
        "bounded",
        lambda: torch.tensor([0.0, -11.0], dtype=torch.float64),
        "out_of_bound",
    ),
    ("largest_int", "count", lambda: np.array([2**63 - 1, 0]), "out_of_bound"),
    ("smallest_int", "count", lambda: np.array([-(2**63), 0]), "out_of_bound"),
    ("nan_before_bound", "bounded", lambda: np.array([np.nan, 1e300]), "not_finite"),
    (
        "beyond_bound_in_mapping",
        "free",
        lambda: {"w": np.ones(3), "b": np.float64(-1e3)},
        "out_of_bound",
    ),
]
VALID_EXTREMES = [
    ("at_bound", "bounded", np.array([-10.0, 10.0])),
    ("int_at_bound", "count", np.array([-100, 100])),
    ("parameter", "vec", torch.nn.Parameter(torch.ones(3))),
    ("masked_array", "vec", np.ma.masked_array(np.ones(3, np.float32), mask=[0, 1, 0])),
]


@pytest.mark.parametrize(
    ("name", "kind", "build", "reason"),
    HOSTILE_TYPES,
    ids=lambda v: v if isinstance(v, str) else "",
)
def test_check_of_hostile_types_and_bounds_returns_a_reason(name, kind, build, reason):
    shot = snapshot(build())
    assert check_payload(ALL_KINDS[kind], shot, payload_nbytes(shot)) == reason


def test_hostile_types_are_rejected_and_counted_by_send_never_raised():
    env, net = make_network(complete(2), kinds={**ALL_KINDS, "flags": FLAGS})
    for _, kind, build, _ in HOSTILE_TYPES:
        net.send(0, 1, kind, build())  # each used to raise inside send, or get through
    for _, kind, value in VALID_EXTREMES:
        net.send(0, 1, kind, value)
    net.send(0, 1, "flags", np.array([True, True]))  # booleans are never out of bound
    env.run()
    s = net.stats()
    invalid = [reason for *_, reason in HOSTILE_TYPES if reason != "ok"]
    valid = len(HOSTILE_TYPES) - len(invalid) + len(VALID_EXTREMES) + 1
    assert s["rejected_invalid"] == len(invalid) and s["delivered"] == valid
    assert net.rejections() == {r: invalid.count(r) for r in set(invalid)}
    check_invariant(s)
    arrived = net.inbox(1).drain()
    assert [m.kind for m in arrived] == ["vec", "bounded", "count", "vec", "vec", "flags"]
    assert arrived[0].payload.tolist() == [0.0, 0.0, 0.0]
    assert arrived[1].payload.tolist() == [-10.0, 10.0]


@pytest.mark.parametrize("bound", [0, -1.0, float("nan"), True, "big", None])
def test_bad_bounds_are_config_errors(bound):
    with pytest.raises(ConfigError, match=r"kind\[b\]\.bound"):
        MessageKind("b", (1,), "float64", 8, bound=bound)


SPECIAL = st.sampled_from([np.nan, np.inf, -np.inf, 10.0, -10.0, 10.000001, -1e308, 1e300, 0.0])
ENTRIES = st.one_of(st.floats(-20, 20), SPECIAL)


@settings(max_examples=200, deadline=None)
@given(
    dtype=st.sampled_from(["float64", "float32", "int64", "int8", "bool"]),
    bounded=st.booleans(),
    rows=st.lists(st.lists(ENTRIES, min_size=2, max_size=2), min_size=1, max_size=6),
)
def test_stack_check_agrees_with_the_one_payload_check(dtype, bounded, rows):
    kind = MessageKind("k", (2,), dtype, 16, bound=10.0 if bounded else float("inf"))
    data = np.array(rows)
    if np.dtype(dtype).kind in "iub":
        data = np.nan_to_num(data, posinf=1e3, neginf=-1e3).clip(-100, 100)
    with np.errstate(over="ignore", invalid="ignore"):
        stack = data.astype(dtype)
    codes = check_rows(kind, stack, None)
    expected = [check_payload(kind, snapshot(row), row.nbytes) for row in stack]
    assert [REASON_CODES[c] for c in codes] == expected


PYTHON_THINGS = st.recursive(
    st.one_of(
        st.none(),
        st.booleans(),
        st.integers(),
        st.floats(),
        st.complex_numbers(),
        st.text(max_size=3),
        st.binary(max_size=3),
    ),
    lambda inner: st.one_of(
        st.lists(inner, max_size=3),
        st.dictionaries(st.one_of(st.text(max_size=2), st.integers()), inner, max_size=3),
        st.tuples(inner, inner),
    ),
    max_leaves=8,
)
ARRAYS = st.builds(
    _array,
    st.sampled_from(
        ["float64", "float32", "float16", "int64", "uint8", "bool", "complex64", "U2", "O", "V4"]
    ),
    st.lists(st.integers(0, 3), max_size=3).map(tuple),
    st.sampled_from([0, 1, -1, 2**40]),
)


@settings(max_examples=300, deadline=None)
@given(
    payload=st.one_of(
        PYTHON_THINGS, ARRAYS, st.dictionaries(st.text(max_size=2), ARRAYS, max_size=3)
    )
)
def test_the_check_is_total(payload):
    shot = snapshot(payload)
    for kind in ALL_KINDS.values():
        assert check_payload(kind, shot, payload_nbytes(shot)) in ("ok", *REJECT_REASONS)
