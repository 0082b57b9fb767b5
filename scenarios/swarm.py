"""The messaging swarm of the performance suite: 1,000 agents in continuous time, in windows of exact instants."""

from dmarl_des.scenario import Scenario
from dmarl_des.worlds.swarm import SwarmParams


def scenario(**overrides) -> Scenario:
    base = Scenario.build(
        name="swarm",
        world=SwarmParams(),
        n_agents=1000,
        episodes=1,
        horizon=20.0,
        decision_period=0.0,  # exact instants; the swarm is local, so they run in windows
        policy="random",
        seed=0,
        net={
            "loss": {"model": "bernoulli", "p": 0.2},
            "delay": {"model": "exponential", "mean": 0.05},
            "resolution": 0.01,  # delivery buckets: the width of a window
        },
    )
    return base.with_overrides(overrides)
