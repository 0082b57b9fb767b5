"""Every built-in world as a small scenario, fault-free and under crashes, recoveries, churn and loss.

The worlds are the registered ones (``dmarl_des.worlds.WORLD_MODULES``) and the worlds defined by
scenario files (``scenarios/*.py``, e.g. foraging): a world that lands in either place is tested
here without further ado. A world's scenario file gives its defaults (else its parameters' defaults
with a few agents); a few agents and a short horizon keep the tests to seconds.
"""

from __future__ import annotations

from functools import cache
from pathlib import Path

from dmarl_des.errors import ConfigError
from dmarl_des.scenario import Scenario, load_scenario
from dmarl_des.worlds import WORLD_MODULES, world_class

SCENARIOS = Path(__file__).resolve().parents[2] / "scenarios"

SMALL = {"n_agents": 6, "horizon": 15.0}
"""At most this many agents, at most this horizon."""

FAULTS = {
    "faults.crash.fraction": 0.5,
    "faults.crash.start": "poisson",
    "faults.crash.rate": 0.15,
    "faults.recover.enabled": True,
    "faults.recover.downtime": "constant",
    "faults.recover.mean": 2.0,
    "faults.churn.leave_rate": 0.1,
    "faults.churn.join_rate": 0.2,
    "faults.byzantine.count": 1,
    "faults.byzantine.actions": "random",
}
"""Crashes during the episode, recoveries (new lives), departures and joins (new agents), and a
Byzantine agent whose actions the faults replace."""

LOSS = {"net.loss.model": "bernoulli", "net.loss.p": 0.3}
"""Message loss, for worlds whose agents talk."""


@cache
def base_scenarios() -> dict[str, Scenario]:
    """World name -> its default scenario (a scenario file's, else the parameters' defaults)."""
    found: dict[str, Scenario] = {}
    for path in sorted(SCENARIOS.glob("*.py")):
        scenario = load_scenario(path)
        found.setdefault(scenario.world.name, scenario)
    for name in sorted(WORLD_MODULES):
        if name not in found:
            params = world_class(name).Params()
            found[name] = Scenario.build(name=name, world=params, n_agents=4, seed=0)
    return found


def small(name: str, *, faults: bool = False, **extra: object) -> Scenario:
    """World ``name`` with few agents, a short horizon, one episode (and faults + loss)."""
    base = base_scenarios()[name]
    overrides: dict[str, object] = {
        "n_agents": min(base.n_agents, SMALL["n_agents"]),
        "horizon": min(base.horizon, SMALL["horizon"]),
        "episodes": 1,
        "eval_episodes": 0,
    }
    if faults:
        overrides.update(FAULTS)
        if world_class(base.world).message_kinds:
            overrides.update(LOSS)
    overrides.update(extra)
    try:
        return base.with_overrides(overrides)
    except ConfigError:  # a world with a fixed number of agents keeps its own
        del overrides["n_agents"]
        return base.with_overrides(overrides)


WORLDS = sorted(base_scenarios())
