"""Coverage (UAV swarm): 300 UAVs launched from a cluster discover the area, greedy scripted policy.

Decisions on a 0.1 control tick (batched) and report deliveries bucketed to the same tick; the
area grows with the swarm (40 × 40 per UAV), so ``--set n_agents=1000`` keeps the density.
"""

from dmarl_des.scenario import Scenario
from dmarl_des.worlds.coverage import CoverageParams


def scenario(**overrides) -> Scenario:
    base = Scenario.build(
        name="coverage",
        world=CoverageParams(),
        n_agents=300,
        episodes=1,
        horizon=100.0,
        decision_period=0.1,
        gamma=0.99,
        policy="scripted",
        net={"resolution": 0.1},
        seed=0,
    )
    return base.with_overrides(overrides)
