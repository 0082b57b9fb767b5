"""A scenario that builds can run: values that could not run are ConfigErrors naming the field."""

import math
from pathlib import Path

import pytest

from dmarl_des.errors import ConfigError
from dmarl_des.scenario import load_scenario

SCENARIOS = Path(__file__).resolve().parents[2] / "scenarios"
INF, NAN = math.inf, math.nan


def build(scenario: str, **overrides):
    return load_scenario(SCENARIOS / f"{scenario}.py", overrides)


def refused(name: str, overrides: dict, field: str) -> ConfigError:
    """The ConfigError of ``overrides`` on scenario ``name``; it names ``field``."""
    with pytest.raises(ConfigError) as info:
        build(name, **overrides)
    assert info.value.field == field, str(info.value)
    return info.value


@pytest.mark.parametrize(
    ("name", "overrides", "field"),
    [
        # never ends, or hangs at one instant
        ("consensus", {"horizon": INF}, "horizon"),
        ("coverage", {"world.speed": 5.6e16}, "world.speed"),
        ("coverage", {"world.record_every": 1e-300}, "world.record_every"),
        ("coverage", {"world.topology_period": 1e-300}, "world.topology_period"),
        # OverflowError / ValueError / MemoryError while running
        ("coverage", {"world.spacing": INF}, "world.spacing"),
        ("coverage", {"world.size": INF}, "world.size"),
        ("coverage", {"world.sensor_radius": 1e-306}, "world.cells"),
        ("box_pushing", {"decision_period": INF}, "decision_period"),
        ("consensus", {"net.topology.k": 10**30}, "net.topology.k"),
        ("box_pushing", {"episodes": 10**20}, "episodes"),
        ("box_pushing", {"eval_episodes": 2**31}, "eval_episodes"),
        # runs "ok" with NaN or inf returns
        ("box_pushing", {"world.big_box_reward": NAN}, "world.big_box_reward"),
        ("box_pushing", {"world.step_cost": INF}, "world.step_cost"),
        ("box_pushing", {"world.penalty": -1e300}, "world.penalty"),
        # passed the build, failed every run
        ("consensus", {"net.resolution": INF}, "net.resolution"),
        ("consensus", {"net.arq.timeout": INF}, "net.arq.timeout"),
        ("consensus", {"net.delay.mean": INF}, "net.delay.mean"),
        ("consensus", {"net.delay.sigma": INF}, "net.delay.sigma"),
        ("consensus", {"net.delay.jitter": INF}, "net.delay.jitter"),
        ("consensus", {"net.delay.model": "exponential"}, "net.delay.mean"),
        (
            "consensus",
            {"net.topology.kind": "random_geometric", "net.topology.radius": INF},
            "net.topology.radius",
        ),
        ("consensus", {"net.bandwidth.queue_limit": 0.5}, "net.bandwidth.queue_limit"),
        ("consensus", {"net.topology.kind": "small_world", "net.topology.k": 25}, "net.topology.k"),
        ("consensus", {"net.topology.kind": "scale_free", "net.topology.m": 50}, "net.topology.m"),
        ("consensus", {"net.topology.kind": "proximity"}, "net.topology.kind"),
        ("consensus", {"net.delay.model": "distance"}, "net.delay.model"),
        ("box_pushing", {"faults.omission.fraction": 0.5}, "faults.omission"),
        ("box_pushing", {"faults.partition.groups": 2}, "faults.partition.groups"),
    ],
)
def test_values_that_cannot_run_are_refused_at_build(name, overrides, field):
    error = refused(name, overrides, field)
    assert str(error).startswith(f"{field}: got ")


def test_swarm_macro_actions_cannot_be_instantaneous():
    from dmarl_des.scenario import Scenario
    from dmarl_des.worlds.swarm import SwarmParams

    ok = Scenario.build(world=SwarmParams(base_duration=1e-4), n_agents=4, horizon=100.0)
    assert ok.world.base_duration == 1e-4
    for params in ({"base_duration": 1e-300}, {"base_duration": 1e-5, "spread": 1.9}):
        with pytest.raises(ConfigError) as info:
            Scenario.build(world=SwarmParams(**params), n_agents=4, horizon=100.0)
        assert info.value.field == "world.base_duration"
    with pytest.raises(ConfigError, match="net.delay.model"):
        Scenario.build(world=SwarmParams(), n_agents=4, net={"delay": {"model": "distance"}})


@pytest.mark.parametrize(
    ("name", "overrides", "field"),
    [
        ("consensus", {"world.period": 1e-6}, "world.period"),
        ("coverage", {"decision_period": 1e-6}, "decision_period"),
        ("coverage", {"world.hover_time": 1e-6}, "world.hover_time"),
        ("coverage", {"net.resolution": 1e-6}, "net.resolution"),
        ("coverage", {"world.speed": 1e9}, "world.speed"),
        ("consensus", {"faults.churn.leave_rate": 1e6}, "faults.churn.leave_rate"),
        (
            "consensus",
            {"faults.crash.start": "poisson", "faults.crash.rate": 1e6},
            "faults.crash.rate",
        ),
        ("box_pushing", {"horizon": 1e8}, "horizon"),
    ],
)
def test_an_episode_has_a_bounded_number_of_steps(name, overrides, field):
    """Horizon 100: a period below 100 / 1e7, or a rate above 1e7 / 100, is refused."""
    error = refused(name, overrides, field)
    assert "1e+07" in str(error)


def test_the_step_bound_is_inclusive():
    assert build("coverage", decision_period=1e-5, horizon=100.0).decision_period == 1e-5
    assert build("consensus", **{"faults.churn.leave_rate": 1e5}).faults.churn.leave_rate == 1e5
    refused("coverage", {"decision_period": 0.99e-5}, "decision_period")


