"""Every bad scenario field gives the configuration error naming the field, the value and what is allowed."""

import pytest
from timer_world import TimerParams, timer_scenario

from dmarl_des.errors import ConfigError
from dmarl_des.scenario import Scenario, parse_assignment, parse_value
from dmarl_des.scenario.overrides import parse_grid


@pytest.mark.parametrize(
    ("key", "value", "field", "allowed"),
    [
        ("seed", -1, "seed", "greater than or equal to 0"),
        ("episodes", 0, "episodes", "greater than or equal to 1"),
        ("horizon", 0.0, "horizon", "greater than 0"),
        ("gamma", 1.5, "gamma", "less than or equal to 1"),
        ("decision_period", -0.1, "decision_period", "greater than or equal to 0"),
        ("n_agents", 0, "n_agents", "greater than or equal to 1"),
        ("policy", "nonsense", "policy", "random, scripted, learner"),
        ("net.loss.model", "lossy", "net.loss.model", "'none', 'bernoulli' or 'gilbert_elliott'"),
        ("net.loss.p", 1.2, "net.loss.p", "less than or equal to 1"),
        ("net.delay.model", "x", "net.delay.model", "constant"),
        ("net.arq.max_tries", 0, "net.arq.max_tries", "greater than or equal to 1"),
        ("faults.crash.fraction", 2, "faults.crash.fraction", "less than or equal to 1"),
        ("world.reward_every", "soon", "world.reward_every", "valid number"),
        ("record.transitions", "maybe", "record.transitions", "valid boolean"),
    ],
)
def test_bad_values_name_field_value_and_allowed(key, value, field, allowed):
    sc = timer_scenario()
    with pytest.raises(ConfigError) as info:
        sc.with_overrides({key: value})
    text = str(info.value)
    assert field in text and repr(value) in text and allowed in text


@pytest.mark.parametrize("key", ["sed", "world.grid", "net.loss.q", "faults.crash.when"])
def test_unknown_keys_are_errors(key):
    with pytest.raises(ConfigError) as info:
        timer_scenario().with_overrides({key: 1})
    assert key.split(".")[-1] in str(info.value) and "known keys" in str(info.value)


def test_loss_probability_without_a_loss_model_is_an_error():
    with pytest.raises(
        ConfigError, match=r"net.loss.p: got 0.3; allowed: 0 with net.loss.model=none"
    ):
        timer_scenario().with_overrides({"net.loss.model": "none", "net.loss.p": 0.3})
    assert timer_scenario().with_overrides({"net.loss.p": 0.3}).net.loss.model == "bernoulli"


def test_learner_keys_need_a_learner():
    with pytest.raises(ConfigError, match=r"learner.lr: got 1; allowed: nothing.*--learner"):
        timer_scenario().with_overrides({"learner.lr": 1})


def test_world_name_cannot_be_switched_by_override():
    with pytest.raises(ConfigError, match="world.name"):
        timer_scenario().with_overrides({"world.name": "other"})


def test_construction_rejects_unknown_top_level_key():
    with pytest.raises(ConfigError, match="unknown key 'colour'"):
        Scenario.build(world=TimerParams(), colour="red")


def test_overrides_apply_and_revalidate():
    sc = timer_scenario().with_overrides(
        {"world.reward_every": "0.25", "net.loss.p": 0.2, "seed": 4}
    )
    assert sc.world.reward_every == 0.25 and isinstance(sc.world, TimerParams)
    assert sc.net.loss.p == 0.2 and sc.seed == 4
    assert sc.digest() != timer_scenario().digest()
    assert timer_scenario().digest() == timer_scenario().digest()


def test_cli_values_parse_to_types():
    assert parse_value("8") == 8 and parse_value("0.2") == 0.2
    assert parse_value("true") is True and parse_value("ring") == "ring"
    assert parse_value("none") == "none" and parse_value("null") is None
    assert parse_value("noise,sign_flip") == ("noise", "sign_flip")
    assert parse_assignment("world.grid_size=10") == ("world.grid_size", 10)
    assert parse_grid("net.loss.p=0,0.2,0.4") == ("net.loss.p", (0, 0.2, 0.4))
    with pytest.raises(ConfigError, match="KEY=VALUE"):
        parse_assignment("world.grid_size")
