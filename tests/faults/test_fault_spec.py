"""The `faults.*` keys: defaults inject nothing, bad values are ConfigErrors naming the field."""

import pytest
from fault_worlds import share_scenario

from dmarl_des.errors import ConfigError
from dmarl_des.scenario import FaultSpec
from dmarl_des.scenario.validation import validated


def test_defaults_are_no_faults_and_sections_are_kept():
    spec = FaultSpec()
    assert set(FaultSpec.model_fields) == {
        "crash",
        "recover",
        "omission",
        "byzantine",
        "partition",
        "cut_links",
        "churn",
        "bound",
    }
    assert not spec.crash.targets_any and not spec.omission.targets_any
    assert not spec.byzantine.targets_any and not spec.recover.enabled
    assert spec.partition.groups == 0 and spec.cut_links == ()
    assert spec.churn.leave_rate == 0 == spec.churn.join_rate
    world = share_scenario()
    from fault_worlds import ShareWorld

    assert not ShareWorld(world).recorder.has("faults")


@pytest.mark.parametrize(
    ("values", "field"),
    [
        ({"crash": {"start": "poisson"}}, "faults.crash.rate"),
        ({"crash": {"rate": 0.5}}, "faults.crash.rate"),
        ({"omission": {"at": 2.0}}, "faults.omission.at"),
        ({"byzantine": {"fraction": 0.2, "count": 1}}, "faults.byzantine.count"),
        ({"crash": {"count": 1, "ids": [0]}}, "faults.crash.ids"),
        ({"crash": {"ids": [1, 1]}}, "faults.crash.ids"),
        ({"crash": {"fraction": 1.5}}, "faults.crash.fraction"),
        ({"crash": {"ids": [1]}, "omission": {"ids": [1]}}, "faults.omission.ids"),
        ({"crash": {"ids": [1, 2]}, "bound": {"total": 1}}, "faults.*.ids"),
        ({"partition": {"groups": 1}}, "faults.partition.groups"),
        ({"byzantine": {"messages": ["noise", "noise"]}}, "faults.byzantine.messages"),
        ({"byzantine": {"messages": ["lies"]}}, "faults.byzantine.messages.0"),
        ({"byzantine": {"lag": 0}}, "faults.byzantine.lag"),
        ({"cut_links": [[2, 2]]}, "faults.cut_links"),
        ({"recover": {"mean": 0}}, "faults.recover.mean"),
        ({"churn": {"leave_rate": -1}}, "faults.churn.leave_rate"),
    ],
)
def test_bad_values_name_their_field(values, field):
    with pytest.raises(ConfigError) as err:
        validated(FaultSpec, values, prefix="faults")
    assert err.value.field == field


def test_unknown_key_is_an_error():
    with pytest.raises(ConfigError, match="fracton"):
        share_scenario(faults={"crash": {"fracton": 0.1}})


def test_ids_and_links_are_checked_against_the_number_of_agents():
    spec = validated(FaultSpec, {"crash": {"ids": [7]}})
    with pytest.raises(ConfigError) as err:
        spec.check(6)
    assert err.value.field == "faults.crash.ids"
    with pytest.raises(ConfigError, match="cut_links"):
        validated(FaultSpec, {"cut_links": [[0, 9]]}).check(6)
    validated(FaultSpec, {"crash": {"ids": [5]}, "cut_links": [[0, 5]]}).check(6)


def test_wanted_rounds_fraction_half_up():
    spec = validated(FaultSpec, {"crash": {"fraction": 0.25}}).crash
    assert spec.wanted(10) == 3  # 2.5 -> 3
    assert spec.wanted(4) == 1
    assert validated(FaultSpec, {"crash": {"count": 4}}).crash.wanted(10) == 4
    assert validated(FaultSpec, {"crash": {"ids": [0, 3]}}).crash.wanted(10) == 2


def test_dotted_overrides_reach_fault_keys():
    sc = share_scenario().with_overrides(
        {"faults.crash.fraction": 0.5, "faults.byzantine.messages": ["noise", "stale"]}
    )
    assert sc.faults.crash.fraction == 0.5
    assert sc.faults.byzantine.messages == ("noise", "stale")
