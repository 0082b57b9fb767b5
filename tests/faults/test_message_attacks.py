"""Byzantine message attacks and omission, as filters on the payloads of one send."""

import numpy as np
import pytest
import torch

from dmarl_des.errors import ConfigError
from dmarl_des.faults import MessageAttack, OutgoingFaults
from dmarl_des.net import MessageKind, check_payload

KIND = MessageKind("value", (3,), "float32", 12)
X = np.array([1.0, -2.0, 0.5], dtype=np.float32)


def attack(*names, seed=0, **kw):
    return MessageAttack(names, np.random.default_rng(seed), **kw)


def test_sign_flip_constant_bias_are_exact_and_shared():
    payloads = [X] * 4
    out = attack("sign_flip")(0, payloads)
    assert all(o is out[0] for o in out)  # one shared payload: snapshotted and checked once
    np.testing.assert_array_equal(out[0], -X)
    assert out[0].dtype == np.float32 and out[0].shape == (3,)
    np.testing.assert_array_equal(attack("constant", value=7.5)(0, payloads)[2], [7.5] * 3)
    np.testing.assert_array_equal(attack("bias", value=2.0)(0, payloads)[1], X + 2)
    # listed order: flip then bias, or bias then flip
    np.testing.assert_array_equal(attack("sign_flip", "bias", value=1)(0, [X])[0], -X + 1)
    np.testing.assert_array_equal(attack("bias", "sign_flip", value=1)(0, [X])[0], -(X + 1))


def test_noise_is_gaussian_with_scale_and_independent_per_recipient():
    m = 4000
    out = attack("noise", scale=3.0, seed=1)(0, [X] * m)
    d = np.stack(out).astype(np.float64) - X
    assert d.shape == (m, 3)
    assert abs(d.mean()) < 5 * 3.0 / np.sqrt(d.size)
    assert abs(d.std() - 3.0) < 0.05 * 3.0
    assert not np.array_equal(out[0], out[1])
    assert abs(np.corrcoef(d[:, 0], d[:, 1])[0, 1]) < 0.06


def test_equivocation_tells_different_recipients_different_values():
    out = attack("equivocate", scale=0.5)(0, [X] * 5)
    for k, o in enumerate(out):
        np.testing.assert_allclose(o, X + (0.5 if k % 2 == 0 else -0.5))
    assert not np.array_equal(out[0], out[1])
    np.testing.assert_array_equal(out[0], out[2])


def test_stale_replays_the_message_sent_lag_sends_earlier():
    a = attack("stale", lag=2)
    sent = [np.full(3, float(k), dtype=np.float32) for k in range(6)]
    got = [float(a(7, [x, x])[0][0]) for x in sent]
    assert got == [0.0, 0.0, 0.0, 1.0, 2.0, 3.0]  # the first message until lag sends exist
    # history is kept per sender and per shape/dtype
    assert float(a(8, [sent[5]])[0][0]) == 5.0
    other = np.zeros(2, dtype=np.float64)
    assert a(7, [other])[0].shape == (2,)
    # the sender changing its array later does not change what is replayed
    buf = np.zeros(3, dtype=np.float32)
    b = attack("stale", lag=1)
    b(0, [buf])
    buf[:] = 9
    assert float(b(0, [buf])[0][0]) == 0.0


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_garbage_is_always_rejected_by_a_fixed_shape_float_kind(dtype):
    kind = MessageKind("value", (3,), dtype, 64)  # room for one more entry: shape is checked
    x = X.astype(dtype)
    out = attack("garbage", seed=2)(0, [x] * 400)
    reasons = {check_payload(kind, o, o.nbytes) for o in out}
    assert "ok" not in reasons
    assert reasons == {"not_finite", "wrong_shape", "oversize"}
    kinds = {("nan" if np.isnan(o).all() else "inf" if np.isinf(o).all() else o.size) for o in out}
    assert {"nan", "inf", 4, 4096} <= kinds


def test_garbage_of_integer_payloads_is_rejected_too():
    kind = MessageKind("count", (2,), "int64", 16)
    out = attack("garbage", seed=3)(0, [np.array([1, 2])] * 200)
    assert all(check_payload(kind, o, o.nbytes) != "ok" for o in out)


def test_integer_and_overflowing_results_are_cast_back():
    out = attack("bias", value=2.6)(0, [np.array([1, 254], dtype=np.uint8)])[0]
    assert out.dtype == np.uint8 and out.tolist() == [4, 255]  # rounded, clipped
    big = attack("constant", value=1e300)(0, [X])[0]
    assert big.dtype == np.float32 and np.isinf(big).all()
    assert check_payload(KIND, big, 12) == "not_finite"


def test_any_shape_mappings_tensors_numbers_and_other_payloads():
    a = attack("sign_flip")
    m = np.arange(6.0).reshape(2, 3)
    np.testing.assert_array_equal(a(0, [m])[0], -m)
    out = a(0, [{"w": X, "b": np.float64(2.0)}])[0]
    np.testing.assert_array_equal(out["w"], -X)
    assert float(out["b"]) == -2.0
    t = a(0, [torch.tensor([1.0, 2.0])])[0]
    assert isinstance(t, torch.Tensor) and t.tolist() == [-1.0, -2.0]
    assert float(a(0, [3.0])[0]) == -3.0
    assert a(0, ["hello", "hello"]) == ["hello", "hello"]  # non-numeric: unchanged


def test_per_recipient_payloads_are_tampered_each():
    y = X * 10
    out = attack("sign_flip")(0, [X, y, X])
    np.testing.assert_array_equal(out[0], -X)
    np.testing.assert_array_equal(out[1], -y)
    assert out[0] is out[2]


def test_bad_attack_parameters():
    with pytest.raises(ConfigError, match="faults.byzantine.messages"):
        attack("lie")
    with pytest.raises(ConfigError, match="faults.byzantine.lag"):
        attack("stale", lag=0)


class _Agent:
    def __init__(self, i, role="honest"):
        self.agent_id, self.role, self.alive = i, role, True


class _Target:
    def __init__(self, n):
        self.sim_agents = [_Agent(i) for i in range(n)]


def test_omission_drops_about_p_of_recipients():
    target = _Target(3)
    faults = OutgoingFaults(target, np.random.default_rng(4))
    faults.omit(1, 0.3)
    dsts = np.arange(50)
    kept_total = 0
    sends = 400
    for _ in range(sends):
        kept, payloads = faults(1, dsts, [X] * 50)
        assert len(payloads) == kept.size and np.isin(kept, dsts).all()
        kept_total += kept.size
    n = sends * 50
    dropped = n - kept_total
    sd = np.sqrt(n * 0.3 * 0.7)
    assert abs(dropped - 0.3 * n) < 4 * sd
    # other senders are untouched; a newcomer in the slot sends normally
    assert faults(0, dsts, [X] * 50)[0].size == 50
    target.sim_agents[1] = _Agent(9)
    assert faults(1, dsts, [X] * 50)[0].size == 50


def test_outgoing_filter_tampers_only_with_current_byzantine_senders():
    target = _Target(3)
    faults = OutgoingFaults(target, np.random.default_rng(0), attack("sign_flip"))
    faults.tamper(2)
    dsts = np.array([0, 1])
    assert faults(2, dsts, [X, X])[1][0] is X  # marked but not (yet) in role byzantine
    target.sim_agents[2].role = "byzantine"
    np.testing.assert_array_equal(faults(2, dsts, [X, X])[1][0], -X)
    assert faults(0, dsts, [X, X])[1][0] is X