@pytest.mark.parametrize(
    ("name", "overrides"),
    [
        ("consensus", {"net.bandwidth.capacity": INF, "net.bandwidth.queue_limit": INF}),
        ("consensus", {"net.bandwidth.queue_limit": 8.0}),
        ("consensus", {"faults.partition.groups": 2, "faults.partition.duration": INF}),
        ("consensus", {"world.aggregator": "clipped_gossip", "world.aggregator_tau": INF}),
        ("consensus", {"faults.byzantine.count": 1, "faults.byzantine.value": 1e300}),
        ("coverage", {"net.resolution": 0.0, "decision_period": 0.0}),
    ],
)
def test_documented_infinities_and_zeros_still_build(name, overrides):
    sc = build(name, **overrides)
    for key, value in overrides.items():
        node = sc
        for part in key.split("."):
            node = getattr(node, part)
        assert node == value


@pytest.mark.parametrize(
    ("key", "value"),
    [
        ("faults.byzantine.count", True),
        ("faults.crash.fraction", True),
        ("faults.crash.ids", (True,)),
        ("faults.cut_links", ((0, True),)),
        ("seed", False),
        ("n_agents", True),
        ("horizon", True),
        ("net.loss.p", True),
        ("net.topology.k", True),
        ("world.period", True),
        ("world.dim", True),
        ("world.aggregator_tau", True),
    ],
)
def test_a_bool_is_not_a_number(key, value):
    with pytest.raises(ConfigError) as info:
        build("consensus", **{key: value})
    assert key in str(info.value) and "bool" in str(info.value)


def test_bools_stay_bools_where_a_bool_is_expected():
    sc = build("consensus", **{"record.transitions": True, "net.loss.symmetric": True})
    assert sc.record.transitions is True and sc.net.loss.symmetric is True


@pytest.mark.parametrize("field", ["batch_size", "hidden", "lr", "eps_decay"])
def test_learner_configs_refuse_bools(field):
    from dmarl_des.learn.registry import learner_config

    with pytest.raises(ConfigError, match=f"learner.{field}"):
        learner_config("iql", {field: True})


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("lr", INF),
        ("lr", NAN),
        ("grad_clip", INF),
        ("huber_delta", INF),
        ("hidden", 10**9),
        ("buffer_size", 10**12),
        ("batch_size", 2**40),
    ],
)
def test_learner_configs_bound_their_numbers(field, value):
    from dmarl_des.learn.registry import learner_config

    with pytest.raises(ConfigError, match=f"learner.{field}"):
        learner_config("iql", {field: value})


def test_learner_overrides_refuse_bools_too():
    from dmarl_des.learn.registry import learner_config

    sc = build("box_pushing").with_learner(learner_config("iql"))
    with pytest.raises(ConfigError, match="learner.batch_size"):
        sc.with_overrides({"learner.batch_size": True})
    assert sc.with_overrides({"learner.batch_size": 16}).learner.batch_size == 16


# ------------------------------------------------------------------------------ section mappings
def test_a_section_mapping_merges_like_dotted_keys():
    base = build("consensus")  # world: period 1, weights metropolis (not the defaults)
    nested = base.with_overrides({"world": {"dim": 2}})
    dotted = base.with_overrides({"world.dim": 2})
    assert nested.world.dim == 2 and nested.world.weights == "metropolis"
    assert nested.digest() == dotted.digest()
    net = base.with_overrides({"net": {"loss": {"p": 0.2}}})
    assert net.net.loss.p == 0.2 and net.net.topology.kind == "ring" and net.net.topology.k == 2
    assert net.digest() == base.with_overrides({"net.loss.p": 0.2}).digest()


def test_a_section_mapping_is_checked_key_by_key():
    base = build("consensus")
    with pytest.raises(ConfigError, match="unknown key 'world.dimm'"):
        base.with_overrides({"world": {"dimm": 2}})
    with pytest.raises(ConfigError, match="world.name"):
        base.with_overrides({"world": {"name": "coverage"}})
    assert base.with_overrides({"world": {}}).digest() == base.digest()


# ------------------------------------------------------------------------------ names
@pytest.mark.parametrize(
    "name", ["../../../escaped", "a/b", "a\\b", "..", ".", "", "x\x00y", "tab\there", "n" * 129]
)
def test_scenario_names_cannot_leave_the_output_folder(name):
    with pytest.raises(ConfigError) as info:
        build("consensus", name=name)
    assert info.value.field == "name"


def test_ordinary_names_are_kept():
    for name in ("consensus", "my run-2 (loss 0.3)", "é_ü", "n" * 128):
        assert build("consensus", name=name).name == name


# ------------------------------------------------------------------------------ scenario files
def test_a_syntax_error_names_the_file_and_line(tmp_path):
    bad = tmp_path / "broken.py"
    bad.write_text(
        "from dmarl_des.scenario import Scenario\n\ndef scenario(**overrides)\n    pass\n"
    )
    with pytest.raises(ConfigError) as info:
        load_scenario(bad)
    text = str(info.value)
    assert "broken.py" in text and "line 3" in text and "expected ':'" in text
    assert info.value.__cause__ is None and info.value.__suppress_context__
    # fixed in place, the file loads (the failed import was not cached)
    bad.write_text((SCENARIOS / "consensus.py").read_text())
    assert load_scenario(bad).world.name == "consensus"


def test_the_cli_reports_a_syntax_error_in_one_line(tmp_path, capsys):
    from dmarl_des.cli import main

    bad = tmp_path / "broken.py"
    bad.write_text("def scenario(**overrides):\n    return (\n")
    assert main(["run", str(bad)]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "broken.py" in err and "line 2" in err
    assert "Traceback" not in err
