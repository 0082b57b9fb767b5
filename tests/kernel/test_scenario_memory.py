"""A world too large for the machine is refused at build, from a memory estimate, before allocating."""

from pathlib import Path

import pytest

from dmarl_des.errors import ConfigError
from dmarl_des.scenario import budget, load_scenario
from dmarl_des.scenario.budget import (
    AGENT_BYTES,
    AGENT_EPISODE_BYTES,
    LINK_BYTES,
    estimated_bytes,
    machine_memory,
)

SCENARIOS = Path(__file__).resolve().parents[2] / "scenarios"
GIB = 2**30


def build(name: str, **overrides):
    return load_scenario(SCENARIOS / f"{name}.py", overrides)


@pytest.fixture
def one_gib(monkeypatch):
    """A machine with 1 GiB of memory."""
    monkeypatch.setattr(budget, "machine_memory", lambda: GIB)


def test_the_estimate_is_the_documented_sum():
    sc = build("consensus", n_agents=1000, episodes=3, eval_episodes=2)  # ring k=2, dim 1
    parts = estimated_bytes(sc)
    assert parts["links"] == 1000 * 4 * LINK_BYTES
    assert parts["episodes"] == 1000 * 5 * AGENT_EPISODE_BYTES
    assert parts["agents"] == 1000 * (AGENT_BYTES + 64 * 1 + 32 * 1 * 4)


def test_the_estimate_counts_each_topology():
    def links(**net):
        overrides = {f"net.topology.{k}": v for k, v in net.items()}
        return estimated_bytes(build("consensus", n_agents=100, **overrides))["links"] / LINK_BYTES

    assert links(kind="complete") == 100 * 99
    assert links(kind="ring", k=7) == 100 * 14
    assert links(kind="grid") == 400
    assert links(kind="scale_free", m=3) == 600
    assert links(kind="world") == 400  # consensus builds a ring with 2 neighbours each side
    assert links(kind="random_geometric", radius=0.1) == pytest.approx(100 * 100 * 3.14159 * 0.01)


def test_the_machine_has_some_memory():
    have = machine_memory()
    assert have is None or 2**26 < have < 2**50


@pytest.mark.parametrize("n", [10**7, 10**8, 10**9])
def test_huge_consensus_worlds_are_refused_before_allocating(n, one_gib):
    with pytest.raises(ConfigError) as info:
        build("consensus", n_agents=n)
    assert info.value.field == "n_agents" and "GiB" in str(info.value)


def test_a_world_that_fits_is_kept(one_gib):
    assert build("consensus", n_agents=100_000).n_agents == 100_000
    with pytest.raises(ConfigError, match="n_agents"):
        build("consensus", n_agents=1_000_000)


def test_absurd_worlds_are_refused_on_any_machine():
    with pytest.raises(ConfigError, match="n_agents"):
        build("consensus", n_agents=2**31 - 1)


@pytest.mark.parametrize(
    ("overrides", "field"),
    [
        ({"net.topology.kind": "complete", "n_agents": 100_000}, "net.topology.kind"),
        ({"net.topology.k": 10**6, "n_agents": 10_000}, "net.topology.k"),
        ({"n_agents": 2, "net.topology.k": 2**30}, "net.topology.k"),
        ({"episodes": 100_000, "n_agents": 50}, "episodes"),
    ],
)
def test_the_error_names_what_makes_the_run_large(overrides, field, one_gib):
    with pytest.raises(ConfigError) as info:
        build("consensus", **overrides)
    assert info.value.field == field


def test_worlds_declare_their_footprint(one_gib):
    """A wide consensus value or a large coverage memory makes each agent heavier."""
    assert build("consensus", n_agents=20_000).world.dim == 1
    with pytest.raises(ConfigError, match="n_agents"):
        build("consensus", n_agents=20_000, **{"world.dim": 4096})
    coverage = build("coverage", n_agents=20_000)
    with pytest.raises(ConfigError, match="n_agents"):
        coverage.with_overrides({"world.memory": 4096})


def test_coverage_counts_its_remembered_points():
    coverage = build("coverage", n_agents=20_000)
    wide = estimated_bytes(coverage.with_overrides({"world.memory": 4096}))
    assert wide["agents"] - estimated_bytes(coverage)["agents"] == 20_000 * 16 * (4096 - 32)
