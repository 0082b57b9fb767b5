"""Link-model and network configuration errors name the field, the value and what is allowed."""

import math

import numpy as np
import pytest
import simpy
from net_testkit import KINDS

from dmarl_des.errors import ConfigError
from dmarl_des.net import (
    Arq,
    Bandwidth,
    DelayModel,
    LinkModel,
    LossModel,
    MessageKind,
    Network,
    ring,
)


@pytest.mark.parametrize(
    ("make", "field"),
    [
        (lambda: LossModel("lossy"), "loss.model"),
        (lambda: LossModel("bernoulli", p=1.5), "loss.p"),
        (lambda: LossModel("gilbert_elliott", r=-0.1), "loss.r"),
        (lambda: LossModel(k=math.nan), "loss.k"),
        (lambda: LossModel(symmetric=1), "loss.symmetric"),
        (lambda: LossModel(period=-1.0), "loss.period"),
        (lambda: DelayModel("uniform"), "delay.model"),
        (lambda: DelayModel("constant", mean=-1.0), "delay.mean"),
        (lambda: DelayModel("lognormal", mean=0.0), "delay.mean"),
        (lambda: DelayModel("exponential", mean=math.inf), "delay.mean"),
        (lambda: DelayModel("distance", speed=0.0), "delay.speed"),
        (lambda: DelayModel(jitter=-1.0), "delay.jitter"),
        (lambda: Bandwidth(capacity=0.0), "bandwidth.capacity"),
        (lambda: Bandwidth(queue_limit=-1), "bandwidth.queue_limit"),
        (lambda: Bandwidth(queue_limit=2.5), "bandwidth.queue_limit"),
        (lambda: Arq(max_tries=0), "arq.max_tries"),
        (lambda: Arq(max_tries=2.0), "arq.max_tries"),
        (lambda: Arq(timeout=0.0), "arq.timeout"),
        (lambda: LinkModel(loss="bernoulli"), "link.loss"),
        (lambda: MessageKind("", None, "float32", 8), "kind.name"),
        (lambda: MessageKind("x", (2, -1), "float32", 8), "shape"),
        (lambda: MessageKind("x", None, "object", 8), "dtype"),
        (lambda: MessageKind("x", None, "float32", -1), "max_bytes"),
    ],
)
def test_bad_values_raise_config_error(make, field):
    with pytest.raises(ConfigError) as err:
        make()
    assert err.value.field.endswith(field) or field in err.value.field
    assert "allowed" in str(err.value)


def test_good_values_and_derived_quantities():
    loss = LossModel("gilbert_elliott", p=0.1, r=0.3, k=0.9, h=0.2)
    assert loss.stationary_bad == pytest.approx(0.25)
    assert loss.stationary_loss == pytest.approx(0.75 * 0.1 + 0.25 * 0.8)
    assert Bandwidth(queue_limit=4.0).finite_queue == 4
    assert Bandwidth().finite_queue is None
    assert LinkModel().loss.model == "none"


@pytest.mark.parametrize(
    ("kw", "field"),
    [
        ({"resolution": -0.1}, "resolution"),
        ({"inbox_limit": 0}, "inbox_limit"),
        ({"inbox_policy": "drop_random"}, "inbox_policy"),
        ({"kinds": {"a": MessageKind("b", None, "float32", 8)}}, "kinds"),
        ({"overrides": {(0, 9): LinkModel()}}, "overrides"),
        ({"overrides": {(0, 1): "fast"}}, "overrides"),
        ({"link": LinkModel(delay=DelayModel("distance"))}, "positions"),
    ],
)
def test_network_configuration_errors(kw, field):
    args = {"kinds": KINDS, "link": LinkModel()}
    args.update(kw)
    link = args.pop("link")
    with pytest.raises(ConfigError) as err:
        Network(simpy.Environment(), ring(5), link, np.random.default_rng(0), **args)
    assert field in err.value.field


def test_send_argument_errors():
    net = Network(simpy.Environment(), ring(5), LinkModel(), np.random.default_rng(0), kinds=KINDS)
    with pytest.raises(ConfigError, match="agent"):
        net.send(0, 5, "vec", np.zeros(3, np.float32))
    with pytest.raises(ConfigError, match="dsts"):
        net.multicast(0, [1, 1], "vec", np.zeros(3, np.float32))
    with pytest.raises(ConfigError, match="size"):
        net.send(0, 1, "vec", np.zeros(3, np.float32), size=-4)
    with pytest.raises(ConfigError, match="payload"):
        net.broadcast(0, "vec", [np.zeros(3, np.float32)], per_recipient=True)
    with pytest.raises(ConfigError, match="topology"):
        net.topology = ring(6)
